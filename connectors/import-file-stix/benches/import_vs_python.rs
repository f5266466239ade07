//! Import-file throughput through `opencti-sim` and the real RabbitMQ: one
//! generated bundle file (`BENCH_OBJECTS` objects, default 6,000: a third
//! each observables, indicators and `based-on` relationships), imported by
//! our connector and, when `IMPORT_FILE_STIX_PYTHON` (the venv's python)
//! and `PYTHON_CONNECTORS_DIR` (a checkout of OpenCTI-Platform/connectors)
//! are set, by the Python connector's own `main.py`, in the same run.
//!
//! Two figures per connector, objects/s from `askJobImport`:
//! * connector: until the connector closes its work (`toProcessed`), the
//!   sim's worker paused (the platform's workers run elsewhere);
//! * end to end: until the sim's worker has imported every message.
//!
//! Run with `scripts/bench-import-file-stix.sh` (sets the variables up).

use std::process::Stdio;
use std::time::{Duration, Instant};

use opencti_sim::{ImportRequest, Sim, SimConfig, SimHandle};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(900);

fn bundle(objects: usize) -> String {
    let per_kind = objects / 3;
    let mut list = Vec::with_capacity(objects);
    for index in 0..per_kind {
        let address = format!(
            "10.{}.{}.{}",
            index / 65_536,
            index / 256 % 256,
            index % 256
        );
        let observable = format!(
            "ipv4-addr--{}",
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, address.as_bytes())
        );
        let indicator = format!(
            "indicator--{}",
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, address.as_bytes())
        );
        list.push(
            json!({"type": "ipv4-addr", "spec_version": "2.1", "id": observable, "value": address}),
        );
        list.push(
            json!({"type": "indicator", "spec_version": "2.1", "id": indicator,
            "created": "2026-01-05T10:00:00.000Z", "modified": "2026-01-05T10:00:00.000Z",
            "name": address, "pattern": format!("[ipv4-addr:value = '{address}']"),
            "pattern_type": "stix", "valid_from": "2026-01-05T10:00:00Z"}),
        );
        list.push(json!({"type": "relationship", "spec_version": "2.1",
            "id": format!("relationship--{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, address.as_bytes())),
            "created": "2026-01-05T10:00:00.000Z", "modified": "2026-01-05T10:00:00.000Z",
            "relationship_type": "based-on", "source_ref": indicator, "target_ref": observable}));
    }
    json!({"type": "bundle", "id": format!("bundle--{}", uuid::Uuid::new_v4()), "objects": list})
        .to_string()
}

/// Imports `content` with `connector_id` and returns the seconds until the
/// connector closed the work (worker paused) and until it completed.
async fn time_import(sim: &SimHandle, connector_id: &str, name: &str, content: &str) -> (f64, f64) {
    let mut seconds = Vec::new();
    for paused in [true, false] {
        if paused {
            sim.pause_worker(connector_id).unwrap();
        } else {
            sim.resume_worker(connector_id).unwrap();
        }
        let (file, _) = sim
            .upload_import(
                &format!("{paused}-{name}"),
                "application/json",
                content.as_bytes(),
                vec![],
            )
            .await
            .unwrap();
        let start = Instant::now();
        let works = sim
            .ask_job_import(&ImportRequest {
                file_id: file.id,
                connector_id: Some(connector_id.to_owned()),
                bypass_validation: true,
                ..ImportRequest::default()
            })
            .await
            .unwrap();
        let work = works[0].id.clone();
        if paused {
            sim.wait_until("the connector to close its work", TIMEOUT, |sim| {
                sim.work(&work).is_some_and(|w| w.processed_time.is_some())
            })
            .await
            .unwrap();
        } else {
            sim.wait_for_work_complete(&work, TIMEOUT).await.unwrap();
        }
        seconds.push(start.elapsed().as_secs_f64());
        let record = sim.work(&work).unwrap();
        assert!(record.errors.is_empty(), "{:?}", record.errors);
    }
    // The paused run's messages, imported now, before the next connector.
    (seconds[0], seconds[1])
}

async fn ours(
    sim: &SimHandle,
) -> (
    String,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    use opencti_connector::config::RuntimeConfig;
    use opencti_connector::listen::{FileImport, ListenRunner};
    use opencti_import_file_stix::{ImportFileStix, ImportFileStixConfig};
    let id = uuid::Uuid::new_v4().to_string();
    let settings = opencti_connector::config::Settings::from_env_pairs(
        &opencti_import_file_stix::SPEC.tables(),
        [
            ("OPENCTI_URL", sim.url()),
            ("OPENCTI_TOKEN", "bench".to_owned()),
            ("CONNECTOR_ID", id.clone()),
        ],
    );
    let runtime = RuntimeConfig::try_from(&settings).unwrap();
    let config = ImportFileStixConfig::try_from(&settings).unwrap();
    let connector = <ImportFileStix as opencti_connector::Connector>::from_config(config).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let runner = ListenRunner::new(FileImport(connector), runtime);
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        runner.run(stop).await.unwrap();
    });
    sim.wait_until("our connector to register", TIMEOUT, |sim| {
        sim.connector(&id).is_some()
    })
    .await
    .unwrap();
    (id, shutdown, task)
}

async fn python(sim: &SimHandle) -> Option<(String, tokio::process::Child)> {
    let python = std::env::var("IMPORT_FILE_STIX_PYTHON").ok()?;
    let checkout = std::env::var("PYTHON_CONNECTORS_DIR").ok()?;
    let id = uuid::Uuid::new_v4().to_string();
    let child = tokio::process::Command::new(python)
        .arg("main.py")
        .current_dir(format!(
            "{checkout}/internal-import-file/import-file-stix/src"
        ))
        .env("OPENCTI_URL", sim.url())
        .env("OPENCTI_TOKEN", "bench")
        .env("CONNECTOR_ID", &id)
        .env("CONNECTOR_LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    sim.wait_until(
        "the Python connector to register",
        Duration::from_secs(120),
        |sim| sim.connector(&id).is_some(),
    )
    .await
    .expect("the Python connector registers");
    Some((id, child))
}

fn line(who: &str, objects: usize, (connector, end_to_end): (f64, f64)) {
    println!(
        "{who:<8} {objects:>7} objects  connector {connector:>7.2} s {:>9.0} objects/s  end to end {end_to_end:>7.2} s {:>9.0} objects/s",
        objects as f64 / connector,
        objects as f64 / end_to_end
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` must not run it.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    opencti_connector::tls::install_crypto_provider();
    let objects: usize = std::env::var("BENCH_OBJECTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(6_000);
    let content = bundle(objects);
    let count = serde_json::from_str::<Value>(&content).unwrap()["objects"]
        .as_array()
        .unwrap()
        .len();
    println!(
        "import-file-stix: one bundle of {count} objects, {} bytes",
        content.len()
    );
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();

    let (id, shutdown, task) = ours(&sim).await;
    line(
        "rust",
        count,
        time_import(&sim, &id, "bundle.json", &content).await,
    );
    shutdown.cancel();
    task.await.unwrap();

    match python(&sim).await {
        Some((id, mut child)) => {
            line(
                "python",
                count,
                time_import(&sim, &id, "bundle.json", &content).await,
            );
            child.start_kill().ok();
            child.wait().await.ok();
        }
        None => println!(
            "python   skipped: set IMPORT_FILE_STIX_PYTHON and PYTHON_CONNECTORS_DIR (scripts/bench-import-file-stix.sh does)"
        ),
    }
    sim.shutdown().await.unwrap();
}
