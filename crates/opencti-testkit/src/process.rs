//! A connector's built binary as a child process, for what only the binary
//! does: how it stops on a signal, the exit status it leaves, what it logs.
//!
//! Cargo builds a package's binaries for its integration tests and names
//! them in `CARGO_BIN_EXE_<name>`. The process gets exactly the
//! environment given (nothing is inherited), writes its output to a
//! temporary file that [`ConnectorProcess::log`] reads, and is killed when
//! dropped.
//!
//! ```no_run
//! # async fn demo() -> Result<(), opencti_testkit::KitError> {
//! use std::time::Duration;
//!
//! use opencti_testkit::TestPlatform;
//! use opencti_testkit::process::{ConnectorProcess, Signal};
//!
//! let platform = TestPlatform::start().await?;
//! let grace = [("CONNECTOR_STOP_GRACE_PERIOD".to_owned(), "PT3S".to_owned())];
//! // In a test: env!("CARGO_BIN_EXE_my-connector").
//! let mut connector =
//!     ConnectorProcess::spawn("target/debug/my-connector", platform.env().into_iter().chain(grace))?;
//! connector
//!     .wait_for_log("Listening on the connector's queue", Duration::from_secs(30))
//!     .await?;
//! let stopped = connector.stop(Signal::Term, Duration::from_secs(4)).await?;
//! assert!(stopped.status.success(), "{}", connector.log());
//! # Ok(()) }
//! ```
//!
//! Signals are sent with `kill(1)`, so this module needs a Unix system.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::KitError;

/// How often [`ConnectorProcess::wait_for_log`] reads the log again.
const POLL: Duration = Duration::from_millis(20);

/// A signal a test sends to a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// SIGTERM, what `docker stop` and the connector manager send.
    Term,
    /// SIGINT, Ctrl-C.
    Int,
}

impl Signal {
    /// The signal's number (15, 2).
    pub fn number(self) -> i32 {
        match self {
            Self::Term => 15,
            Self::Int => 2,
        }
    }

    /// The exit code of a process this signal cut short: 128 plus the
    /// signal's number, as shells report it (143 after SIGTERM).
    pub fn exit_code(self) -> i32 {
        128 + self.number()
    }

    fn name(self) -> &'static str {
        match self {
            Self::Term => "TERM",
            Self::Int => "INT",
        }
    }
}

/// How a [`ConnectorProcess::stop`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stopped {
    /// The process's exit status.
    pub status: ExitStatus,
    /// From the signal to the exit.
    pub took: Duration,
}

/// A connector binary running with its output in a temporary file.
#[derive(Debug)]
pub struct ConnectorProcess {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Drop for ConnectorProcess {
    // The child itself is killed by `kill_on_drop`.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

impl ConnectorProcess {
    /// Starts `binary` with exactly `env` (nothing inherited from the test
    /// process), no arguments, stdin closed, stdout and stderr into the log.
    ///
    /// # Errors
    ///
    /// [`KitError::Process`] when the log file cannot be created or the
    /// binary cannot be started.
    pub fn spawn<I, K, V>(binary: impl AsRef<Path>, env: I) -> Result<Self, KitError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        Self::spawn_with_args(binary, std::iter::empty::<&str>(), env)
    }

    /// [`ConnectorProcess::spawn`] with command-line arguments.
    ///
    /// # Errors
    ///
    /// As [`ConnectorProcess::spawn`].
    pub fn spawn_with_args<A, I, K, V>(
        binary: impl AsRef<Path>,
        args: A,
        env: I,
    ) -> Result<Self, KitError>
    where
        A: IntoIterator,
        A::Item: AsRef<OsStr>,
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        // Unique per process and per spawn, so that parallel tests never
        // share a log.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!(
            "opencti-testkit-{}-{number}.log",
            std::process::id()
        ));
        let creating = |source| KitError::Process {
            what: format!("create the log file {}", log.display()),
            source,
        };
        let file = std::fs::File::create(&log).map_err(creating)?;
        let stdout = file.try_clone().map_err(creating)?;
        let child = tokio::process::Command::new(binary.as_ref())
            .args(args)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(file)
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(source) => {
                let _ = std::fs::remove_file(&log);
                return Err(KitError::Process {
                    what: format!("start {}", binary.as_ref().display()),
                    source,
                });
            }
        };
        Ok(Self { child, log })
    }

    /// Sends `signal` to the process.
    ///
    /// # Errors
    ///
    /// [`KitError::Process`] when the process has already been waited
    /// for, or `kill` fails.
    pub fn signal(&self, signal: Signal) -> Result<(), KitError> {
        let failed = |source| KitError::Process {
            what: format!("send SIG{}", signal.name()),
            source,
        };
        let pid = self
            .child
            .id()
            .ok_or_else(|| failed(std::io::Error::other("the process has exited")))?;
        let status = std::process::Command::new("kill")
            .args([format!("-{}", signal.name()), pid.to_string()])
            .status()
            .map_err(failed)?;
        if status.success() {
            Ok(())
        } else {
            Err(failed(std::io::Error::other(format!(
                "kill -{} {pid}: {status}",
                signal.name()
            ))))
        }
    }

    /// The exit status if the process ends within `within`, `None` if it
    /// is still running then.
    ///
    /// # Errors
    ///
    /// [`KitError::Process`] when the status cannot be read.
    pub async fn exit_within(&mut self, within: Duration) -> Result<Option<ExitStatus>, KitError> {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(Ok(status)) => Ok(Some(status)),
            Ok(Err(source)) => Err(KitError::Process {
                what: "read the exit status".to_owned(),
                source,
            }),
            Err(_) => Ok(None),
        }
    }

    /// Sends `signal`, then waits at most `within` for the exit.
    ///
    /// # Errors
    ///
    /// [`KitError::Timeout`] when the process still runs after `within`;
    /// [`KitError::Process`] as [`ConnectorProcess::signal`] and
    /// [`ConnectorProcess::exit_within`].
    pub async fn stop(&mut self, signal: Signal, within: Duration) -> Result<Stopped, KitError> {
        let stopping = Instant::now();
        self.signal(signal)?;
        match self.exit_within(within).await? {
            Some(status) => Ok(Stopped {
                status,
                took: stopping.elapsed(),
            }),
            None => Err(KitError::Timeout {
                what: format!("the process to exit after SIG{}", signal.name()),
                waited: stopping.elapsed(),
            }),
        }
    }

    /// What the process wrote to stdout and stderr so far (empty when the
    /// log cannot be read).
    pub fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the log contains `text`, at most `within`.
    ///
    /// # Errors
    ///
    /// [`KitError::Timeout`] naming `text`.
    pub async fn wait_for_log(&self, text: &str, within: Duration) -> Result<(), KitError> {
        let deadline = Instant::now() + within;
        while !self.log().contains(text) {
            if Instant::now() >= deadline {
                return Err(KitError::Timeout {
                    what: format!("`{text}` in the process's log"),
                    waited: within,
                });
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }
}
