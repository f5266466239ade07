//! A simulator seeded with `fixtures/seed.jsonl` and the connector's
//! binary listening to it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use opencti_sim::{EventInjection, Sim, SimConfig, SimHandle};
use tokio::process::{Child, Command};

/// Longest wait for one export.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The simulator with the seed objects stored.
pub(crate) async fn seeded_sim() -> SimHandle {
    let sim = Sim::start(SimConfig::for_tests())
        .await
        .expect("the simulator starts");
    let seed = std::fs::read_to_string(fixtures().join("seed.jsonl")).expect("seed.jsonl");
    for line in seed.lines().filter(|l| !l.trim().is_empty()) {
        let injection: EventInjection = serde_json::from_str(line).expect("a seed event");
        sim.inject_event(injection)
            .expect("the seed object is stored");
    }
    sim
}

/// The connector's binary, registered and listening.
pub(crate) struct Running {
    pub(crate) connector_id: String,
    child: Child,
}

impl Running {
    pub(crate) async fn start(sim: &SimHandle) -> Self {
        let connector_id = uuid::Uuid::new_v4().to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_opencti-export-file-txt"))
            .env_clear()
            .env("OPENCTI_URL", sim.url())
            .env("OPENCTI_TOKEN", "export-test")
            .env("CONNECTOR_ID", &connector_id)
            .env("CONNECTOR_LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the connector starts");
        let id = connector_id.clone();
        sim.wait_until("the connector to register", TIMEOUT, move |sim| {
            sim.connector(&id).is_some()
        })
        .await
        .expect("the connector registers");
        Self {
            connector_id,
            child,
        }
    }

    /// Whether the process still runs.
    pub(crate) fn alive(&mut self) -> bool {
        self.child.try_wait().expect("the child's status").is_none()
    }
}
