//! The binary stopped by signals, against `opencti-sim`: a stop fits in
//! `CONNECTOR_STOP_GRACE_PERIOD` even when the platform hangs, a second
//! signal exits at once, and a one-shot run that a signal cut short exits
//! with 128 + the signal's number, its state where it was.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use opencti_connector::tls;
use opencti_sim::relay::Relay;
use opencti_sim::{Sim, SimConfig, SimHandle};

/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(30);
/// What a process start and a signal's delivery may add to a grace.
const SLACK: Duration = Duration::from_millis(750);

/// The exit status of a process that a SIGTERM cut short.
const SIGTERM_STATUS: i32 = 128 + 15;
/// ... and SIGINT.
const SIGINT_STATUS: i32 = 128 + 2;

struct Connector {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Connector {
    /// Starts the binary with the environment of a connector of the
    /// simulated platform at `platform_url`.
    fn spawn(platform_url: &str, connector_id: &str, file: &Path, extra: &[(&str, &str)]) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_opencti-template-connector"));
        command
            .env_clear()
            .env("OPENCTI_URL", platform_url)
            .env("OPENCTI_TOKEN", "template-test")
            .env("CONNECTOR_ID", connector_id)
            .env("CONNECTOR_LOG_LEVEL", "info")
            .env("TEMPLATE_FILE", file)
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap());
        Self {
            child: command.spawn().unwrap(),
            log,
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The exit status, if the process ends within `within`.
    async fn exit_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap()
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stored_state(sim: &SimHandle, connector_id: &str) -> Option<String> {
    sim.connector(connector_id)?.state
}

struct Setup {
    sim: SimHandle,
    connector_id: String,
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
}

async fn setup() -> Setup {
    tls::install_crypto_provider();
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("addresses.txt");
    std::fs::write(&file, "198.51.100.1\n198.51.100.2\n").unwrap();
    Setup {
        sim,
        connector_id: uuid::Uuid::new_v4().to_string(),
        _dir: dir,
        file,
    }
}

/// A scheduled connector whose run went through, behind a relay to the
/// platform that is then frozen: the platform accepts and never answers.
async fn scheduled_then_platform_hangs(setup: &Setup, grace: &str) -> (Connector, Relay) {
    let relay = Relay::start(setup.sim.addr().port()).await.unwrap();
    let connector = Connector::spawn(
        &format!("http://127.0.0.1:{}", relay.port()),
        &setup.connector_id,
        &setup.file,
        &[
            ("CONNECTOR_NAME", "Signals"),
            ("CONNECTOR_DURATION_PERIOD", "PT1H"),
            ("CONNECTOR_STOP_GRACE_PERIOD", grace),
        ],
    );
    until("the run's state at the platform", || {
        stored_state(&setup.sim, &setup.connector_id)
            .is_some_and(|state| state.contains("\"lines\":2"))
    })
    .await;
    relay.freeze();
    (connector, relay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_within_the_grace_when_the_platform_hangs() {
    let setup = setup().await;
    let (mut connector, _relay) = scheduled_then_platform_hangs(&setup, "PT3S").await;
    let stopping = Instant::now();
    connector.signal("TERM");
    let status = connector.exit_within(Duration::from_secs(3) + SLACK).await;
    let took = stopping.elapsed();
    let status = status
        .unwrap_or_else(|| panic!("still running {took:?} after SIGTERM:\n{}", connector.log()));
    assert!(
        status.success(),
        "a scheduled connector's stop is clean: {status:?}\n{}",
        connector.log()
    );
    assert!(
        stored_state(&setup.sim, &setup.connector_id)
            .is_some_and(|state| state.contains("\"lines\":2")),
        "the platform keeps the last confirmed state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let setup = setup().await;
    let (mut connector, _relay) = scheduled_then_platform_hangs(&setup, "PT60S").await;
    connector.signal("TERM");
    assert!(
        connector
            .exit_within(Duration::from_millis(500))
            .await
            .is_none(),
        "the first stop waits for the hanging platform a while:\n{}",
        connector.log()
    );
    connector.signal("INT");
    let status = connector.exit_within(SLACK).await;
    let status =
        status.unwrap_or_else(|| panic!("a second signal was ignored:\n{}", connector.log()));
    assert_eq!(status.code(), Some(SIGINT_STATUS), "{}", connector.log());
    assert!(
        connector.log().contains("exiting at once"),
        "{}",
        connector.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_run_cut_short_by_a_signal_exits_non_zero() {
    let setup = setup().await;
    // A broker that accepts connections and never speaks: the run's bundle
    // stays unconfirmed.
    let silent_broker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let broker_port = silent_broker.local_addr().unwrap().port().to_string();
    let mut connector = Connector::spawn(
        &setup.sim.url(),
        &setup.connector_id,
        &setup.file,
        &[
            ("CONNECTOR_NAME", "Signals"),
            ("CONNECTOR_RUN_AND_TERMINATE", "true"),
            ("MQ_HOST", "127.0.0.1"),
            ("MQ_PORT", &broker_port),
        ],
    );
    until("the run's work", || {
        setup
            .sim
            .works()
            .iter()
            .any(|work| work.connector_id == setup.connector_id)
    })
    .await;
    connector.signal("TERM");
    let status = connector.exit_within(Duration::from_secs(10) + SLACK).await;
    let status =
        status.unwrap_or_else(|| panic!("still running after SIGTERM:\n{}", connector.log()));
    assert_eq!(status.code(), Some(SIGTERM_STATUS), "{}", connector.log());
    let work = setup
        .sim
        .works()
        .into_iter()
        .find(|work| work.connector_id == setup.connector_id)
        .unwrap();
    assert!(
        work.processed_time.is_some(),
        "the work was closed: {work:?}"
    );
    assert!(!work.errors.is_empty(), "the work is in error: {work:?}");
    assert!(
        !stored_state(&setup.sim, &setup.connector_id).is_some_and(|state| state.contains("lines")),
        "the state did not move past the unconfirmed bundle"
    );
}
