//! Connectors run through the runtime's real runners against a
//! [`TestPlatform`].

use std::collections::HashSet;
use std::time::Duration;

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings, Var};
use opencti_connector::import::ImportRunner;
use opencti_connector::state::{PingSchedule, State};
use opencti_connector::stream::{StreamRunner, StreamSink};
use opencti_connector::{Connector, ImportSource};
use opencti_sim::{EventInjection, StoredObject, WorkMessage, WorkRecord, WorkStatus};
// The runtime re-exports the token type its runners take.
use opencti_connector::http::CancellationToken;

use crate::{KitError, TestPlatform};

/// Pings carry a state change this soon, so that a test reads it at once.
const PING_DEBOUNCE: Duration = Duration::from_millis(50);
/// How often a stream test re-checks its condition.
const POLL: Duration = Duration::from_millis(20);

/// Runs one connector against a [`TestPlatform`], configured as an operator
/// would: the platform's environment ([`TestPlatform::env`]) plus the
/// variables given with [`ConnectorHarness::var`], resolved with the
/// runtime's rules against the runtime's tables and the connector's `VARS`.
#[derive(Debug, Clone)]
pub struct ConnectorHarness<'p> {
    platform: &'p TestPlatform,
    vars: Vec<(String, String)>,
}

impl<'p> ConnectorHarness<'p> {
    /// A harness for the connector registered as
    /// [`TestPlatform::connector_id`].
    pub fn new(platform: &'p TestPlatform) -> Self {
        Self {
            platform,
            vars: Vec::new(),
        }
    }

    /// Sets an environment variable of the connector (its own or the
    /// runtime's); a later value of the same name wins.
    #[must_use]
    pub fn var(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.push((name.to_owned(), value.into()));
        self
    }

    /// The settings the connector is configured from: the platform's
    /// environment, then `defaults`, then the variables set on the harness.
    /// Without a `CONNECTOR_NAME` from any of them (or from the
    /// connector's table), the connector's `NAME` is used.
    pub fn settings<C: Connector>(&self, defaults: &[(&str, &str)]) -> Settings {
        let tables: Vec<&[Var]> = RUNTIME_TABLES.iter().copied().chain([C::VARS]).collect();
        let mut pairs: Vec<(String, String)> = self.platform.env();
        pairs.extend(
            defaults
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        pairs.extend(self.vars.iter().cloned());
        let settings = Settings::from_env_pairs(&tables, pairs.clone());
        if settings.value("CONNECTOR_NAME").is_some() {
            return settings;
        }
        pairs.insert(0, ("CONNECTOR_NAME".to_owned(), C::NAME.to_owned()));
        Settings::from_env_pairs(&tables, pairs)
    }

    /// Checks the configuration and builds the connector, as the binary
    /// does at start.
    ///
    /// # Errors
    ///
    /// [`KitError::Config`] with every problem, or [`KitError::Build`]
    /// when `from_config` fails.
    pub fn build<C: Connector>(&self) -> Result<C, KitError> {
        let settings = self.settings::<C>(&[]);
        build_from(&settings)
    }

    /// Builds the connector from its variables and runs it once
    /// (`CONNECTOR_RUN_AND_TERMINATE=true` unless set otherwise): see
    /// [`ConnectorHarness::run_import_with`].
    ///
    /// # Errors
    ///
    /// As [`ConnectorHarness::build`] and
    /// [`ConnectorHarness::run_import_with`].
    pub async fn run_import<C: ImportSource>(&self) -> Result<ImportRun, KitError> {
        let settings = self.settings::<C>(&[("CONNECTOR_RUN_AND_TERMINATE", "true")]);
        let source = build_from::<C>(&settings)?;
        self.run_built(source, &settings).await
    }

    /// Runs `source` once through the runtime's import runner: it
    /// registers, runs, sends its bundles to RabbitMQ, closes its work and
    /// pings its state. Then waits until the platform's worker imported
    /// every message the run announced, and returns what the platform
    /// holds. Use it for a connector built by hand (shorter retry delays,
    /// a client pointed elsewhere).
    ///
    /// A run that fails is not an error of the harness: see
    /// [`ImportRun::outcome`].
    ///
    /// # Errors
    ///
    /// When the runtime's configuration is refused, the run or the import
    /// of its messages outlasts [`TestPlatform::timeout`], or the platform
    /// fails.
    pub async fn run_import_with<C: ImportSource>(&self, source: C) -> Result<ImportRun, KitError> {
        let settings = self.settings::<C>(&[("CONNECTOR_RUN_AND_TERMINATE", "true")]);
        self.run_built(source, &settings).await
    }

    async fn run_built<C: ImportSource>(
        &self,
        source: C,
        settings: &Settings,
    ) -> Result<ImportRun, KitError> {
        let platform = self.platform;
        let runtime = RuntimeConfig::try_from(settings)?;
        let before: HashSet<String> = platform.works().into_iter().map(|work| work.id).collect();
        let runner = ImportRunner::new(source, runtime).with_pings(PingSchedule {
            debounce: PING_DEBOUNCE,
            ..PingSchedule::default()
        });
        let outcome =
            tokio::time::timeout(platform.timeout(), runner.run(CancellationToken::new()))
                .await
                .map_err(|_| KitError::Timeout {
                    what: "the import run to end".to_owned(),
                    waited: platform.timeout(),
                })?;
        let new_work = platform
            .works()
            .into_iter()
            .find(|work| !before.contains(&work.id));
        let work = match new_work {
            Some(work) => {
                let id = work.id.clone();
                platform
                    .wait_until(&format!("work {id} to be closed and complete"), |p| {
                        p.sim().work(&id).is_some_and(|work| {
                            work.status == WorkStatus::Complete && work.processed_time.is_some()
                        })
                    })
                    .await?;
                platform.sim().work(&id)
            }
            None => None,
        };
        let objects = match &work {
            Some(work) => platform
                .objects()
                .into_iter()
                .filter(|object| object.work_id.as_deref() == Some(work.id.as_str()))
                .collect(),
            None => Vec::new(),
        };
        Ok(ImportRun {
            outcome,
            work,
            objects,
            state: platform.state(),
        })
    }

    /// Runs `sink` through the runtime's stream runner, injects `events`
    /// into the live stream once the connector is following it, and stops
    /// it once its position in the platform's copy of the state reached the
    /// last event (the sink is done with every event).
    ///
    /// # Errors
    ///
    /// As [`ConnectorHarness::run_stream_until`].
    pub async fn run_stream<S: StreamSink>(
        &self,
        sink: S,
        events: Vec<EventInjection>,
    ) -> Result<StreamRun<S>, KitError> {
        let mut last = None;
        self.stream(sink, events, &mut last, |platform, last| {
            let position = platform.stream_position();
            match (last, position) {
                (Some(last), Some(position)) => stream_id(&position) >= stream_id(last),
                (None, _) => true,
                (Some(_), None) => false,
            }
        })
        .await
    }

    /// Runs `sink` through the runtime's stream runner (registration,
    /// position in the state, pings), injects `events` into the live stream
    /// once the connector is following it, waits until `until` holds
    /// (checked every 20 ms; it usually looks at a
    /// [`vendor::FakeVendor`](crate::vendor::FakeVendor) or at the
    /// platform), then stops the connector as a SIGTERM would and returns
    /// the sink.
    ///
    /// # Errors
    ///
    /// [`KitError::Timeout`] when `until` does not hold within
    /// [`TestPlatform::timeout`], [`KitError::Stopped`] when the connector
    /// stops on an error first, and configuration or build errors.
    pub async fn run_stream_until<S: StreamSink>(
        &self,
        sink: S,
        events: Vec<EventInjection>,
        mut until: impl FnMut(&TestPlatform) -> bool,
    ) -> Result<StreamRun<S>, KitError> {
        let mut last = None;
        self.stream(sink, events, &mut last, |platform, _| until(platform))
            .await
    }

    async fn stream<S: StreamSink>(
        &self,
        sink: S,
        events: Vec<EventInjection>,
        last_event: &mut Option<String>,
        mut done: impl FnMut(&TestPlatform, Option<&str>) -> bool,
    ) -> Result<StreamRun<S>, KitError> {
        let platform = self.platform;
        let settings = self.settings::<S>(&[("CONNECTOR_LIVE_STREAM_ID", "live")]);
        let runtime = RuntimeConfig::try_from(&settings)?;
        let runner = StreamRunner::new(sink, runtime).with_pings(PingSchedule {
            debounce: PING_DEBOUNCE,
            ..PingSchedule::default()
        });
        let shutdown = CancellationToken::new();
        let mut task = tokio::spawn(runner.run(shutdown.clone()));
        // The runner writes its start position into the state before it
        // connects: events injected after that are streamed as they are,
        // not folded into the recovery of stored objects.
        let deadline = tokio::time::Instant::now() + platform.timeout();
        let mut following = false;
        let mut injected = false;
        loop {
            if task.is_finished() {
                return Err(finished_early(task.await));
            }
            if !following {
                following = platform.stream_position().is_some();
            }
            if following && !injected {
                *last_event = platform.inject(events.iter().cloned())?;
                injected = true;
            }
            if injected && done(platform, last_event.as_deref()) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                shutdown.cancel();
                let _ = tokio::time::timeout(platform.timeout(), &mut task).await;
                let what = if following {
                    "the stream test's condition"
                } else {
                    "the stream connector to start following the stream"
                };
                return Err(KitError::Timeout {
                    what: what.to_owned(),
                    waited: platform.timeout(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
        shutdown.cancel();
        let stopped = tokio::time::timeout(platform.timeout(), task)
            .await
            .map_err(|_| KitError::Timeout {
                what: "the stream connector to stop".to_owned(),
                waited: platform.timeout(),
            })?;
        let sink = match stopped {
            Ok(Ok(sink)) => sink,
            Ok(Err(error)) => return Err(KitError::Stopped(error)),
            Err(join) => return Err(KitError::Panicked(join.to_string())),
        };
        Ok(StreamRun {
            sink,
            last_event: last_event.take(),
            position: platform.stream_position(),
            state: platform.state(),
        })
    }
}

fn build_from<C: Connector>(settings: &Settings) -> Result<C, KitError> {
    let config = C::Config::try_from(settings)?;
    C::from_config(config).map_err(|error| KitError::Build(Box::new(error)))
}

fn finished_early<S>(
    joined: Result<Result<S, opencti_connector::Error>, tokio::task::JoinError>,
) -> KitError {
    match joined {
        Ok(Err(error)) => KitError::Stopped(error),
        Ok(Ok(_)) => KitError::Panicked("the connector stopped without being asked".to_owned()),
        Err(join) => KitError::Panicked(join.to_string()),
    }
}

/// A stream id `<ms>-<seq>` as a comparable pair.
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// What one import run left on the platform.
#[derive(Debug)]
#[non_exhaustive]
pub struct ImportRun {
    /// What the runner returned: `Err(Error::RunFailed)` when the run
    /// returned an error (its message is on the work), other errors when
    /// the connector could not start (registration, broker).
    pub outcome: Result<(), opencti_connector::Error>,
    /// The run's work, once closed and complete (every announced message
    /// imported); `None` when the run sent nothing and reported nothing.
    pub work: Option<WorkRecord>,
    /// The objects the platform stored from this run's messages.
    pub objects: Vec<StoredObject>,
    /// The connector state the platform holds after the run.
    pub state: Option<State>,
}

impl ImportRun {
    /// Whether the run returned `Ok`.
    pub fn succeeded(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The stored objects of one STIX type.
    pub fn objects_of_type(&self, stix_type: &str) -> Vec<&StoredObject> {
        self.objects
            .iter()
            .filter(|object| object.stix_type == stix_type)
            .collect()
    }

    /// The errors on the run's work: items reported with
    /// `ctx.report_error`, objects the platform refused, and the run's own
    /// error when it failed.
    pub fn errors(&self) -> &[WorkMessage] {
        self.work
            .as_ref()
            .map_or(&[], |work| work.errors.as_slice())
    }

    /// The messages on the run's work; the run's summary is among them.
    pub fn messages(&self) -> Vec<&str> {
        self.work.as_ref().map_or_else(Vec::new, |work| {
            work.messages
                .iter()
                .filter_map(|message| message.message.as_deref())
                .collect()
        })
    }
}

/// A stream connector stopped after its condition held.
#[derive(Debug)]
#[non_exhaustive]
pub struct StreamRun<S> {
    /// The sink, as the runner handed it back after `on_stop`.
    pub sink: S,
    /// The id of the last event injected.
    pub last_event: Option<String>,
    /// The stream position in the platform's copy of the state.
    pub position: Option<String>,
    /// The connector state the platform holds.
    pub state: Option<State>,
}
