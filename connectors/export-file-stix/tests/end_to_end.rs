//! Every case of `fixtures/cases.json` through RabbitMQ and opencti-sim:
//! the uploaded file must be the Python connector's golden file
//! (`scripts/goldens/export-file.sh stix`), byte for byte once the random
//! bundle id is set aside, and uploaded the same way (entity, directory,
//! markings, list filters). Then the error path.

use opencti_sim::{ExportRequest, ListExportRequest, SimHandle, WorkRecord, WorkStatus};
use serde_json::{Value, json};

use crate::export_goldens::{assert_upload_matches_golden, processed_work};
use crate::support::{TIMEOUT, fixtures, normalised, seeded_sim, start};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_export_matches_the_python_connector() {
    let sim = seeded_sim().await;
    let mut running = start(&sim).await;
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("cases.json")).expect("cases.json"),
    )
    .expect("cases.json is JSON");
    let goldens = fixtures().join("goldens");
    for case in cases["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("a case name");
        let work = run_case(&sim, &running.connector_id, case).await;
        assert_upload_matches_golden(
            &sim,
            &work,
            name,
            &goldens,
            "the exported bundle",
            |bytes| normalised(&String::from_utf8(bytes).expect("UTF-8")),
        );
    }
    assert!(running.alive(), "the connector keeps running");
    assert!(
        sim.rejected_requests().is_empty(),
        "{:?}",
        sim.rejected_requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_entity_fails_its_work_and_the_connector_goes_on() {
    let sim = seeded_sim().await;
    let mut running = start(&sim).await;
    let missing = "00000000-0000-4000-8000-00000000dead";
    let event = json!({
        "event_type": "export", "export_scope": "single", "export_type": "simple",
        "format": "application/vnd.oasis.stix+json", "file_name": "missing.json",
        "entity_id": missing, "entity_type": "IPv4-Addr", "entity_name": "gone",
        "file_markings": [], "main_filter": null,
        "access_filter": {"mode": "and", "filters": [], "filterGroups": []},
    });
    let work = sim
        .send_listen_message(&running.connector_id, event, None)
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
            .any(|e| e.contains(missing) && e.contains("not found")),
        "the work is in error naming the entity: {errors:?}"
    );
    assert!(sim.uploaded_files().is_empty(), "nothing is uploaded");

    // The message was acknowledged and the connector still answers jobs.
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("cases.json")).expect("cases.json"),
    )
    .expect("cases.json is JSON");
    let work = run_case(&sim, &running.connector_id, &cases["cases"][0]).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    assert!(running.alive());
}
