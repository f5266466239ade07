//! The simulators run as child processes of the soak, so that the soak's own
//! RSS is the connectors' (with the relays, the fakes and the soak's
//! bookkeeping), not the simulators' stores and histories.
//!
//! A child is the soak's own executable started again with
//! [`CHILD_ENV`] set: the example's `main` and a test of the test binary
//! call [`serve_if_child`] first, which runs one [`opencti_sim::Sim`] (the
//! library the `opencti-sim` binary wraps) and prints its address. The soak
//! then drives it through its control API (`/sim/api/*`) only, as a test
//! drives the `opencti-sim` binary. The child stops when its standard input
//! closes: when the soak stops it, and also when the soak dies, so that no
//! simulator outlives a soak.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use opencti_sim::{CallFault, EventInjection, GraphqlCall, StoredObject, StreamEvent, WorkRecord};
use serde::de::DeserializeOwned;

use crate::{START_TIMEOUT, SoakError};

/// Set in a child's environment: the process serves a simulator.
pub const CHILD_ENV: &str = "OPENCTI_SOAK_SIMULATOR";
/// What a child prints before its address, on a line of its own.
const ADDRESS_LINE: &str = "opencti-soak simulator listening on ";
/// What one control call may take (listing thousands of objects included).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);

/// In a process started as a simulator ([`CHILD_ENV`] set), serves one
/// until standard input closes, then returns `true`; elsewhere returns
/// `false` at once.
///
/// # Panics
///
/// When the simulator cannot start or stop (the parent sees the child end
/// without its address, or with a failure status).
pub fn serve_if_child() -> bool {
    if std::env::var_os(CHILD_ENV).is_none() {
        return false;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the simulator");
    runtime.block_on(async {
        opencti_connector::tls::install_crypto_provider();
        let sim = crate::start_sim().await.expect("the simulator starts");
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{ADDRESS_LINE}{}", sim.addr()).expect("stdout");
            stdout.flush().expect("stdout");
        }
        // Until the parent closes the pipe (or dies).
        let stdin = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().lock().read_to_end(&mut sink);
        });
        let _ = stdin.await;
        tokio::time::timeout(START_TIMEOUT, sim.shutdown())
            .await
            .expect("the simulator stops in time")
            .expect("the simulator stops");
    });
    true
}

/// A simulator in a child process, driven through its control API.
#[derive(Debug)]
pub struct SimProcess {
    child: Child,
    /// Closing it stops the child.
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
    client: reqwest::Client,
}

impl SimProcess {
    /// Starts `command` (the soak's executable, told how to reach
    /// [`serve_if_child`]) as a simulator and waits for its address.
    ///
    /// # Errors
    ///
    /// When the child does not start or does not print its address within
    /// the soak's start timeout.
    pub async fn start(mut command: Command) -> Result<Self, SoakError> {
        let mut child = command
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let (address, found) = tokio::sync::oneshot::channel();
        // Reads the address, then drains the child's output until it ends
        // (a test harness prints its own lines too).
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut address = Some(address);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // A test harness may have begun the line with the test's name.
                if let Some((_, addr)) = line.split_once(ADDRESS_LINE)
                    && let Some(address) = address.take()
                {
                    let _ = address.send(addr.trim().to_owned());
                }
            }
        });
        let mut process = Self {
            child,
            stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            client: reqwest::Client::builder()
                .timeout(CONTROL_TIMEOUT)
                // One connection per call: none left open when a child stops.
                .pool_max_idle_per_host(0)
                .build()
                .map_err(|error| SoakError::Control(error.to_string()))?,
        };
        let addr = tokio::time::timeout(START_TIMEOUT, found)
            .await
            .map_err(|_| SoakError::Timeout("a simulator to start"))?
            .map_err(|_| SoakError::Control("the simulator ended before it listened".into()))?;
        process.addr = addr
            .parse()
            .map_err(|_| SoakError::Control(format!("the simulator printed {addr:?}")))?;
        Ok(process)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/sim/api/{path}", self.addr)
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<T, SoakError> {
        let failed = |error: &dyn std::fmt::Display| SoakError::Control(format!("{what}: {error}"));
        let response = request.send().await.map_err(|e| failed(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| failed(&e))?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&body);
            return Err(failed(&format!("{status}: {body}")));
        }
        serde_json::from_slice(&body).map_err(|e| failed(&e))
    }

    async fn list<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, SoakError> {
        self.answer(self.client.get(self.url(path)), path).await
    }

    /// `GET /sim/api/objects`.
    pub async fn objects(&self) -> Result<Vec<StoredObject>, SoakError> {
        self.list("objects").await
    }

    /// `GET /sim/api/works`.
    pub async fn works(&self) -> Result<Vec<WorkRecord>, SoakError> {
        self.list("works").await
    }

    /// `GET /sim/api/graphql-calls`.
    pub async fn graphql_calls(&self) -> Result<Vec<GraphqlCall>, SoakError> {
        self.list("graphql-calls").await
    }

    /// `GET /sim/api/stream-events`.
    pub async fn stream_events(&self) -> Result<Vec<StreamEvent>, SoakError> {
        self.list("stream-events").await
    }

    /// `POST /sim/api/stream-events`.
    pub async fn inject_event(&self, event: &EventInjection) -> Result<(), SoakError> {
        let request = self.client.post(self.url("stream-events")).json(event);
        self.answer::<serde_json::Value>(request, "stream-events")
            .await
            .map(drop)
    }

    /// `POST /sim/api/faults`.
    pub async fn fail_calls(&self, fault: &CallFault) -> Result<(), SoakError> {
        let request = self.client.post(self.url("faults")).json(fault);
        self.answer::<serde_json::Value>(request, "faults")
            .await
            .map(drop)
    }

    /// `DELETE /sim/api/faults`.
    pub async fn clear_faults(&self) -> Result<(), SoakError> {
        let request = self.client.delete(self.url("faults"));
        self.answer::<serde_json::Value>(request, "faults")
            .await
            .map(drop)
    }

    /// `POST /sim/api/keep-recent-records`.
    pub async fn keep_recent_records(&self, entries: usize) -> Result<(), SoakError> {
        let request = self
            .client
            .post(self.url("keep-recent-records"))
            .json(&serde_json::json!({ "entries": entries }));
        self.answer::<serde_json::Value>(request, "keep-recent-records")
            .await
            .map(drop)
    }

    /// Closes the child's input and waits (bounded) for it to stop; kills
    /// it if it does not.
    ///
    /// # Errors
    ///
    /// When it had to be killed, or ended with a failure.
    pub async fn stop(mut self) -> Result<(), SoakError> {
        drop(self.stdin.take());
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.child.try_wait()? {
                Some(status) if status.success() => return Ok(()),
                Some(status) => {
                    return Err(SoakError::Control(format!("the simulator ended: {status}")));
                }
                None if Instant::now() >= deadline => {
                    self.child.kill()?;
                    self.child.wait()?;
                    return Err(SoakError::Timeout("a simulator to stop"));
                }
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for SimProcess {
    /// A simulator left running (the soak failed before stopping it) is
    /// killed and reaped.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resident set size of a process, in KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    crate::probe::status_rss_kib(&format!("/proc/{pid}/status"))
}
