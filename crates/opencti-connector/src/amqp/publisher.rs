//! Pipelined publishing with publisher confirms and at-least-once retries.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::AmqpError;
use super::link::BrokerLink;
use super::publish_connection::Confirm;
use crate::metrics::{Metrics, RuntimeEvent};

/// How many messages may wait for their confirm at once. With the broker
/// on the same host, about a thousand keep it busy (the `broker_ceiling`
/// example measures its rate at that depth); more only holds memory.
const WINDOW_MESSAGES: usize = 1024;
/// How many bytes of message bodies may wait for their confirm at once
/// (large messages get a smaller window).
const WINDOW_BYTES: usize = 4 * 1024 * 1024;
/// How many bytes of encoded messages are written at a time: one system
/// call carries dozens of messages.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

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

#[derive(Clone, Copy)]
enum Outcome {
    Confirmed,
    Refused(&'static str),
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

/// The messages published on one connection and not settled yet, in
/// delivery-tag order from `first_tag`: a message confirmed or refused out
/// of order leaves a gap until the ones before it are settled too.
struct Window {
    slots: VecDeque<Option<Unconfirmed>>,
    first_tag: u64,
    unsettled: usize,
    bytes: usize,
    /// Messages below this delivery tag may have been returned: a return
    /// names no tag and only precedes its own message's confirm, so every
    /// message published before one is read goes again.
    returned_below: u64,
}

impl Window {
    /// An empty window whose first message gets delivery tag `first_tag`.
    fn new(first_tag: u64) -> Self {
        Self {
            slots: VecDeque::new(),
            first_tag,
            unsettled: 0,
            bytes: 0,
            returned_below: 0,
        }
    }

    fn has_room(&self) -> bool {
        self.slots.len() < WINDOW_MESSAGES && self.bytes < WINDOW_BYTES
    }

    /// Adds the message just published (the next delivery tag).
    fn push(&mut self, message: Unconfirmed) {
        self.bytes += message.len;
        self.unsettled += 1;
        self.slots.push_back(Some(message));
    }

    /// Takes the messages `confirm` settles out of the window, each handed
    /// to `settled` with its outcome.
    ///
    /// # Errors
    ///
    /// A confirm for a delivery tag that is not in the window.
    fn settle(
        &mut self,
        confirm: Confirm,
        mut settled: impl FnMut(Unconfirmed, Outcome),
    ) -> Result<(), String> {
        let next_tag = self.first_tag + self.slots.len() as u64;
        let (tag, multiple, outcome) = match confirm {
            Confirm::Ack { tag, multiple } => (tag, multiple, Outcome::Confirmed),
            Confirm::Nack { tag, multiple } => {
                (tag, multiple, Outcome::Refused("nacked by the broker"))
            }
            Confirm::Returned => {
                self.returned_below = next_tag;
                return Ok(());
            }
        };
        if tag < self.first_tag || tag >= next_tag {
            return Err(format!(
                "a confirm for delivery tag {tag}, outside {} to {}",
                self.first_tag,
                next_tag - 1
            ));
        }
        let last = (tag - self.first_tag) as usize;
        let first = if multiple { 0 } else { last };
        for slot in first..=last {
            let Some(message) = self.slots[slot].take() else {
                continue;
            };
            self.unsettled -= 1;
            self.bytes -= message.len;
            let returned = self.first_tag + (slot as u64) < self.returned_below;
            settled(
                message,
                match outcome {
                    Outcome::Confirmed if returned => Outcome::Refused("returned as unroutable"),
                    outcome => outcome,
                },
            );
        }
        while self.slots.front().is_some_and(Option::is_none) {
            self.slots.pop_front();
            self.first_tag += 1;
        }
        Ok(())
    }
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
        let mut out: Vec<u8> = Vec::new();
        loop {
            if again.is_empty() && source_done {
                break;
            }
            let mut connection = self
                .link
                .publishing(shutdown, last_progress + outage_bound)
                .await
                .map_err(|error| match error {
                    AmqpError::Cancelled { .. } => cancelled(again.len()),
                    other => other,
                })?;
            out.clear();
            let mut written = 0_usize;
            let mut failed: Vec<Unconfirmed> = Vec::new();
            let mut reason: Option<String> = None;
            let mut broken = false;
            let mut window = Window::new(connection.next_tag());
            loop {
                while !broken
                    && connection.blocked().is_none()
                    && window.has_room()
                    && out.len() < WRITE_BATCH_BYTES
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
                    connection.publish(&mut out, exchange, routing_key, &body);
                    next.body = keep_bodies.then_some(body);
                    window.push(next);
                }
                let unsettled = window.unsettled;
                self.metrics
                    .emit(RuntimeEvent::ConfirmsPending(unsettled as u64));
                if broken || unsettled == 0 {
                    break;
                }
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => {
                        self.metrics.emit(RuntimeEvent::ConfirmsPending(0));
                        return Err(cancelled(unsettled + failed.len() + again.len()));
                    }
                    () = tokio::time::sleep_until(last_progress + outage_bound) => {
                        self.metrics.emit(RuntimeEvent::ConfirmsPending(0));
                        let waiting = format!(
                            "{unsettled} messages published and not confirmed"
                        );
                        let waiting = match connection.blocked() {
                            Some(why) => format!("{waiting}, the broker blocking publishers ({why})"),
                            None => waiting,
                        };
                        return Err(self.unavailable(
                            outage_bound,
                            match (reason, &earlier_reason) {
                                (Some(reason), _) => reason,
                                (None, Some(earlier)) => format!("{earlier}, then {waiting}"),
                                (None, None) => waiting,
                            },
                        ));
                    }
                    exchanged = connection.exchange(&mut out, &mut written) => {
                        if let Err(why) = exchanged {
                            broken = true;
                            reason.get_or_insert(why);
                        }
                    }
                }
                loop {
                    let confirm = match connection.next_confirm() {
                        Ok(Some(confirm)) => confirm,
                        Ok(None) => break,
                        Err(why) => {
                            broken = true;
                            reason.get_or_insert(why);
                            break;
                        }
                    };
                    let settled = window.settle(confirm, |message, outcome| match outcome {
                        Outcome::Confirmed => {
                            confirmed += 1;
                            last_progress = Instant::now();
                        }
                        Outcome::Refused(why) => {
                            reason.get_or_insert_with(|| why.to_owned());
                            failed.push(message);
                        }
                    });
                    if let Err(why) = settled {
                        broken = true;
                        reason.get_or_insert(why);
                        break;
                    }
                }
            }
            self.metrics.emit(RuntimeEvent::ConfirmsPending(0));
            if broken {
                // Whatever was not confirmed may or may not have arrived:
                // it goes again (at least once).
                failed.extend(window.slots.into_iter().flatten());
            } else {
                self.link.keep_publishing(connection).await;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::amqp::BrokerParams;
    use crate::amqp::wire::{test_frame, test_method};
    use crate::config::Secret;

    /// A frame read by the fake broker: its type and payload (`None` once
    /// the publisher hung up).
    async fn read_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
        let mut head = [0_u8; 7];
        stream.read_exact(&mut head).await.ok()?;
        let size = u32::from_be_bytes(head[3..7].try_into().unwrap()) as usize;
        let mut payload = vec![0; size + 1];
        stream.read_exact(&mut payload).await.ok()?;
        payload.pop();
        Some((head[0], payload))
    }

    /// Reads frames up to the method `class.method`.
    async fn expect(stream: &mut TcpStream, class: u16, id: u16) -> Option<()> {
        loop {
            let (kind, payload) = read_frame(stream).await?;
            if kind == 1 && payload[..4] == [class.to_be_bytes(), id.to_be_bytes()].concat()[..] {
                return Some(());
            }
        }
    }

    /// The broker's side of the handshake, up to the confirm channel.
    async fn accept(listener: &TcpListener) -> TcpStream {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut header = [0_u8; 8];
        stream.read_exact(&mut header).await.unwrap();
        assert_eq!(&header, b"AMQP\x00\x00\x09\x01");
        let mut start = vec![0, 9, 0, 0, 0, 0];
        start.extend_from_slice(&[0, 0, 0, 5]);
        start.extend_from_slice(b"PLAIN");
        start.extend_from_slice(&[0, 0, 0, 5]);
        start.extend_from_slice(b"en_US");
        stream
            .write_all(&test_method(0, 10, 10, &start))
            .await
            .unwrap();
        expect(&mut stream, 10, 11).await.unwrap();
        let tune = [
            &2047_u16.to_be_bytes()[..],
            &131_072_u32.to_be_bytes(),
            &60_u16.to_be_bytes(),
        ]
        .concat();
        stream
            .write_all(&test_method(0, 10, 30, &tune))
            .await
            .unwrap();
        expect(&mut stream, 10, 40).await.unwrap();
        stream
            .write_all(&test_method(0, 10, 41, &[0]))
            .await
            .unwrap();
        expect(&mut stream, 20, 10).await.unwrap();
        stream
            .write_all(&test_method(1, 20, 11, &[0; 4]))
            .await
            .unwrap();
        expect(&mut stream, 85, 10).await.unwrap();
        stream
            .write_all(&test_method(1, 85, 11, &[]))
            .await
            .unwrap();
        stream
    }

    /// The body of the next message published.
    async fn next_body(stream: &mut TcpStream) -> Option<Vec<u8>> {
        expect(stream, 60, 40).await?;
        let (kind, header) = read_frame(stream).await?;
        assert_eq!(kind, 2);
        let size = u64::from_be_bytes(header[4..12].try_into().unwrap()) as usize;
        let mut body = Vec::new();
        while body.len() < size {
            let (kind, part) = read_frame(stream).await?;
            assert_eq!(kind, 3);
            body.extend_from_slice(&part);
        }
        Some(body)
    }

    fn ack(tag: u64, multiple: bool) -> Vec<u8> {
        let mut args = tag.to_be_bytes().to_vec();
        args.push(u8::from(multiple));
        test_method(1, 60, 80, &args)
    }

    fn unconfirmed(index: usize) -> Unconfirmed {
        Unconfirmed {
            index,
            len: 10,
            body: None,
        }
    }

    /// Out-of-order confirms settle their own messages; the window moves on
    /// only past settled ones, and a tag it never gave is an error naming it.
    #[test]
    fn the_window_settles_confirms_in_any_order_and_refuses_unknown_tags() {
        let mut window = Window::new(5);
        for index in 0..4 {
            window.push(unconfirmed(index));
        }
        let mut settled = Vec::new();
        let mut record = |message: Unconfirmed, outcome: Outcome| {
            settled.push((message.index, matches!(outcome, Outcome::Confirmed)));
        };
        window
            .settle(
                Confirm::Ack {
                    tag: 7,
                    multiple: false,
                },
                &mut record,
            )
            .unwrap();
        window
            .settle(
                Confirm::Nack {
                    tag: 5,
                    multiple: false,
                },
                &mut record,
            )
            .unwrap();
        assert_eq!(
            (window.first_tag, window.unsettled, window.bytes),
            (6, 2, 20)
        );
        window
            .settle(
                Confirm::Ack {
                    tag: 8,
                    multiple: true,
                },
                &mut record,
            )
            .unwrap();
        assert_eq!(
            (window.first_tag, window.unsettled, window.bytes),
            (9, 0, 0)
        );
        let error = window
            .settle(
                Confirm::Ack {
                    tag: 9,
                    multiple: false,
                },
                &mut record,
            )
            .unwrap_err();
        assert_eq!(settled, [(2, true), (0, false), (1, true), (3, true)]);
        assert!(error.contains("delivery tag 9"), "{error}");
    }

    /// A return names no delivery tag; it only comes before its message's
    /// confirm. Another message's confirm may come between the two, so a
    /// return cannot be matched to the next confirm: the message returned
    /// would then count as confirmed, and be lost.
    #[tokio::test]
    async fn a_message_returned_goes_again_whatever_confirms_come_between() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let broker = tokio::spawn(async move {
            let mut stream = accept(&listener).await;
            let mut first = Vec::new();
            for _ in 0..3 {
                first.push(next_body(&mut stream).await.unwrap());
            }
            // The second message is unroutable: its return, then the first
            // message's confirm, then one confirm for the second and third.
            let mut answer = test_method(
                1,
                60,
                50,
                &[&[1, 56, 8][..], b"NO_ROUTE", &[0, 1, b'q']].concat(),
            );
            answer.extend(test_frame(
                2,
                1,
                &[
                    &[0, 60, 0, 0][..],
                    &(first[1].len() as u64).to_be_bytes(),
                    &[0, 0],
                ]
                .concat(),
            ));
            answer.extend(test_frame(3, 1, &first[1]));
            answer.extend(ack(1, false));
            answer.extend(ack(3, true));
            stream.write_all(&answer).await.unwrap();
            // What comes again is confirmed.
            let mut again = Vec::new();
            let mut tag = 3;
            while let Some(body) = next_body(&mut stream).await {
                tag += 1;
                again.push(body);
                stream.write_all(&ack(tag, false)).await.unwrap();
            }
            (first, again)
        });
        let params = BrokerParams::plain("127.0.0.1", port, "/", "guest", Secret::new("guest"));
        let metrics = Metrics::default();
        let publisher =
            ConfirmPublisher::new(BrokerLink::new(params, metrics.clone()), metrics.clone());
        let messages: Vec<OutgoingMessage> = (1..=3)
            .map(|n| OutgoingMessage {
                body: format!("message {n}").into_bytes(),
            })
            .collect();
        let confirmed = tokio::time::timeout(
            Duration::from_secs(10),
            publisher.publish_rewritable(
                "",
                "q",
                messages.clone().into_iter(),
                |index| messages[index].clone(),
                &CancellationToken::new(),
            ),
        )
        .await
        .expect("the publish ends")
        .unwrap();
        assert_eq!(confirmed, 3);
        // Every message published before the return was read goes again.
        assert_eq!(metrics.counter("publish_retries"), Some(3));
        drop(publisher);
        let (first, again) = broker.await.unwrap();
        assert_eq!(
            first,
            [
                b"message 1".to_vec(),
                b"message 2".to_vec(),
                b"message 3".to_vec()
            ]
        );
        assert!(
            again.contains(&b"message 2".to_vec()),
            "published again: {again:?}"
        );
    }
}
