//! A connector that sends one generated bundle (an author, a TLP marking,
//! indicators authored by it and marked with it, shaped like the template
//! connector's) `SEND_BENCH_BUNDLES` times in one run, and prints what the
//! send path cost: objects per second, CPU per object (all the process's
//! threads) and peak RSS above the idle process. `scripts/bench-send.sh`
//! runs it next to pycti's `send_stix2_bundle` on the same bundle.
//!
//! `SEND_BENCH_INPUT` picks what `send_bundle` is given: `typed` (an
//! `opencti_stix::Bundle` built in the run), `value` (the same as a JSON
//! `Value`), `text` (the JSON text of `SEND_BENCH_FILE`), `stream` (each
//! object pushed into `ctx.bundle_stream()` as it is built: the bundle is
//! never held), `build` (builds the typed bundle and sends nothing: what
//! `typed` and `stream` spend on the author's side), or `write` (writes
//! the bundle's text to `SEND_BENCH_FILE` and sends nothing).
//!
//! ```text
//! OPENCTI_URL=http://127.0.0.1:4000 OPENCTI_TOKEN=... CONNECTOR_ID=$(uuidgen) \
//! CONNECTOR_RUN_AND_TERMINATE=true SEND_BENCH_OBJECTS=50000 \
//! cargo run --release -p opencti-connector --example send_bundle_bench
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use opencti_connector::config::{ConfigErrors, Settings, Var, VarKind};
use opencti_connector::{Connector, ImportSource, RunContext, SendError};
use opencti_stix::builder::StixModel as _;
use opencti_stix::marking::TLP_GREEN;
use opencti_stix::object::{Identity, Indicator};
use opencti_stix::{Bundle, StixObject, pattern};

static VARS: &[Var] = &[
    Var::new("CONNECTOR_NAME", "connector", "name", VarKind::String).default("Send bench"),
    Var::new("SEND_BENCH_OBJECTS", "send_bench", "objects", VarKind::Int)
        .default("10000")
        .help("Objects per bundle"),
    Var::new("SEND_BENCH_BUNDLES", "send_bench", "bundles", VarKind::Int)
        .default("1")
        .help("Bundles sent, one after the other"),
    Var::new("SEND_BENCH_INPUT", "send_bench", "input", VarKind::String)
        .default("typed")
        .help("typed, value, text, stream, build or write"),
    Var::new("SEND_BENCH_FILE", "send_bench", "file", VarKind::String)
        .help("The bundle's JSON text (read by `text`, written by `write`)"),
];

#[derive(Debug)]
struct BenchConfig {
    objects: usize,
    bundles: usize,
    input: String,
    file: Option<String>,
}

impl TryFrom<&Settings> for BenchConfig {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();
        let objects = check.require::<u32>("SEND_BENCH_OBJECTS");
        let bundles = check.require::<u32>("SEND_BENCH_BUNDLES");
        let input = check.require::<String>("SEND_BENCH_INPUT");
        let file = check.get::<String>("SEND_BENCH_FILE");
        check.finish("send_bench", || {
            Some(Self {
                objects: objects? as usize,
                bundles: bundles? as usize,
                input: input?,
                file,
            })
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("{0}")]
    Setup(String),
}

struct Bench(BenchConfig);

/// The objects of the bundle, built one at a time.
fn objects(count: usize) -> impl Iterator<Item = StixObject> {
    let author = Identity::organization("Send bench")
        .build()
        .expect("a valid identity");
    let author_id = author.id().to_owned();
    let now = chrono::Utc::now();
    [author.into(), TLP_GREEN.clone().into()]
        .into_iter()
        .chain((2..count).map(move |index| {
            let address = format!(
                "10.{}.{}.{}",
                index >> 16 & 255,
                index >> 8 & 255,
                index & 255
            );
            let text = pattern::equality_pattern("ipv4-addr", &["value"], address.clone())
                .expect("a valid pattern");
            Indicator::builder(text, "stix", now)
                .name(address)
                .score(50)
                .created_by(&author_id)
                .marking(TLP_GREEN.id())
                .build()
                .expect("a valid indicator")
                .into()
        }))
        .take(count)
}

/// `key:` of /proc/self/status, in KiB.
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// CPU time of every thread of the process so far.
fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // The fields after the command name, which ends with ')': the
            // state (3rd field), ..., utime (14th), stime (15th).
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
            Some(ticks(11)? + ticks(12)?)
        })
        .unwrap_or(0);
    // Linux reports USER_HZ = 100 ticks per second.
    Duration::from_millis(ticks * 10)
}

impl Bench {
    async fn send_one(&self, ctx: &RunContext) -> Result<(), BenchError> {
        let count = self.0.objects;
        match self.0.input.as_str() {
            "typed" => {
                ctx.send_bundle(Bundle::new(objects(count).collect()))
                    .await?;
            }
            "value" => {
                ctx.send_bundle(Bundle::new(objects(count).collect()).into_value())
                    .await?;
            }
            "text" => {
                let file = self.file()?;
                let text = std::fs::read_to_string(file)
                    .map_err(|error| BenchError::Setup(format!("{file}: {error}")))?;
                ctx.send_bundle(text).await?;
            }
            "build" => {
                std::hint::black_box(Bundle::new(objects(count).collect()));
            }
            "stream" => {
                let mut stream = ctx.bundle_stream();
                for object in objects(count) {
                    stream.push(&object).await?;
                }
                stream.finish().await?;
            }
            other => return Err(BenchError::Setup(format!("unknown input {other}"))),
        }
        Ok(())
    }

    fn file(&self) -> Result<&str, BenchError> {
        self.0
            .file
            .as_deref()
            .ok_or_else(|| BenchError::Setup("SEND_BENCH_FILE is required".to_owned()))
    }
}

impl Connector for Bench {
    type Config = BenchConfig;
    type Error = BenchError;
    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "send-bundle-bench";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Sends a generated bundle and reports what the send path cost";

    fn from_config(config: BenchConfig) -> Result<Self, BenchError> {
        Ok(Self(config))
    }
}

impl ImportSource for Bench {
    #[expect(clippy::print_stdout, reason = "the figures are the output")]
    async fn run(&mut self, ctx: &RunContext) -> Result<String, BenchError> {
        if self.0.input == "write" {
            let text = Bundle::new(objects(self.0.objects).collect()).to_json();
            let file = self.file()?;
            std::fs::write(file, text)
                .map_err(|error| BenchError::Setup(format!("{file}: {error}")))?;
            println!("RESULT input=write objects={} file={file}", self.0.objects);
            return Ok(String::new());
        }
        // Connected to the broker and warmed up before measuring.
        ctx.send_bundle(Bundle::new(objects(2).collect())).await?;
        let idle_kib = status_kib("VmRSS:");
        let (cpu_before, started) = (cpu_time(), Instant::now());
        let mut after_each = Vec::new();
        for _ in 0..self.0.bundles {
            self.send_one(ctx).await?;
            after_each.push(status_kib("VmRSS:") / 1024);
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu = cpu_time().saturating_sub(cpu_before).as_secs_f64();
        let sent = (self.0.objects * self.0.bundles) as f64;
        let above_idle = status_kib("VmHWM:").saturating_sub(idle_kib) as f64 * 1024.0;
        println!(
            "RESULT input={} objects={} bundles={} seconds={seconds:.3} objects_per_s={:.0} \
             cpu_us_per_object={:.2} idle_rss_mb={:.1} peak_above_idle_mb={:.1} \
             peak_above_idle_bytes_per_object={:.0} rss_after_each_mb={:?}",
            self.0.input,
            self.0.objects,
            self.0.bundles,
            sent / seconds,
            cpu * 1e6 / sent,
            idle_kib as f64 / 1024.0,
            above_idle / 1_048_576.0,
            above_idle / self.0.objects as f64,
            after_each,
        );
        Ok(String::new())
    }
}

fn main() -> ExitCode {
    opencti_connector::run_import::<Bench>()
}
