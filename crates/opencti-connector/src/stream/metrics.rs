//! Counters of the stream runtime.

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::metrics::Metrics;

/// The label of an event name: the names the platform sends, else
/// `other`, so that a stream cannot grow the set of time series.
fn label(event: &str) -> &'static str {
    match event {
        "create" => "create",
        "update" => "update",
        "delete" => "delete",
        "merge" => "merge",
        "heartbeat" => "heartbeat",
        "connected" => "connected",
        "consumer_metrics" => "consumer_metrics",
        "no-recover" => "no-recover",
        _ => "other",
    }
}

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
    pub(crate) oversized: Counter,
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
            "stream_events_oversized",
            "Live stream events over CONNECTOR_LIVE_STREAM_MAX_EVENT_SIZE_MB (each one drops the connection)",
            self.oversized.clone(),
        );
        registry.register(
            "stream_lag_seconds",
            "Age of the last stream message received (now minus the time in its id)",
            self.lag_seconds.clone(),
        );
    }

    /// Messages of type `event` received so far; every name the runtime
    /// does not know is counted as `other`.
    pub fn received(&self, event: &str) -> u64 {
        self.received
            .get(&EventType {
                r#type: Cow::Borrowed(label(event)),
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

    /// Events refused as too large so far.
    pub fn oversized(&self) -> u64 {
        self.oversized.get()
    }

    /// The last lag measured, in seconds.
    pub fn lag_seconds(&self) -> f64 {
        self.lag_seconds.get()
    }

    pub(crate) fn count_received(&self, event: &str, timestamp_ms: Option<u64>, now_ms: u64) {
        self.received
            .get_or_create(&EventType {
                r#type: Cow::Borrowed(label(event)),
            })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_event_names_share_one_label() {
        let metrics = StreamMetrics::default();
        let registry = Metrics::default();
        metrics.register(&registry);
        for n in 0..100 {
            metrics.count_received(&format!("made-up-{n}"), None, 0);
        }
        metrics.count_received("create", None, 0);
        assert_eq!(metrics.received("other"), 100);
        assert_eq!(metrics.received("made-up-7"), 100, "read under its label");
        let text = registry.encode();
        assert!(!text.contains("made-up"), "{text}");
        let series = text
            .lines()
            .filter(|line| line.starts_with("stream_events_received_total"))
            .count();
        assert_eq!(series, 2, "{text}");
    }
}
