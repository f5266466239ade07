//! The binary stopped by signals, against `opencti-sim`: a stop fits in
//! `CONNECTOR_STOP_GRACE_PERIOD` even when the platform hangs, a second
//! signal exits at once, and a one-shot run that a signal cut short exits
//! with 128 + the signal's number, its state where it was.

use std::path::Path;
use std::time::Duration;

use opencti_connector::tls;
use opencti_sim::relay::Relay;
use opencti_sim::{Sim, SimConfig, SimHandle};
use opencti_testkit::process::{ConnectorProcess, Signal};

/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(30);
/// What a process start and a signal's delivery may add to a grace.
const SLACK: Duration = Duration::from_millis(750);

/// Starts the binary with the environment of a connector of the simulated
/// platform at `platform_url`.
fn spawn(
    platform_url: &str,
    connector_id: &str,
    file: &Path,
    extra: &[(&str, &str)],
) -> ConnectorProcess {
    let file = file.to_str().expect("a UTF-8 temporary path");
    let env = [
        ("OPENCTI_URL", platform_url),
        ("OPENCTI_TOKEN", "template-test"),
        ("CONNECTOR_ID", connector_id),
        ("CONNECTOR_LOG_LEVEL", "info"),
        ("TEMPLATE_FILE", file),
    ];
    let binary = env!("CARGO_BIN_EXE_opencti-template-connector");
    ConnectorProcess::spawn(binary, env.iter().chain(extra).copied()).unwrap()
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
async fn scheduled_then_platform_hangs(setup: &Setup, grace: &str) -> (ConnectorProcess, Relay) {
    let relay = Relay::start(setup.sim.addr().port()).await.unwrap();
    let connector = spawn(
        &format!("http://127.0.0.1:{}", relay.port()),
        &setup.connector_id,
        &setup.file,
        &[
            ("CONNECTOR_NAME", "Signals"),
            ("CONNECTOR_DURATION_PERIOD", "PT1H"),
            ("CONNECTOR_STOP_GRACE_PERIOD", grace),
        ],
    );
    setup
        .sim
        .wait_until("the run's state at the platform", TIMEOUT, |sim| {
            stored_state(sim, &setup.connector_id)
                .is_some_and(|state| state.contains("\"lines\":2"))
        })
        .await
        .unwrap();
    relay.freeze();
    (connector, relay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_within_the_grace_when_the_platform_hangs() {
    let setup = setup().await;
    let (mut connector, _relay) = scheduled_then_platform_hangs(&setup, "PT3S").await;
    let stopped = connector
        .stop(Signal::Term, Duration::from_secs(3) + SLACK)
        .await
        .unwrap_or_else(|error| panic!("{error}:\n{}", connector.log()));
    assert!(
        stopped.status.success(),
        "a scheduled connector's stop is clean: {stopped:?}\n{}",
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
    connector.signal(Signal::Term).unwrap();
    assert!(
        connector
            .exit_within(Duration::from_millis(500))
            .await
            .unwrap()
            .is_none(),
        "the first stop waits for the hanging platform a while:\n{}",
        connector.log()
    );
    let stopped = connector
        .stop(Signal::Int, SLACK)
        .await
        .unwrap_or_else(|error| {
            panic!("a second signal was ignored: {error}\n{}", connector.log())
        });
    assert_eq!(
        stopped.status.code(),
        Some(Signal::Int.exit_code()),
        "{}",
        connector.log()
    );
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
    let mut connector = spawn(
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
    setup
        .sim
        .wait_until("the run's work", TIMEOUT, |sim| {
            sim.works()
                .iter()
                .any(|work| work.connector_id == setup.connector_id)
        })
        .await
        .unwrap();
    let stopped = connector
        .stop(Signal::Term, Duration::from_secs(10) + SLACK)
        .await
        .unwrap_or_else(|error| panic!("{error}:\n{}", connector.log()));
    assert_eq!(
        stopped.status.code(),
        Some(Signal::Term.exit_code()),
        "{}",
        connector.log()
    );
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
