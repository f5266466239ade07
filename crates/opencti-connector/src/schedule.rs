//! When runs happen: the period, run-and-terminate, and buffering (pausing
//! while the platform's queue for this connector is over the threshold).

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::ApiClient;
use crate::config::RuntimeConfig;
use crate::metrics::{Metrics, RuntimeEvent};
use crate::state::StateHandle;

/// How runs follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Schedule {
    /// One run, then exit (`CONNECTOR_RUN_AND_TERMINATE` or a zero period).
    Once,
    /// A run, then this delay after it ends, forever.
    Every(Duration),
}

impl Schedule {
    /// The schedule of a configuration; `default_period` applies when
    /// `CONNECTOR_DURATION_PERIOD` is unset.
    pub(crate) fn from_config(config: &RuntimeConfig, default_period: Duration) -> Self {
        let connector = &config.connector;
        let period = connector.duration_period.unwrap_or(default_period);
        if connector.run_and_terminate || period.is_zero() {
            Self::Once
        } else {
            Self::Every(period)
        }
    }
}

/// `%Y-%m-%dT%H:%M:%SZ`, the format of `connector_info` dates.
pub(crate) fn info_datetime(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Checks the platform queue and pauses while it is over the threshold.
#[derive(Debug)]
pub(crate) struct Buffering {
    api: ApiClient,
    connector_id: String,
    threshold_mb: f64,
    state: StateHandle,
    metrics: Metrics,
    /// Delay between checks while buffering.
    poll: Duration,
    /// Minimum delay between two checks requested between bundles.
    min_interval: Duration,
    last_check: Mutex<Option<Instant>>,
}

impl Buffering {
    /// A gate for `connector_id` with `threshold_mb`.
    pub(crate) fn new(
        api: ApiClient,
        connector_id: &str,
        threshold_mb: f64,
        state: StateHandle,
        metrics: Metrics,
    ) -> Self {
        Self {
            api,
            connector_id: connector_id.to_owned(),
            threshold_mb,
            state,
            metrics,
            poll: Duration::from_secs(30),
            min_interval: Duration::from_secs(10),
            last_check: Mutex::new(None),
        }
    }

    /// Changes the delays (tests).
    pub(crate) fn with_delays(mut self, poll: Duration, min_interval: Duration) -> Self {
        self.poll = poll;
        self.min_interval = min_interval;
        self
    }

    /// Measures the queue once: `true` if over the threshold. A failed
    /// measurement is logged and counted as "not buffering" (the run goes
    /// on rather than stalling on a monitoring glitch).
    pub(crate) async fn check(&self) -> bool {
        *self
            .last_check
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        match self.api.queue_details(&self.connector_id).await {
            Ok(details) => {
                let size_mb = details.size_mb();
                let buffering = size_mb >= self.threshold_mb;
                self.state.update_info(|info| {
                    info.queue_messages_size = size_mb;
                    info.queue_threshold = self.threshold_mb;
                    info.buffering = buffering;
                });
                self.metrics.emit(RuntimeEvent::QueueMeasured {
                    size_mb,
                    threshold_mb: self.threshold_mb,
                    buffering,
                });
                buffering
            }
            Err(error) => {
                self.metrics.emit(RuntimeEvent::Error {
                    context: "Cannot measure the platform queue",
                    reason: &error.to_string(),
                });
                false
            }
        }
    }

    /// Returns when the queue is under the threshold (checking now if
    /// `force`, else only if the last check is older than the minimum
    /// interval). `false` if `shutdown` fired while waiting.
    pub(crate) async fn wait(&self, shutdown: &CancellationToken, force: bool) -> bool {
        let recent = self
            .last_check
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < self.min_interval);
        if !force && recent {
            return true;
        }
        loop {
            // A platform slow to answer does not hold a stop back.
            let buffering = tokio::select! {
                biased;
                () = shutdown.cancelled() => return false,
                buffering = self.check() => buffering,
            };
            if !buffering {
                return !shutdown.is_cancelled();
            }
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(self.poll) => {}
            }
        }
    }
}
