//! Time of a query export of many observables, the README's figure: the
//! seed objects of `tests/fixtures/seed.jsonl` plus `EXPORT_FIGURE_OBJECTS`
//! IPv4 addresses (default 2000), each with an author and a marking,
//! exported as a list of `Stix-Cyber-Observable`, simple then full, by the
//! connector's binary against the in-process simulator and the local
//! RabbitMQ. Each figure runs from the ask to the closed work.
//!
//! `cargo bench -p opencti-export-file-stix --bench export_time`

use std::path::Path;
use std::time::{Duration, Instant};

use opencti_sim::{EventInjection, EventKind, ListExportRequest};
use serde_json::json;

// The tests' seeded simulator and running binary; the golden and
// configuration checks there are not used here.
#[allow(dead_code)]
#[path = "../../../tests/export_goldens.rs"]
mod export_goldens;

use export_goldens::Running;

/// Longest wait for one export.
const TIMEOUT: Duration = Duration::from_secs(600);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    opencti_connector::tls::install_crypto_provider();
    let count: usize = match std::env::var("EXPORT_FIGURE_OBJECTS") {
        Ok(count) => count
            .parse()
            .unwrap_or_else(|_| panic!("EXPORT_FIGURE_OBJECTS: `{count}` is not a count")),
        Err(_) => 2000,
    };
    let sim =
        export_goldens::seeded_sim(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
            .await;
    for n in 0..count {
        let ip = json!({"type": "ipv4-addr", "spec_version": "2.1",
            "id": format!("ipv4-addr--10000000-0000-4000-8000-{n:012}"),
            "value": format!("10.{}.{}.{}", n / 65536, (n / 256) % 256, n % 256),
            "created_by_ref": "identity--7b82b010-b1c0-4dae-981f-7756374a17df",
            "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]});
        sim.inject_event(EventInjection::new(EventKind::Create, ip))
            .expect("stored");
    }
    let running = Running::start(&sim, env!("CARGO_BIN_EXE_opencti-export-file-stix")).await;
    let connector_id = &running.connector_id;

    println!(
        "query export of {count} addresses and the seed's observables, from the ask to the closed work"
    );
    for export_type in ["simple", "full"] {
        let request: ListExportRequest = serde_json::from_value(json!({
            "entity_type": "Stix-Cyber-Observable",
            "format": "application/vnd.oasis.stix+json",
            "export_type": export_type,
        }))
        .expect("a list export");
        let started = Instant::now();
        let works = sim
            .ask_list_export(&request)
            .await
            .expect("the export is asked");
        let work = works
            .into_iter()
            .find(|work| &work.connector_id == connector_id)
            .expect("a work for the connector");
        let work = sim
            .wait_for_work_processed(&work.id, TIMEOUT)
            .await
            .expect("the export completes");
        let elapsed = started.elapsed();
        assert!(work.errors.is_empty(), "{:?}", work.errors);
        // The file just uploaded is the last one; its bundle says how much was exported.
        let file = sim.uploaded_files().pop().expect("the export is uploaded");
        let bundle: serde_json::Value =
            serde_json::from_str(&file.content).expect("the export is JSON");
        let objects = bundle["objects"].as_array().map_or(0, Vec::len);
        println!("{export_type:<6} {objects} objects exported: {elapsed:.2?}");
    }
    drop(running);
    let _ = sim.shutdown().await;
}
