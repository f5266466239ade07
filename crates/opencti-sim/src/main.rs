//! `opencti-sim`: runs the OpenCTI simulator until SIGINT/SIGTERM, then
//! prints a summary.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use opencti_sim::{BrokerObjects, Secret, Sim, SimConfig, SimError, StreamCollectionConfig};

/// A local stand-in for the connector-facing side of the OpenCTI platform.
#[derive(Debug, Parser)]
#[command(name = "opencti-sim", version)]
struct Args {
    /// HTTP listen address (loopback only).
    #[arg(long, default_value = "127.0.0.1:4000")]
    listen: SocketAddr,
    /// RabbitMQ URL (declarations, worker, and what connectors are told to use).
    #[arg(long = "amqp", env = "OPENCTI_SIM_AMQP", default_value = opencti_sim::DEFAULT_AMQP_URL)]
    amqp_url: String,
    /// The only accepted API token (default: any non-empty token).
    #[arg(long, env = "OPENCTI_SIM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// OpenCTI's `rabbitmq:queue_prefix` (with --transient-queues, a random
    /// one when not given).
    #[arg(long)]
    queue_prefix: Option<String>,
    /// Version answered by `about { version }`; 7.x turns on multipart works.
    #[arg(long, default_value = opencti_sim::DEFAULT_PLATFORM_VERSION)]
    platform_version: String,
    /// Stream heartbeat period in milliseconds.
    #[arg(long, default_value_t = 5000)]
    heartbeat_ms: u64,
    /// Extra running stream collection (repeatable).
    #[arg(long = "collection")]
    collections: Vec<String>,
    /// Extra stopped stream collection, answering 410 (repeatable).
    #[arg(long = "stopped-collection")]
    stopped_collections: Vec<String>,
    /// Keep the state in this JSON file across restarts.
    #[arg(long = "data")]
    data_file: Option<PathBuf>,
    /// JSONL file of stream events to inject at startup.
    #[arg(long = "events")]
    events_file: Option<PathBuf>,
    /// Declare auto-delete queues and exchanges and delete them on exit (for
    /// throwaway runs). Their names take a random prefix unless
    /// --queue-prefix is given, so they never meet the durable ones a
    /// platform or a durable simulator declared on the same broker (the
    /// broker refuses to redeclare an exchange as auto-delete).
    #[arg(long)]
    transient_queues: bool,
    /// Messages a push-queue worker may hold unacknowledged.
    #[arg(long, default_value_t = SimConfig::default().worker_prefetch)]
    worker_prefetch: u16,
    /// Start push-queue workers paused (resume with
    /// `POST /sim/api/connectors/{id}/resume`).
    #[arg(long)]
    workers_paused: bool,
    /// With a 6.x platform version, refuse 7.x-only fields and arguments
    /// (as a real 6.x platform does).
    #[arg(long)]
    strict_generation: bool,
    /// Log as JSON lines.
    #[arg(long)]
    json_logs: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if args.json_logs {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        // Colours only on a terminal: redirected logs stay plain text.
        tracing_subscriber::fmt()
            .with_ansi(std::io::stdout().is_terminal())
            .with_env_filter(filter)
            .init();
    }
    // Only needed for amqps:// URLs, harmless otherwise.
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }

    let stream_collections = args
        .collections
        .iter()
        .map(StreamCollectionConfig::live)
        .chain(
            args.stopped_collections
                .iter()
                .map(StreamCollectionConfig::stopped),
        )
        .collect();
    let config = SimConfig {
        listen: args.listen,
        amqp_url: args.amqp_url,
        token: args.token.map(Secret::new),
        queue_prefix: args.queue_prefix.or_else(|| {
            args.transient_queues
                .then(|| format!("sim{}", &uuid::Uuid::new_v4().simple().to_string()[..12]))
        }),
        platform_version: args.platform_version,
        heartbeat_interval: Duration::from_millis(args.heartbeat_ms),
        stream_collections,
        data_file: args.data_file,
        events_file: args.events_file,
        strict_generation: args.strict_generation,
        broker_objects: if args.transient_queues {
            BrokerObjects::Transient
        } else {
            BrokerObjects::Durable
        },
        worker_prefetch: args.worker_prefetch,
        workers_paused: args.workers_paused,
        ..SimConfig::default()
    };
    let sim = match Sim::start(config).await {
        Ok(sim) => sim,
        Err(SimError::InvalidConfig { field, reason }) => {
            let message = format!("invalid value for {}: {reason}", flag_of(field));
            Args::command()
                .error(clap::error::ErrorKind::ValueValidation, message)
                .exit()
        }
        Err(error) => {
            tracing::error!(%error, "opencti-sim cannot start");
            return ExitCode::FAILURE;
        }
    };
    wait_for_signal().await;
    tracing::info!("stopping");
    match sim.shutdown().await {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "opencti-sim did not stop cleanly");
            ExitCode::FAILURE
        }
    }
}

/// The flag that sets a [`SimConfig`] field: errors name what the user typed.
fn flag_of(field: &str) -> String {
    match field {
        "amqp_url" => "--amqp".to_owned(),
        "heartbeat_interval" => "--heartbeat-ms".to_owned(),
        "stream_collections" => "--collection/--stopped-collection".to_owned(),
        other => format!("--{}", other.replace('_', "-")),
    }
}

async fn wait_for_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stopping on Ctrl-C only");
                if let Err(error) = tokio::signal::ctrl_c().await {
                    tracing::error!(%error, "cannot listen for Ctrl-C either");
                }
                return;
            }
        };
    tokio::select! {
        _ = terminate.recv() => {}
        result = tokio::signal::ctrl_c() => {
            if let Err(error) = result {
                tracing::error!(%error, "cannot listen for Ctrl-C");
            }
        }
    }
}
