//! The `StreamSink` trait: what a stream connector implements on top of
//! its [`Connector`] identity.

use std::future::Future;
use std::time::Duration;

use super::event::StreamEvent;
use crate::config::Check;
use crate::connector::Connector;
use crate::http::VendorError;

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

    /// A transient failure of a vendor call, retried no sooner than the
    /// vendor asked, if it did.
    pub fn retry_vendor(error: &impl VendorError) -> Self {
        Self::Retry {
            reason: error.to_string(),
            after: error.retry_after(),
        }
    }

    /// Done when the event met no refusal, otherwise rejected with every
    /// reason, joined by `; `.
    pub fn from_refusals(reasons: &[String]) -> Self {
        if reasons.is_empty() {
            Self::Done
        } else {
            Self::reject(reasons.join("; "))
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

/// The variables, under a connector's own names, that size a vendor sink's
/// batches and bound each vendor request; read alike by every such sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkVars {
    /// Most events per batch (an integer, at least 1).
    pub batch_size: &'static str,
    /// Longest wait for a batch to fill, in milliseconds.
    pub batch_wait_ms: &'static str,
    /// Timeout of each vendor request, in seconds (at least 1).
    pub timeout: &'static str,
}

/// What [`SinkVars::check`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkTuning {
    /// How events are grouped.
    pub batching: Batching,
    /// Bound on each vendor request, connection included.
    pub timeout: Duration,
}

impl SinkVars {
    /// Reads the three variables; `None` when one is unset or refused (a
    /// zero batch size or timeout), the problem recorded in `check`.
    pub fn check(&self, check: &mut Check<'_>) -> Option<SinkTuning> {
        let batch_size: Option<usize> = check.require(self.batch_size);
        if batch_size == Some(0) {
            check.reject(self.batch_size, "must be at least 1");
        }
        let batch_wait: Option<u64> = check.require(self.batch_wait_ms);
        let timeout: Option<u64> = check.require(self.timeout);
        if timeout == Some(0) {
            check.reject(self.timeout, "must be at least 1 second");
        }
        Some(SinkTuning {
            batching: Batching::up_to(batch_size?, Duration::from_millis(batch_wait?)),
            timeout: Duration::from_secs(timeout?),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigErrors, Settings, Var, VarKind};

    static VARS: &[Var] = &[
        Var::new("VENDOR_BATCH_SIZE", "vendor", "batch_size", VarKind::Int).default("100"),
        Var::new(
            "VENDOR_BATCH_WAIT_MS",
            "vendor",
            "batch_wait_ms",
            VarKind::Int,
        )
        .default("500"),
        Var::new("VENDOR_TIMEOUT", "vendor", "timeout", VarKind::Int).default("30"),
    ];

    const SINK_VARS: SinkVars = SinkVars {
        batch_size: "VENDOR_BATCH_SIZE",
        batch_wait_ms: "VENDOR_BATCH_WAIT_MS",
        timeout: "VENDOR_TIMEOUT",
    };

    fn tuning(pairs: &[(&str, &str)]) -> Result<SinkTuning, ConfigErrors> {
        let settings = Settings::from_env_pairs(&[VARS], pairs.iter().copied());
        let mut check = settings.check();
        let tuning = SINK_VARS.check(&mut check);
        check.finish("vendor", || tuning)
    }

    #[test]
    fn sink_variables_set_batches_and_the_timeout() {
        assert_eq!(
            tuning(&[]).unwrap(),
            SinkTuning {
                batching: Batching::up_to(100, Duration::from_millis(500)),
                timeout: Duration::from_secs(30),
            }
        );
        let errors = tuning(&[("VENDOR_BATCH_SIZE", "0"), ("VENDOR_TIMEOUT", "0")]).unwrap_err();
        assert_eq!(errors.culprits(), ["VENDOR_BATCH_SIZE", "VENDOR_TIMEOUT"]);
        let text = errors.to_string();
        assert!(text.contains("must be at least 1 second"), "{text}");
    }

    #[derive(Debug)]
    struct Busy(Option<Duration>);

    impl std::fmt::Display for Busy {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("vendor busy")
        }
    }

    impl VendorError for Busy {
        fn retry_after(&self) -> Option<Duration> {
            self.0
        }

        fn stops_startup(&self) -> bool {
            false
        }
    }

    #[test]
    fn outcomes_of_vendor_errors_and_refusals() {
        let pause = Duration::from_secs(7);
        assert_eq!(
            Outcome::retry_vendor(&Busy(Some(pause))),
            Outcome::retry_after("vendor busy", pause)
        );
        assert_eq!(
            Outcome::retry_vendor(&Busy(None)),
            Outcome::retry("vendor busy")
        );
        assert_eq!(Outcome::from_refusals(&[]), Outcome::Done);
        assert_eq!(
            Outcome::from_refusals(&["bad ip".to_owned(), "bad url".to_owned()]),
            Outcome::reject("bad ip; bad url")
        );
    }
}
