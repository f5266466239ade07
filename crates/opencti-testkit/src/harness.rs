//! Connectors run through the runtime's real runners against a
//! [`TestPlatform`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{PlatformTls, RuntimeConfig, Settings, Var};
use opencti_connector::http::Network;
use opencti_connector::import::ImportRunner;
use opencti_connector::state::{PingSchedule, State};
use opencti_connector::stream::client::{StreamSettings, http_client};
use opencti_connector::stream::position::StartSettings;
use opencti_connector::stream::{MemoryState, StateStore, StreamRunner, StreamRuntime, StreamSink};
use opencti_connector::{Connector, ImportSource};
use opencti_sim::{EventInjection, StoredObject, WorkMessage, WorkRecord, WorkStatus};
// The runtime re-exports the token type its runners take.
use opencti_connector::http::CancellationToken;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{KitError, TestPlatform};

/// Pings carry a state change this soon, so that a test reads it at once.
const PING_DEBOUNCE: Duration = Duration::from_millis(50);
/// How often a stream test re-checks its condition.
const POLL: Duration = Duration::from_millis(20);
/// How often a replay checks its position: finer, as it is timed.
const REPLAY_POLL: Duration = Duration::from_millis(1);

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

    /// The connector's checked configuration, for a test to adjust (shorter
    /// retry delays, ...) before `C::from_config` and
    /// [`ConnectorHarness::run_import_with`].
    ///
    /// # Errors
    ///
    /// [`KitError::Config`] with every problem.
    pub fn config<C: Connector>(&self) -> Result<C::Config, KitError> {
        let settings = self.settings::<C>(&[]);
        Ok(C::Config::try_from(&settings)?)
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
        // Boxed: the runner's future is large, the caller's stays small.
        Box::pin(self.run_built(source, &settings)).await
    }

    /// Runs `source` once through the runtime's import runner: it
    /// registers, runs, sends its bundles to RabbitMQ, closes its work and
    /// pings its state. Then waits until the platform's worker imported
    /// every message the run announced, and returns what the platform
    /// holds (after a failed run, without waiting: see [`ImportRun::work`]).
    /// Use it for a connector built by hand (shorter retry delays,
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
        Box::pin(self.run_built(source, &settings)).await
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
            // A failed run's messages may never all arrive: its work is
            // returned as the platform holds it.
            Some(work) if outcome.is_err() => Some(work),
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
        let mut running = self.start_stream(sink).await?;
        if let Some(last) = running.inject(events)? {
            running.wait_for_event(&last).await?;
        }
        running.stop().await
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
        until: impl FnMut(&TestPlatform) -> bool,
    ) -> Result<StreamRun<S>, KitError> {
        let mut running = self.start_stream(sink).await?;
        running.inject(events)?;
        running
            .wait_until("the stream test's condition", until)
            .await?;
        running.stop().await
    }

    /// Starts `sink` under the runtime's stream runner and returns once it
    /// follows the live stream (its start position is in the platform's
    /// copy of the state), for a test that drives it step by step: inject
    /// events, change the vendor, wait, stop, start again.
    ///
    /// # Errors
    ///
    /// [`KitError::Stopped`] when the connector stops on an error before it
    /// follows the stream (refused credentials, ...), [`KitError::Timeout`]
    /// when it does not follow it within [`TestPlatform::timeout`], and
    /// configuration errors.
    pub async fn start_stream<S: StreamSink>(
        &self,
        sink: S,
    ) -> Result<RunningStream<'p, S>, KitError> {
        let settings = self.settings::<S>(&[("CONNECTOR_LIVE_STREAM_ID", "live")]);
        let runtime = RuntimeConfig::try_from(&settings)?;
        let runner = StreamRunner::new(sink, runtime).with_pings(PingSchedule {
            debounce: PING_DEBOUNCE,
            ..PingSchedule::default()
        });
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(runner.run(shutdown.clone()));
        let mut running = RunningStream {
            platform: self.platform,
            shutdown,
            task: Some(task),
            last_event: None,
        };
        // The runner writes its start position into the state before it
        // connects: events injected after that are streamed as they are,
        // not folded into the recovery of stored objects.
        running
            .wait_until(
                "the stream connector to start following the stream",
                |platform| platform.stream_position().is_some(),
            )
            .await?;
        Ok(running)
    }

    /// A stream connector stopped in the middle of the stream and started
    /// again, as after a redeployment: runs the sink `build` gives, injects
    /// `first`, stops the connector as soon as it saved a position past the
    /// start, injects `second` while it is down, runs a new sink from
    /// `build`, and waits until `done` holds and the position reached the
    /// last event. The vendor should answer slowly during the first run
    /// (a [`vendor::Fault::Slow`](crate::vendor::Fault::Slow), a delay of
    /// the fake), so that the stop falls before the end of `first`:
    /// [`Restart::stopped_midway`] says whether it did.
    ///
    /// # Errors
    ///
    /// As [`ConnectorHarness::start_stream`] and
    /// [`RunningStream::wait_until`].
    pub async fn run_stream_across_restart<S: StreamSink>(
        &self,
        mut build: impl FnMut() -> S,
        first: Vec<EventInjection>,
        second: Vec<EventInjection>,
        mut done: impl FnMut(&TestPlatform) -> bool,
    ) -> Result<Restart<S>, KitError> {
        let mut running = self.start_stream(build()).await?;
        let first_end = running.inject(first)?;
        running
            .wait_until("a position past the start to be saved", |platform| {
                platform
                    .stream_position()
                    .is_some_and(|position| position != "0-0")
            })
            .await?;
        let stopped = running.stop().await?;
        let last = self.platform.inject(second)?;
        let mut running = self.start_stream(build()).await?;
        running
            .wait_until("the restart test's condition", &mut done)
            .await?;
        if let Some(last) = &last {
            running.wait_for_event(last).await?;
        }
        let mut run = running.stop().await?;
        run.last_event = last.or(first_end.clone());
        Ok(Restart {
            paused_at: stopped.position,
            first_end,
            run,
        })
    }

    /// Replays the platform's live stream from its start into `sink`
    /// through the runtime's stream reader alone (no registration, state
    /// in memory), until the sink is done with the event `last_event`; gives
    /// the sink back with the time that took. For benchmarks: the stream is
    /// injected once and replayed as often as measured.
    ///
    /// # Errors
    ///
    /// [`KitError::Timeout`] when the replay outlasts
    /// [`TestPlatform::timeout`], [`KitError::Stopped`] when the reader
    /// stops on an error first.
    pub async fn replay_stream<S: StreamSink + 'static>(
        &self,
        mut sink: S,
        last_event: &str,
    ) -> Result<(S, Duration), KitError> {
        let platform = self.platform;
        let mut from_start = State::new();
        from_start.insert("start_from".to_owned(), "0-0".into());
        from_start.insert("recover_until".to_owned(), false.into());
        let state = Arc::new(MemoryState::new(Some(from_start)));
        let shutdown = CancellationToken::new();
        let settings = StreamSettings::new(&platform.url(), platform.token(), Some("live"))
            .map_err(|error| KitError::Build(Box::new(error)))?;
        let client = http_client(&PlatformTls::NoVerify, &Network::default())
            .map_err(|error| KitError::Build(Box::new(error)))?;
        let runtime = StreamRuntime::new(
            settings,
            StartSettings::default(),
            client,
            Arc::clone(&state),
            shutdown.clone(),
        );
        let started = Instant::now();
        let mut task = tokio::spawn(async move {
            let outcome = runtime.run(&mut sink).await;
            outcome.map(|()| sink)
        });
        let deadline = started + platform.timeout();
        let target = stream_id(last_event);
        // Heartbeats may carry the position past the last event.
        let reached = || {
            state
                .load()
                .and_then(|state| state.get("start_from")?.as_str().map(stream_id))
                .is_some_and(|position| position >= target)
        };
        while !reached() {
            if task.is_finished() {
                shutdown.cancel();
                return Err(match task.await {
                    Ok(Err(error)) => KitError::Stopped(error.into()),
                    Ok(Ok(_)) => KitError::Panicked("the stream reader ended early".to_owned()),
                    Err(join) => KitError::Panicked(join.to_string()),
                });
            }
            if Instant::now() >= deadline {
                shutdown.cancel();
                let _ = tokio::time::timeout(platform.timeout(), &mut task).await;
                return Err(KitError::Timeout {
                    what: format!("the replay to reach event {last_event}"),
                    waited: platform.timeout(),
                });
            }
            tokio::time::sleep(REPLAY_POLL).await;
        }
        let elapsed = started.elapsed();
        shutdown.cancel();
        match task.await {
            Ok(Ok(sink)) => Ok((sink, elapsed)),
            Ok(Err(error)) => Err(KitError::Stopped(error.into())),
            Err(join) => Err(KitError::Panicked(join.to_string())),
        }
    }
}

/// A stream connector running against a [`TestPlatform`], started by
/// [`ConnectorHarness::start_stream`]. Dropping it stops the connector
/// without waiting; [`RunningStream::stop`] waits and gives the sink back.
pub struct RunningStream<'p, S> {
    platform: &'p TestPlatform,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<S, opencti_connector::Error>>>,
    last_event: Option<String>,
}

impl<S> std::fmt::Debug for RunningStream<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningStream")
            .field("running", &self.task.is_some())
            .field("last_event", &self.last_event)
            .finish_non_exhaustive()
    }
}

impl<S> Drop for RunningStream<'_, S> {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl<'p, S> RunningStream<'p, S> {
    /// The platform the connector follows.
    pub fn platform(&self) -> &'p TestPlatform {
        self.platform
    }

    /// Appends events to the live stream; returns the id of the last one
    /// (also kept as [`StreamRun::last_event`]).
    ///
    /// # Errors
    ///
    /// As [`TestPlatform::inject`].
    pub fn inject(
        &mut self,
        events: impl IntoIterator<Item = EventInjection>,
    ) -> Result<Option<String>, KitError> {
        let last = self.platform.inject(events)?;
        if last.is_some() {
            self.last_event.clone_from(&last);
        }
        Ok(last)
    }

    /// Waits until `condition` holds (checked every 20 ms).
    ///
    /// # Errors
    ///
    /// [`KitError::Stopped`] (or [`KitError::Panicked`]) when the connector
    /// stops first, [`KitError::Timeout`] naming `what` after
    /// [`TestPlatform::timeout`].
    pub async fn wait_until(
        &mut self,
        what: &str,
        mut condition: impl FnMut(&TestPlatform) -> bool,
    ) -> Result<(), KitError> {
        let deadline = tokio::time::Instant::now() + self.platform.timeout();
        loop {
            if condition(self.platform) {
                return Ok(());
            }
            if let Some(task) = self.task.take_if(|task| task.is_finished()) {
                return Err(finished_early(task.await));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(KitError::Timeout {
                    what: what.to_owned(),
                    waited: self.platform.timeout(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the connector's position in the platform's copy of the
    /// state reached the event `id` (the sink is done with it and every
    /// event before).
    ///
    /// # Errors
    ///
    /// As [`RunningStream::wait_until`].
    pub async fn wait_for_event(&mut self, id: &str) -> Result<(), KitError> {
        let target = stream_id(id);
        self.wait_until(&format!("the stream position to reach {id}"), |platform| {
            platform
                .stream_position()
                .is_some_and(|position| stream_id(&position) >= target)
        })
        .await
    }

    /// Stops the connector as a SIGTERM would and gives back the sink, as
    /// the runner hands it back after `on_stop`.
    ///
    /// # Errors
    ///
    /// [`KitError::Stopped`] when the connector had stopped on an error,
    /// [`KitError::Timeout`] when it does not stop within
    /// [`TestPlatform::timeout`].
    pub async fn stop(mut self) -> Result<StreamRun<S>, KitError> {
        self.shutdown.cancel();
        let Some(task) = self.task.take() else {
            return Err(KitError::Panicked(
                "the connector had already stopped".to_owned(),
            ));
        };
        let stopped = tokio::time::timeout(self.platform.timeout(), task)
            .await
            .map_err(|_| KitError::Timeout {
                what: "the stream connector to stop".to_owned(),
                waited: self.platform.timeout(),
            })?;
        let sink = match stopped {
            Ok(Ok(sink)) => sink,
            Ok(Err(error)) => return Err(KitError::Stopped(error)),
            Err(join) => return Err(KitError::Panicked(join.to_string())),
        };
        Ok(StreamRun {
            sink,
            last_event: self.last_event.take(),
            position: self.platform.stream_position(),
            state: self.platform.state(),
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
    /// imported) after a run that succeeded, as the platform holds it after
    /// one that failed; `None` when the run sent nothing and reported
    /// nothing.
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

/// What [`ConnectorHarness::run_stream_across_restart`] saw.
#[derive(Debug)]
#[non_exhaustive]
pub struct Restart<S> {
    /// The position the first run saved before it stopped.
    pub paused_at: Option<String>,
    /// The id of the last event of the first part.
    pub first_end: Option<String>,
    /// The second run, stopped once done.
    pub run: StreamRun<S>,
}

impl<S> Restart<S> {
    /// Whether the first run stopped before the end of the first part, so
    /// that the second run had some of it still to do.
    pub fn stopped_midway(&self) -> bool {
        match (&self.paused_at, &self.first_end) {
            (Some(paused_at), Some(first_end)) => stream_id(paused_at) < stream_id(first_end),
            _ => false,
        }
    }
}
