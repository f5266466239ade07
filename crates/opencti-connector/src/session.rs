//! The platform session every connector kind starts with: health check
//! (platform generation), metrics endpoint, registration, state and pings.
//! Internal: each kind's runner (`import`, `stream::runner`) starts one
//! with [`PlatformSession::start_with`] and closes it when it stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::{ApiClient, ApiError, PlatformVersion, RegisterInput, Registration};
use crate::config::{ConnectorType, RuntimeConfig};
use crate::error::Error;
use crate::http::{RetryClass, StartupFailure, StartupRetry, retry_startup};
use crate::metrics::{Metrics, RunState};
use crate::state::{PingSchedule, Pinger, StateHandle};

/// What the connector binary says about itself at registration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub(crate) struct SessionOptions {
    /// Type registered when `CONNECTOR_TYPE` is not set.
    pub(crate) connector_type: ConnectorType,
    /// Registered `playbook_compatible`.
    pub(crate) playbook_compatible: bool,
    /// Version sent to 7.x platforms.
    pub(crate) version: Option<String>,
    /// Slug sent to 7.x platforms.
    pub(crate) slug: Option<String>,
    /// Ping cadence.
    pub(crate) pings: PingSchedule,
    /// Registered `listen_callback_uri` (`CONNECTOR_LISTEN_PROTOCOL=API`).
    pub(crate) listen_callback_uri: Option<String>,
}

impl SessionOptions {
    /// Defaults for a connector of `connector_type`.
    pub(crate) fn new(connector_type: ConnectorType) -> Self {
        Self {
            connector_type,
            playbook_compatible: false,
            version: None,
            slug: None,
            pings: PingSchedule::default(),
            listen_callback_uri: None,
        }
    }
}

/// A registered connector with its pinger running.
#[derive(Debug)]
pub(crate) struct PlatformSession {
    config: Arc<RuntimeConfig>,
    api: ApiClient,
    registration: Registration,
    state: StateHandle,
    metrics: Metrics,
    /// The process-wide stop signal.
    shutdown: CancellationToken,
    background: CancellationToken,
    pinger: Pinger,
}

impl PlatformSession {
    /// Health check, metrics endpoint (if enabled), registration, first
    /// ping, with this platform client and metrics registry. `shutdown`
    /// is the process-wide stop signal: it interrupts the start with
    /// [`Error::Interrupted`], and bounds the final ping of [`Self::close`].
    /// A warning is logged when the platform is reached over `https`
    /// without verifying its certificate.
    pub(crate) async fn start_with(
        mut config: RuntimeConfig,
        options: SessionOptions,
        mut api: ApiClient,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        crate::tls::warn_if_platform_unverified(&config.opencti);
        let platform = wait_for_platform(&api, &shutdown).await?;
        tracing::info!(
            attributes.version = %platform.version,
            "Connected to the OpenCTI platform"
        );
        if let Some(account) = config.connector.service_account {
            // From here on the connector is its service account: every
            // client built from the session's client or configuration
            // (works, jobs, the stream) carries the new token.
            let token = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(Error::Interrupted),
                token = crate::service_account::provision(&api, &config.connector.name, account) => token?,
            };
            api = api.with_token(&token)?;
            config.opencti.token = token;
        }
        let background = CancellationToken::new();
        // Stops the metrics endpoint again if registration fails below.
        let background_guard = background.clone().drop_guard();
        let metrics_config = &config.connector.metrics;
        if metrics_config.expose {
            let address = SocketAddr::new(metrics_config.host, metrics_config.port);
            metrics
                .serve(address, background.clone())
                .await
                .map_err(|source| Error::Io {
                    context: format!("cannot serve metrics on {address}"),
                    source,
                })?;
        }
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
        input.listen_callback_uri = options.listen_callback_uri.clone();
        let registration = unless_stopped(&shutdown, api.register(&input)).await?;
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
            registration,
            state,
            metrics,
            shutdown,
            background,
            pinger,
        })
    }

    /// The validated runtime configuration.
    pub(crate) fn config(&self) -> &Arc<RuntimeConfig> {
        &self.config
    }

    /// The platform client.
    pub(crate) fn api(&self) -> &ApiClient {
        &self.api
    }

    /// What registration returned (queue names, broker parameters).
    pub(crate) fn registration(&self) -> &Registration {
        &self.registration
    }

    /// The registered connector id.
    pub(crate) fn connector_id(&self) -> &str {
        &self.registration.id
    }

    /// The state handle (pushed to the platform by the pinger).
    pub(crate) fn state(&self) -> &StateHandle {
        &self.state
    }

    /// The metrics registry.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Final ping with the final state, then stops the background tasks.
    /// Once a stop was requested, the final ping gets a fifth of
    /// `CONNECTOR_STOP_GRACE_PERIOD` (see `stop`).
    pub(crate) async fn close(self) {
        self.metrics.set_state(RunState::Stopped);
        let limit = crate::stop::close_step_share(self.config.connector.stop_grace);
        self.pinger.stop(&self.shutdown, limit).await;
        self.background.cancel();
    }
}

/// `call`, unless a stop is requested first.
/// Waits until the platform answers: a container started before its
/// platform (or while it restarts) waits here, logging each attempt,
/// instead of exiting and being restarted in a loop. A refusal (bad token,
/// wrong URL path) fails at once.
async fn wait_for_platform(
    api: &ApiClient,
    shutdown: &CancellationToken,
) -> Result<PlatformVersion, Error> {
    let policy = StartupRetry {
        attempts: u32::MAX,
        first_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(60),
        max_server_delay: Duration::from_secs(60),
    };
    let reached = retry_startup(
        &policy,
        shutdown,
        "the OpenCTI platform",
        || api.health_check(),
        |error: &ApiError| match error {
            ApiError::Transport { .. } => RetryClass::TRANSIENT,
            ApiError::Http { status, .. } if *status == 429 || *status >= 500 => {
                RetryClass::TRANSIENT
            }
            _ => RetryClass::Permanent,
        },
    )
    .await;
    reached.map_err(|failure| match failure {
        StartupFailure::Refused(error) | StartupFailure::Exhausted { last: error, .. } => {
            Error::Api(error)
        }
        StartupFailure::Cancelled { .. } => Error::Interrupted,
    })
}

async fn unless_stopped<T>(
    shutdown: &CancellationToken,
    call: impl std::future::Future<Output = Result<T, crate::api::ApiError>>,
) -> Result<T, Error> {
    tokio::select! {
        biased;
        () = shutdown.cancelled() => Err(Error::Interrupted),
        result = call => Ok(result?),
    }
}
