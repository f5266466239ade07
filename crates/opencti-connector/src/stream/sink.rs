//! The `StreamSink` trait: what a stream connector implements on top of
//! its [`Connector`] identity.

use std::future::Future;
use std::time::Duration;

use super::event::StreamEvent;
use crate::connector::Connector;

/// Boxed error for sink hooks.
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Handled; the position may move past the event.
    Done,
    /// A transient failure (remote system down, rate limited, ...): the
    /// runtime hands the event back later with backoff and the position
    /// does not move past it.
    Retry {
        /// Why, for the log.
        reason: String,
        /// Wait at least this long before the next attempt, when the remote
        /// system said so (up to [`RetryBackoff::max`]); otherwise the
        /// runtime's backoff decides.
        after: Option<Duration>,
    },
    /// The event can never be handled (unsupported content, refused by the
    /// remote system): it is logged with its id and the reason, counted,
    /// and the position moves past it.
    Reject {
        /// Why, for the log.
        reason: String,
    },
}

impl Outcome {
    /// A transient failure, retried with the runtime's backoff.
    pub fn retry(reason: impl std::fmt::Display) -> Self {
        Self::Retry {
            reason: reason.to_string(),
            after: None,
        }
    }

    /// A transient failure, retried no sooner than `after`.
    pub fn retry_after(reason: impl std::fmt::Display, after: Duration) -> Self {
        Self::Retry {
            reason: reason.to_string(),
            after: Some(after),
        }
    }

    /// A permanent failure for this event.
    pub fn reject(reason: impl std::fmt::Display) -> Self {
        Self::Reject {
            reason: reason.to_string(),
        }
    }
}

/// What became of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchOutcome {
    /// The same outcome for every event of the batch.
    All(Outcome),
    /// One outcome per event, in batch order. Events marked
    /// [`Outcome::Retry`] are handed back later; the position stops just
    /// before the first of them until it succeeds.
    PerEvent(Vec<Outcome>),
}

/// How the runtime groups events for [`StreamSink::handle_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// At most this many events per batch (at least 1).
    pub max_events: usize,
    /// A batch is handed over at the latest this long after its first event
    /// arrived, even if not full.
    pub max_wait: Duration,
}

impl Batching {
    /// One event at a time.
    pub const SINGLE: Self = Self {
        max_events: 1,
        max_wait: Duration::ZERO,
    };

    /// Batches of up to `max_events`, waiting at most `max_wait`.
    pub fn up_to(max_events: usize, max_wait: Duration) -> Self {
        Self {
            max_events: max_events.max(1),
            max_wait,
        }
    }
}

impl Default for Batching {
    fn default() -> Self {
        Self::SINGLE
    }
}

/// Retry schedule for [`Outcome::Retry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Upper bound of the delay, and of a remote system's
    /// [`Outcome::Retry::after`]; attempts continue forever at this pace.
    pub max: Duration,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

/// A stream connector: a [`Connector`] acting on a third-party system for
/// each event of a live stream.
///
/// Only [`handle`](Self::handle) is required. Sinks whose remote API takes
/// bulk calls override [`batching`](Self::batching) and
/// [`handle_batch`](Self::handle_batch). Events arrive in stream order; the
/// next event (or batch) is handed over only once the previous one has an
/// outcome other than [`Outcome::Retry`].
pub trait StreamSink: Connector {
    /// Handles one event.
    fn handle(&mut self, event: &StreamEvent) -> impl Future<Output = Outcome> + Send;

    /// Handles a batch of events (at most [`Batching::max_events`]). The
    /// default calls [`handle`](Self::handle) for each event.
    fn handle_batch(
        &mut self,
        events: &[StreamEvent],
    ) -> impl Future<Output = BatchOutcome> + Send {
        async move {
            let mut outcomes = Vec::with_capacity(events.len());
            for event in events {
                outcomes.push(self.handle(event).await);
            }
            BatchOutcome::PerEvent(outcomes)
        }
    }

    /// How events are grouped; one at a time by default.
    fn batching(&self) -> Batching {
        Batching::SINGLE
    }

    /// The retry schedule for [`Outcome::Retry`].
    fn retry_backoff(&self) -> RetryBackoff {
        RetryBackoff::default()
    }

    /// Called once before the first event, after the connector registered.
    /// An error stops the connector.
    fn on_start(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send {
        async { Ok(()) }
    }

    /// Called once when the connector stops, after the last event handled.
    fn on_stop(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
