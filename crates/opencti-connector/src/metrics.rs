//! Prometheus metrics with pycti's names, plus the runtime's own, and the
//! typed runtime events that log and count in one place.
//!
//! pycti's names: `bundles_sent_total`, `records_sent_total`, `runs_total`,
//! `ping_api_total`, `ping_api_errors_total`, `errors_total`,
//! `client_errors_total`, `state{state=...}`. Ours: `publish_latency_seconds`
//! (broker confirm latency of a batch), `confirms_pending`,
//! `publish_retries_total`, `buffering`, `queue_messages_size_mb`,
//! `run_failures_total` and `last_run_failed` (1 from a failed run until a
//! run succeeds: a dependency down, the connector retrying on schedule).
//! Everything is prefixed `<namespace>_<subsystem>_` when configured.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};
use tokio_util::sync::CancellationToken;

/// The connector's life-cycle state, exported as pycti's `state` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunState {
    /// Waiting for the next run.
    Idle,
    /// Running.
    Running,
    /// Stopped.
    Stopped,
}

impl RunState {
    fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Stopped => "stopped",
        }
    }
}

type StateFamily = Family<Vec<(String, String)>, Gauge>;

struct Inner {
    registry: Mutex<Registry>,
    bundles_sent: Counter,
    records_sent: Counter,
    runs: Counter,
    ping_api: Counter,
    ping_api_errors: Counter,
    errors: Counter,
    client_errors: Counter,
    state: StateFamily,
    publish_latency: Histogram,
    confirms_pending: Gauge,
    publish_retries: Counter,
    buffering: Gauge,
    queue_size_mb: Gauge<f64, AtomicU64>,
    run_failures: Counter,
    last_run_failed: Gauge,
}

/// The metrics registry of a connector process. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new("")
    }
}

impl Metrics {
    /// A registry whose names are prefixed with `prefix` (`ns_sub`, or empty).
    pub fn new(prefix: &str) -> Self {
        let mut registry = if prefix.is_empty() {
            Registry::default()
        } else {
            Registry::with_prefix(prefix)
        };
        let inner = Inner {
            registry: Mutex::new(Registry::default()),
            bundles_sent: Counter::default(),
            records_sent: Counter::default(),
            runs: Counter::default(),
            ping_api: Counter::default(),
            ping_api_errors: Counter::default(),
            errors: Counter::default(),
            client_errors: Counter::default(),
            state: StateFamily::default(),
            publish_latency: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            confirms_pending: Gauge::default(),
            publish_retries: Counter::default(),
            buffering: Gauge::default(),
            queue_size_mb: Gauge::default(),
            run_failures: Counter::default(),
            last_run_failed: Gauge::default(),
        };
        registry.register(
            "bundles_sent",
            "Number of bundles sent",
            inner.bundles_sent.clone(),
        );
        registry.register(
            "records_sent",
            "Number of records (objects per bundle) sent",
            inner.records_sent.clone(),
        );
        registry.register("runs", "Number of run", inner.runs.clone());
        registry.register(
            "ping_api",
            "Number of ping to the api",
            inner.ping_api.clone(),
        );
        registry.register(
            "ping_api_errors",
            "Number of errors when pinging the api",
            inner.ping_api_errors.clone(),
        );
        registry.register("errors", "Number of errors", inner.errors.clone());
        registry.register(
            "client_errors",
            "Number of client errors",
            inner.client_errors.clone(),
        );
        registry.register("state", "State of connector", inner.state.clone());
        registry.register(
            "publish_latency_seconds",
            "Time from the first publish of a batch to its last broker confirm",
            inner.publish_latency.clone(),
        );
        registry.register(
            "confirms_pending",
            "Messages published and not yet confirmed",
            inner.confirms_pending.clone(),
        );
        registry.register(
            "publish_retries",
            "Messages published again after a nack or a lost connection",
            inner.publish_retries.clone(),
        );
        registry.register(
            "buffering",
            "1 while paused because the platform queue is over the threshold",
            inner.buffering.clone(),
        );
        registry.register(
            "queue_messages_size_mb",
            "Last measured size of the platform queue, MB",
            inner.queue_size_mb.clone(),
        );
        registry.register(
            "run_failures",
            "Runs that ended in error",
            inner.run_failures.clone(),
        );
        registry.register(
            "last_run_failed",
            "1 if the last run ended in error, 0 once a run succeeds",
            inner.last_run_failed.clone(),
        );
        *inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = registry;
        let metrics = Self {
            inner: Arc::new(inner),
        };
        metrics.set_state(RunState::Idle);
        metrics
    }

    /// Registers an extra metric (the stream runtime adds its own).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .register(name, help, metric);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self
            .inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }

    /// Sets the `state` enum.
    pub fn set_state(&self, state: RunState) {
        for candidate in [RunState::Idle, RunState::Running, RunState::Stopped] {
            self.inner
                .state
                .get_or_create(&vec![("state".to_owned(), candidate.label().to_owned())])
                .set(i64::from(candidate == state));
        }
    }

    /// `records_sent_total += count` (connector use, as in pycti).
    pub fn add_records_sent(&self, count: u64) {
        self.inner.records_sent.inc_by(count);
    }

    /// `client_errors_total += 1` (connector use, as in pycti).
    pub fn add_client_error(&self) {
        self.inner.client_errors.inc();
    }

    /// Records a runtime event: logs it and updates the counters.
    pub fn emit(&self, event: RuntimeEvent<'_>) {
        let inner = &self.inner;
        match event {
            RuntimeEvent::PingSucceeded => {
                inner.ping_api.inc();
            }
            RuntimeEvent::PingFailed { reason } => {
                inner.ping_api_errors.inc();
                tracing::error!(attributes.reason = reason, "Error pinging the API");
            }
            RuntimeEvent::StateResetRemotely => {
                tracing::info!("Connector state has been remotely reset");
            }
            RuntimeEvent::MessagesConfirmed { count, latency } => {
                inner.bundles_sent.inc_by(count);
                inner.publish_latency.observe(latency.as_secs_f64());
                tracing::debug!(
                    attributes.messages = count,
                    attributes.latency_ms = latency.as_millis() as u64,
                    "Messages confirmed by the broker"
                );
            }
            RuntimeEvent::BundlePushed => {
                inner.bundles_sent.inc();
                tracing::debug!("Bundle sent with stixBundlePush");
            }
            RuntimeEvent::ConfirmsPending(count) => {
                inner
                    .confirms_pending
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
            RuntimeEvent::PublishRetry {
                messages,
                reason,
                delay,
            } => {
                inner.errors.inc();
                inner.publish_retries.inc_by(messages);
                tracing::warn!(
                    attributes.messages = messages,
                    attributes.retry_in_ms = delay.as_millis() as u64,
                    "Publishing again unconfirmed messages: {reason}"
                );
            }
            RuntimeEvent::BrokerUnreachable { reason, delay } => {
                inner.errors.inc();
                tracing::warn!(
                    attributes.retry_in_ms = delay.as_millis() as u64,
                    "Cannot connect to the broker: {reason}"
                );
            }
            RuntimeEvent::BrokerConnected { host, port } => {
                tracing::info!(
                    attributes.host = host,
                    attributes.port = port,
                    "Connected to the broker"
                );
            }
            RuntimeEvent::QueueMeasured {
                size_mb,
                threshold_mb,
                buffering,
            } => {
                inner.queue_size_mb.set(size_mb);
                inner.buffering.set(i64::from(buffering));
                if buffering {
                    tracing::info!(
                        attributes.queue_messages_size = size_mb,
                        attributes.queue_threshold = threshold_mb,
                        "Connector in buffering mode, waiting for the platform queue to drain"
                    );
                }
            }
            RuntimeEvent::RunStarted => {
                inner.runs.inc();
                self.set_state(RunState::Running);
                tracing::info!("Connector run started");
            }
            RuntimeEvent::RunFinished { bundles } => {
                inner.last_run_failed.set(0);
                self.set_state(RunState::Idle);
                tracing::info!(attributes.bundles = bundles, "Connector run finished");
            }
            RuntimeEvent::RunFailed { reason } => {
                inner.errors.inc();
                inner.run_failures.inc();
                inner.last_run_failed.set(1);
                self.set_state(RunState::Idle);
                tracing::error!(attributes.reason = reason, "Connector run failed");
            }
            RuntimeEvent::Error { context, reason } => {
                inner.errors.inc();
                tracing::error!(attributes.reason = reason, "{context}");
            }
        }
    }

    /// Current value of a pycti counter, by its name without `_total`
    /// (tests and `--check` reports).
    pub fn counter(&self, name: &str) -> Option<u64> {
        let inner = &self.inner;
        let counter = match name {
            "bundles_sent" => &inner.bundles_sent,
            "records_sent" => &inner.records_sent,
            "runs" => &inner.runs,
            "ping_api" => &inner.ping_api,
            "ping_api_errors" => &inner.ping_api_errors,
            "errors" => &inner.errors,
            "client_errors" => &inner.client_errors,
            "publish_retries" => &inner.publish_retries,
            "run_failures" => &inner.run_failures,
            _ => return None,
        };
        Some(counter.get())
    }

    /// Serves `GET /metrics` on `address` until `shutdown`; returns the bound
    /// address (useful with port 0).
    pub async fn serve(
        &self,
        address: SocketAddr,
        shutdown: CancellationToken,
    ) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let bound = listener.local_addr()?;
        let metrics = self.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode(),
                    )
                }
            }),
        );
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::error!(attributes.reason = %error, "Metrics endpoint stopped");
            }
        });
        Ok(bound)
    }
}

/// Something that happened in the runtime; [`Metrics::emit`] logs and counts it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RuntimeEvent<'a> {
    /// A ping succeeded.
    PingSucceeded,
    /// A ping failed.
    PingFailed {
        /// Why.
        reason: &'a str,
    },
    /// The state was reset or changed from the platform.
    StateResetRemotely,
    /// The broker confirmed `count` messages.
    MessagesConfirmed {
        /// Messages.
        count: u64,
        /// From the first publish to the last confirm.
        latency: Duration,
    },
    /// A whole bundle was accepted by `stixBundlePush` (api protocol).
    BundlePushed,
    /// Messages published and not yet confirmed.
    ConfirmsPending(u64),
    /// Messages must be published again.
    PublishRetry {
        /// How many.
        messages: u64,
        /// Why (nack, lost connection, unroutable).
        reason: &'a str,
        /// Delay before the retry.
        delay: Duration,
    },
    /// A connection attempt failed.
    BrokerUnreachable {
        /// Why.
        reason: &'a str,
        /// Delay before the next attempt.
        delay: Duration,
    },
    /// Connected (or reconnected) to the broker.
    BrokerConnected {
        /// Host.
        host: &'a str,
        /// Port.
        port: u16,
    },
    /// The platform queue was measured.
    QueueMeasured {
        /// Size, MB.
        size_mb: f64,
        /// Threshold, MB.
        threshold_mb: f64,
        /// Whether that means buffering.
        buffering: bool,
    },
    /// A scheduled run started.
    RunStarted,
    /// A run ended well.
    RunFinished {
        /// Bundles sent during the run.
        bundles: u64,
    },
    /// A run failed.
    RunFailed {
        /// Why.
        reason: &'a str,
    },
    /// Any other counted error.
    Error {
        /// What was being done.
        context: &'a str,
        /// Why it failed.
        reason: &'a str,
    },
}
