//! Consuming a connector's listen queue: manual acks, a prefetch, and a
//! new consumer on a new connection whenever the broker link is lost.

use std::sync::Arc;

use futures::StreamExt as _;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Acker, Consumer};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::AmqpError;
use super::link::BrokerLink;

/// A message taken from the queue, to acknowledge once handled.
pub struct Delivery {
    /// The message body.
    pub body: Vec<u8>,
    /// Whether the broker delivered it before (to this or another
    /// consumer) without an acknowledgement.
    pub redelivered: bool,
    acker: Acker,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("bytes", &self.body.len())
            .field("redelivered", &self.redelivered)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// Acknowledges the message. Fails when the channel it came on is gone:
    /// the broker then delivers it again.
    pub async fn ack(self) -> Result<(), AmqpError> {
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(|error| AmqpError::Ack {
                reason: error.to_string(),
            })
            .and_then(|acked| {
                acked.then_some(()).ok_or_else(|| AmqpError::Ack {
                    reason: "its channel is gone".to_owned(),
                })
            })
    }
}

/// A consumer of one queue over a supervised link of its own.
pub struct QueueConsumer {
    link: Arc<BrokerLink>,
    queue: String,
    prefetch: u16,
    current: Option<(Consumer, u64)>,
}

impl std::fmt::Debug for QueueConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueConsumer")
            .field("queue", &self.queue)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl QueueConsumer {
    /// A consumer of `queue` that holds at most `prefetch` unacknowledged
    /// messages; it connects on first use.
    pub fn new(link: Arc<BrokerLink>, queue: &str, prefetch: u16) -> Self {
        Self {
            link,
            queue: queue.to_owned(),
            prefetch,
            current: None,
        }
    }

    /// The link it consumes over.
    pub fn link(&self) -> &Arc<BrokerLink> {
        &self.link
    }

    /// The next message, reconnecting (and consuming again) as long as the
    /// broker is away. `None` on shutdown; an error only for what retrying
    /// cannot fix (TLS material, a queue that does not exist).
    pub async fn next(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Option<Result<Delivery, AmqpError>> {
        loop {
            if self.current.is_none() {
                match self.start(shutdown).await {
                    Ok(started) => self.current = Some(started),
                    Err(AmqpError::Cancelled { .. }) => return None,
                    Err(error @ (AmqpError::Tls { .. } | AmqpError::TlsHandshake { .. })) => {
                        return Some(Err(error));
                    }
                    Err(error) => {
                        tracing::warn!("cannot consume the listen queue, retrying: {error}");
                        tokio::select! {
                            () = shutdown.cancelled() => return None,
                            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        }
                        continue;
                    }
                }
            }
            let (consumer, epoch) = self.current.as_mut()?;
            let next = tokio::select! {
                () = shutdown.cancelled() => return None,
                next = consumer.next() => next,
            };
            match next {
                Some(Ok(delivery)) => {
                    return Some(Ok(Delivery {
                        body: delivery.data,
                        redelivered: delivery.redelivered,
                        acker: delivery.acker,
                    }));
                }
                Some(Err(error)) => {
                    tracing::warn!("the listen queue's consumer was lost: {error}");
                    let epoch = *epoch;
                    self.current = None;
                    self.link.invalidate(epoch).await;
                }
                None => {
                    tracing::warn!("the broker ended the listen queue's consumer");
                    let epoch = *epoch;
                    self.current = None;
                    self.link.invalidate(epoch).await;
                }
            }
        }
    }

    async fn start(&self, shutdown: &CancellationToken) -> Result<(Consumer, u64), AmqpError> {
        let deadline = Instant::now() + self.link.params().outage_timeout;
        let live = self.link.channel(shutdown, deadline).await?;
        let failed = |reason: String| AmqpError::Connect {
            address: self.link.params().address(),
            reason,
        };
        let started = async {
            live.channel
                .basic_qos(self.prefetch, BasicQosOptions::default())
                .await
                .map_err(|error| failed(format!("cannot set the prefetch: {error}")))?;
            live.channel
                .basic_consume(
                    self.queue.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|error| failed(format!("cannot consume `{}`: {error}", self.queue)))
        };
        match started.await {
            Ok(consumer) => {
                tracing::info!(attributes.queue = %self.queue, "Listening on the connector's queue");
                Ok((consumer, live.epoch))
            }
            Err(error) => {
                self.link.invalidate(live.epoch).await;
                Err(error)
            }
        }
    }
}
