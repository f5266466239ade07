//! The soak drill of issue #13: the five connectors run together, in this
//! process, against `opencti-sim` and their fake vendors while faults are
//! injected at random from a printed seed; then every expected object must
//! be in the platform, every stream sink must hold exactly what the stream
//! says, memory must stay flat, and no task or file descriptor may be left.
//!
//! * Import connectors (MISP feed, TeamT5, NTI) run scheduled (every 2 s)
//!   through the runtime's [`ImportRunner`] against one simulator; their
//!   vendors publish new content all along.
//! * Stream connectors (PT NAD, Sekoia.io) run through the runtime's
//!   [`StreamRunner`] against a second simulator, whose live stream only
//!   carries the events the soak injects (creations and deletions of
//!   indicators), so that each sink's expected contents are exact.
//! * Every connector reaches its platform through a [`Relay`], and the
//!   import connectors reach RabbitMQ through another: cutting them breaks
//!   GraphQL calls, live streams and broker links. The simulators also fail
//!   named operations ([`CallFault`]) and the fakes answer bursts of 503.
//!
//! Connectors run as tasks sharing one shutdown token, as the test kit's
//! harness runs them, not as separate processes. The two simulators run in
//! child processes ([`sim_process`]), driven through their control API, so
//! that this process's RSS, the one judged, is the connectors' (with the
//! relays, the fakes and the soak's bookkeeping); the simulators' RSS is
//! reported apart.

mod misp_feed;
pub mod probe;
mod rng;
pub mod sim_process;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings, Var};
use opencti_connector::http::CancellationToken;
use opencti_connector::import::ImportRunner;
use opencti_connector::state::PingSchedule;
use opencti_connector::stream::RetryBackoff;
use opencti_connector::stream::StreamRunner;
use opencti_connector::{Connector, ImportSource};
use opencti_sim::relay::Relay;
use opencti_sim::{
    CallFault, DEFAULT_AMQP_URL, EventInjection, EventKind, Sim, SimConfig, SimHandle,
};
use serde_json::{Value, json};

use crate::misp_feed::FeedServer;
use crate::probe::Sample;
use crate::rng::SeededRng;
use crate::sim_process::SimProcess;

/// Where RabbitMQ listens (guest/guest).
const RABBITMQ_PORT: u16 = 5672;
/// How often the import connectors run.
const IMPORT_PERIOD: &str = "PT2S";
/// What a connector's stop may take.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long a start or a stop of a simulator may take.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Operations of the import platform that faults pick from.
const IMPORT_OPERATIONS: &[&str] = &[
    "workAdd",
    "workToReceived",
    "workToProcessed",
    "PingConnector",
    "addExpectations",
];
/// PT NAD's list of IPv4 addresses.
const PTNAD_IP_LIST: &str = "opencti-ip";

/// What to soak, and for how long.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// How long content is published and faults are injected.
    pub duration: Duration,
    /// Seeds the fault schedule and the content.
    pub seed: u64,
    /// How long, after the faults stop, everything may take to arrive.
    pub settle: Duration,
    /// Keeps every record the import simulator makes (each GraphQL call
    /// and live-stream event), as a plain simulator does. Off, it keeps
    /// only the last [`RECENT_RECORDS`] of each: the checks read only the
    /// stored objects, and the connectors' own memory is what is measured.
    pub keep_all_records: bool,
    /// Arguments that make this executable, started again with
    /// [`sim_process::CHILD_ENV`] set, reach [`sim_process::serve_if_child`]
    /// (none for a `main` that calls it first; the test's name for a test
    /// binary).
    pub simulator_args: Vec<String>,
}

/// Entries of each history the import simulator keeps during a soak,
/// unless told to keep them all.
pub const RECENT_RECORDS: usize = 200;

/// Records the simulators and fakes hold at the end, of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// How many.
    pub count: usize,
    /// Their size as JSON text, when they have a JSON form: a measure of
    /// what they hold, not of the heap they take.
    pub json_bytes: Option<usize>,
}

/// Why the soak could not run (as opposed to what it found).
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    /// A simulator did not start.
    #[error("simulator: {0}")]
    Sim(#[from] opencti_sim::SimError),
    /// A loopback server or relay did not start.
    #[error("loopback server: {0}")]
    Io(#[from] std::io::Error),
    /// A connector's configuration was refused.
    #[error("{connector}: configuration: {reason}")]
    Config {
        /// Which connector.
        connector: &'static str,
        /// What was refused.
        reason: String,
    },
    /// Something did not happen in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// A simulator process did not answer its control API as expected.
    #[error("simulator process: {0}")]
    Control(String),
}

/// A kind of fault, as counted in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Every broker connection of the import connectors cut.
    BrokerCut,
    /// Every connection of the import connectors to their platform cut.
    PlatformCut,
    /// Every connection of the stream connectors to their platform cut
    /// (the live streams drop).
    StreamDrop,
    /// Calls of a GraphQL operation fail (platform error or 503).
    CallFault,
    /// A fake vendor answers a burst of 503.
    VendorBurst,
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BrokerCut => "broker cuts",
            Self::PlatformCut => "platform cuts",
            Self::StreamDrop => "stream drops",
            Self::CallFault => "GraphQL call faults",
            Self::VendorBurst => "vendor 5xx bursts",
        })
    }
}

/// What the soak measured and found.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// The seed of the fault schedule and the content.
    pub seed: u64,
    /// How long faults were injected.
    pub duration: Duration,
    /// How long everything took to arrive once the faults stopped.
    pub settled_in: Duration,
    /// Objects expected in the import platform, per connector.
    pub expected_objects: BTreeMap<&'static str, usize>,
    /// Expected objects missing at the end (empty when all arrived).
    pub missing_objects: Vec<String>,
    /// Objects the import platform stored in all.
    pub stored_objects: usize,
    /// What the simulators and fakes keep in memory, which counts in the
    /// process's RSS: records by kind.
    pub kept_records: BTreeMap<&'static str, Kept>,
    /// Whether the import simulator kept every record.
    pub kept_all_records: bool,
    /// Live-stream events injected for the stream connectors.
    pub stream_events: usize,
    /// Values each sink should hold at the end.
    pub expected_sink_values: usize,
    /// Differences between a sink and what it should hold.
    pub sink_differences: Vec<String>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<FaultKind, u64>,
    /// Connectors that stopped before being asked, or failed to stop.
    pub connector_failures: Vec<String>,
    /// Before anything started.
    pub before: Sample,
    /// Once everything stopped.
    pub after: Sample,
    /// Sampled every second while the connectors ran.
    pub samples: Vec<Sample>,
    /// What the descriptors open after but not before point at.
    pub new_fds: Vec<String>,
}

impl SoakReport {
    /// RSS slope over the second half of the run (after warm-up), KiB/min.
    pub fn rss_slope_kib_per_min(&self) -> f64 {
        let half = self.samples.len() / 2;
        probe::rss_slope_kib_per_min(&self.samples[half..])
    }

    /// RSS slope of a simulator process (0: import, 1: stream) over the
    /// second half of the run, KiB/min: reported, not judged.
    pub fn simulator_rss_slope_kib_per_min(&self, simulator: usize) -> f64 {
        let half = self.samples.len() / 2;
        probe::simulator_rss_slope_kib_per_min(&self.samples[half..], simulator)
    }

    /// Slope of the alive tasks over the second half of the run, per minute.
    pub fn task_slope_per_min(&self) -> f64 {
        let half = self.samples.len() / 2;
        probe::task_slope_per_min(&self.samples[half..])
    }

    /// The first and last sample of the run.
    fn run_bounds(&self) -> (Sample, Sample) {
        let first = self.samples.first().copied().unwrap_or(self.before);
        let last = self.samples.last().copied().unwrap_or(self.after);
        (first, last)
    }

    /// What went wrong; empty when the soak passed (the RSS slope is
    /// judged by the caller, who knows how long the run was).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.missing_objects.is_empty() {
            problems.push(format!(
                "{} expected objects missing: {:?}",
                self.missing_objects.len(),
                self.missing_objects
            ));
        }
        problems.extend(self.sink_differences.iter().cloned());
        problems.extend(self.connector_failures.iter().cloned());
        if self.after.fds > self.before.fds {
            problems.push(format!(
                "file descriptors leaked: {} before, {} after: {:?}",
                self.before.fds, self.after.fds, self.new_fds
            ));
        }
        if self.after.tasks > self.before.tasks {
            problems.push(format!(
                "tasks leaked: {} alive before, {} after",
                self.before.tasks, self.after.tasks
            ));
        }
        problems
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (first, last) = self.run_bounds();
        let max_rss = self.samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        let max_fds = self.samples.iter().map(|s| s.fds).max().unwrap_or(0);
        let max_tasks = self.samples.iter().map(|s| s.tasks).max().unwrap_or(0);
        writeln!(f, "seed: {}", self.seed)?;
        writeln!(
            f,
            "faults injected for {:?}, settled {:?} after",
            self.duration, self.settled_in
        )?;
        let expected: Vec<String> = self
            .expected_objects
            .iter()
            .map(|(connector, count)| format!("{connector} {count}"))
            .collect();
        writeln!(
            f,
            "objects: {} expected ({}), {} missing, {} stored in all",
            self.expected_objects.values().sum::<usize>(),
            expected.join(", "),
            self.missing_objects.len(),
            self.stored_objects
        )?;
        writeln!(
            f,
            "stream events: {} injected, {} values expected in each sink, {} differences",
            self.stream_events,
            self.expected_sink_values,
            self.sink_differences.len()
        )?;
        let kept: Vec<String> = self
            .kept_records
            .iter()
            .map(|(kind, kept)| match kept.json_bytes {
                Some(bytes) => format!("{kind} {} ({} KiB as JSON)", kept.count, bytes / 1024),
                None => format!("{kind} {}", kept.count),
            })
            .collect();
        let histories = if self.kept_all_records {
            "every record kept".to_owned()
        } else {
            format!("the import simulator's histories capped at {RECENT_RECORDS}")
        };
        writeln!(
            f,
            "kept by the simulators and fakes ({histories}): {}",
            kept.join(", ")
        )?;
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect();
        writeln!(
            f,
            "faults: {} ({})",
            self.faults.values().sum::<u64>(),
            faults.join(", ")
        )?;
        writeln!(
            f,
            "RSS of the soak process (connectors, relays, fakes): {} MiB before, {} MiB at start of run, {} MiB at end, max {} MiB, slope {:.0} KiB/min (second half)",
            self.before.rss_kib / 1024,
            first.rss_kib / 1024,
            last.rss_kib / 1024,
            max_rss / 1024,
            self.rss_slope_kib_per_min()
        )?;
        for (index, name) in ["import", "stream"].into_iter().enumerate() {
            let max = self
                .samples
                .iter()
                .map(|s| s.simulators_rss_kib[index])
                .max()
                .unwrap_or(0);
            writeln!(
                f,
                "RSS of the {name} simulator (a child process, not judged): {} MiB at start of run, {} MiB at end, max {} MiB, slope {:.0} KiB/min (second half)",
                first.simulators_rss_kib[index] / 1024,
                last.simulators_rss_kib[index] / 1024,
                max / 1024,
                self.simulator_rss_slope_kib_per_min(index)
            )?;
        }
        writeln!(
            f,
            "fds: {} before, {} after; {} at start of run, {} at end, max {}",
            self.before.fds, self.after.fds, first.fds, last.fds, max_fds
        )?;
        writeln!(
            f,
            "tasks: {} before, {} after; {} at start of run, {} at end, max {}, slope {:.1}/min (second half)",
            self.before.tasks,
            self.after.tasks,
            first.tasks,
            last.tasks,
            max_tasks,
            self.task_slope_per_min()
        )?;
        if !self.connector_failures.is_empty() {
            writeln!(f, "connector failures: {:?}", self.connector_failures)?;
        }
        Ok(())
    }
}

/// Runs the soak. Needs RabbitMQ on 127.0.0.1:5672 and a multi-threaded
/// tokio runtime.
///
/// # Errors
///
/// When something it needs does not start; what it finds is in the report.
pub async fn run(options: SoakOptions) -> Result<SoakReport, SoakError> {
    opencti_connector::tls::install_crypto_provider();
    warm_up().await?;
    let started = Instant::now();
    let before = Sample::take(Duration::ZERO);
    let fds_before = probe::fd_targets();
    let mut world = World::start(&options.simulator_args).await?;
    if !options.keep_all_records {
        // The stream simulator keeps its events: the sinks' expected
        // contents are exact only if no reconnection can miss one.
        world.import_sim.keep_recent_records(RECENT_RECORDS).await?;
    }
    let shutdown = CancellationToken::new();
    let connectors = world.launch(&shutdown)?;

    let sampling = CancellationToken::new();
    let simulators = [world.import_sim.pid(), world.stream_sim.pid()];
    let sampler = tokio::spawn(sample_until(sampling.clone(), started, simulators));

    let mut rng = SeededRng::new(options.seed);
    let mut content = Content::default();
    let mut faults = BTreeMap::new();
    let deadline = Instant::now() + options.duration;
    // A sink retries an event with growing pauses: its last burst comes
    // two thirds into the run, and the checks wait out its longest pause.
    let sinks_quiet = Instant::now() + options.duration * 2 / 3;
    let mut next_fault = Instant::now() + Duration::from_millis(rng.between(200, 1500));
    while Instant::now() < deadline {
        world.publish(&mut rng, &mut content).await?;
        if Instant::now() >= next_fault {
            let sinks_may_fail = Instant::now() < sinks_quiet;
            let kind = world.inject_fault(&mut rng, sinks_may_fail).await?;
            *faults.entry(kind).or_insert(0) += 1;
            next_fault = Instant::now() + Duration::from_millis(rng.between(200, 1500));
        }
        tokio::time::sleep(Duration::from_millis(rng.between(100, 400))).await;
    }
    world.import_sim.clear_faults().await?;
    world.stream_sim.clear_faults().await?;

    let settling = Instant::now();
    let settle_deadline = settling + options.settle;
    // A sink that met a burst until its last one may be in its longest
    // pause (the runtime's default retry maximum) when the faults stop.
    let sinks_deadline = settling
        + options
            .settle
            .max(RetryBackoff::default().max + Duration::from_secs(10));
    let expected_sink: BTreeSet<String> = content.live_values.values().cloned().collect();
    let mut imports_done = false;
    loop {
        let now = Instant::now();
        // Listing the stored objects is a large answer: not once they are in.
        imports_done =
            imports_done || now >= settle_deadline || world.missing(&content).await?.is_empty();
        let sinks_done = world.sink_differences(&expected_sink).is_empty() || now >= sinks_deadline;
        if imports_done && sinks_done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let settled_in = settling.elapsed();
    let missing_objects = world.missing(&content).await?;
    let sink_differences = world.sink_differences(&expected_sink);
    let stored_objects = world.import_sim.objects().await?.len();
    let kept_records = world.kept_records().await?;

    let stopped_early: Vec<String> = connectors
        .stopped()
        .map(|name| format!("{name} stopped before it was asked to"))
        .collect();
    shutdown.cancel();
    let mut connector_failures = connectors.stop().await;
    connector_failures.extend(stopped_early);
    sampling.cancel();
    let samples = sampler.await.unwrap_or_default();
    world.stop().await?;
    let after = settle_after(before, started).await;
    let mut new_fds = probe::fd_targets();
    for target in &fds_before {
        if let Some(index) = new_fds.iter().position(|new| new == target) {
            new_fds.remove(index);
        }
    }

    Ok(SoakReport {
        seed: options.seed,
        duration: options.duration,
        settled_in,
        expected_objects: content.expected_counts(),
        missing_objects,
        stored_objects,
        kept_records,
        kept_all_records: options.keep_all_records,
        stream_events: content.stream_events,
        expected_sink_values: expected_sink.len(),
        sink_differences,
        faults,
        connector_failures,
        before,
        after,
        samples,
        new_fds,
    })
}

/// Starts and stops a simulator once, in this process, so that what the
/// broker client sets up once per process (its reactor's descriptors and
/// task), which the import connectors' first connection would otherwise
/// set up, is in the baseline and not counted as a leak.
async fn warm_up() -> Result<(), SoakError> {
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let tasks = alive();
    let sim = start_sim().await?;
    tokio::time::timeout(START_TIMEOUT, sim.shutdown())
        .await
        .map_err(|_| SoakError::Timeout("a simulator to stop"))??;
    // Its broker connection's heartbeat task ends at its next tick.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive() > tasks && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn sample_until(
    stop: CancellationToken,
    started: Instant,
    simulators: [u32; 2],
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => return samples,
            _ = tick.tick() => {
                samples.push(Sample::take_with_simulators(started.elapsed(), simulators));
            }
        }
    }
}

/// Closed sockets and ended tasks take a moment to go: a closed broker
/// connection's heartbeat task only ends at its next tick (every 5 s for
/// the connectors' 10 s heartbeat, 2 s for the simulators here). Waits up to
/// 15 s for the counts to fall back, then reports what is left.
async fn settle_after(before: Sample, started: Instant) -> Sample {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = Sample::take(started.elapsed());
        if (now.fds <= before.fds && now.tasks <= before.tasks) || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the vendors published and the stream carried.
#[derive(Debug, Default)]
struct Content {
    next: u64,
    misp_events: Vec<u64>,
    /// NTI files published, each with its addresses.
    nti_files: Vec<(String, Vec<String>)>,
    teamt5_indicators: Vec<String>,
    /// Indicator id to the address it holds, for those not deleted.
    live_values: BTreeMap<String, String>,
    stream_events: usize,
    /// Last manifest timestamp, so that each event is newer.
    misp_timestamp: i64,
}

impl Content {
    fn expected_counts(&self) -> BTreeMap<&'static str, usize> {
        BTreeMap::from([
            ("misp-feed", self.misp_events.len()),
            (
                "nti",
                self.nti_files.iter().map(|(_, values)| values.len()).sum(),
            ),
            ("teamt5", self.teamt5_indicators.len()),
        ])
    }
}

/// Every server of the soak.
struct World {
    import_sim: SimProcess,
    stream_sim: SimProcess,
    broker_relay: Relay,
    import_relay: Relay,
    stream_relay: Relay,
    misp: FeedServer,
    nti: opencti_nti::fake::FakeNti,
    teamt5: opencti_teamt5::fake::FakeTeamt5,
    ptnad: opencti_ptnad::fake::FakePtnad,
    sekoia: opencti_sekoia_intel::fake::FakeSekoia,
    /// 503s queued at the sinks so far.
    sink_failures: SinkFailures,
}

#[derive(Debug, Default)]
struct SinkFailures {
    ptnad: usize,
    sekoia: usize,
}

const NTI_KEY: &str = "soak-nti-key";
/// NTI files the package holds at most (a feed of recent updates): about
/// 50 s of them, longer than faults keep a run from completing, so that no
/// file leaves the package before the connector could import it.
const NTI_WINDOW: usize = 40;

impl World {
    async fn start(simulator_args: &[String]) -> Result<Self, SoakError> {
        let simulator = || {
            let mut command = std::process::Command::new(std::env::current_exe()?);
            command.args(simulator_args);
            Ok::<_, SoakError>(command)
        };
        let import_sim = SimProcess::start(simulator()?).await?;
        let stream_sim = SimProcess::start(simulator()?).await?;
        let broker_relay = Relay::start(RABBITMQ_PORT).await?;
        let import_relay = Relay::start(import_sim.addr().port()).await?;
        let stream_relay = Relay::start(stream_sim.addr().port()).await?;
        Ok(Self {
            broker_relay,
            import_relay,
            stream_relay,
            misp: FeedServer::start().await?,
            nti: opencti_nti::fake::FakeNti::start(NTI_KEY).await,
            teamt5: opencti_teamt5::fake::FakeTeamt5::start(Default::default()).await?,
            ptnad: opencti_ptnad::fake::FakePtnad::start(Default::default()).await?,
            sekoia: opencti_sekoia_intel::fake::FakeSekoia::start(Default::default()).await?,
            import_sim,
            stream_sim,
            sink_failures: SinkFailures::default(),
        })
    }

    fn launch(&self, shutdown: &CancellationToken) -> Result<Connectors, SoakError> {
        let import_url = format!("http://127.0.0.1:{}", self.import_relay.port());
        let stream_url = format!("http://127.0.0.1:{}", self.stream_relay.port());
        let broker_port = self.broker_relay.port().to_string();
        let import_env = |name: &str| -> Vec<(String, String)> {
            pairs(&[
                ("OPENCTI_URL", &import_url),
                ("OPENCTI_TOKEN", "soak"),
                ("CONNECTOR_ID", &uuid::Uuid::new_v4().to_string()),
                ("CONNECTOR_NAME", name),
                ("CONNECTOR_DURATION_PERIOD", IMPORT_PERIOD),
                ("CONNECTOR_STOP_GRACE_PERIOD", "PT5S"),
                ("MQ_HOST", "127.0.0.1"),
                ("MQ_PORT", &broker_port),
            ])
        };
        let stream_env = |name: &str| -> Vec<(String, String)> {
            pairs(&[
                ("OPENCTI_URL", &stream_url),
                ("OPENCTI_TOKEN", "soak"),
                ("CONNECTOR_ID", &uuid::Uuid::new_v4().to_string()),
                ("CONNECTOR_NAME", name),
                ("CONNECTOR_LIVE_STREAM_ID", "live"),
                ("CONNECTOR_STOP_GRACE_PERIOD", "PT5S"),
            ])
        };
        let mut connectors = Connectors::default();

        let mut misp = import_env("MISP feed soak");
        misp.extend(pairs(&[
            ("MISP_FEED_URL", self.misp.url()),
            ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
            ("MISP_FEED_CREATE_INDICATORS", "true"),
            ("MISP_FEED_CREATE_OBSERVABLES", "true"),
        ]));
        let settings = resolve::<opencti_misp_feed::MispFeed>(misp);
        let mut config = opencti_misp_feed::MispFeedConfig::try_from(&settings)
            .map_err(|error| config_error("misp-feed", &error))?;
        config.http.retry.initial_backoff = Duration::from_millis(50);
        let source = opencti_misp_feed::MispFeed::from_config(config)
            .map_err(|error| config_error("misp-feed", &error))?;
        connectors.import("misp-feed", source, &settings, shutdown)?;

        let mut nti = import_env("NTI soak");
        nti.extend(pairs(&[
            ("NTI_BASE_URL", &self.nti.base_url()),
            ("NTI_API_KEY", NTI_KEY),
            ("NTI_CREATE_IOC", "false"),
            ("NTI_CREATE_IP", "true"),
        ]));
        let settings = resolve::<opencti_nti::Nti>(nti);
        let config = opencti_nti::NtiConfig::try_from(&settings)
            .map_err(|error| config_error("nti", &error))?;
        let source = opencti_nti::Nti::from_config(config)
            .and_then(|nti| nti.with_initial_backoff(Duration::from_millis(50)))
            .map_err(|error| config_error("nti", &error))?;
        connectors.import("nti", source, &settings, shutdown)?;

        let mut teamt5 = import_env("TeamT5 soak");
        teamt5.extend(pairs(&[
            ("TEAMT5_API_BASE_URL", &self.teamt5.url()),
            ("TEAMT5_CLIENT_ID", "cid"),
            ("TEAMT5_CLIENT_SECRET", "csecret"),
            ("TEAMT5_TLP_LEVEL", "amber"),
        ]));
        let settings = resolve::<opencti_teamt5::Teamt5>(teamt5);
        let mut config = opencti_teamt5::Teamt5Config::try_from(&settings)
            .map_err(|error| config_error("teamt5", &error))?;
        config.http.first_backoff = Duration::from_millis(50);
        config.http.page_delay = Duration::ZERO;
        let source = opencti_teamt5::Teamt5::from_config(config)
            .map_err(|error| config_error("teamt5", &error))?;
        connectors.import("teamt5", source, &settings, shutdown)?;

        let mut ptnad = stream_env("PT NAD soak");
        ptnad.extend(pairs(&[
            ("PTNAD_URL", &self.ptnad.url()),
            ("PTNAD_USERNAME", "opencti"),
            ("PTNAD_PASSWORD", "S3cret!"),
            ("PTNAD_BATCH_WAIT_MS", "50"),
        ]));
        let settings = resolve::<opencti_ptnad::PtnadSink>(ptnad);
        let config = opencti_ptnad::PtnadConfig::try_from(&settings)
            .map_err(|error| config_error("ptnad", &error))?;
        let sink =
            opencti_ptnad::PtnadSink::new(config).map_err(|error| config_error("ptnad", &error))?;
        connectors.stream("ptnad", sink, &settings, shutdown)?;

        let mut sekoia = stream_env("Sekoia soak");
        sekoia.extend(pairs(&[
            ("SEKOIA_INTEL_URL", &self.sekoia.url()),
            ("SEKOIA_INTEL_APIKEY", "sk_test"),
            (
                "SEKOIA_INTEL_IOC_COLLECTION_UUID",
                opencti_sekoia_intel::fake::DEFAULT_COLLECTION,
            ),
            ("SEKOIA_INTEL_BATCH_WAIT_MS", "50"),
        ]));
        let settings = resolve::<opencti_sekoia_intel::SekoiaSink>(sekoia);
        let config = opencti_sekoia_intel::SekoiaConfig::try_from(&settings)
            .map_err(|error| config_error("sekoia-intel", &error))?;
        let sink = opencti_sekoia_intel::SekoiaSink::new(config)
            .map_err(|error| config_error("sekoia-intel", &error))?;
        connectors.stream("sekoia-intel", sink, &settings, shutdown)?;
        Ok(connectors)
    }

    /// One step of content: a new item of one vendor, or a stream event.
    async fn publish(&self, rng: &mut SeededRng, content: &mut Content) -> Result<(), SoakError> {
        content.next += 1;
        let n = content.next;
        match rng.between(0, 4) {
            0 => {
                let now = unix_now();
                content.misp_timestamp = (content.misp_timestamp + 1).max(now);
                self.misp.publish(n, content.misp_timestamp);
                content.misp_events.push(n);
            }
            1 => {
                let values: Vec<String> = (0..2u64)
                    .map(|k| format!("10.{}.{}.{}", 100 + k, (n >> 8) & 255, n & 255))
                    .collect();
                let name = format!("data.NTI.API.V2.0.ip-basic-updated.20250425.{n:06}.json");
                content.nti_files.push((name, values));
                let window = content.nti_files.len().saturating_sub(NTI_WINDOW);
                let entries: Vec<(String, String)> = content.nti_files[window..]
                    .iter()
                    .map(|(name, values)| (name.clone(), nti_records(values)))
                    .collect();
                self.nti.set_package(opencti_nti::fake::package(&entries));
            }
            2 => {
                let indicator = format!("indicator--{}", uuid::Uuid::new_v4());
                let item_id = format!("soak-{n}");
                let url = self.teamt5.url();
                let item = json!({
                    "id": item_id,
                    "created_at": unix_now(),
                    "stix_url": format!("{url}api/v2/ioc_bundles/{item_id}.stix"),
                    "csv_url": format!("{url}api/v2/ioc_bundles/{item_id}.csv"),
                    "txt_url": null,
                });
                let bundle = json!({
                    "type": "bundle",
                    "id": format!("bundle--{}", uuid::Uuid::new_v4()),
                    "objects": [{
                        "type": "indicator", "spec_version": "2.1", "id": indicator,
                        "created": "2025-11-20T09:00:00.000Z",
                        "modified": "2025-11-20T09:00:00.000Z",
                        "pattern": format!("[ipv4-addr:value = '10.200.{}.{}']", (n >> 8) & 255, n & 255),
                        "pattern_type": "stix",
                        "valid_from": "2025-11-20T09:00:00Z",
                    }],
                });
                self.teamt5.add_ioc_bundle(item, &bundle);
                content.teamt5_indicators.push(indicator);
            }
            _ => {
                // A deletion now and then, of an indicator still live.
                let event = if !content.live_values.is_empty() && rng.one_in(4) {
                    let index = rng.between(0, content.live_values.len() as u64 - 1);
                    let id = content
                        .live_values
                        .keys()
                        .nth(index as usize)
                        .cloned()
                        .unwrap_or_default();
                    content.live_values.remove(&id);
                    EventInjection::delete_id(id)
                } else {
                    let id = format!("indicator--{}", uuid::Uuid::new_v4());
                    let value = format!("10.250.{}.{}", (n >> 8) & 255, n & 255);
                    content.live_values.insert(id.clone(), value.clone());
                    EventInjection::new(
                        EventKind::Create,
                        json!({
                            "type": "indicator",
                            "spec_version": "2.1",
                            "id": id,
                            "name": value,
                            "pattern": format!("[ipv4-addr:value = '{value}']"),
                            "pattern_type": "stix",
                            "valid_from": "2025-11-24T10:00:00.000Z",
                            "revoked": false,
                        }),
                    )
                };
                // The soak's own events are well formed: a refusal is a bug.
                self.stream_sim.inject_event(&event).await?;
                content.stream_events += 1;
            }
        }
        Ok(())
    }

    async fn inject_fault(
        &mut self,
        rng: &mut SeededRng,
        sinks_may_fail: bool,
    ) -> Result<FaultKind, SoakError> {
        // A draw that would burst a sink still busy with its last burst is
        // drawn again.
        loop {
            let kind = match rng.between(0, 4) {
                0 => {
                    self.broker_relay.cut();
                    FaultKind::BrokerCut
                }
                1 => {
                    self.import_relay.cut();
                    FaultKind::PlatformCut
                }
                2 => {
                    self.stream_relay.cut();
                    FaultKind::StreamDrop
                }
                3 => {
                    let mut fault = if rng.one_in(3) {
                        CallFault::new("PingConnector").after(rng.between(0, 2))
                    } else {
                        let operation = IMPORT_OPERATIONS
                            [rng.between(0, IMPORT_OPERATIONS.len() as u64 - 1) as usize];
                        CallFault::new(operation).after(rng.between(0, 3))
                    };
                    fault = fault.times(rng.between(1, 3));
                    if rng.one_in(2) {
                        fault = fault.http_status(503);
                    }
                    if fault.operation == "PingConnector" && rng.one_in(2) {
                        self.stream_sim.fail_calls(&fault).await?;
                    } else {
                        self.import_sim.fail_calls(&fault).await?;
                    }
                    FaultKind::CallFault
                }
                _ => {
                    let count = rng.between(1, 3);
                    let last_vendor = if sinks_may_fail { 4 } else { 2 };
                    match rng.between(0, last_vendor) {
                        0 => self.misp.fail_next(count as u32),
                        1 => {
                            for _ in 0..count {
                                self.nti
                                    .push_fault(opencti_nti::fake::Fault::server_error(503));
                            }
                        }
                        2 => {
                            let path = if rng.one_in(2) {
                                "/api/v2/ioc_bundles"
                            } else {
                                "/api/v2/reports"
                            };
                            let faults =
                                (0..count).map(|_| opencti_teamt5::fake::Fault::Status(503, None));
                            self.teamt5.fail_next(path, faults);
                        }
                        // A sink retries an event with growing pauses: a
                        // burst only once the last one was answered, so
                        // that the failures left never outlast the settling
                        // time.
                        3 => {
                            let answered = unavailable(&self.ptnad.requests(), |r| r.status);
                            let queued = &mut self.sink_failures.ptnad;
                            if !sink_burst(answered, queued, count as usize, |count| {
                                self.ptnad.inject_failures(UNAVAILABLE, count, None);
                            }) {
                                continue;
                            }
                        }
                        _ => {
                            let answered = unavailable(&self.sekoia.requests(), |r| r.status);
                            let queued = &mut self.sink_failures.sekoia;
                            if !sink_burst(answered, queued, count as usize, |count| {
                                self.sekoia.inject_failures(UNAVAILABLE, count, None);
                            }) {
                                continue;
                            }
                        }
                    }
                    FaultKind::VendorBurst
                }
            };
            return Ok(kind);
        }
    }

    async fn kept_records(&self) -> Result<BTreeMap<&'static str, Kept>, SoakError> {
        fn kept<T: serde::Serialize>(records: &[T]) -> Kept {
            Kept {
                count: records.len(),
                json_bytes: Some(
                    records
                        .iter()
                        .map(|record| serde_json::to_vec(record).map_or(0, |text| text.len()))
                        .sum(),
                ),
            }
        }
        fn both(import: Kept, stream: Kept) -> Kept {
            Kept {
                count: import.count + stream.count,
                json_bytes: import.json_bytes.zip(stream.json_bytes).map(|(a, b)| a + b),
            }
        }
        let (import, stream) = (&self.import_sim, &self.stream_sim);
        Ok(BTreeMap::from([
            (
                "stored objects",
                both(
                    kept(&import.objects().await?),
                    kept(&stream.objects().await?),
                ),
            ),
            (
                "GraphQL calls",
                both(
                    kept(&import.graphql_calls().await?),
                    kept(&stream.graphql_calls().await?),
                ),
            ),
            (
                "stream events",
                both(
                    kept(&import.stream_events().await?),
                    kept(&stream.stream_events().await?),
                ),
            ),
            (
                "works",
                both(kept(&import.works().await?), kept(&stream.works().await?)),
            ),
            (
                "vendor requests",
                Kept {
                    count: self.nti.requests().len()
                        + self.teamt5.requests().len()
                        + self.ptnad.requests().len()
                        + self.sekoia.requests().len(),
                    json_bytes: None,
                },
            ),
        ]))
    }

    /// Expected objects the import platform does not hold.
    async fn missing(&self, content: &Content) -> Result<Vec<String>, SoakError> {
        let objects = self.import_sim.objects().await?;
        let mut present: HashSet<String> = HashSet::new();
        for object in &objects {
            present.insert(object.id.clone());
            for field in ["name", "value"] {
                if let Some(text) = object.stix.get(field).and_then(Value::as_str) {
                    present.insert(format!("{}:{text}", object.stix_type));
                }
            }
        }
        let mut missing = Vec::new();
        for index in &content.misp_events {
            let key = format!("report:{}", misp_feed::event_name(*index));
            if !present.contains(&key) {
                missing.push(format!("misp-feed {key}"));
            }
        }
        for (file, values) in &content.nti_files {
            for value in values {
                if !present.contains(&format!("ipv4-addr:{value}")) {
                    missing.push(format!("nti ipv4-addr {value} of {file}"));
                }
            }
        }
        for id in &content.teamt5_indicators {
            if !present.contains(id) {
                missing.push(format!("teamt5 {id}"));
            }
        }
        Ok(missing)
    }

    /// How each sink differs from what the stream says it should hold.
    fn sink_differences(&self, expected: &BTreeSet<String>) -> Vec<String> {
        let mut differences = Vec::new();
        let ptnad = self.ptnad.values(PTNAD_IP_LIST).unwrap_or_default();
        differences.extend(difference("PT NAD list", &ptnad, expected));
        let sekoia: BTreeSet<String> = self
            .sekoia
            .active_values(opencti_sekoia_intel::fake::DEFAULT_COLLECTION)
            .into_iter()
            .collect();
        differences.extend(difference("Sekoia collection", &sekoia, expected));
        differences
    }

    async fn stop(self) -> Result<(), SoakError> {
        for sim in [self.import_sim, self.stream_sim] {
            sim.stop().await?;
        }
        Ok(())
    }
}

/// What the fakes answer in a burst.
const UNAVAILABLE: StatusCode = StatusCode::SERVICE_UNAVAILABLE;

/// Requests a fake answered 503.
fn unavailable<R>(requests: &[R], status: impl Fn(&R) -> StatusCode) -> usize {
    requests
        .iter()
        .filter(|request| status(request) == UNAVAILABLE)
        .count()
}

/// Queues a burst of `count` failures at a sink with `inject`, unless the
/// sink has not yet answered every failure queued so far (`queued`, of
/// which `answered` were): then returns `false` and queues nothing.
fn sink_burst(
    answered: usize,
    queued: &mut usize,
    count: usize,
    inject: impl FnOnce(usize),
) -> bool {
    if answered < *queued {
        return false;
    }
    *queued += count;
    inject(count);
    true
}

fn difference(sink: &str, actual: &BTreeSet<String>, expected: &BTreeSet<String>) -> Vec<String> {
    let extra: Vec<&String> = actual.difference(expected).collect();
    let missing: Vec<&String> = expected.difference(actual).collect();
    let mut differences = Vec::new();
    if !missing.is_empty() {
        differences.push(format!(
            "{sink} misses {} values: {missing:?}",
            missing.len()
        ));
    }
    if !extra.is_empty() {
        differences.push(format!(
            "{sink} holds {} deleted values: {extra:?}",
            extra.len()
        ));
    }
    differences
}

fn nti_records(values: &[String]) -> String {
    let records: Vec<Value> = values
        .iter()
        .map(|value| {
            json!({
                "object": {"type": "ipv4-addr", "value": value},
                "modified": "2025-04-25T00:00:00Z",
            })
        })
        .collect();
    opencti_nti::fake::entry_content(&records)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

pub(crate) async fn start_sim() -> Result<SimHandle, SoakError> {
    let config = SimConfig {
        // A closed connection's heartbeat task lingers until its next tick
        // (half the heartbeat): 2 s rather than the broker's default 30 s.
        amqp_url: format!("{DEFAULT_AMQP_URL}?heartbeat=4"),
        heartbeat_interval: Duration::from_millis(500),
        ..SimConfig::for_tests()
    };
    tokio::time::timeout(START_TIMEOUT, Sim::start(config))
        .await
        .map_err(|_| SoakError::Timeout("a simulator to start"))?
        .map_err(SoakError::from)
}

fn pairs(values: &[(&str, &str)]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn resolve<C: Connector>(pairs: Vec<(String, String)>) -> Settings {
    let tables: Vec<&[Var]> = RUNTIME_TABLES.iter().copied().chain([C::VARS]).collect();
    Settings::from_env_pairs(&tables, pairs)
}

fn config_error(connector: &'static str, error: &dyn fmt::Display) -> SoakError {
    SoakError::Config {
        connector,
        reason: error.to_string(),
    }
}

/// Pings carry state changes soon, so that the checks read them.
fn pings() -> PingSchedule {
    PingSchedule {
        debounce: Duration::from_millis(100),
        ..PingSchedule::default()
    }
}

/// The connectors' tasks.
#[derive(Default)]
struct Connectors {
    tasks: Vec<(&'static str, tokio::task::JoinHandle<Result<(), String>>)>,
}

impl Connectors {
    fn import<C: ImportSource>(
        &mut self,
        name: &'static str,
        source: C,
        settings: &Settings,
        shutdown: &CancellationToken,
    ) -> Result<(), SoakError> {
        let runtime =
            RuntimeConfig::try_from(settings).map_err(|error| config_error(name, &error))?;
        let runner = ImportRunner::new(source, runtime).with_pings(pings());
        self.spawn(name, runner.run(shutdown.clone()));
        Ok(())
    }

    fn stream<S: opencti_connector::stream::StreamSink>(
        &mut self,
        name: &'static str,
        sink: S,
        settings: &Settings,
        shutdown: &CancellationToken,
    ) -> Result<(), SoakError> {
        let runtime =
            RuntimeConfig::try_from(settings).map_err(|error| config_error(name, &error))?;
        let runner = StreamRunner::new(sink, runtime).with_pings(pings());
        let run = runner.run(shutdown.clone());
        self.spawn(name, async move { run.await.map(drop) });
        Ok(())
    }

    fn spawn(
        &mut self,
        name: &'static str,
        run: impl Future<Output = Result<(), opencti_connector::Error>> + Send + 'static,
    ) {
        let task = tokio::spawn(async move { Box::pin(run).await.map_err(|e| e.to_string()) });
        self.tasks.push((name, task));
    }

    /// The connectors whose task has ended.
    fn stopped(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.tasks
            .iter()
            .filter(|(_, task)| task.is_finished())
            .map(|(name, _)| *name)
    }

    /// Waits for every connector to stop; returns what went wrong.
    async fn stop(self) -> Vec<String> {
        let mut failures = Vec::new();
        for (name, task) in self.tasks {
            match tokio::time::timeout(STOP_GRACE, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => failures.push(format!("{name} stopped on: {error}")),
                Ok(Err(join)) => failures.push(format!("{name} panicked: {join}")),
                Err(_) => failures.push(format!("{name} did not stop within {STOP_GRACE:?}")),
            }
        }
        failures
    }
}
