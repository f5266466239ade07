//! The platform session every connector kind starts with: health check
//! (platform generation), metrics endpoint, registration, state and pings.
//!
//! # Hooking another runtime in (the live stream)
//!
//! ```no_run
//! # async fn demo(config: opencti_connector::config::RuntimeConfig) -> Result<(), opencti_connector::Error> {
//! use opencti_connector::config::ConnectorType;
//! use opencti_connector::session::{PlatformSession, SessionOptions};
//! use tokio_util::sync::CancellationToken;
//!
//! let shutdown = CancellationToken::new(); // `cli::run` hands you one wired to SIGTERM/SIGINT
//! let session = PlatformSession::start(config, SessionOptions::new(ConnectorType::Stream), shutdown).await?;
//! let api = session.api().clone();        // extra GraphQL (`query`, `stream_collection`)
//! let state = session.state().clone();    // get()/set(): pushed to the platform within 1 s
//! let mut resets = state.resets();        // changes when the platform reset the state
//! session.metrics().register("my_metric", "help", prometheus_client::metrics::counter::Counter::<u64>::default());
//! let live_stream = session.config().connector.live_stream.clone();
//! // ... run until session.shutdown() is cancelled ...
//! # let _ = (api, live_stream, resets.changed().await);
//! session.close().await;                  // final ping with the final state
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::api::{ApiClient, PlatformVersion, RegisterInput, Registration};
use crate::config::{ConnectorType, RuntimeConfig};
use crate::error::Error;
use crate::metrics::{Metrics, RunState};
use crate::state::{PingSchedule, Pinger, StateHandle};

/// What the connector binary says about itself at registration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Type registered when `CONNECTOR_TYPE` is not set.
    pub connector_type: ConnectorType,
    /// Registered `playbook_compatible`.
    pub playbook_compatible: bool,
    /// Version sent to 7.x platforms.
    pub version: Option<String>,
    /// Slug sent to 7.x platforms.
    pub slug: Option<String>,
    /// Ping cadence.
    pub pings: PingSchedule,
}

impl SessionOptions {
    /// Defaults for a connector of `connector_type`.
    pub fn new(connector_type: ConnectorType) -> Self {
        Self {
            connector_type,
            playbook_compatible: false,
            version: None,
            slug: None,
            pings: PingSchedule::default(),
        }
    }
}

/// A registered connector with its pinger running.
#[derive(Debug)]
pub struct PlatformSession {
    config: Arc<RuntimeConfig>,
    api: ApiClient,
    platform: PlatformVersion,
    registration: Registration,
    state: StateHandle,
    metrics: Metrics,
    metrics_address: Option<SocketAddr>,
    shutdown: CancellationToken,
    background: CancellationToken,
    pinger: Pinger,
}

impl PlatformSession {
    /// Health check, metrics endpoint (if enabled), registration, first
    /// ping. `shutdown` is the process-wide stop signal.
    pub async fn start(
        config: RuntimeConfig,
        options: SessionOptions,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        let api = ApiClient::new(&config.opencti)?;
        let metrics = Metrics::new(&config.connector.metrics.prefix);
        Self::start_with(config, options, api, metrics, shutdown).await
    }

    /// [`PlatformSession::start`] with a given client and registry (tests).
    pub async fn start_with(
        config: RuntimeConfig,
        options: SessionOptions,
        api: ApiClient,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        let platform = api.health_check().await?;
        tracing::info!(
            attributes.version = %platform.version,
            "Connected to the OpenCTI platform"
        );
        let background = CancellationToken::new();
        // Stops the metrics endpoint again if registration fails below.
        let background_guard = background.clone().drop_guard();
        let metrics_config = &config.connector.metrics;
        let metrics_address = if metrics_config.expose {
            let address = SocketAddr::new(metrics_config.host, metrics_config.port);
            let bound = metrics
                .serve(address, background.clone())
                .await
                .map_err(|error| Error::Io {
                    context: format!("cannot serve metrics on {address}"),
                    reason: error.to_string(),
                })?;
            Some(bound)
        } else {
            None
        };
        let section = &config.connector;
        let mut input = RegisterInput::new(
            &section.id,
            &section.name,
            section.connector_type.unwrap_or(options.connector_type),
        );
        input.scope = section.scope.clone();
        input.auto = section.auto;
        input.auto_update = section.auto_update;
        input.enrichment_resolution = section.enrichment_resolution.clone();
        input.only_contextual = section.only_contextual;
        input.playbook_compatible = options.playbook_compatible;
        input.version = options.version.clone();
        input.slug = options.slug.clone();
        let registration = api.register(&input).await?;
        tracing::info!(attributes.id = %registration.id, "Connector registered");
        let state = StateHandle::new(registration.connector_state.as_deref());
        let run_and_terminate = section.run_and_terminate
            || section
                .duration_period
                .is_some_and(|period| period.is_zero());
        state.update_info(|info| {
            info.run_and_terminate = run_and_terminate;
            info.queue_threshold = section.queue_threshold_mb;
        });
        background_guard.disarm();
        let pinger = Pinger::spawn(
            api.clone(),
            registration.id.clone(),
            state.clone(),
            metrics.clone(),
            options.pings,
        );
        Ok(Self {
            config: Arc::new(config),
            api,
            platform,
            registration,
            state,
            metrics,
            metrics_address,
            shutdown,
            background,
            pinger,
        })
    }

    /// The validated runtime configuration.
    pub fn config(&self) -> &Arc<RuntimeConfig> {
        &self.config
    }

    /// The platform client.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The platform's version and generation.
    pub fn platform(&self) -> &PlatformVersion {
        &self.platform
    }

    /// What registration returned (queue names, broker parameters).
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// The registered connector id.
    pub fn connector_id(&self) -> &str {
        &self.registration.id
    }

    /// The state handle (pushed to the platform by the pinger).
    pub fn state(&self) -> &StateHandle {
        &self.state
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Where the metrics endpoint listens, if exposed.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// The process-wide stop signal.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Final ping with the final state, then stops the background tasks.
    pub async fn close(self) {
        self.metrics.set_state(RunState::Stopped);
        self.pinger.stop().await;
        self.background.cancel();
    }
}
