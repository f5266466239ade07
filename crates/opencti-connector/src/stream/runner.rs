//! Stream connectors as processes: the platform session (registration as
//! `STREAM`, pings carrying the position, metrics) around the stream
//! runtime.
//!
//! A connector's `main`:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     opencti_connector::stream::run_stream::<MySink>()
//! }
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::client::{ReconnectPolicy, StreamSettings, http_client};
use super::metrics::StreamMetrics;
use super::position::StartSettings;
use super::runtime::StreamRuntime;
use super::sink::StreamSink;
use crate::api::ApiClient;
use crate::cli::Launch;
use crate::config::{ConnectorType, RuntimeConfig};
use crate::connector::spec;
use crate::error::Error;
use crate::metrics::{Metrics, RunState};
use crate::session::PlatformSession;
use crate::state::PingSchedule;

/// Runs `C` as a process: CLI, configuration, logging, signals, session,
/// live stream. Returns the process exit code: 1 when the configuration is
/// invalid, the connector cannot be built or registered, or
/// [`StreamSink::on_start`] fails.
pub fn run_stream<C: StreamSink>() -> ExitCode {
    crate::cli::run(
        &spec::<C>(),
        ConnectorType::Stream,
        |settings| C::Config::try_from(settings),
        |launch: Launch<C::Config>| async move {
            let sink = C::from_config(launch.connector)
                .map_err(|error| Error::Connector(Box::new(error)))?;
            StreamRunner::new(sink, launch.runtime)
                .run(launch.shutdown)
                .await
                .map(drop)
        },
    )
}

/// Runs a [`StreamSink`] as a registered stream connector; configurable for
/// tests.
#[derive(Debug)]
pub struct StreamRunner<S> {
    sink: S,
    config: RuntimeConfig,
    api: Option<ApiClient>,
    metrics: Option<Metrics>,
    http: Option<reqwest::Client>,
    pings: PingSchedule,
    reconnect: ReconnectPolicy,
}

impl<S: StreamSink> StreamRunner<S> {
    /// A runner with production settings.
    pub fn new(sink: S, config: RuntimeConfig) -> Self {
        Self {
            sink,
            config,
            api: None,
            metrics: None,
            http: None,
            pings: PingSchedule::default(),
            reconnect: ReconnectPolicy::default(),
        }
    }

    /// Uses this platform client.
    #[must_use]
    pub fn with_api(mut self, api: ApiClient) -> Self {
        self.api = Some(api);
        self
    }

    /// Uses this metrics registry.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Uses this HTTP client for the stream (it must have no overall
    /// request timeout).
    #[must_use]
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Changes the ping cadence.
    #[must_use]
    pub fn with_pings(mut self, pings: PingSchedule) -> Self {
        self.pings = pings;
        self
    }

    /// Changes the reconnection delays.
    #[must_use]
    pub fn with_reconnect(mut self, reconnect: ReconnectPolicy) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Registers, then consumes the stream until `shutdown`; the final
    /// position goes out with the last ping. Returns the sink.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<S, Error> {
        let http = match self.http.take() {
            Some(http) => http,
            None => http_client(&self.config.opencti.tls, &self.config.opencti.network)?,
        };
        let api = match self.api.take() {
            Some(api) => api,
            None => ApiClient::new(&self.config.opencti)?,
        };
        let metrics = self
            .metrics
            .take()
            .unwrap_or_else(|| Metrics::new(&self.config.connector.metrics.prefix));
        let stop_grace = self.config.connector.stop_grace;
        let mut options = spec::<S>().session_options(ConnectorType::Stream);
        options.pings = self.pings;
        let session =
            match PlatformSession::start_with(self.config, options, api, metrics, shutdown.clone())
                .await
            {
                Ok(session) => session,
                // Stopped before it started: nothing to close.
                Err(Error::Interrupted) => return Ok(self.sink),
                Err(error) => return Err(error),
            };
        // From the session's configuration: its token is the service
        // account's when CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT made one.
        let config = session.config();
        let live_stream = &config.connector.live_stream;
        let mut settings = match StreamSettings::from_config(&config.opencti, live_stream) {
            Ok(settings) => settings,
            Err(error) => {
                session.close().await;
                return Err(error.into());
            }
        };
        settings.reconnect = self.reconnect;
        let start = StartSettings::from_config(live_stream);
        let stream_metrics = Arc::new(StreamMetrics::default());
        stream_metrics.register(session.metrics());
        session.metrics().set_state(RunState::Running);
        let runtime = StreamRuntime::new(settings, start, http, session.state().clone(), shutdown)
            .with_metrics(stream_metrics)
            .with_stop_grace(stop_grace);
        let result = runtime.run(&mut self.sink).await;
        session.close().await;
        result?;
        Ok(self.sink)
    }
}
