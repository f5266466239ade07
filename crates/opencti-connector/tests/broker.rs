//! Helpers for tests against the local RabbitMQ: random auto-delete
//! exchange + queue, a consumer, and a TCP proxy whose connections can be
//! cut.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use opencti_connector::amqp::BrokerParams;
use opencti_connector::config::Secret;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub(crate) const BROKER_PORT: u16 = 5672;

/// A private exchange bound to a private queue.
pub(crate) struct TestQueue {
    pub(crate) exchange: String,
    pub(crate) routing_key: String,
    pub(crate) queue: String,
    connection: Connection,
}

/// A delivered message.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) body: Vec<u8>,
    pub(crate) delivery_mode: Option<u8>,
    pub(crate) content_encoding: Option<String>,
}

pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

pub(crate) fn broker_params(port: u16) -> BrokerParams {
    BrokerParams::plain("127.0.0.1", port, "/", "guest", Secret::new("guest"))
}

impl TestQueue {
    pub(crate) async fn declare() -> Self {
        let connection = Connection::connect(
            &format!("amqp://guest:guest@127.0.0.1:{BROKER_PORT}/%2f"),
            ConnectionProperties::default(),
        )
        .await
        .expect("RabbitMQ must run on 127.0.0.1:5672");
        let channel = connection.create_channel().await.unwrap();
        let exchange = unique("test-exchange");
        let queue = unique("test-push");
        let routing_key = unique("test-routing");
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    auto_delete: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                routing_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        Self {
            exchange,
            routing_key,
            queue,
            connection,
        }
    }

    /// Messages ready in the queue.
    pub(crate) async fn message_count(&self) -> u32 {
        let channel = self.connection.create_channel().await.unwrap();
        let declared = channel
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel.close(200, "done".into()).await.ok();
        declared.message_count()
    }

    /// Consumes until `count` messages arrived, or nothing arrived for
    /// `idle` (the queue is drained).
    pub(crate) async fn consume(&self, count: usize, idle: Duration) -> Vec<Received> {
        let channel = self.connection.create_channel().await.unwrap();
        let mut consumer = channel
            .basic_consume(
                self.queue.as_str().into(),
                unique("consumer").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut received = Vec::new();
        while received.len() < count {
            let next = tokio::time::timeout(idle, consumer.next()).await;
            let Ok(Some(Ok(delivery))) = next else { break };
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            received.push(Received {
                body: delivery.data.clone(),
                delivery_mode: *delivery.properties.delivery_mode(),
                content_encoding: delivery
                    .properties
                    .content_encoding()
                    .as_ref()
                    .map(ToString::to_string),
            });
        }
        channel.close(200, "done".into()).await.ok();
        received
    }
}

/// Forwards 127.0.0.1:<port> to the broker; [`CuttableProxy::cut`] drops
/// every open connection (the broker link sees its TCP stream die).
pub(crate) struct CuttableProxy {
    pub(crate) port: u16,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl CuttableProxy {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepted = Arc::clone(&links);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", BROKER_PORT)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accepted.lock().await.push(link);
            }
        });
        Self {
            port,
            links,
            accept,
        }
    }

    pub(crate) async fn cut(&self) -> usize {
        let mut links = self.links.lock().await;
        let count = links.len();
        for link in links.drain(..) {
            link.abort();
        }
        count
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
