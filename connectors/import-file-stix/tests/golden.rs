//! Our connector against the Python one: for each case of
//! `tests/fixtures/cases.json`, the bundle it sends (and the file name it
//! names it with) equals what the Python connector's own code handed
//! pycti's `send_stix2_bundle` (`tests/fixtures/goldens/`, written by
//! `scripts/goldens/import-file-stix.sh`).
//!
//! Two normalisations, both for imports in a container's context (see the
//! README's differences): the new bundle's id is random in both (checked to
//! be a `bundle--` UUID v4, then ignored), and the container comes from the
//! platform (`opencti-sim` here, pycti's own export in Python), so of the
//! container the id, type, `object_refs` and every property of the stored
//! container are compared, not the extensions each side adds.

use opencti_connector::api::{ApiClient, RetryPolicy};
use opencti_connector::config::{PlatformTls, Secret};
use opencti_connector::listen::{FileImportRequest, FileImporter, Job, JobContext};
use opencti_import_file_stix::{ImportFileStix, ImportFileStixConfig};
use opencti_sim::{EventInjection, EventKind, Sim, SimConfig, SimHandle};
use serde_json::{Value, json};

use crate::support::{fixture, fixture_json};

fn request(case: &Value) -> FileImportRequest {
    let file = case["file"].as_str().unwrap();
    let mut event = json!({
        "file_fetch": format!("/storage/get/import/global/{file}"),
        "file_id": format!("import/global/{file}"),
        "file_mime": "application/json",
        "bypass_validation": case["bypass_validation"],
        "file_markings": case.get("file_markings").cloned().unwrap_or(json!([])),
    });
    if let Some(entity) = case.get("entity_id") {
        event["entity_id"] = entity.clone();
    }
    let job = Job::from_value(json!({"internal": {"work_id": null}, "event": event})).unwrap();
    FileImportRequest::from_job(&job).unwrap()
}

async fn sim_with(container: &Value) -> SimHandle {
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
    sim.inject_event(EventInjection::new(EventKind::Create, container.clone()))
        .unwrap();
    sim
}

fn api(sim: &SimHandle) -> ApiClient {
    ApiClient::build(
        &sim.url().parse().unwrap(),
        &Secret::new("golden"),
        &[],
        &PlatformTls::Verify,
        RetryPolicy::none(),
    )
    .unwrap()
}

/// `bundle` with its random id checked and set aside, and its container
/// reduced to what both sides must agree on.
fn normalised(mut bundle: Value, container: &Value) -> Value {
    let id = bundle["id"].as_str().unwrap().to_owned();
    let uuid = id.strip_prefix("bundle--").expect("a bundle id");
    assert_eq!(
        uuid::Uuid::parse_str(uuid).unwrap().get_version_num(),
        4,
        "{id}"
    );
    bundle["id"] = json!("bundle--(random)");
    let container_id = &container["id"];
    for object in bundle["objects"].as_array_mut().unwrap() {
        if &object["id"] == container_id {
            let mut kept = container.clone();
            for (key, value) in kept.as_object_mut().unwrap() {
                *value = object.get(key.as_str()).cloned().unwrap_or(Value::Null);
            }
            kept["object_refs"] = object["object_refs"].clone();
            *object = kept;
        }
    }
    bundle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_case_sends_what_the_python_connector_sends() {
    opencti_connector::tls::install_crypto_provider();
    let cases = fixture_json("cases.json");
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let golden = fixture_json(&format!("goldens/{name}.json"));
        let container = case
            .get("container")
            .map(|file| fixture_json(&format!("inputs/{}", file.as_str().unwrap())));
        let sim = match &container {
            Some(container) => Some(sim_with(container).await),
            None => None,
        };
        let (ctx, probe) = match &sim {
            Some(sim) => JobContext::for_test_with_api(api(sim)),
            None => JobContext::for_test(),
        };
        let file = case["file"].as_str().unwrap();
        probe.add_file(
            &format!("/storage/get/import/global/{file}"),
            fixture(&format!("inputs/{file}")),
        );
        let config = ImportFileStixConfig {
            validate_before_import: case["validate_before_import"].as_bool().unwrap(),
        };
        let mut connector =
            <ImportFileStix as opencti_connector::Connector>::from_config(config).unwrap();
        let message = connector.import_file(request(case), &ctx).await.unwrap();

        let sends = probe.sends();
        let expected = golden["sends"].as_array().unwrap();
        assert_eq!(sends.len(), expected.len(), "{name}");
        for ((bundle, options), expected) in sends.into_iter().zip(expected) {
            let mut expected_bundle = expected["bundle"].clone();
            let bundle = match &container {
                Some(container) => {
                    expected_bundle = normalised(expected_bundle, container);
                    normalised(bundle, container)
                }
                None => bundle,
            };
            assert_eq!(bundle, expected_bundle, "{name}");
            assert_eq!(
                options.file_name.as_deref(),
                expected["options"]["file_name"].as_str(),
                "{name}"
            );
        }
        // The recording context sends no message, so only the validation
        // text compares here; end_to_end compares the counted ones.
        let expected_message = golden["message"].as_str().unwrap();
        if expected_message == "Generated bundle sent for validation" {
            assert_eq!(message, expected_message, "{name}");
        } else {
            assert_eq!(message, "0 generated bundle(s) for worker import", "{name}");
        }
        if let Some(sim) = sim {
            sim.shutdown().await.unwrap();
        }
    }
}
