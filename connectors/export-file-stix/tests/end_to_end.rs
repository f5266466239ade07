//! Every case of `fixtures/cases.json` through RabbitMQ and opencti-sim:
//! the uploaded file must be the Python connector's golden file
//! (`scripts/goldens/export-file.sh stix`), byte for byte once the random
//! bundle id is set aside, and uploaded the same way (entity, directory,
//! markings, list filters). Then the error path.

use serde_json::json;

use crate::export_goldens::{assert_every_case_matches_golden, assert_goes_on, assert_job_fails};
use crate::support::{fixtures, normalised, started};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_export_matches_the_python_connector() {
    let (sim, mut running) = started().await;
    assert_every_case_matches_golden(
        &sim,
        &mut running,
        &fixtures(),
        "the exported bundle",
        |bytes| normalised(&String::from_utf8(bytes).expect("UTF-8")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_entity_fails_its_work_and_the_connector_goes_on() {
    let (sim, mut running) = started().await;
    let missing = "00000000-0000-4000-8000-00000000dead";
    let event = json!({
        "event_type": "export", "export_scope": "single", "export_type": "simple",
        "format": "application/vnd.oasis.stix+json", "file_name": "missing.json",
        "entity_id": missing, "entity_type": "IPv4-Addr", "entity_name": "gone",
        "file_markings": [], "main_filter": null,
        "access_filter": {"mode": "and", "filters": [], "filterGroups": []},
    });
    // The error names the entity.
    assert_job_fails(&sim, &running.connector_id, event, &[missing, "not found"]).await;
    assert_goes_on(&sim, &mut running, &fixtures()).await;
}
