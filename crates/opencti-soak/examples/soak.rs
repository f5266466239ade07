//! `cargo run --release -p opencti-soak --example soak -- --duration 600`:
//! the soak drill, its figures on stdout.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Runs the five connectors together against `opencti-sim` and their fake
/// vendors with seeded random faults, then checks what arrived, memory,
/// tasks and file descriptors. Needs RabbitMQ on 127.0.0.1:5672.
#[derive(Debug, Parser)]
#[command(name = "soak", version)]
struct Args {
    /// Seconds of content and faults.
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// Seed of the fault schedule and the content (random when absent).
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds everything may take to arrive once the faults stop.
    #[arg(long, default_value_t = 60)]
    settle: u64,
    /// Largest RSS slope over the second half accepted, in KiB per minute.
    #[arg(long, default_value_t = 2048.0)]
    max_rss_slope: f64,
    /// Keeps every GraphQL call and live-stream event the import simulator
    /// sees (by default only the last few hundred: the checks read the
    /// stored objects), to compare the memory the simulator's histories take.
    #[arg(long)]
    keep_all_records: bool,
    /// Shows the connectors' logs on stderr at this level (`warn`, `debug`, ...).
    #[arg(long)]
    log_level: Option<tracing::level_filters::LevelFilter>,
}

fn main() -> ExitCode {
    // The soak starts this executable again for each simulator.
    if opencti_soak::sim_process::serve_if_child() {
        return ExitCode::SUCCESS;
    }
    let args = Args::parse();
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(soak(args)),
        Err(error) => {
            println!("the soak could not run: no runtime: {error}");
            ExitCode::from(2)
        }
    }
}

async fn soak(args: Args) -> ExitCode {
    if let Some(level) = args.log_level {
        opencti_connector::logging::init("opencti-soak", level, false);
    }
    let seed = args.seed.unwrap_or_else(|| {
        u64::from(uuid::Uuid::new_v4().as_u128() as u32) << 32 | u64::from(std::process::id())
    });
    println!("seed: {seed} (rerun with --seed {seed})");
    // How glibc returns large blocks changes RSS a lot (scripts/soak.sh).
    match std::env::var("MALLOC_MMAP_THRESHOLD_") {
        Ok(threshold) => {
            println!("glibc mmap threshold: fixed at {threshold} (MALLOC_MMAP_THRESHOLD_)");
        }
        Err(_) => println!("glibc mmap threshold: dynamic (MALLOC_MMAP_THRESHOLD_ unset)"),
    }
    let options = opencti_soak::SoakOptions {
        duration: Duration::from_secs(args.duration),
        seed,
        settle: Duration::from_secs(args.settle),
        keep_all_records: args.keep_all_records,
        simulator_args: Vec::new(),
    };
    let report = match opencti_soak::run(options).await {
        Ok(report) => report,
        Err(error) => {
            println!("the soak could not run: {error}");
            return ExitCode::from(2);
        }
    };
    print!("{report}");
    let mut problems = report.problems();
    if report.rss_slope_kib_per_min() > args.max_rss_slope {
        problems.push(format!(
            "RSS grows {:.0} KiB/min over the second half (more than {})",
            report.rss_slope_kib_per_min(),
            args.max_rss_slope
        ));
    }
    if problems.is_empty() {
        println!("PASS");
        ExitCode::SUCCESS
    } else {
        for problem in &problems {
            println!("FAIL: {problem}");
        }
        ExitCode::FAILURE
    }
}
