//! Counters of the stream runtime.

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::metrics::Metrics;

/// Label of [`StreamMetrics::received`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventType {
    r#type: Cow<'static, str>,
}

/// Stream runtime metrics; cheap to update from any task.
#[derive(Debug, Default)]
pub struct StreamMetrics {
    received: Family<EventType, Counter>,
    handled: Counter,
    rejected: Counter,
    retries: Counter,
    pub(crate) reconnects: Counter,
    lag_seconds: Gauge<f64, AtomicU64>,
}

impl StreamMetrics {
    /// Adds the metrics to the connector's registry.
    pub fn register(&self, registry: &Metrics) {
        registry.register(
            "stream_events_received",
            "Id-bearing live stream messages received, by event type",
            self.received.clone(),
        );
        registry.register(
            "stream_events_handled",
            "Events the sink handled",
            self.handled.clone(),
        );
        registry.register(
            "stream_events_rejected",
            "Events rejected as malformed or by the sink",
            self.rejected.clone(),
        );
        registry.register(
            "stream_sink_retries",
            "Sink attempts that asked for a retry",
            self.retries.clone(),
        );
        registry.register(
            "stream_reconnects",
            "Reconnections to the live stream (after drops, refusals and silence)",
            self.reconnects.clone(),
        );
        registry.register(
            "stream_lag_seconds",
            "Age of the last stream message received (now minus the time in its id)",
            self.lag_seconds.clone(),
        );
    }

    /// Messages of type `event` received so far.
    pub fn received(&self, event: &str) -> u64 {
        self.received
            .get(&EventType {
                r#type: Cow::Owned(event.to_owned()),
            })
            .map_or(0, |c| c.get())
    }

    /// Events the sink handled.
    pub fn handled(&self) -> u64 {
        self.handled.get()
    }

    /// Events rejected (malformed, or rejected by the sink).
    pub fn rejected(&self) -> u64 {
        self.rejected.get()
    }

    /// Sink attempts that returned a retry.
    pub fn retries(&self) -> u64 {
        self.retries.get()
    }

    /// Reconnections so far.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.get()
    }

    /// The last lag measured, in seconds.
    pub fn lag_seconds(&self) -> f64 {
        self.lag_seconds.get()
    }

    pub(crate) fn count_received(&self, event: &str, timestamp_ms: Option<u64>, now_ms: u64) {
        let label = match event {
            "create" => Cow::Borrowed("create"),
            "update" => Cow::Borrowed("update"),
            "delete" => Cow::Borrowed("delete"),
            "merge" => Cow::Borrowed("merge"),
            "heartbeat" => Cow::Borrowed("heartbeat"),
            "connected" => Cow::Borrowed("connected"),
            "consumer_metrics" => Cow::Borrowed("consumer_metrics"),
            "no-recover" => Cow::Borrowed("no-recover"),
            other => Cow::Owned(other.to_owned()),
        };
        self.received
            .get_or_create(&EventType { r#type: label })
            .inc();
        if let Some(timestamp_ms) = timestamp_ms {
            // Millisecond precision is plenty for a lag gauge.
            #[allow(clippy::cast_precision_loss)]
            let lag = now_ms.saturating_sub(timestamp_ms) as f64 / 1000.0;
            self.lag_seconds.set(lag);
        }
    }

    pub(crate) fn count_handled(&self, n: u64) {
        self.handled.inc_by(n);
    }

    pub(crate) fn count_rejected(&self) {
        self.rejected.inc();
    }

    pub(crate) fn count_retry(&self) {
        self.retries.inc();
    }
}
