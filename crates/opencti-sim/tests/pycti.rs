//! The simulator speaks the platform's protocol, not just ours: real pycti
//! connectors (PyPI) run against it unchanged. An external import registers,
//! sends a bundle and sees its work done; an enrichment connector and a file
//! import connector listen for the jobs the simulator asks of them.

use std::process::Stdio;
use std::time::Duration;

use opencti_sim::{EventInjection, EventKind, SimHandle, WorkStatus};
use serde_json::{Value, json};

use crate::common::{TIMEOUT, TOKEN, graphql_ok, pycti_python, sim_api, start};

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

/// A pycti connector that listens until the test is done with it.
struct Listening {
    child: tokio::process::Child,
    connector_id: String,
}

impl Listening {
    /// Starts `tests/pycti/<script>` against the simulator and waits for it
    /// to register (its listen queue exists from then on).
    async fn start(sim: &SimHandle, python: &str, script: &str, env: &[(&str, &str)]) -> Self {
        let connector_id = uuid::Uuid::new_v4().to_string();
        let path = format!("{}/tests/pycti/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut command = tokio::process::Command::new(python);
        command
            .arg(path)
            .env("OPENCTI_URL", sim.url())
            .env("OPENCTI_TOKEN", TOKEN)
            .env("CONNECTOR_ID", &connector_id)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut listening = Self {
            child: command.spawn().expect("python starts"),
            connector_id,
        };
        let registered = sim
            .wait_until("the pycti connector to register", PYCTI_TIMEOUT, |sim| {
                sim.connector(&listening.connector_id).is_some()
            })
            .await;
        if registered.is_err() {
            let output = listening.stop().await;
            panic!("the pycti connector did not register\n{output}");
        }
        listening
    }

    /// Kills the connector and returns what it printed.
    async fn stop(&mut self) -> String {
        if let Err(error) = self.child.start_kill() {
            return format!("(cannot kill the connector: {error})");
        }
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt as _;
            let read = tokio::time::timeout(TIMEOUT, stderr.read_to_string(&mut text)).await;
            if read.is_err() {
                text.push_str("(stderr not closed in time)");
            }
        }
        format!("stderr:\n{text}")
    }
}

/// pycti starts in seconds, but slowly on a busy machine.
const PYCTI_TIMEOUT: Duration = Duration::from_secs(60);

/// An IPv4 address in the store, marked `marking`.
fn observable(value: &str, marking: &str) -> Value {
    json!({
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": format!("ipv4-addr--{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, value.as_bytes())),
        "value": value,
        "object_marking_refs": [marking],
    })
}

#[tokio::test]
async fn a_pycti_enrichment_connector_enriches_what_the_platform_asks_for() {
    let Some(python) = pycti_python() else {
        println!("skipped: set OPENCTI_SIM_PYTHON=$(scripts/setup-pycti-venv.sh)");
        return;
    };
    let sim = start().await;
    let green = opencti_stix::marking::TLP_GREEN.common.id.clone();
    let red = opencti_stix::marking::TLP_RED.common.id.clone();
    let allowed = observable("198.51.100.7", &green);
    let refused = observable("203.0.113.9", &red);
    for object in [&allowed, &refused] {
        sim.inject_event(EventInjection::new(EventKind::Create, object.clone()))
            .expect("stored");
    }
    let mut connector = Listening::start(&sim, &python, "enrichment.py", &[]).await;
    let id = connector.connector_id.clone();
    let allowed_id = allowed["id"].as_str().expect("id");

    // The UI's "enrich" button, as the UI sends it.
    let asked = graphql_ok(
        &sim,
        include_str!("documents/ui_ask_enrichment.graphql"),
        json!({"id": allowed_id, "connectorId": id}),
    )
    .await;
    let work_id = asked["stixCoreObjectEdit"]["askEnrichment"]["id"]
        .as_str()
        .expect("a work")
        .to_owned();
    assert_eq!(
        asked["stixCoreObjectEdit"]["askEnrichment"]["status"],
        "wait"
    );
    let done = sim.wait_for_work_processed(&work_id, PYCTI_TIMEOUT).await;
    if done.is_err() {
        panic!(
            "the enrichment did not complete: {:?}\n{}",
            sim.work(&work_id),
            connector.stop().await
        );
    }
    let work = done.expect("complete");
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    let messages: Vec<_> = work
        .messages
        .iter()
        .filter_map(|m| m.message.as_deref())
        .collect();
    // pycti rebuilds the entity's STIX (observable and marking) from its
    // read, then adds the system and the relationship: one bundle each.
    assert_eq!(
        messages,
        [
            "Connector ready to process the operation",
            "Enriched 198.51.100.7: 4 bundle(s) sent"
        ]
    );
    assert_eq!((work.expected, work.processed), (4, 4));
    assert_eq!(work.event_source_id.as_deref(), Some(allowed_id));
    let relationship = sim
        .objects()
        .into_iter()
        .find(|o| o.stix_type == "relationship")
        .expect("the enrichment's relationship is stored");
    assert_eq!(relationship.stix["source_ref"], allowed_id);
    assert_eq!(
        relationship.applicant_id.as_deref(),
        Some(opencti_sim::ADMIN_USER_ID)
    );

    // Above the connector's maximum TLP: refused, reported on the work.
    let refused_work = sim
        .ask_enrichment(refused["id"].as_str().expect("id"), &id)
        .await
        .expect("asked")
        .expect("known connector");
    let refused_work = sim
        .wait_for_work_processed(&refused_work.id, PYCTI_TIMEOUT)
        .await
        .expect("an empty work completes");
    assert_eq!(refused_work.errors.len(), 1, "{refused_work:?}");
    let error = refused_work.errors[0]
        .message
        .as_deref()
        .unwrap_or_default();
    assert!(error.contains("greater than MAX TLP (TLP:RED)"), "{error}");

    // A playbook step: the answer comes back through playbookStepExecution.
    let pushed_before = sim.summary().worker.received_messages;
    let run = sim.run_playbook_step(&id, allowed_id).await.expect("sent");
    let answered = sim
        .wait_until("the playbook answer", PYCTI_TIMEOUT, |sim| {
            sim.playbook_answer(&run).is_some()
        })
        .await;
    if answered.is_err() {
        panic!("no playbook answer\n{}", connector.stop().await);
    }
    let answer = sim.playbook_answer(&run).expect("answered");
    assert_eq!(answer.arguments["playbook_id"], run.playbook_id.as_str());
    assert_eq!(answer.arguments["data_instance_id"], allowed_id);
    let previous: Value =
        serde_json::from_str(answer.arguments["previous_bundle"].as_str().expect("text"))
            .expect("JSON");
    assert_eq!(previous, run.bundle);
    let bundle: Value =
        serde_json::from_str(answer.arguments["bundle"].as_str().expect("text")).expect("JSON");
    let types: Vec<&str> = bundle["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["type"].as_str())
        .collect();
    assert!(
        types.contains(&"autonomous-system") && types.contains(&"relationship"),
        "{types:?}"
    );
    assert_eq!(
        sim.summary().worker.received_messages,
        pushed_before,
        "a playbook answer does not go through the push queue"
    );

    assert!(
        sim.rejected_requests().is_empty(),
        "pycti sent documents the schema refuses: {:?}",
        sim.rejected_requests()
    );
    // A call is recorded once answered, just after its effect.
    let expected = [
        "StixCyberObservable",
        "StixNestedRefRelationships",
        "StixCoreObject",
        "workToReceived",
        "workToProcessed",
        "PlaybookStepExecution",
    ];
    let answered = sim
        .wait_until("pycti's calls to be recorded", TIMEOUT, |sim| {
            let operations: Vec<String> = sim
                .graphql_calls()
                .into_iter()
                .filter_map(|c| c.operation)
                .collect();
            expected.iter().all(|e| operations.iter().any(|o| o == e))
        })
        .await;
    assert!(
        answered.is_ok(),
        "{expected:?} not all in {:?}",
        sim.graphql_calls()
    );
    connector.stop().await;
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_pycti_file_import_connector_imports_uploads_and_asked_files() {
    let Some(python) = pycti_python() else {
        println!("skipped: set OPENCTI_SIM_PYTHON=$(scripts/setup-pycti-venv.sh)");
        return;
    };
    let sim = start().await;
    let mut connector = Listening::start(&sim, &python, "import_file.py", &[]).await;
    let id = connector.connector_id.clone();
    let bundle = crate::common::sample_bundle().to_string();

    // The UI's upload: the file lands in import/global and the connector,
    // registered with `auto` for JSON, is asked to import it.
    let uploaded = crate::common::graphql_upload(
        &sim,
        include_str!("documents/ui_upload_import.graphql"),
        json!({"fileMarkings": []}),
        "file",
        ("bundle.json", "application/json", bundle.as_bytes()),
    )
    .await;
    assert_eq!(
        uploaded["data"]["uploadImport"]["id"], "import/global/bundle.json",
        "{uploaded}"
    );
    let file_works = uploaded["data"]["uploadImport"]["works"]
        .as_array()
        .expect("works");
    assert_eq!(file_works.len(), 1, "{uploaded}");
    let work_id = file_works[0]["id"].as_str().expect("id").to_owned();
    let done = sim.wait_for_work_processed(&work_id, PYCTI_TIMEOUT).await;
    if done.is_err() {
        panic!(
            "the import did not complete: {:?}\n{}",
            sim.work(&work_id),
            connector.stop().await
        );
    }
    let work = done.expect("processed");
    assert_eq!(work.name.as_deref(), Some("Manual import of bundle.json"));
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    assert_eq!(
        (work.expected, work.processed),
        (4, 4),
        "one bundle per object"
    );
    assert!(
        sim.object("malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5")
            .is_some()
    );

    // Asked again into a draft: pycti creates the draft, ties the work to
    // it, and the objects go there, not into the live knowledge.
    let asked = graphql_ok(
        &sim,
        include_str!("documents/ui_ask_job_import.graphql"),
        json!({"fileName": "import/global/bundle.json", "connectorId": id,
               "validationMode": "draft", "forceValidation": true}),
    )
    .await;
    let draft_work = asked["askJobImport"]["works"]
        .as_array()
        .expect("works")
        .iter()
        .find(|w| w["id"] != work_id.as_str())
        .and_then(|w| w["id"].as_str())
        .expect("a second work")
        .to_owned();
    let draft_work = sim
        .wait_for_work_processed(&draft_work, PYCTI_TIMEOUT)
        .await
        .expect("draft import done");
    let draft_id = draft_work
        .draft_context
        .clone()
        .expect("the work is tied to the draft");
    let draft = sim
        .drafts()
        .into_iter()
        .find(|d| d.id == draft_id)
        .expect("draft");
    assert_eq!(draft.name, "import/global/bundle.json");
    assert_eq!(draft.objects.len(), 4, "{draft:?}");

    // Workbench validation: the bundle waits in import/pending.
    let asked = graphql_ok(
        &sim,
        include_str!("documents/ui_ask_job_import.graphql"),
        json!({"fileName": "import/global/bundle.json", "connectorId": id,
               "validationMode": "workbench", "forceValidation": true}),
    )
    .await;
    let known: Vec<String> = [work_id.clone(), draft_work.id.clone()].into();
    let pending_work = asked["askJobImport"]["works"]
        .as_array()
        .expect("works")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .find(|w| !known.iter().any(|k| k == w))
        .expect("a third work")
        .to_owned();
    sim.wait_for_work_processed(&pending_work, PYCTI_TIMEOUT)
        .await
        .expect("workbench upload done");
    assert!(
        sim.uploaded_files()
            .iter()
            .any(|f| f.id.starts_with("import/pending/")),
        "{:?}",
        sim.uploaded_files()
    );

    assert!(
        sim.rejected_requests().is_empty(),
        "pycti sent documents the schema refuses: {:?}",
        sim.rejected_requests()
    );
    connector.stop().await;
    sim.shutdown().await.expect("clean shutdown");
}
