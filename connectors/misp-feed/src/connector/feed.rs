//! URL mode (HTTP(S) or a local directory): the manifest's events newer
//! than the cursor, in timestamp order, downloaded and converted one at a
//! time while earlier ones wait for their broker confirms.
//!
//! The state keeps the Python connector's keys (`last_run`, `last_event`,
//! `last_event_timestamp`) and only moves once an event's bundle was
//! confirmed, in feed order.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use opencti_connector::RunContext;
use opencti_connector::state::State;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};

use super::budget::{ByteBudget, Reservation};
use super::turns::FeedOrder;
use super::{MispFeed, Outcome, RunError, python_isoformat, send_converted};
use crate::convert::ConvertedEvent;
use crate::source::{FeedReader, ManifestEntry};

/// Bytes that events between their download and their broker confirms
/// may hold together (see [`event_bytes`]); one event larger than this
/// waits until it is alone, then runs alone.
const BYTES_IN_FLIGHT: usize = 4 * 1024 * 1024;

/// What an event takes while being converted, per byte of its file (the
/// file, the parsed event and the bundle text as it grows); reserved
/// before converting, and replaced by the measured [`event_bytes`] after.
const CONVERSION_BYTES_PER_FILE_BYTE: usize = 24;

/// What a converted event holds until confirmed, beyond its bundle text:
/// the send path's index of each object (id and references) and its split
/// plan, per object.
const HELD_BYTES_PER_OBJECT: usize = 256;

/// The most the runtime's publishing window holds of one send's encoded
/// messages (its 4 MiB).
const WINDOW_BYTES: usize = 4 * 1024 * 1024;

/// What a converted event holds until its broker confirms: its bundle
/// text, the send path's index of it, and its messages in the publishing
/// window (Base64 adds a third to the text, up to the window's bytes).
fn event_bytes(converted: &ConvertedEvent) -> usize {
    let text = converted.bundle.len();
    text.saturating_add(converted.object_count.saturating_mul(HELD_BYTES_PER_OBJECT))
        .saturating_add((text / 3).saturating_mul(4).min(WINDOW_BYTES))
}

/// The URL-mode cursor (epoch seconds) from the state, as the Python
/// connector reads it; `None` when the connector never ran.
pub fn cursor_from_state(state: Option<&State>) -> Option<i64> {
    let state = state?;
    let last_run = state.get("last_run")?;
    if state.contains_key("last_event")
        && let Some(timestamp) = state
            .get("last_event_timestamp")
            .and_then(crate::source::epoch_seconds)
    {
        return Some(timestamp);
    }
    let text = last_run.as_str()?;
    let parsed = crate::config::parse_import_from(text, Utc::now()).ok()?;
    Some(parsed.timestamp())
}

/// The URL-mode state, with the Python connector's keys and formats.
fn feed_state(run_started: &DateTime<Utc>, cursor: i64) -> State {
    let last_event = DateTime::<Utc>::from_timestamp(cursor, 0).unwrap_or_default();
    let mut state = State::new();
    state.insert("last_run".into(), json!(python_isoformat(run_started)));
    state.insert("last_event".into(), json!(python_isoformat(&last_event)));
    state.insert("last_event_timestamp".into(), json!(cursor));
    state
}

/// An event ready for the sending half of the pipeline.
enum Prepared {
    Ready {
        index: usize,
        converted: ConvertedEvent,
        /// Held until the event is confirmed.
        held: Reservation,
    },
    Skipped {
        index: usize,
    },
    /// Converted and sent in pieces by the sending half, alone.
    Large {
        index: usize,
        key: String,
        bytes: Bytes,
        /// The whole budget, until the event is confirmed.
        held: Reservation,
    },
    /// Stops the run once the earlier events are confirmed.
    Failed(RunError),
}

/// A send (or skip) waiting for its turn to move the cursor.
type InFlight<'a> = Pin<Box<dyn Future<Output = (usize, Result<Outcome, RunError>)> + Send + 'a>>;

/// The cursor as events are confirmed, in feed order.
struct Progress {
    processed: usize,
    cursor: i64,
}

impl Progress {
    /// Records event `index` of `pending` as done and stores the state: the
    /// cursor is the event's timestamp, or one second less while the next
    /// event shares it (a failure inside such a group then re-sends the
    /// group instead of skipping its rest).
    fn commit(
        &mut self,
        ctx: &RunContext,
        pending: &[&ManifestEntry],
        index: usize,
        outcome: &Outcome,
        run_started: &DateTime<Utc>,
    ) {
        if matches!(outcome, Outcome::Sent) {
            self.processed += 1;
        }
        let timestamp = pending[index].timestamp;
        let tie_follows = pending
            .get(index + 1)
            .is_some_and(|next| next.timestamp == timestamp);
        self.cursor = if tie_follows {
            timestamp - 1
        } else {
            timestamp
        };
        ctx.set_state(feed_state(run_started, self.cursor));
    }
}

impl MispFeed {
    /// URL mode; returns the run's summary.
    pub(super) async fn run_feed(
        &self,
        ctx: &RunContext,
        reader: &FeedReader,
    ) -> Result<String, RunError> {
        let now = Utc::now();
        let state = ctx.state();
        let cursor = match cursor_from_state(state.as_ref()) {
            Some(cursor) => {
                tracing::info!(
                    "Connector latest event: {}",
                    python_isoformat(
                        &DateTime::<Utc>::from_timestamp(cursor, 0).unwrap_or_default()
                    )
                );
                cursor
            }
            None => {
                tracing::info!("Connector has never run");
                self.config.import_from.unwrap_or(now).timestamp()
            }
        };
        let manifest = reader.manifest().await.map_err(RunError::Manifest)?;
        for rejected in &manifest.rejected {
            tracing::warn!(key = %rejected.key, "manifest entry ignored: {}", rejected.reason);
        }
        let pending: Vec<&ManifestEntry> = manifest
            .entries
            .iter()
            .filter(|entry| entry.timestamp > cursor)
            .collect();
        // Events are downloaded and converted one at a time while up to
        // `events_in_flight` earlier ones wait for their broker confirms
        // (confirms take longer than converting an ordinary event), and one
        // more is split, ready to publish as soon as a slot frees; all of
        // them together hold at most `BYTES_IN_FLIGHT`. Events start
        // publishing in feed order (`FeedOrder`), and the state follows the
        // confirms in feed order.
        let events_in_flight = self.config.events_in_flight.max(1);
        let publishing = &Semaphore::new(events_in_flight);
        let budget = ByteBudget::new(BYTES_IN_FLIGHT);
        let (sender, mut receiver) = mpsc::channel::<Prepared>(1);
        let producer = async {
            // Owned here, so the channel closes when the producer is done.
            let sender = sender;
            for (index, entry) in pending.iter().enumerate() {
                if ctx.is_shutting_down() {
                    break;
                }
                tracing::info!(
                    "Processing event {} (date={}, modified={})",
                    entry.info,
                    entry.date,
                    python_isoformat(
                        &DateTime::<Utc>::from_timestamp(entry.timestamp, 0).unwrap_or_default()
                    )
                );
                let prepared = self.prepare(ctx, reader, index, entry, now, &budget).await;
                let last = matches!(prepared, Prepared::Failed(_));
                if sender.send(prepared).await.is_err() || last {
                    break;
                }
            }
        };
        let consumer = async {
            let mut progress = Progress {
                processed: 0,
                cursor,
            };
            let mut in_flight: FuturesOrdered<InFlight<'_>> = FuturesOrdered::new();
            let mut order = FeedOrder::default();
            let mut receiving = true;
            let mut stopped_by: Option<RunError> = None;
            loop {
                tokio::select! {
                    Some((index, result)) = in_flight.next(), if !in_flight.is_empty() => {
                        match result {
                            Ok(outcome) => progress.commit(ctx, &pending, index, &outcome, &now),
                            // An earlier event than anything still queued.
                            Err(error) => return (progress, Some(error)),
                        }
                    }
                    prepared = receiver.recv(), if receiving && in_flight.len() <= events_in_flight => {
                        match prepared {
                            None => receiving = false,
                            Some(Prepared::Failed(error)) => {
                                receiving = false;
                                stopped_by = Some(error);
                            }
                            Some(Prepared::Skipped { index }) => {
                                in_flight.push_back(Box::pin(async move { (index, Ok(Outcome::Skipped)) }));
                            }
                            Some(Prepared::Large { index, key, bytes, held }) => {
                                let turn = order.next_turn();
                                in_flight.push_back(Box::pin(async move {
                                    let sent = self.import_in_pieces(ctx, &key, bytes, now, turn, publishing).await;
                                    drop(held);
                                    (index, sent)
                                }));
                            }
                            Some(Prepared::Ready { index, converted, held }) => {
                                let turn = order.next_turn();
                                in_flight.push_back(Box::pin(async move {
                                    let sent = send_converted(ctx, converted, turn, publishing).await;
                                    drop(held);
                                    (index, sent.map(|()| Outcome::Sent))
                                }));
                            }
                        }
                    }
                    else => break,
                }
            }
            (progress, stopped_by)
        };
        // The consumer decides when the run ends: once it returns (a failed
        // send, or everything confirmed), the producer is dropped, wherever
        // it waits (a download, the byte budget, the hand-off).
        let (progress, stopped_by) = {
            let (mut producer, mut consumer) = (std::pin::pin!(producer), std::pin::pin!(consumer));
            tokio::select! {
                biased;
                done = &mut consumer => done,
                () = &mut producer => consumer.await,
            }
        };
        if let Some(error) = stopped_by {
            return Err(error);
        }
        let summary = feed_summary(progress.processed, &now, progress.cursor);
        tracing::info!("{summary}");
        Ok(summary)
    }

    /// Downloads and converts one event for the sending half; poison and
    /// missing events are reported on the work and become skips.
    async fn prepare(
        &self,
        ctx: &RunContext,
        reader: &FeedReader,
        index: usize,
        entry: &ManifestEntry,
        now: DateTime<Utc>,
        budget: &ByteBudget,
    ) -> Prepared {
        let bytes: Bytes = match reader.event(&entry.key).await {
            Ok(bytes) => bytes,
            Err(error) if error.is_file_specific() => {
                return match ctx
                    .report_error(format!("event skipped: {error}"), entry.key.clone())
                    .await
                {
                    Ok(()) => Prepared::Skipped { index },
                    Err(error) => Prepared::Failed(error.into()),
                };
            }
            Err(error) => {
                return Prepared::Failed(RunError::Download {
                    key: entry.key.clone(),
                    error,
                });
            }
        };
        let closed = || {
            Prepared::Failed(RunError::Interrupted(
                "the byte budget was closed".to_owned(),
            ))
        };
        if super::is_large(bytes.len()) {
            // Runs alone: it waits for every earlier event's confirms.
            let Some(held) = budget.reserve(BYTES_IN_FLIGHT).await else {
                return closed();
            };
            return Prepared::Large {
                index,
                key: entry.key.clone(),
                bytes,
                held,
            };
        }
        let converting = bytes.len().saturating_mul(CONVERSION_BYTES_PER_FILE_BYTE);
        let Some(mut held) = budget.reserve(converting).await else {
            return closed();
        };
        match self.convert_file(ctx, &entry.key, bytes, now).await {
            Ok(Some(converted)) => {
                if budget
                    .resize(&mut held, event_bytes(&converted))
                    .await
                    .is_none()
                {
                    return closed();
                }
                Prepared::Ready {
                    index,
                    converted,
                    held,
                }
            }
            Ok(None) => Prepared::Skipped { index },
            Err(error) => Prepared::Failed(error),
        }
    }
}

fn feed_summary(processed: usize, now: &DateTime<Utc>, cursor: i64) -> String {
    format!(
        "Connector successfully run ({processed} events have been processed), storing state (last_run={}, last_event={}, last_event_timestamp={cursor})",
        python_isoformat(now),
        python_isoformat(&DateTime::<Utc>::from_timestamp(cursor, 0).unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn the_cursor_is_read_like_the_python_connector() {
        let state = |value: Value| value.as_object().cloned();
        assert_eq!(cursor_from_state(None), None);
        assert_eq!(
            cursor_from_state(state(json!({"last_event": "x"})).as_ref()),
            None,
            "no last_run: never ran"
        );
        assert_eq!(
            cursor_from_state(
                state(json!({
                    "last_run": "2026-08-21T12:00:00.123456+00:00",
                    "last_event": "2024-01-15T10:00:00+00:00",
                    "last_event_timestamp": 1705312800
                }))
                .as_ref()
            ),
            Some(1_705_312_800)
        );
        assert_eq!(
            cursor_from_state(state(json!({"last_run": "2024-01-15T10:00:00+00:00"})).as_ref()),
            Some(1_705_312_800),
            "only last_run: the run time is the cursor"
        );
    }

    #[test]
    fn state_has_the_python_keys() {
        let started = DateTime::<Utc>::from_timestamp(1_787_313_600, 0).unwrap();
        let state = feed_state(&started, 1_705_312_800);
        assert_eq!(
            Value::Object(state),
            json!({
                "last_run": "2026-08-21T12:00:00+00:00",
                "last_event": "2024-01-15T10:00:00+00:00",
                "last_event_timestamp": 1705312800
            })
        );
    }
}
