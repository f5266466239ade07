//! The quick-start demo: `opencti-sim` and the MISP feed connector on the
//! sample feed in `examples/misp-feed/`, end to end, in one process.
//!
//! [`run_demo`] starts the simulator on 127.0.0.1 (random port, random
//! queue prefix, transient queues, so it never meets another run), runs the
//! connector once over the local feed (no network), waits for the
//! simulator's worker to import everything the run announced, and returns
//! a [`DemoSummary`]: objects by type, the run's work, the state the
//! platform kept, and where the time went. [`main`] prints it.
//!
//! The only outside service is RabbitMQ on 127.0.0.1:5672 (guest/guest);
//! without it the demo says how to get one ([`DemoError::hint`]).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings, Var};
use opencti_connector::import::ImportRunner;
use opencti_connector::{Connector, tls};
use opencti_misp_feed::{MispFeed, MispFeedConfig, VARS as MISP_FEED_VARS};
use opencti_sim::{Secret, Sim, SimConfig, SimHandle, WorkRecord, WorkStatus};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The broker the demo (and the test suite) expects.
pub const BROKER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5672);

/// How long the broker gets to accept a TCP connection.
const BROKER_PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on the connector's run (the sample feed takes well under a second).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on the worker importing what the run sent.
const WORKER_TIMEOUT: Duration = Duration::from_secs(30);

/// The sample feed shipped in the repository (`examples/misp-feed/sample-feed`).
pub fn sample_feed() -> PathBuf {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).parent();
    examples
        .unwrap_or(Path::new("."))
        .join("misp-feed/sample-feed")
}

/// What the demo runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    /// A MISP feed directory (`manifest.json` and one file per event).
    pub feed: PathBuf,
    /// RabbitMQ (guest/guest), used by the simulator and the connector.
    pub broker: SocketAddr,
}

impl Default for DemoOptions {
    /// The sample feed and [`BROKER`].
    fn default() -> Self {
        Self {
            feed: sample_feed(),
            broker: BROKER,
        }
    }
}

/// Why the demo could not show anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Nothing accepts connections on the broker's address.
    #[error("RabbitMQ is not answering on {addr}: {reason}")]
    BrokerUnreachable {
        /// The address probed.
        addr: SocketAddr,
        /// The connection error.
        reason: String,
    },
    /// The feed directory has no `manifest.json`.
    #[error("{path} is not a MISP feed (no readable manifest.json): {reason}")]
    Feed {
        /// The feed directory.
        path: PathBuf,
        /// Why the manifest could not be read.
        reason: String,
    },
    /// The simulator failed (start, wait, shutdown).
    #[error("opencti-sim: {0}")]
    Simulator(String),
    /// The connector's configuration was refused.
    #[error("the connector's configuration was refused: {0}")]
    Config(String),
    /// The connector's run failed or did not end in time.
    #[error("the connector failed: {0}")]
    Connector(String),
    /// The run left no work in the platform.
    #[error("the connector's run created no work in the platform")]
    NoWork,
}

impl DemoError {
    /// What the user should do about it, when there is something to do.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::BrokerUnreachable { .. } => Some(
                "The demo needs RabbitMQ on 127.0.0.1:5672 (user guest, password guest).\n\
                 - installed but stopped: scripts/ensure-rabbitmq.sh starts it;\n\
                 - not installed (Debian/Ubuntu): sudo apt-get install rabbitmq-server,\n\
                   then scripts/ensure-rabbitmq.sh;\n\
                 then run `cargo run -p opencti-quickstart` again.",
            ),
            Self::Feed { .. } => Some(
                "Run the demo from a full clone of the repository: it reads examples/misp-feed/sample-feed.",
            ),
            _ => None,
        }
    }
}

/// The run's work, as the platform recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkSummary {
    /// Work id.
    pub id: String,
    /// Friendly name given by the connector.
    pub name: String,
    /// `wait`, `progress`, `complete` or `timeout`.
    pub status: String,
    /// Objects announced by the connector.
    pub expected: u64,
    /// Objects imported by the worker.
    pub processed: u64,
    /// Errors reported on the work (`source: message`).
    pub errors: Vec<String>,
}

impl WorkSummary {
    fn of(work: &WorkRecord) -> Self {
        Self {
            id: work.id.clone(),
            name: work.name.clone().unwrap_or_default(),
            status: work.status.as_str().to_owned(),
            expected: work.expected,
            processed: work.processed,
            errors: work
                .errors
                .iter()
                .map(|error| {
                    format!(
                        "{}: {}",
                        error.source.as_deref().unwrap_or("-"),
                        error.message.as_deref().unwrap_or("")
                    )
                })
                .collect(),
        }
    }

    /// Whether every announced object was imported.
    pub fn is_complete(&self) -> bool {
        self.status == WorkStatus::Complete.as_str()
    }
}

/// Where the time went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Starting the simulator (HTTP listener, broker connection).
    pub simulator: Duration,
    /// The connector: registration, the run, closing the work.
    pub connector: Duration,
    /// The worker finishing the imports after the run ended.
    pub worker: Duration,
    /// From start to summary.
    pub total: Duration,
}

/// What arrived in the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSummary {
    /// The feed that was read.
    pub feed: PathBuf,
    /// Stored objects per STIX type.
    pub objects_by_type: BTreeMap<String, usize>,
    /// The run's work.
    pub work: WorkSummary,
    /// The connector state the platform kept (the Python connector's keys).
    pub state: Option<Value>,
    /// Where the time went.
    pub timings: Timings,
}

impl DemoSummary {
    /// Total objects stored.
    pub fn object_count(&self) -> usize {
        self.objects_by_type.values().sum()
    }

    /// Objects arrived and the work is complete.
    pub fn is_success(&self) -> bool {
        self.object_count() > 0 && self.work.is_complete()
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Feed: {}", self.feed.display())?;
        writeln!(
            f,
            "Objects stored by the platform: {} distinct",
            self.object_count()
        )?;
        for (stix_type, count) in &self.objects_by_type {
            writeln!(f, "  {stix_type:<22} {count:>5}")?;
        }
        let work = &self.work;
        writeln!(f, "Work: {} ({})", work.name, work.id)?;
        writeln!(
            f,
            "  status {}: {} of {} expected objects imported (repeats count), {} error(s)",
            work.status,
            work.processed,
            work.expected,
            work.errors.len()
        )?;
        for error in &work.errors {
            writeln!(f, "  error: {error}")?;
        }
        match &self.state {
            Some(state) => writeln!(f, "Connector state kept by the platform: {state}")?,
            None => writeln!(f, "Connector state kept by the platform: none")?,
        }
        let timings = &self.timings;
        write!(
            f,
            "Time: {} (simulator start {}, connector run {}, worker catch-up {})",
            seconds(timings.total),
            seconds(timings.simulator),
            seconds(timings.connector),
            seconds(timings.worker)
        )
    }
}

/// Runs the demo and returns what arrived.
pub async fn run_demo(options: &DemoOptions) -> Result<DemoSummary, DemoError> {
    let started = Instant::now();
    probe_broker(options.broker).await?;
    let feed = std::fs::canonicalize(&options.feed)
        .and_then(|feed| std::fs::metadata(feed.join("manifest.json")).map(|_| feed))
        .map_err(|error| DemoError::Feed {
            path: options.feed.clone(),
            reason: error.to_string(),
        })?;
    tls::install_crypto_provider();

    let token = uuid::Uuid::new_v4().to_string();
    let sim = Sim::start(SimConfig {
        token: Some(Secret::new(token.clone())),
        amqp_url: format!("amqp://guest:guest@{}/%2f", options.broker),
        ..SimConfig::for_tests()
    })
    .await
    .map_err(|error| DemoError::Simulator(error.to_string()))?;
    let simulator = started.elapsed();

    let outcome = run_connector(&sim, &feed, &token).await;
    let summary = outcome.map(|(work, connector, worker)| {
        let mut objects_by_type = BTreeMap::new();
        for object in sim.objects() {
            *objects_by_type.entry(object.stix_type).or_default() += 1;
        }
        let state = sim
            .connector(&work.connector_id)
            .and_then(|connector| connector.state)
            .and_then(|state| serde_json::from_str(&state).ok());
        DemoSummary {
            feed,
            objects_by_type,
            work: WorkSummary::of(&work),
            state,
            timings: Timings {
                simulator,
                connector,
                worker,
                total: started.elapsed(),
            },
        }
    });
    // Stop cleanly (transient queues deleted) whatever happened; a failed
    // run's error matters more than a failed shutdown's.
    let stopped = sim.shutdown().await;
    let summary = summary?;
    stopped.map_err(|error| DemoError::Simulator(error.to_string()))?;
    Ok(summary)
}

async fn probe_broker(addr: SocketAddr) -> Result<(), DemoError> {
    let unreachable = |reason: String| DemoError::BrokerUnreachable { addr, reason };
    match tokio::time::timeout(BROKER_PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(unreachable(error.to_string())),
        Err(_) => Err(unreachable(format!(
            "no answer within {}",
            seconds(BROKER_PROBE_TIMEOUT)
        ))),
    }
}

/// One run-and-terminate run of the MISP feed connector against `sim`;
/// returns the completed work, the run's duration and the worker's.
async fn run_connector(
    sim: &SimHandle,
    feed: &Path,
    token: &str,
) -> Result<(WorkRecord, Duration, Duration), DemoError> {
    let connector_id = uuid::Uuid::new_v4().to_string();
    let tables: Vec<&[Var]> = RUNTIME_TABLES
        .iter()
        .copied()
        .chain([MISP_FEED_VARS])
        .collect();
    let settings = Settings::from_env_pairs(
        &tables,
        [
            ("OPENCTI_URL", sim.url()),
            ("OPENCTI_TOKEN", token.to_owned()),
            ("CONNECTOR_ID", connector_id.clone()),
            ("CONNECTOR_NAME", "MISP feed (quick start)".to_owned()),
            ("CONNECTOR_RUN_AND_TERMINATE", "true".to_owned()),
            ("MISP_FEED_URL", feed.display().to_string()),
            // The sample events are old: take the whole feed.
            ("MISP_FEED_IMPORT_FROM_DATE", "2000-01-01".to_owned()),
            ("MISP_FEED_CREATE_INDICATORS", "true".to_owned()),
            ("MISP_FEED_CREATE_OBSERVABLES", "true".to_owned()),
            ("MISP_FEED_CREATE_OBJECT_OBSERVABLES", "true".to_owned()),
        ],
    );
    let config = |error: &dyn fmt::Display| DemoError::Config(error.to_string());
    let runtime = RuntimeConfig::try_from(&settings).map_err(|e| config(&e))?;
    let connector = MispFeedConfig::try_from(&settings).map_err(|e| config(&e))?;
    let source = MispFeed::from_config(connector).map_err(|e| config(&e))?;

    let run_started = Instant::now();
    let run = ImportRunner::new(source, runtime).run(CancellationToken::new());
    tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .map_err(|_| DemoError::Connector(format!("no end after {}", seconds(RUN_TIMEOUT))))?
        .map_err(|error| DemoError::Connector(error.to_string()))?;
    let connector_time = run_started.elapsed();

    let worker_started = Instant::now();
    let work = sim
        .works()
        .into_iter()
        .find(|work| work.connector_id == connector_id)
        .ok_or(DemoError::NoWork)?;
    let work = sim
        .wait_for_work_complete(&work.id, WORKER_TIMEOUT)
        .await
        .map_err(|error| DemoError::Simulator(error.to_string()))?;
    Ok((work, connector_time, worker_started.elapsed()))
}

/// The `opencti-quickstart [FEED_DIR]` binary: runs the demo on the sample
/// feed (or on the MISP feed directory given) and prints the summary. Exit status 0 when objects arrived and the work is
/// complete, 1 otherwise, 2 when RabbitMQ is not running.
pub fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let mut options = DemoOptions::default();
    if let Some(feed) = std::env::args_os().nth(1) {
        options.feed = PathBuf::from(feed);
    }
    println!("opencti-quickstart: opencti-sim + opencti-misp-feed on a local feed, no network");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            report(&format!("cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_demo(&options)) {
        Ok(summary) => {
            println!("{summary}");
            if summary.is_success() {
                println!("OK: the feed went through the connector, RabbitMQ and the worker.");
                ExitCode::SUCCESS
            } else {
                report("FAILED: no objects arrived or the work is not complete");
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            report(&format!("error: {error}"));
            if let Some(hint) = error.hint() {
                report(hint);
            }
            match error {
                DemoError::BrokerUnreachable { .. } => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn report(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}
