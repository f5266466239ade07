//! Every case of `fixtures/cases.json` through RabbitMQ and opencti-sim:
//! the uploaded file must be the Python connector's golden file
//! (`scripts/goldens/export-file.sh txt`) byte for byte, uploaded the same
//! way (directory, entity, markings, list filters). Then the jobs the
//! Python connector refuses.

use serde_json::json;

use crate::export_goldens::{assert_every_case_matches_golden, assert_goes_on, assert_job_fails};
use crate::support::{fixtures, started};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_export_matches_the_python_connector() {
    let (sim, mut running) = started().await;
    assert_every_case_matches_golden(
        &sim,
        &mut running,
        &fixtures(),
        "the exported text",
        |bytes| String::from_utf8_lossy(&bytes).into_owned(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_jobs_fail_their_work_and_the_connector_goes_on() {
    let (sim, mut running) = started().await;
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
        assert_job_fails(&sim, &running.connector_id, event, &[expected]).await;
    }
    assert_goes_on(&sim, &mut running, &fixtures()).await;
}
