//! RabbitMQ side: the platform's declarations, queue statistics, purges and
//! publishing, on one connection.

use std::collections::BTreeSet;

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use tokio::sync::Mutex;

use crate::config::{BrokerEndpoint, BrokerObjects};
use crate::error::SimError;
use crate::model::ConnectorRecord;

/// Unused transient queues disappear after this long (covers listen queues
/// nobody ever consumed, which auto-delete alone never removes).
const TRANSIENT_QUEUE_EXPIRY_MS: i32 = 10 * 60 * 1000;

/// A connection to the broker the simulator hands out at registration.
#[derive(Debug)]
pub(crate) struct Broker {
    connection: Connection,
    objects: BrokerObjects,
    publisher: Mutex<Option<Channel>>,
    declared_queues: std::sync::Mutex<BTreeSet<String>>,
    declared_exchanges: std::sync::Mutex<BTreeSet<String>>,
}

impl Broker {
    pub(crate) async fn connect(
        endpoint: &BrokerEndpoint,
        objects: BrokerObjects,
    ) -> Result<Self, SimError> {
        let connection = Connection::connect(&endpoint.url, ConnectionProperties::default())
            .await
            .map_err(|error| {
                SimError::broker(
                    format!("connect to {}:{}", endpoint.host, endpoint.port),
                    error,
                )
            })?;
        Ok(Self {
            connection,
            objects,
            publisher: Mutex::new(None),
            declared_queues: std::sync::Mutex::default(),
            declared_exchanges: std::sync::Mutex::default(),
        })
    }

    async fn channel(&self, purpose: &str) -> Result<Channel, SimError> {
        self.connection
            .create_channel()
            .await
            .map_err(|error| SimError::broker(format!("open a channel to {purpose}"), error))
    }

    /// The platform's registration declarations: both exchanges, both queues
    /// (with the connector description as arguments) and their bindings.
    pub(crate) async fn declare_connector(
        &self,
        connector: &ConnectorRecord,
    ) -> Result<(), SimError> {
        let names = &connector.queues;
        let channel = self.channel("declare queues").await?;
        let transient = self.objects == BrokerObjects::Transient;
        for exchange in [&names.listen_exchange, &names.push_exchange] {
            channel
                .exchange_declare(
                    exchange.as_str().into(),
                    ExchangeKind::Direct,
                    ExchangeDeclareOptions {
                        durable: true,
                        auto_delete: transient,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|error| SimError::broker(format!("declare exchange {exchange}"), error))?;
            lock(&self.declared_exchanges).insert(exchange.clone());
        }
        for (queue, exchange, routing) in [
            (&names.listen, &names.listen_exchange, &names.listen_routing),
            (&names.push, &names.push_exchange, &names.push_routing),
        ] {
            channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        durable: true,
                        auto_delete: transient,
                        ..QueueDeclareOptions::default()
                    },
                    self.queue_arguments(connector, queue),
                )
                .await
                .map_err(|error| SimError::broker(format!("declare queue {queue}"), error))?;
            lock(&self.declared_queues).insert(queue.clone());
            channel
                .queue_bind(
                    queue.as_str().into(),
                    exchange.as_str().into(),
                    routing.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|error| SimError::broker(format!("bind {queue} to {exchange}"), error))?;
        }
        close(channel).await;
        Ok(())
    }

    fn queue_arguments(&self, connector: &ConnectorRecord, queue: &str) -> FieldTable {
        let mut config = FieldTable::default();
        config.insert("id".into(), long_string(&connector.id));
        config.insert("type".into(), long_string(&connector.connector_type));
        let scope: Vec<AMQPValue> = connector.scope.iter().map(|s| long_string(s)).collect();
        config.insert(
            "scope".into(),
            AMQPValue::FieldArray(FieldArray::from(scope)),
        );
        let mut arguments = FieldTable::default();
        arguments.insert("name".into(), long_string(queue));
        arguments.insert("config".into(), AMQPValue::FieldTable(config));
        arguments.insert("x-queue-type".into(), long_string("classic"));
        if self.objects == BrokerObjects::Transient {
            arguments.insert(
                "x-expires".into(),
                AMQPValue::LongInt(TRANSIENT_QUEUE_EXPIRY_MS),
            );
        }
        arguments
    }

    /// Ready messages in a queue (passive declare); 0 when it does not exist.
    pub(crate) async fn ready_messages(&self, queue: &str) -> Result<u32, SimError> {
        // A passive declare of a missing queue closes its channel: use a throwaway one.
        let channel = self.channel("count messages").await?;
        let result = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        match result {
            Ok(declared) => {
                close(channel).await;
                Ok(declared.message_count())
            }
            Err(error) if error.to_string().contains("NOT_FOUND") => Ok(0),
            Err(error) => Err(SimError::broker(format!("inspect queue {queue}"), error)),
        }
    }

    /// Drops the ready messages of a queue (UI reset).
    pub(crate) async fn purge(&self, queue: &str) -> Result<u32, SimError> {
        let channel = self.channel("purge").await?;
        let purged = channel
            .queue_purge(queue.into(), QueuePurgeOptions::default())
            .await
            .map_err(|error| SimError::broker(format!("purge queue {queue}"), error))?;
        close(channel).await;
        Ok(purged)
    }

    /// Publishes a persistent message as pycti does and waits for the broker's confirm.
    pub(crate) async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
    ) -> Result<(), SimError> {
        let operation = || format!("publish to {exchange}/{routing_key}");
        let mut publisher = self.publisher.lock().await;
        // One retry on a fresh channel: a previous error may have closed the cached one.
        for attempt in 0..2 {
            let channel = match publisher.take() {
                Some(channel) if channel.status().connected() => channel,
                _ => {
                    let channel = self.channel("publish").await?;
                    channel
                        .confirm_select(ConfirmSelectOptions::default())
                        .await
                        .map_err(|error| SimError::broker(operation(), error))?;
                    channel
                }
            };
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_encoding("utf-8".into());
            let confirm = channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions::default(),
                    body,
                    properties,
                )
                .await;
            match confirm {
                Ok(confirm) => match confirm.await {
                    Ok(confirmation) if confirmation.is_nack() => {
                        return Err(SimError::broker(
                            operation(),
                            "the broker refused the message (nack)",
                        ));
                    }
                    Ok(_) => {
                        *publisher = Some(channel);
                        return Ok(());
                    }
                    Err(error) if attempt == 1 => return Err(SimError::broker(operation(), error)),
                    Err(_) => {}
                },
                Err(error) if attempt == 1 => return Err(SimError::broker(operation(), error)),
                Err(_) => {}
            }
        }
        Err(SimError::broker(operation(), "no channel could be opened"))
    }

    /// A consumer of `queue` on its own channel, manual acks, bounded prefetch.
    pub(crate) async fn consume(&self, queue: &str, prefetch: u16) -> Result<Consumer, SimError> {
        let channel = self.channel("consume").await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(|error| SimError::broker(format!("set prefetch on {queue}"), error))?;
        channel
            .basic_consume(
                queue.into(),
                format!("opencti-sim-worker-{queue}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|error| SimError::broker(format!("consume {queue}"), error))
    }

    /// Deletes queues (connector deletion).
    pub(crate) async fn delete_queues(&self, queues: &[&str]) -> Result<(), SimError> {
        let channel = self.channel("delete queues").await?;
        for queue in queues {
            channel
                .queue_delete((*queue).into(), QueueDeleteOptions::default())
                .await
                .map_err(|error| SimError::broker(format!("delete queue {queue}"), error))?;
            lock(&self.declared_queues).remove(*queue);
        }
        close(channel).await;
        Ok(())
    }

    /// Stops: transient objects are deleted, then the connection is closed.
    pub(crate) async fn shutdown(&self) {
        if self.objects == BrokerObjects::Transient {
            let queues: Vec<String> = lock(&self.declared_queues).iter().cloned().collect();
            let exchanges: Vec<String> = lock(&self.declared_exchanges).iter().cloned().collect();
            if let Ok(channel) = self.channel("clean up").await {
                for queue in queues {
                    if let Err(error) = channel
                        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                        .await
                    {
                        tracing::debug!(%queue, %error, "transient queue already gone");
                    }
                }
                for exchange in exchanges {
                    if let Err(error) = channel
                        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                        .await
                    {
                        tracing::debug!(%exchange, %error, "transient exchange already gone");
                    }
                }
                close(channel).await;
            }
        }
        if let Err(error) = self
            .connection
            .close(200, "opencti-sim stopping".into())
            .await
        {
            tracing::debug!(%error, "broker connection already closed");
        }
    }
}

fn long_string(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text))
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn close(channel: Channel) {
    if let Err(error) = channel.close(200, "done".into()).await {
        tracing::debug!(%error, "channel already closed");
    }
}
