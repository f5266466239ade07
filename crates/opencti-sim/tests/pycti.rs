//! The simulator speaks the platform's protocol, not just ours: a real
//! pycti connector (PyPI) registers, sends a bundle and sees its work done.

use std::process::Stdio;
use std::time::Duration;

use opencti_sim::WorkStatus;
use serde_json::Value;

use crate::common::{TOKEN, pycti_python, sim_api, start};

#[tokio::test]
async fn a_pycti_connector_round_trips_through_the_simulator() {
    let Some(python) = pycti_python() else {
        println!(
            "skipped: set OPENCTI_SIM_PYTHON=$(scripts/setup-pycti-venv.sh) to run the pycti round trip"
        );
        return;
    };
    let sim = start().await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pycti/connector.py");
    let child = tokio::process::Command::new(&python)
        .arg(script)
        .env("OPENCTI_URL", sim.url())
        .env("OPENCTI_TOKEN", TOKEN)
        .env("CONNECTOR_ID", &connector_id)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the pycti connector finishes within two minutes")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "pycti connector failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let result: Value = stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .map(|json| serde_json::from_str(json).expect("RESULT is JSON"))
        .unwrap_or_else(|| panic!("no RESULT line\nstdout:\n{stdout}\nstderr:\n{stderr}"));

    assert!(
        sim.rejected_requests().is_empty(),
        "pycti sent documents the schema refuses: {:?}",
        sim.rejected_requests()
    );
    assert_eq!(result["connector_id"], connector_id.as_str());
    assert_eq!(
        result["sent"], 4,
        "pycti split the bundle into one message per object"
    );
    assert_eq!(
        result["status"], "complete",
        "pycti saw its work complete: {result}"
    );

    let connector = sim.connector(&connector_id).expect("registered");
    assert_eq!(connector.name, "pycti simulator check");
    assert_eq!(connector.connector_type, "EXTERNAL_IMPORT");
    assert_eq!(
        connector.state.as_deref(),
        Some("{\"last_run\": 1718010586}")
    );

    let work_id = result["work_id"].as_str().expect("work id");
    let work = sim.work(work_id).expect("work");
    assert_eq!(work.status, WorkStatus::Complete);
    assert_eq!((work.expected, work.processed), (4, 4));
    assert!(work.errors.is_empty(), "{:?}", work.errors);

    let objects = sim_api(&sim, "objects").await;
    let mut ids: Vec<&str> = objects
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "identity--6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
            "indicator--1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "malware--2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
            "relationship--3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f",
        ]
    );
    let operations: Vec<String> = sim
        .graphql_calls()
        .into_iter()
        .filter_map(|c| c.operation)
        .collect();
    for expected in [
        "healthCheck",
        "RegisterConnector",
        "workAdd",
        "addExpectations",
        "workToProcessed",
        "WorkQuery",
        "PingConnector",
    ] {
        assert!(
            operations.iter().any(|o| o == expected),
            "{expected} missing from {operations:?}"
        );
    }
    sim.shutdown().await.expect("clean shutdown");
}
