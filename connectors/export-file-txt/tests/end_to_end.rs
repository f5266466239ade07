//! Every case of `fixtures/cases.json` through RabbitMQ and opencti-sim:
//! the uploaded file must be the Python connector's golden file
//! (`scripts/goldens/export-file.sh txt`) byte for byte, uploaded the same
//! way (directory, entity, markings, list filters). Then the jobs the
//! Python connector refuses.

use opencti_sim::{ListExportRequest, SimHandle, WorkRecord, WorkStatus};
use serde_json::{Value, json};

use crate::export_goldens::{assert_upload_matches_golden, processed_work};
use crate::support::{TIMEOUT, fixtures, seeded_sim, start};

fn cases() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).expect("cases"))
        .expect("cases.json is JSON")
}

async fn run_case(sim: &SimHandle, connector_id: &str, case: &Value) -> WorkRecord {
    let request: ListExportRequest =
        serde_json::from_value(case["request"].clone()).expect("a list export");
    let works = sim
        .ask_list_export(&request)
        .await
        .expect("the export is asked");
    processed_work(sim, works, connector_id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_export_matches_the_python_connector() {
    let sim = seeded_sim().await;
    let mut running = start(&sim).await;
    let goldens = fixtures().join("goldens");
    for case in cases()["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("a case name");
        let work = run_case(&sim, &running.connector_id, case).await;
        assert_upload_matches_golden(&sim, &work, name, &goldens, "the exported text", |bytes| {
            String::from_utf8_lossy(&bytes).into_owned()
        });
    }
    assert!(running.alive(), "the connector keeps running");
    assert!(
        sim.rejected_requests().is_empty(),
        "{:?}",
        sim.rejected_requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_jobs_fail_their_work_and_the_connector_goes_on() {
    let sim = seeded_sim().await;
    let mut running = start(&sim).await;
    let base = json!({
        "event_type": "export", "export_type": "simple", "format": "text/plain",
        "file_name": "refused.txt", "file_markings": [], "main_filter": null,
        "access_filter": {"mode": "and", "filters": [], "filterGroups": []},
    });
    let mut single = base.clone();
    single["export_scope"] = json!("single");
    single["entity_id"] = json!("00000000-0000-4000-8000-000000000002");
    single["entity_type"] = json!("IPv4-Addr");
    let mut notes = base;
    notes["export_scope"] = json!("query");
    notes["entity_type"] = json!("Note");
    notes["list_params"] = json!({"search": null, "filters": null});
    for (event, expected) in [
        (single, "only supports list exports"),
        (notes, "not available for this entity type (Note)"),
    ] {
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
            errors.iter().any(|e| e.contains(expected)),
            "the work is in error with `{expected}`: {errors:?}"
        );
    }
    assert!(sim.uploaded_files().is_empty(), "nothing is uploaded");
    let work = run_case(&sim, &running.connector_id, &cases()["cases"][0]).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    assert!(running.alive());
}
