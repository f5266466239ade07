//! Enrichment jobs per second and idle RSS: this connector's binary vs a
//! pycti enrichment connector doing the same work
//! (`scripts/bench/pycti_enrichment.py`), in the same run.
//!
//! `cargo bench -p opencti-enrichment-connector --bench enrichment_vs_pycti`
//!
//! Each side runs as its own process against a fresh `opencti-sim` (in this
//! process, workers paused: the platform's import is not what is measured)
//! and the local RabbitMQ. Once registered it idles for `SETTLE`, and its
//! RSS is read (`VmRSS`); then `JOBS` enrichments of stored private IPv4
//! addresses are asked at once, as the UI's button asks them, and timed
//! until the connector closed every work. CPU time (user + system, from
//! `/proc/<pid>/stat`) over the jobs is reported per job.
//!
//! `ENRICH_BENCH_JOBS` changes the number of jobs (default 500).
//! `ENRICH_BENCH_BUILDS=label=path,...` adds other builds of this
//! connector (another cargo profile, say), measured the same way right after
//! the bench's own build, so builds compare within one run.
//! `ENRICH_BENCH_IDLE=label=path,...` adds other connectors' binaries (the
//! internal import and export ones) whose idle RSS only is measured the
//! same way: registered, `SETTLE`, `VmRSS`.
//! `OPENCTI_SIM_PYTHON` names a Python with pycti; otherwise
//! `scripts/setup-pycti-venv.sh` makes one (pycti 7.261026.0). Without
//! python3 the pycti side is skipped, and said.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opencti_sim::{EventInjection, EventKind, Sim, SimConfig, SimHandle};
use serde_json::json;

/// How long a connector idles before its RSS is read.
const SETTLE: Duration = Duration::from_secs(5);
/// Longest wait for a registration or for the jobs.
const TIMEOUT: Duration = Duration::from_secs(600);
/// The pycti version the benchmark's venv holds.
const PYCTI_VERSION: &str = "7.261026.0";

struct Figures {
    jobs_per_second: f64,
    cpu_per_job: Duration,
    idle_rss_kb: u64,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Python interpreter with pycti, or why there is none.
fn python() -> Result<String, String> {
    if let Ok(python) = std::env::var("OPENCTI_SIM_PYTHON") {
        return Ok(python);
    }
    let output = Command::new(workspace().join("scripts/setup-pycti-venv.sh"))
        .env("PYCTI_VERSION", PYCTI_VERSION)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("cannot run scripts/setup-pycti-venv.sh: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "scripts/setup-pycti-venv.sh failed: {}",
            output.status
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A field of `/proc/<pid>/status`, in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of `pid` so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, the 12th and 13th after `)`.
    let total = ticks(11) + ticks(12);
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(total * 10)
}

async fn wait(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A connector process registered to its simulator.
struct Running {
    child: Child,
    pid: u32,
    connector_id: String,
    log: tempfile::NamedTempFile,
}

/// Starts `command` (a connector, configured by the environment given here)
/// against `sim` and waits for it to register.
async fn start(label: &str, mut command: Command, sim: &SimHandle) -> Running {
    let connector_id = uuid::Uuid::new_v4().to_string();
    let log = tempfile::NamedTempFile::new().unwrap();
    command
        .env("OPENCTI_URL", sim.url())
        .env("OPENCTI_TOKEN", "bench")
        .env("CONNECTOR_ID", &connector_id)
        .env("CONNECTOR_LOG_LEVEL", "error")
        .stdin(Stdio::null())
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap());
    let child: Child = command
        .spawn()
        .unwrap_or_else(|error| panic!("{label} does not start: {error}"));
    let pid = child.id();
    wait(&format!("{label} to register"), || {
        sim.connector(&connector_id).is_some()
    })
    .await;
    Running {
        child,
        pid,
        connector_id,
        log,
    }
}

/// Stops the connector (SIGTERM, then SIGKILL after 15 s) and its simulator.
async fn stop(mut running: Running, sim: SimHandle) {
    let _ = Command::new("kill")
        .args(["-TERM", &running.pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while running.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = running.child.kill();
    let _ = running.child.wait();
    let _ = sim.shutdown().await;
}

async fn fresh_sim() -> SimHandle {
    let mut config = SimConfig::for_tests();
    config.workers_paused = true;
    config.platform_version = PYCTI_VERSION.to_owned();
    Sim::start(config).await.expect("the simulator starts")
}

/// Idle RSS in kB of a connector that only registers and waits.
async fn idle_rss_kb(label: &str, command: Command) -> u64 {
    let sim = fresh_sim().await;
    let running = start(label, command, &sim).await;
    tokio::time::sleep(SETTLE).await;
    let rss = status_kb(running.pid, "VmRSS:");
    stop(running, sim).await;
    rss
}

/// Runs one side: `command` against a fresh simulator holding `jobs`
/// addresses, idle, then enriching them all.
async fn measure(label: &str, command: Command, jobs: usize) -> Figures {
    let sim = fresh_sim().await;
    let mut ids = Vec::with_capacity(jobs);
    for index in 0..jobs {
        let value = format!(
            "10.{}.{}.{}",
            index / 65536 % 256,
            index / 256 % 256,
            index % 256
        );
        let id = format!(
            "ipv4-addr--{}",
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, value.as_bytes())
        );
        let object = json!({"type": "ipv4-addr", "spec_version": "2.1", "id": id, "value": value});
        sim.inject_event(EventInjection::new(EventKind::Create, object))
            .expect("stored");
        ids.push(id);
    }
    let running = start(label, command, &sim).await;
    let pid = running.pid;
    tokio::time::sleep(SETTLE).await;
    let idle_rss_kb = status_kb(pid, "VmRSS:");

    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let mut works = Vec::with_capacity(jobs);
    for id in &ids {
        let work = sim
            .ask_enrichment(id, &running.connector_id)
            .await
            .expect("asked");
        works.push(work.expect("a work").id);
    }
    wait(&format!("{label}'s {jobs} works to be closed"), || {
        works.iter().all(|id| {
            sim.work(id)
                .is_some_and(|work| work.processed_time.is_some())
        })
    })
    .await;
    let elapsed = started.elapsed();
    let cpu = cpu_time(pid).saturating_sub(cpu_before);
    let failed = works
        .iter()
        .filter(|id| sim.work(id).is_some_and(|work| !work.errors.is_empty()))
        .count();
    assert_eq!(
        failed,
        0,
        "{label}: {failed} jobs failed:\n{}",
        std::fs::read_to_string(running.log.path()).unwrap_or_default()
    );
    stop(running, sim).await;
    let jobs_u32 = u32::try_from(jobs).unwrap_or(u32::MAX);
    Figures {
        jobs_per_second: jobs as f64 / elapsed.as_secs_f64(),
        cpu_per_job: cpu / jobs_u32,
        idle_rss_kb,
    }
}

/// `label=path,label=path` from the environment variable `name`.
fn binaries(name: &str) -> Vec<(String, String)> {
    let list = std::env::var(name).unwrap_or_default();
    list.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((label, path)) => (label.trim().to_owned(), path.trim().to_owned()),
            None => panic!("{name}: `{entry}` is not label=path"),
        })
        .collect()
}

fn print(label: &str, figures: &Figures) {
    println!(
        "{label:<8} {:>9.1} jobs/s {:>10.0} us CPU per job {:>8.1} MB idle RSS",
        figures.jobs_per_second,
        figures.cpu_per_job.as_secs_f64() * 1e6,
        figures.idle_rss_kb as f64 / 1024.0
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    opencti_connector::tls::install_crypto_provider();
    let jobs: usize = std::env::var("ENRICH_BENCH_JOBS")
        .ok()
        .and_then(|jobs| jobs.parse().ok())
        .unwrap_or(500);
    println!("{jobs} enrichments of private IPv4 addresses, each side on a fresh opencti-sim");
    let ours = measure(
        "ours",
        Command::new(env!("CARGO_BIN_EXE_opencti-enrichment-connector")),
        jobs,
    )
    .await;
    print("ours", &ours);
    for (label, path) in binaries("ENRICH_BENCH_BUILDS") {
        let build = measure(&label, Command::new(&path), jobs).await;
        print(&label, &build);
        println!(
            "{:<8} {:>9.2}x the jobs/s {:>6.2} of the CPU per job {:>6.2} of the idle RSS (vs ours)",
            "",
            build.jobs_per_second / ours.jobs_per_second,
            build.cpu_per_job.as_secs_f64() / ours.cpu_per_job.as_secs_f64(),
            build.idle_rss_kb as f64 / ours.idle_rss_kb as f64
        );
    }
    for (label, path) in binaries("ENRICH_BENCH_IDLE") {
        let rss = idle_rss_kb(&label, Command::new(&path)).await;
        println!("{label:<24} {:>8.1} MB idle RSS", rss as f64 / 1024.0);
    }
    let python = match python() {
        Ok(python) => python,
        Err(reason) => {
            println!("pycti    skipped: {reason}");
            return;
        }
    };
    let mut command = Command::new(python);
    command.arg(workspace().join("scripts/bench/pycti_enrichment.py"));
    let pycti = measure("pycti", command, jobs).await;
    print("pycti", &pycti);
    println!(
        "ratio    {:>9.1}x faster {:>6.2} of the CPU per job {:>6.2} of the idle RSS",
        ours.jobs_per_second / pycti.jobs_per_second,
        ours.cpu_per_job.as_secs_f64() / pycti.cpu_per_job.as_secs_f64(),
        ours.idle_rss_kb as f64 / pycti.idle_rss_kb as f64
    );
}
