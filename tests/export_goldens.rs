//! What the export connectors' tests share (each includes this file with
//! `#[path]`, since only a package's own tests can run its binary): a
//! simulator seeded with `fixtures/seed.jsonl`, the connector's binary
//! listening to it, the cases of `fixtures/cases.json` run and checked
//! against the Python connector's golden files, the checks of a refused
//! job, and the check of the Python connector's configuration defaults
//! and sample `config.yml`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use opencti_connector::config::{Settings, Source, Var};
use opencti_sim::{
    EventInjection, ExportRequest, ListExportRequest, Sim, SimConfig, SimHandle, WorkRecord,
    WorkStatus,
};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Longest wait for one export.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(60);

/// The simulator with the objects of `fixtures/seed.jsonl` stored.
pub(crate) async fn seeded_sim(fixtures: &Path) -> SimHandle {
    let sim = Sim::start(SimConfig::for_tests())
        .await
        .expect("the simulator starts");
    let seed = std::fs::read_to_string(fixtures.join("seed.jsonl")).expect("seed.jsonl");
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
    pub(crate) async fn start(sim: &SimHandle, binary: &str) -> Self {
        let connector_id = uuid::Uuid::new_v4().to_string();
        let child = Command::new(binary)
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

/// The cases of `fixtures/cases.json`.
fn cases(fixtures: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures.join("cases.json")).expect("cases.json");
    let cases: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    cases["cases"].as_array().expect("cases").clone()
}

/// Asks for the export `case` describes (an entity's or a list's); returns
/// the connector's work once processed.
async fn run_case(sim: &SimHandle, connector_id: &str, case: &Value) -> WorkRecord {
    let request = case["request"].clone();
    let works = if case["kind"] == "entity" {
        let request: ExportRequest = serde_json::from_value(request).expect("an entity export");
        sim.ask_entity_export(&request).await
    } else {
        let request: ListExportRequest = serde_json::from_value(request).expect("a list export");
        sim.ask_list_export(&request).await
    }
    .expect("the export is asked");
    processed_work(sim, works, connector_id).await
}

/// Runs every case of `fixtures/cases.json` through `running` and checks
/// each upload against its golden files (see
/// [`assert_upload_matches_golden`]); then the connector still runs and the
/// platform refused none of its requests.
pub(crate) async fn assert_every_case_matches_golden(
    sim: &SimHandle,
    running: &mut Running,
    fixtures: &Path,
    what: &str,
    content: impl Fn(Vec<u8>) -> String,
) {
    let goldens = fixtures.join("goldens");
    for case in cases(fixtures) {
        let name = case["name"].as_str().expect("a case name");
        let work = run_case(sim, &running.connector_id, &case).await;
        assert_upload_matches_golden(sim, &work, name, &goldens, what, &content);
    }
    assert!(running.alive(), "the connector keeps running");
    assert!(
        sim.rejected_requests().is_empty(),
        "{:?}",
        sim.rejected_requests()
    );
}

/// Sends `event` to the connector as a job the platform would send: its
/// work must close complete with an error that contains every one of
/// `expected`.
pub(crate) async fn assert_job_fails(
    sim: &SimHandle,
    connector_id: &str,
    event: Value,
    expected: &[&str],
) {
    let work = sim
        .send_listen_message(connector_id, event, None)
        .await
        .expect("the job is sent");
    let work = sim
        .wait_for_work_processed(&work.id, TIMEOUT)
        .await
        .expect("the work is closed");
    assert_eq!(work.status, WorkStatus::Complete);
    let errors: Vec<String> = work.errors.iter().map(|e| format!("{e:?}")).collect();
    assert!(
        errors
            .iter()
            .any(|error| expected.iter().all(|part| error.contains(part))),
        "the work is in error with {expected:?}: {errors:?}"
    );
}

/// After failed jobs: nothing was uploaded, their messages were
/// acknowledged, and the connector still runs and does the first case.
pub(crate) async fn assert_goes_on(sim: &SimHandle, running: &mut Running, fixtures: &Path) {
    assert!(sim.uploaded_files().is_empty(), "nothing is uploaded");
    let work = run_case(sim, &running.connector_id, &cases(fixtures)[0]).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    assert!(running.alive());
}

/// The connector's work among those an export asked for, once processed.
async fn processed_work(sim: &SimHandle, works: Vec<WorkRecord>, connector_id: &str) -> WorkRecord {
    let work = works
        .into_iter()
        .find(|w| w.connector_id == connector_id)
        .expect("a work for the connector");
    sim.wait_for_work_processed(&work.id, TIMEOUT)
        .await
        .expect("the export completes")
}

/// Checks the file `work` uploaded against case `name`'s golden files in
/// `goldens`: its content (both sides through `content`, compared as
/// `what`), then where and how it was uploaded.
fn assert_upload_matches_golden(
    sim: &SimHandle,
    work: &WorkRecord,
    name: &str,
    goldens: &Path,
    what: &str,
    content: &impl Fn(Vec<u8>) -> String,
) {
    assert!(work.errors.is_empty(), "{name}: {:?}", work.errors);
    let file_name = work.name.clone().expect("the work is named after the file");
    let file = sim
        .uploaded_files()
        .into_iter()
        .find(|f| f.name == file_name)
        .unwrap_or_else(|| panic!("{name}: no upload named {file_name}"));
    let golden = std::fs::read(goldens.join(format!("{name}.out"))).expect("golden");
    assert_eq!(content(file.bytes()), content(golden), "{name}: {what}");

    let upload: Value = serde_json::from_str(
        &std::fs::read_to_string(goldens.join(format!("{name}.upload.json"))).expect("upload"),
    )
    .expect("upload.json");
    let directory = file.id.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
    assert_eq!(
        directory, upload["id_directory"],
        "{name}: where the file is kept"
    );
    assert_eq!(
        json!(file.entity_id),
        upload["entity_id"],
        "{name}: the entity"
    );
    assert_eq!(
        json!(file.markings),
        upload["markings"],
        "{name}: the file markings"
    );
    assert_eq!(
        json!(file.list_filters),
        upload["list_filters"],
        "{name}: the list filters"
    );
    assert_eq!(
        json!(file.mime_type),
        upload["mime_type"],
        "{name}: the file type"
    );
}

/// The connector's defaults are the Python connector's (its
/// docker-compose file): `name` and `scope` besides the common ones.
pub(crate) fn assert_python_defaults(tables: &[&[Var]], name: &str, scope: &str) {
    let settings = Settings::from_env_pairs(tables, [("CONNECTOR_ID", "x")]);
    for (env, expected) in [
        ("CONNECTOR_TYPE", "INTERNAL_EXPORT_FILE"),
        ("CONNECTOR_NAME", name),
        ("CONNECTOR_SCOPE", scope),
        ("CONNECTOR_LOG_LEVEL", "error"),
    ] {
        assert_eq!(settings.value(env).unwrap().to_string(), expected, "{env}");
    }
}

/// The Python connector's sample `config.yml`, naming the connector
/// `name` with `scope`, is read without a problem.
pub(crate) fn assert_python_sample_config_is_read(tables: &[&[Var]], name: &str, scope: &str) {
    let yaml = format!(
        "
opencti:
  url: 'http://localhost'
  token: 'ChangeMe'
connector:
  type: 'INTERNAL_EXPORT_FILE'
  id: 'ChangeMe'
  name: '{name}'
  scope: '{scope}'
  confidence_level: 100
  log_level: 'info'
"
    );
    let settings = Settings::resolve(tables, &Source::new().with_yaml_str(&yaml));
    for (env, expected) in [
        ("OPENCTI_URL", "http://localhost/"),
        ("CONNECTOR_ID", "ChangeMe"),
        ("CONNECTOR_NAME", name),
        ("CONNECTOR_SCOPE", scope),
        ("CONNECTOR_LOG_LEVEL", "info"),
    ] {
        assert_eq!(settings.value(env).unwrap().to_string(), expected, "{env}");
    }
    assert!(settings.problems().is_empty(), "{:?}", settings.problems());
}
