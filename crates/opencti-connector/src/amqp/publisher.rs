//! Pipelined publishing with publisher confirms and at-least-once retries.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Confirmation};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::AmqpError;
use super::link::BrokerLink;
use crate::metrics::{Metrics, RuntimeEvent};

/// How many messages may wait for their confirm at once. With the broker
/// on the same host, about a thousand keep it busy (the `broker_ceiling`
/// example measures its rate at that depth); more only holds memory.
const WINDOW_MESSAGES: usize = 1024;
/// How many bytes of message bodies may wait for their confirm at once
/// (large messages get a smaller window).
const WINDOW_BYTES: usize = 4 * 1024 * 1024;
/// How many of the window's messages may be on their way to the socket at
/// once. A message being handed to the client's I/O thread is a future of
/// about 1.7 KB (the client's frames, properties and promise); once
/// written, only its confirm is awaited, which takes a tenth of that. A few
/// dozen still travel per round trip to the I/O thread.
const PUBLISHING_MESSAGES: usize = 64;

/// One message body, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The body bytes.
    pub body: Vec<u8>,
}

/// Publishes messages and returns only when the broker confirmed every
/// one. A nack, an unroutable return or a lost connection makes the
/// affected messages go out again (at least once); the caller never sees a
/// partial success.
///
/// Messages are taken from an iterator as the window frees (at most
/// `WINDOW_MESSAGES` and `WINDOW_BYTES` wait for a confirm), and each
/// body is dropped as soon as it is confirmed (or as soon as the client
/// has it, when the caller can write it again:
/// [`ConfirmPublisher::publish_rewritable`]): memory stays that of the
/// window whatever the number of messages.
///
/// A broker that makes no progress (unreachable, refusing, or not
/// confirming) for the link's outage bound (`MQ_OUTAGE_TIMEOUT`) fails the
/// publish with [`AmqpError::Unavailable`]; shutdown fails it at once with
/// [`AmqpError::Cancelled`], confirms pending or not.
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

/// A message of the window, with its place in the input. Its body is
/// `None` once the client has it when the caller can write it again.
struct Unconfirmed {
    index: usize,
    len: usize,
    body: Option<Vec<u8>>,
}

/// Writes message `index` of a publish again, for a retry.
type Rewrite<'r> = &'r (dyn Fn(usize) -> OutgoingMessage + Sync);

impl ConfirmPublisher {
    /// A publisher over `link`.
    pub fn new(link: Arc<BrokerLink>, metrics: Metrics) -> Self {
        Self { link, metrics }
    }

    /// The supervised connection.
    pub fn link(&self) -> &Arc<BrokerLink> {
        &self.link
    }

    /// [`ConfirmPublisher::publish`] for messages already in memory: a
    /// message that must go again is copied from `messages` again, so the
    /// window holds no second copy of the bodies.
    ///
    /// # Errors
    ///
    /// As [`ConfirmPublisher::publish`].
    pub async fn publish_all(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: &[OutgoingMessage],
        shutdown: &CancellationToken,
    ) -> Result<(), AmqpError> {
        let again = |index: usize| messages[index].clone();
        self.publish_rewritable(
            exchange,
            routing_key,
            messages.iter().cloned(),
            again,
            shutdown,
        )
        .await
        .map(|_| ())
    }

    /// Publishes every message of `messages`, in order, to `exchange` with
    /// `routing_key` (persistent, `content_encoding=utf-8`, mandatory) and
    /// waits for all confirms. Returns how many messages were confirmed.
    ///
    /// # Errors
    ///
    /// [`AmqpError::Cancelled`] if `shutdown` fires first,
    /// [`AmqpError::Unavailable`] after an outage longer than the link's
    /// bound, [`AmqpError::Tls`] or [`AmqpError::TlsHandshake`] when TLS
    /// cannot work.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: impl Iterator<Item = OutgoingMessage>,
        shutdown: &CancellationToken,
    ) -> Result<usize, AmqpError> {
        self.publish_with(exchange, routing_key, messages, None, shutdown)
            .await
    }

    /// [`ConfirmPublisher::publish`] for messages that `rewrite` writes
    /// again, the same, from their place in `messages` (0 for the first):
    /// each body is dropped as soon as the client has it, instead of being
    /// kept until its confirm in case it must go again, so the window holds
    /// confirms rather than bodies.
    ///
    /// # Errors
    ///
    /// As [`ConfirmPublisher::publish`].
    pub async fn publish_rewritable(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: impl Iterator<Item = OutgoingMessage>,
        rewrite: impl Fn(usize) -> OutgoingMessage + Sync,
        shutdown: &CancellationToken,
    ) -> Result<usize, AmqpError> {
        self.publish_with(exchange, routing_key, messages, Some(&rewrite), shutdown)
            .await
    }

    async fn publish_with(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: impl Iterator<Item = OutgoingMessage>,
        rewrite: Option<Rewrite<'_>>,
        shutdown: &CancellationToken,
    ) -> Result<usize, AmqpError> {
        let started = Instant::now();
        let outage_bound = self.link.params().outage_timeout;
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_encoding("utf-8".into());
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        // Bodies stay in the window until confirmed unless they can be
        // written again.
        let keep_bodies = rewrite.is_none();
        let mut source = messages.enumerate();
        let mut source_done = false;
        // Messages to publish again, in input order, before any new one.
        let mut again: VecDeque<Unconfirmed> = VecDeque::new();
        let mut confirmed = 0_usize;
        let mut last_progress = Instant::now();
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .without_max_times()
            .with_jitter()
            .build();
        let cancelled = |pending: usize| AmqpError::Cancelled {
            unconfirmed: pending,
        };
        // Why an earlier attempt failed: still the cause when the bound runs
        // out while the messages sent again wait for their answer.
        let mut earlier_reason: Option<String> = None;
        loop {
            if again.is_empty() && source_done {
                break;
            }
            let live = self
                .link
                .channel(shutdown, last_progress + outage_bound)
                .await
                .map_err(|error| match error {
                    AmqpError::Cancelled { .. } => cancelled(again.len()),
                    other => other,
                })?;
            let mut failed: Vec<Unconfirmed> = Vec::new();
            let mut reason: Option<String> = None;
            let mut broken = false;
            // Messages being written, then messages waiting for their
            // confirm: together, the window.
            let mut publishing = FuturesUnordered::new();
            let mut in_flight = FuturesUnordered::new();
            let mut bytes_in_flight = 0_usize;
            loop {
                while !broken
                    && publishing.len() < PUBLISHING_MESSAGES
                    && publishing.len() + in_flight.len() < WINDOW_MESSAGES
                    && bytes_in_flight < WINDOW_BYTES
                {
                    let mut next = match again.pop_front() {
                        Some(message) => message,
                        None if source_done => break,
                        None => match source.next() {
                            Some((index, message)) => Unconfirmed {
                                index,
                                len: message.body.len(),
                                body: Some(message.body),
                            },
                            None => {
                                source_done = true;
                                break;
                            }
                        },
                    };
                    let body = match (next.body.take(), rewrite) {
                        (Some(body), _) => body,
                        (None, Some(rewrite)) => rewrite(next.index).body,
                        (None, None) => unreachable!("bodies are kept unless rewritable"),
                    };
                    bytes_in_flight += next.len;
                    let channel = live.channel.clone();
                    let (target, key) = (exchange.into(), routing_key.into());
                    let properties = properties.clone();
                    // The delivery tag and the frames are queued on the
                    // first poll, in push order, so many messages travel
                    // per round trip to the I/O thread. The client copies
                    // the body into its frames.
                    publishing.push(async move {
                        let published = channel
                            .basic_publish(target, key, options, &body, properties)
                            .await;
                        next.body = keep_bodies.then_some(body);
                        (next, published)
                    });
                }
                let waiting = publishing.len() + in_flight.len();
                self.metrics
                    .emit(RuntimeEvent::ConfirmsPending(waiting as u64));
                if waiting == 0 {
                    break;
                }
                let (message, confirmation) = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => {
                        self.metrics.emit(RuntimeEvent::ConfirmsPending(0));
                        return Err(cancelled(waiting + failed.len() + again.len()));
                    }
                    () = tokio::time::sleep_until(last_progress + outage_bound) => {
                        self.metrics.emit(RuntimeEvent::ConfirmsPending(0));
                        self.link.invalidate(live.epoch).await;
                        let waiting = format!(
                            "{waiting} messages published and not confirmed"
                        );
                        return Err(self.unavailable(
                            outage_bound,
                            match (reason, &earlier_reason) {
                                (Some(reason), _) => reason,
                                (None, Some(earlier)) => format!("{earlier}, then {waiting}"),
                                (None, None) => waiting,
                            },
                        ));
                    }
                    Some(done) = in_flight.next() => done,
                    Some((message, published)) = publishing.next() => match published {
                        Ok(confirm) => {
                            in_flight.push(async move { (message, confirm.await) });
                            continue;
                        }
                        Err(error) => (message, Err(error)),
                    },
                };
                bytes_in_flight -= message.len;
                match classify(confirmation) {
                    Outcome::Confirmed => {
                        confirmed += 1;
                        last_progress = Instant::now();
                    }
                    Outcome::Refused(why) => {
                        reason.get_or_insert_with(|| why.to_owned());
                        failed.push(message);
                    }
                    Outcome::Broken(why) => {
                        broken = true;
                        reason.get_or_insert(why);
                        failed.push(message);
                    }
                }
            }
            self.metrics.emit(RuntimeEvent::ConfirmsPending(0));
            if broken {
                self.link.invalidate(live.epoch).await;
            }
            if failed.is_empty() {
                continue;
            }
            failed.extend(again.drain(..));
            failed.sort_by_key(|message| message.index);
            again = failed.into();
            let delay = delays.next().unwrap_or(Duration::from_secs(10));
            let reason = reason.unwrap_or_else(|| "unknown".to_owned());
            earlier_reason = Some(reason.clone());
            self.metrics.emit(RuntimeEvent::PublishRetry {
                messages: again.len() as u64,
                reason: &reason,
                delay,
            });
            let deadline = last_progress + outage_bound;
            if Instant::now() + delay >= deadline {
                return Err(self.unavailable(outage_bound, reason));
            }
            tokio::select! {
                () = shutdown.cancelled() => return Err(cancelled(again.len())),
                () = tokio::time::sleep(delay) => {}
            }
        }
        self.metrics.emit(RuntimeEvent::MessagesConfirmed {
            count: confirmed as u64,
            latency: started.elapsed(),
        });
        Ok(confirmed)
    }

    fn unavailable(&self, waited: Duration, reason: String) -> AmqpError {
        AmqpError::Unavailable {
            address: self.link.params().address(),
            waited,
            reason,
        }
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
