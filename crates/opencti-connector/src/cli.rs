//! The command line every connector binary shares, and the process driver
//! (configuration, logging, signals, Tokio runtime).
//!
//! Options: `--config PATH`, `--check` (validate the configuration and
//! reach the platform), `--print-config` (effective configuration, secrets
//! masked), `--vars-markdown` (the variable table for a README),
//! `--config-schema` and `--manifest` (the connector for OpenCTI's
//! connector catalog, see [`crate::catalog`]),
//! `--help` (lists every variable), `--version`.
//!
//! The Tokio runtime is small: a connector waits on the network most of the
//! time, and a stream connector aims at a few MB of memory when idle. See
//! [`RuntimeFlavor`] and `CONNECTOR_WORKER_THREADS`.

use std::future::Future;
use std::io::Write as _;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::api::{ApiClient, RetryPolicy};
use crate::catalog;
use crate::config::render::{effective_config, help_text, markdown_table};
use crate::config::{ConfigErrors, ConnectorType, RuntimeConfig, Settings, Source};
use crate::connector::ConnectorSpec;
use crate::error::{Error, error_chain};

/// Parsed command line.
#[derive(Debug, Clone, Parser)]
#[command(disable_version_flag = false)]
pub struct Cli {
    /// Path of config.yml (default: beside the binary, then the working directory).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Validate the configuration, reach the platform, report, exit 0 or 1.
    #[arg(long)]
    pub check: bool,
    /// Print the effective configuration (secrets masked) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Print the configuration variables as a Markdown table and exit.
    #[arg(long)]
    pub vars_markdown: bool,
    /// Print the configuration's JSON Schema (OpenCTI's connector catalog) and exit.
    #[arg(long)]
    pub config_schema: bool,
    /// Print the connector's catalog manifest and exit.
    #[arg(long)]
    pub manifest: bool,
}

/// Worker threads of a connector other than a stream connector.
const DEFAULT_WORKERS: NonZeroUsize = NonZeroUsize::new(2).unwrap();

/// The Tokio runtime a connector process runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeFlavor {
    /// Every task on the main thread: the smallest footprint.
    CurrentThread,
    /// A work-stealing runtime with this many worker threads.
    MultiThread(NonZeroUsize),
}

impl RuntimeFlavor {
    /// The runtime when `CONNECTOR_WORKER_THREADS` is unset: one thread
    /// for a stream connector (one stream, one sink, in order), two workers
    /// otherwise (publishing and pings alongside the run).
    pub fn default_for(connector_type: ConnectorType) -> Self {
        match connector_type {
            ConnectorType::Stream => Self::CurrentThread,
            _ => Self::MultiThread(DEFAULT_WORKERS),
        }
    }

    /// The runtime to run on: `CONNECTOR_WORKER_THREADS` if set (0 means
    /// the current thread), else [`RuntimeFlavor::default_for`].
    pub fn choose(connector_type: ConnectorType, worker_threads: Option<u16>) -> Self {
        match worker_threads.map(usize::from) {
            None => Self::default_for(connector_type),
            Some(count) => NonZeroUsize::new(count).map_or(Self::CurrentThread, Self::MultiThread),
        }
    }

    /// Builds the runtime, with I/O and timers enabled.
    pub fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = match self {
            Self::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Self::MultiThread(workers) => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(workers.get());
                builder
            }
        };
        builder.enable_all().build()
    }
}

/// Everything the connector's body receives.
#[derive(Debug)]
#[non_exhaustive]
pub struct Launch<C> {
    /// The connector's validated configuration.
    pub connector: C,
    /// The runtime's validated configuration.
    pub runtime: RuntimeConfig,
    /// The resolved variables.
    pub settings: Settings,
    /// Fired on SIGTERM or SIGINT.
    pub shutdown: CancellationToken,
}

fn stderr_line(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn stdout_text(text: &str) {
    let _ = write!(std::io::stdout(), "{text}");
}

/// Drives a connector process: parses the command line, resolves and
/// validates the configuration (all problems at once), answers
/// `--print-config`/`--vars-markdown`/`--check`, installs logging, the
/// crypto provider and signal handlers, then runs `body` on a Tokio runtime
/// sized for a connector of `connector_type`.
pub fn run<C, Fut>(
    spec: &ConnectorSpec,
    connector_type: ConnectorType,
    validate: impl FnOnce(&Settings) -> Result<C, ConfigErrors>,
    body: impl FnOnce(Launch<C>) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = Result<(), Error>>,
{
    crate::allocator::configure();
    let tables = spec.tables();
    let command = Cli::command()
        .name(spec.name)
        .bin_name(spec.name)
        .version(spec.version)
        .about(spec.about)
        .after_help(format!(
            "Configuration variables (environment, then config.yml, then default):\n{}",
            help_text(&tables)
        ));
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    if cli.vars_markdown {
        stdout_text(&markdown_table(&tables));
        return ExitCode::SUCCESS;
    }
    if cli.config_schema {
        stdout_text(&catalog::to_file_text(&catalog::config_schema(
            spec,
            connector_type,
        )));
        return ExitCode::SUCCESS;
    }
    if cli.manifest {
        stdout_text(&catalog::to_file_text(&catalog::manifest(
            spec,
            connector_type,
        )));
        return ExitCode::SUCCESS;
    }
    let mut source = Source::from_process_env();
    if let Some(path) = Source::locate_config(cli.config.as_deref()) {
        source = source.with_yaml_file(&path);
    }
    let settings = Settings::resolve(&tables, &source);
    if cli.print_config {
        stdout_text(&effective_config(&settings));
    }
    let runtime_config = RuntimeConfig::try_from(&settings);
    let connector_config = validate(&settings);
    let (runtime_config, connector_config) = match (runtime_config, connector_config) {
        (Ok(runtime), Ok(connector)) => (runtime, connector),
        (runtime, connector) => {
            let mut errors = ConfigErrors::default();
            errors.extend(runtime.err().unwrap_or_default());
            errors.extend(connector.err().unwrap_or_default());
            stderr_line(&format!("Invalid configuration: {errors}"));
            return ExitCode::FAILURE;
        }
    };
    if cli.print_config {
        return ExitCode::SUCCESS;
    }
    crate::tls::install_crypto_provider();
    crate::logging::init(
        &runtime_config.connector.name,
        runtime_config.connector.log_level,
        runtime_config.opencti.json_logging,
    );
    for (alias, name) in settings.deprecated_names() {
        tracing::warn!("{alias} is deprecated, use {name}");
    }
    let flavor = RuntimeFlavor::choose(connector_type, runtime_config.connector.worker_threads);
    tracing::debug!(runtime = ?flavor, "Starting the async runtime");
    let tokio = match flavor.build() {
        Ok(tokio) => tokio,
        Err(error) => {
            stderr_line(&format!("cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    if cli.check {
        return tokio.block_on(check(&runtime_config, &settings));
    }
    let grace = runtime_config.connector.stop_grace;
    let stopped_by = Arc::new(AtomicU8::new(0));
    let outcome = tokio.block_on(async {
        let shutdown = stop_on_signals(grace, Arc::clone(&stopped_by))?;
        body(Launch {
            connector: connector_config,
            runtime: runtime_config,
            settings,
            shutdown,
        })
        .await
    });
    // Tasks still running (a blocking write, say) do not hold the exit.
    tokio.shutdown_timeout(EXIT_WAIT);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // 128 + the signal's number, as a shell reports a process the
        // signal ended: the one-shot job did not complete.
        Err(Error::Interrupted) => {
            tracing::warn!("Connector stopped before its run completed");
            match stopped_by.load(Ordering::Relaxed) {
                0 => ExitCode::FAILURE,
                status => ExitCode::from(status),
            }
        }
        Err(error) => {
            let reason = error_chain(&error);
            tracing::error!(attributes.reason = %reason, "Connector stopped on an error");
            stderr_line(&format!("error: {reason}"));
            ExitCode::FAILURE
        }
    }
}

/// `--check`: the configuration is valid (already established), the
/// platform answers.
async fn check(config: &RuntimeConfig, settings: &Settings) -> ExitCode {
    let file = settings.file().map_or_else(
        || "no config.yml".to_owned(),
        |path| path.display().to_string(),
    );
    println!(
        "configuration: ok ({} variables, {file})",
        settings.vars().count()
    );
    let client = match ApiClient::new(&config.opencti) {
        Ok(client) => client.with_retry(RetryPolicy::none()),
        Err(error) => {
            println!("platform: FAILED: {error}");
            return ExitCode::FAILURE;
        }
    };
    match client.health_check().await {
        Ok(platform) => {
            println!(
                "platform: ok, OpenCTI {} at {} ({:?} operation texts)",
                platform.version, config.opencti.url, platform.generation
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("platform: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

/// How long the exit waits for tasks still running once the connector's
/// body returned.
const EXIT_WAIT: Duration = Duration::from_millis(500);

/// SIGTERM and SIGINT, the signals that stop a connector.
struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    /// Starts listening (inside a Tokio runtime).
    fn listen() -> Result<Self, Error> {
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|source| Error::Io {
                context: format!("cannot listen for {name}"),
                source,
            })
        };
        Ok(Self {
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    /// The next signal: its name and the exit status it stands for (128 +
    /// its number, as shells report it).
    async fn next(&mut self) -> (&'static str, u8) {
        tokio::select! {
            _ = self.terminate.recv() => ("SIGTERM", 128 + 15),
            _ = self.interrupt.recv() => ("SIGINT", 128 + 2),
        }
    }
}

/// A token cancelled on the first SIGTERM or SIGINT (call inside a Tokio
/// runtime). [`run`] adds the bounded stop on top of it: the process
/// exits when `CONNECTOR_STOP_GRACE_PERIOD` is over, or at once on a
/// second signal.
pub fn shutdown_on_signals() -> Result<CancellationToken, Error> {
    let mut signals = StopSignals::listen()?;
    let shutdown = CancellationToken::new();
    let cancel = shutdown.clone();
    tokio::spawn(async move {
        let (name, _) = signals.next().await;
        tracing::info!("{name} received, stopping");
        cancel.cancel();
    });
    Ok(shutdown)
}

/// [`shutdown_on_signals`], then the process exits `grace` after the first
/// signal, or at once on a second one, whatever is still running; the
/// first signal's exit status is stored in `stopped_by`.
fn stop_on_signals(grace: Duration, stopped_by: Arc<AtomicU8>) -> Result<CancellationToken, Error> {
    let mut signals = StopSignals::listen()?;
    let shutdown = CancellationToken::new();
    let cancel = shutdown.clone();
    tokio::spawn(async move {
        let (name, status) = signals.next().await;
        stopped_by.store(status, Ordering::Relaxed);
        tracing::info!(
            "{name} received, stopping within {grace:?} (a second signal stops at once)"
        );
        cancel.cancel();
        // A thread of its own: it fires even if the async runtime is stuck.
        std::thread::spawn(move || {
            std::thread::sleep(grace);
            tracing::error!(
                "the stop did not finish within CONNECTOR_STOP_GRACE_PERIOD ({grace:?}); exiting now"
            );
            std::process::exit(i32::from(status));
        });
        let (name, status) = signals.next().await;
        tracing::warn!("{name} received again, exiting at once");
        std::process::exit(i32::from(status));
    });
    Ok(shutdown)
}
