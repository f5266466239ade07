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
use crate::cli::{ConnectorSpec, Launch};
use crate::config::{ConfigErrors, ConnectorType, RuntimeConfig, Settings, Var};
use crate::error::Error;
use crate::metrics::{Metrics, RunState};
use crate::session::{PlatformSession, SessionOptions};
use crate::state::PingSchedule;

/// A stream connector: a [`StreamSink`] built from its own configuration.
pub trait StreamConnector: StreamSink + Sized + 'static {
    /// The connector's typed configuration, validated from the resolved
    /// variables (report every problem at once, see
    /// [`crate::config::Check`]).
    type Config: for<'a> TryFrom<&'a Settings, Error = ConfigErrors> + Send + 'static;
    /// Why the connector cannot be built.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The connector's own variables; a variable named like a runtime one
    /// replaces it.
    const VARS: &'static [Var] = &[];
    /// Binary name shown by `--help`.
    const NAME: &'static str = "opencti-connector";
    /// Version shown by `--version` and registered with 7.x platforms.
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    /// One line describing the connector for `--help`.
    const ABOUT: &'static str = "OpenCTI stream connector";
    /// Slug registered with 7.x platforms.
    const SLUG: Option<&'static str> = None;

    /// Builds the connector from its configuration. Remote setup (logins,
    /// creating lists) belongs in [`StreamSink::on_start`].
    fn from_config(config: Self::Config) -> Result<Self, Self::Error>;
}

/// What the binary of `C` is (name, version, variables), as [`run_stream`]
/// presents it; for checks of the documentation against the code.
pub const fn connector_spec<C: StreamConnector>() -> ConnectorSpec {
    ConnectorSpec {
        name: C::NAME,
        version: C::VERSION,
        about: C::ABOUT,
        vars: C::VARS,
        connector_type: ConnectorType::Stream,
    }
}

/// Runs `C` as a process: CLI, configuration, logging, signals, session,
/// live stream. Returns the process exit code: 1 when the configuration is
/// invalid, the connector cannot be built or registered, or
/// [`StreamSink::on_start`] fails.
pub fn run_stream<C: StreamConnector>() -> ExitCode {
    crate::cli::run(
        &connector_spec::<C>(),
        |settings| C::Config::try_from(settings),
        |launch: Launch<C::Config>| async move {
            let sink = C::from_config(launch.connector).map_err(|error| Error::Io {
                context: "cannot start the connector".to_owned(),
                reason: error.to_string(),
            })?;
            StreamRunner::new(sink, launch.runtime)
                .with_identity(Some(C::VERSION.to_owned()), C::SLUG.map(str::to_owned))
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
    version: Option<String>,
    slug: Option<String>,
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
            version: None,
            slug: None,
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

    /// Version and slug registered with 7.x platforms.
    #[must_use]
    pub fn with_identity(mut self, version: Option<String>, slug: Option<String>) -> Self {
        self.version = version;
        self.slug = slug;
        self
    }

    /// Registers, then consumes the stream until `shutdown`; the final
    /// position goes out with the last ping. Returns the sink.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<S, Error> {
        let setup = |error: &dyn std::fmt::Display| Error::Io {
            context: "cannot set up the live stream".to_owned(),
            reason: error.to_string(),
        };
        let live_stream = &self.config.connector.live_stream;
        let mut settings = StreamSettings::from_config(&self.config.opencti, live_stream)
            .map_err(|e| setup(&e))?;
        settings.reconnect = self.reconnect;
        let start = StartSettings::from_config(live_stream);
        let http = match self.http.take() {
            Some(http) => http,
            None => http_client(&self.config.opencti.tls, &self.config.opencti.network)
                .map_err(|e| setup(&e))?,
        };
        let api = match self.api.take() {
            Some(api) => api,
            None => ApiClient::new(&self.config.opencti)?,
        };
        let metrics = self
            .metrics
            .take()
            .unwrap_or_else(|| Metrics::new(&self.config.connector.metrics.prefix));
        let mut options = SessionOptions::new(ConnectorType::Stream);
        options.version = self.version.take();
        options.slug = self.slug.take();
        options.pings = self.pings;
        let session =
            PlatformSession::start_with(self.config, options, api, metrics, shutdown.clone())
                .await?;
        let stream_metrics = Arc::new(StreamMetrics::default());
        stream_metrics.register(session.metrics());
        session.metrics().set_state(RunState::Running);
        let runtime = StreamRuntime::new(settings, start, http, session.state().clone(), shutdown)
            .with_metrics(stream_metrics);
        let result = runtime.run(&mut self.sink).await;
        session.close().await;
        result.map_err(|error| Error::Io {
            context: "live stream".to_owned(),
            reason: error.to_string(),
        })?;
        Ok(self.sink)
    }
}
