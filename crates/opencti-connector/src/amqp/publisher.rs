//! Pipelined publishing with publisher confirms and at-least-once retries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Confirmation};
use tokio_util::sync::CancellationToken;

use super::error::AmqpError;
use super::link::BrokerLink;
use crate::metrics::{Metrics, RuntimeEvent};

/// How many messages may wait for their confirm at once.
const WINDOW: usize = 8192;

/// One message body, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The body bytes.
    pub body: Vec<u8>,
}

/// Publishes batches and returns only when the broker confirmed every
/// message. A nack, an unroutable return or a lost connection makes the
/// affected messages go out again (at least once); the caller never sees a
/// partial success.
#[derive(Debug, Clone)]
pub struct ConfirmPublisher {
    link: Arc<BrokerLink>,
    metrics: Metrics,
}

enum Outcome {
    Confirmed,
    Refused(&'static str),
    Broken(String),
}

impl ConfirmPublisher {
    /// A publisher over `link`.
    pub fn new(link: Arc<BrokerLink>, metrics: Metrics) -> Self {
        Self { link, metrics }
    }

    /// The supervised connection.
    pub fn link(&self) -> &Arc<BrokerLink> {
        &self.link
    }

    /// Publishes every message to `exchange` with `routing_key` (persistent,
    /// `content_encoding=utf-8`, mandatory) and waits for all confirms.
    /// Returns [`AmqpError::Cancelled`] if `shutdown` fires first.
    pub async fn publish_all(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: &[OutgoingMessage],
        shutdown: &CancellationToken,
    ) -> Result<(), AmqpError> {
        let started = Instant::now();
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_encoding("utf-8".into());
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let mut pending: Vec<usize> = (0..messages.len()).collect();
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .without_max_times()
            .with_jitter()
            .build();
        while !pending.is_empty() {
            let live = self
                .link
                .channel(shutdown)
                .await
                .map_err(|error| match error {
                    AmqpError::Cancelled { .. } => AmqpError::Cancelled {
                        unconfirmed: pending.len(),
                    },
                    other => other,
                })?;
            let mut failed: Vec<usize> = Vec::new();
            let mut reason: Option<String> = None;
            let mut broken = false;
            let mut in_flight = FuturesUnordered::new();
            let mut next = 0;
            while next < pending.len() || !in_flight.is_empty() {
                if shutdown.is_cancelled() {
                    self.metrics.emit(RuntimeEvent::ConfirmsPending(0));
                    return Err(AmqpError::Cancelled {
                        unconfirmed: pending.len() - next + in_flight.len() + failed.len(),
                    });
                }
                while !broken && next < pending.len() && in_flight.len() < WINDOW {
                    let index = pending[next];
                    next += 1;
                    // Not awaited here: the delivery tag and the frames are
                    // queued on the first poll, in push order, so many
                    // messages travel per round trip to the I/O thread.
                    let publish = live.channel.basic_publish(
                        exchange.into(),
                        routing_key.into(),
                        options,
                        &messages[index].body,
                        properties.clone(),
                    );
                    in_flight.push(async move {
                        match publish.await {
                            Ok(confirm) => (index, confirm.await),
                            Err(error) => (index, Err(error)),
                        }
                    });
                }
                if broken && next < pending.len() {
                    failed.extend_from_slice(&pending[next..]);
                    next = pending.len();
                }
                self.metrics
                    .emit(RuntimeEvent::ConfirmsPending(in_flight.len() as u64));
                let Some((index, confirmation)) = in_flight.next().await else {
                    continue;
                };
                match classify(confirmation) {
                    Outcome::Confirmed => {}
                    Outcome::Refused(why) => {
                        reason.get_or_insert_with(|| why.to_owned());
                        failed.push(index);
                    }
                    Outcome::Broken(why) => {
                        broken = true;
                        reason.get_or_insert(why);
                        failed.push(index);
                    }
                }
            }
            self.metrics.emit(RuntimeEvent::ConfirmsPending(0));
            if broken {
                self.link.invalidate(live.epoch).await;
            }
            if !failed.is_empty() {
                let delay = delays.next().unwrap_or(Duration::from_secs(10));
                self.metrics.emit(RuntimeEvent::PublishRetry {
                    messages: failed.len() as u64,
                    reason: reason.as_deref().unwrap_or("unknown"),
                    delay,
                });
                tokio::select! {
                    () = shutdown.cancelled() => {
                        return Err(AmqpError::Cancelled { unconfirmed: failed.len() });
                    }
                    () = tokio::time::sleep(delay) => {}
                }
            }
            pending = failed;
        }
        self.metrics.emit(RuntimeEvent::MessagesConfirmed {
            count: messages.len() as u64,
            latency: started.elapsed(),
        });
        Ok(())
    }
}

fn classify(confirmation: lapin::Result<Confirmation>) -> Outcome {
    match confirmation {
        Ok(Confirmation::Ack(None)) => Outcome::Confirmed,
        Ok(Confirmation::Ack(Some(_))) => Outcome::Refused("returned as unroutable"),
        Ok(Confirmation::Nack(_)) => Outcome::Refused("nacked by the broker"),
        Ok(Confirmation::NotRequested) => Outcome::Broken("publisher confirms are off".to_owned()),
        Err(error) => Outcome::Broken(error.to_string()),
    }
}
