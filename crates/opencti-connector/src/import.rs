//! Import connectors: the [`ImportSource`] trait and the run loop.
//!
//! A connector's `main`:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     opencti_connector::import::run_import::<MyFeed>()
//! }
//! ```

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::amqp::BrokerParams;
use crate::api::ApiClient;
use crate::cli::Launch;
use crate::config::{ConfigError, ConfigErrors, ConnectorType, RuntimeConfig};
use crate::connector::{Connector, spec};
use crate::context::RunContext;
use crate::error::Error;
use crate::metrics::{Metrics, RuntimeEvent};
use crate::publish::BundleSender;
use crate::schedule::{Buffering, Schedule, info_datetime};
use crate::session::PlatformSession;
use crate::state::PingSchedule;
use crate::work::RunWork;

/// An import connector: a [`Connector`] with one required method,
/// [`ImportSource::run`], called once per scheduled run.
pub trait ImportSource: Connector {
    /// A period between runs that the connector's own configuration
    /// imposes over `CONNECTOR_DURATION_PERIOD`, such as a legacy interval
    /// variable. `None` (the default) keeps the runtime's period.
    fn period_override(config: &Self::Config) -> Option<Duration> {
        let _ = config;
        None
    }

    /// One scheduled run. Send bundles with [`RunContext::send_bundle`] and
    /// advance the state after each confirmed send; return promptly when
    /// [`RunContext::shutdown`] fires. A successful run returns its summary,
    /// the message recorded on the run's work.
    fn run(&mut self, ctx: &RunContext)
    -> impl Future<Output = Result<String, Self::Error>> + Send;
}

/// Runs `C` as a process: CLI, configuration, logging, signals, session,
/// schedule. Returns the process exit code.
pub fn run_import<C: ImportSource>() -> ExitCode {
    crate::cli::run(
        &spec::<C>(),
        ConnectorType::ExternalImport,
        |settings| {
            let period_required = settings.value("CONNECTOR_DURATION_PERIOD").is_none()
                && settings
                    .value("CONNECTOR_RUN_AND_TERMINATE")
                    .is_none_or(|value| value != &crate::config::Value::Bool(true));
            let config = C::Config::try_from(settings);
            match (config, period_required) {
                (Ok(config), false) => Ok(config),
                (Ok(_), true) => Err(ConfigErrors(vec![period_missing()])),
                (Err(mut errors), true) => {
                    errors.extend(ConfigErrors(vec![period_missing()]));
                    Err(errors)
                }
                (Err(errors), false) => Err(errors),
            }
        },
        |launch: Launch<C::Config>| async move {
            let mut runtime = launch.runtime;
            if let Some(period) = C::period_override(&launch.connector) {
                runtime.connector.duration_period = Some(period);
            }
            let source = C::from_config(launch.connector)
                .map_err(|error| Error::Connector(Box::new(error)))?;
            ImportRunner::new(source, runtime)
                .run(launch.shutdown)
                .await
        },
    )
}

fn period_missing() -> ConfigError {
    ConfigError::Missing {
        env: "CONNECTOR_DURATION_PERIOD",
        yaml: "connector.duration_period".to_owned(),
    }
}

/// The run loop of an import connector, configurable for tests.
#[derive(Debug)]
pub struct ImportRunner<C> {
    source: C,
    config: RuntimeConfig,
    api: Option<ApiClient>,
    metrics: Option<Metrics>,
    pings: PingSchedule,
    buffering_poll: Duration,
    buffering_interval: Duration,
}

/// How one run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunOutcome {
    Succeeded,
    Failed,
    Interrupted,
}

impl<C: ImportSource> ImportRunner<C> {
    /// A runner with production settings.
    pub fn new(source: C, config: RuntimeConfig) -> Self {
        Self {
            source,
            config,
            api: None,
            metrics: None,
            pings: PingSchedule::default(),
            buffering_poll: Duration::from_secs(30),
            buffering_interval: Duration::from_secs(10),
        }
    }

    /// Uses this platform client.
    pub fn with_api(mut self, api: ApiClient) -> Self {
        self.api = Some(api);
        self
    }

    /// Uses this metrics registry.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Changes the ping cadence.
    pub fn with_pings(mut self, pings: PingSchedule) -> Self {
        self.pings = pings;
        self
    }

    /// Changes how often the queue is measured while buffering (`poll`) and
    /// at most between bundles (`min_interval`).
    pub fn with_buffering_delays(mut self, poll: Duration, min_interval: Duration) -> Self {
        self.buffering_poll = poll;
        self.buffering_interval = min_interval;
        self
    }

    /// Registers, then runs on schedule until shutdown (or once). Returns
    /// an error if the session cannot start, or if the single run of a
    /// run-and-terminate connector failed, or ([`Error::Interrupted`]) did
    /// not complete because a stop was requested.
    ///
    /// On shutdown, the run in progress gets half of
    /// `CONNECTOR_STOP_GRACE_PERIOD` to finish (it is dropped after that:
    /// its current bundle abandoned, its state not advanced), then closing
    /// its work, the last ping and the broker connection get the rest.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), Error> {
        let schedule = match (
            self.config.connector.duration_period,
            self.config.connector.run_and_terminate,
        ) {
            (None, false) => return Err(Error::Config(ConfigErrors(vec![period_missing()]))),
            (period, _) => Schedule::from_config(&self.config, period.unwrap_or_default()),
        };
        let api = match self.api.take() {
            Some(api) => api,
            None => ApiClient::new(&self.config.opencti)?,
        };
        let metrics = self
            .metrics
            .take()
            .unwrap_or_else(|| Metrics::new(&self.config.connector.metrics.prefix));
        let mut options = spec::<C>().session_options(ConnectorType::ExternalImport);
        options.pings = self.pings;
        let session = match PlatformSession::start_with(
            self.config.clone(),
            options,
            api,
            metrics,
            shutdown.clone(),
        )
        .await
        {
            Ok(session) => session,
            // A scheduled connector stopped while starting has nothing to
            // finish; a single run that never happened did not complete.
            Err(Error::Interrupted) if schedule != Schedule::Once => return Ok(()),
            Err(error) => return Err(error),
        };
        let (sender, publisher) =
            BundleSender::for_session(&session, ConnectorType::ExternalImport, || {
                let params = BrokerParams::resolve(
                    &session.registration().config.connection,
                    &session.config().mq,
                )?;
                crate::tls::warn_if_broker_unverified(&params);
                Ok(params)
            })?;
        let connector = &session.config().connector;
        let buffering = Arc::new(
            Buffering::new(
                session.api().clone(),
                session.connector_id(),
                connector.queue_threshold_mb,
                session.state().clone(),
                session.metrics().clone(),
            )
            .with_delays(self.buffering_poll, self.buffering_interval),
        );
        // What the single run of a run-and-terminate connector came to;
        // interrupted until it ends.
        let mut single_run = RunOutcome::Interrupted;
        loop {
            if !buffering.wait(&shutdown, true).await {
                break;
            }
            // Boxed: the connector's run future is large.
            let outcome = Box::pin(self.one_run(&session, &sender, &buffering, &shutdown)).await;
            let finished = Utc::now();
            session
                .state()
                .update_info(|info| info.last_run_datetime = Some(info_datetime(finished)));
            if outcome == RunOutcome::Interrupted {
                break;
            }
            let Schedule::Every(period) = schedule else {
                single_run = outcome;
                break;
            };
            let next =
                finished + chrono::Duration::from_std(period).unwrap_or(chrono::Duration::MAX);
            session
                .state()
                .update_info(|info| info.next_run_datetime = Some(info_datetime(next)));
            // The platform learns at once when the run ended (failed or not)
            // and when the next one comes.
            session.state().ping_soon();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(period) => {}
            }
        }
        let close_step = crate::stop::close_step_share(self.config.connector.stop_grace);
        let close_broker = async {
            if let Some(publisher) = publisher {
                let closed =
                    crate::stop::or_stop_after(&shutdown, close_step, publisher.link().close());
                if closed.await.is_none() {
                    tracing::warn!("the broker connection did not close within {close_step:?}");
                }
            }
        };
        tokio::join!(session.close(), close_broker);
        match (schedule, single_run) {
            (Schedule::Once, RunOutcome::Failed) => Err(Error::RunFailed),
            (Schedule::Once, RunOutcome::Interrupted) => Err(Error::Interrupted),
            _ => Ok(()),
        }
    }

    async fn one_run(
        &mut self,
        session: &PlatformSession,
        sender: &BundleSender,
        buffering: &Arc<Buffering>,
        shutdown: &CancellationToken,
    ) -> RunOutcome {
        let metrics = session.metrics();
        let name = &session.config().connector.name;
        metrics.emit(RuntimeEvent::RunStarted);
        let work = Arc::new(RunWork::new(
            session.api().clone(),
            session.connector_id(),
            name,
            Utc::now(),
            sender.tracks_works(),
        ));
        let ctx = RunContext::live(
            sender.clone(),
            Arc::clone(&work),
            Arc::clone(buffering),
            session.state().clone(),
            metrics.clone(),
            shutdown.clone(),
            name,
        );
        let grace = session.config().connector.stop_grace;
        let result = crate::stop::or_stop_after(
            shutdown,
            crate::stop::work_share(grace),
            self.source.run(&ctx),
        )
        .await;
        let (outcome, message, in_error) = match result {
            _ if shutdown.is_cancelled() => {
                tracing::info!("Run interrupted by shutdown; its last bundle was not acknowledged");
                (
                    RunOutcome::Interrupted,
                    "Run interrupted by the connector's shutdown".to_owned(),
                    true,
                )
            }
            Some(Ok(summary)) => {
                metrics.emit(RuntimeEvent::RunFinished {
                    bundles: ctx.bundles_sent(),
                });
                (RunOutcome::Succeeded, summary, false)
            }
            Some(Err(error)) => {
                let reason = error.to_string();
                metrics.emit(RuntimeEvent::RunFailed { reason: &reason });
                (RunOutcome::Failed, reason, true)
            }
            None => (RunOutcome::Interrupted, "Run interrupted".to_owned(), true),
        };
        let close = async {
            if outcome == RunOutcome::Interrupted {
                // Only close a work that exists; do not create one on the way out.
                match work.created() {
                    Some(id) => {
                        session
                            .api()
                            .work_to_processed(id, &message, in_error)
                            .await
                    }
                    None => Ok(()),
                }
            } else {
                work.finish(&message, in_error).await
            }
        };
        let close_step = crate::stop::close_step_share(grace);
        let Some(closed) = crate::stop::or_stop_after(shutdown, close_step, close).await else {
            tracing::warn!(
                "the run's work was not closed within {close_step:?}; the platform shows it in progress"
            );
            return outcome;
        };
        if let Err(error) = closed {
            metrics.emit(RuntimeEvent::Error {
                context: "Cannot close the run's work",
                reason: &error.to_string(),
            });
        }
        outcome
    }
}
