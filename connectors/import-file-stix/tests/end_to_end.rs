//! The connector end to end: the real RabbitMQ, `opencti-sim` playing the
//! platform (uploads, `askJobImport`, the worker importing what it sends).

use opencti_sim::{
    EventInjection, EventKind, ImportRequest, Sim, SimConfig, SimHandle, WorkRecord,
};
use serde_json::Value;

use crate::support::{Running, TIMEOUT, fixture, fixture_json};

fn texts(work: &WorkRecord) -> Vec<String> {
    work.messages
        .iter()
        .filter_map(|message| message.message.clone())
        .collect()
}

fn errors(work: &WorkRecord) -> String {
    format!("{:?}", work.errors)
}

async fn import(
    sim: &SimHandle,
    running: &Running,
    name: &str,
    mime: &str,
    content: &str,
    request: ImportRequest,
) -> WorkRecord {
    let (file, _) = sim
        .upload_import(name, mime, content.as_bytes(), vec![])
        .await
        .unwrap();
    let works = sim
        .ask_job_import(&ImportRequest {
            file_id: file.id.clone(),
            connector_id: Some(running.id.clone()),
            ..request
        })
        .await
        .unwrap();
    assert_eq!(works.len(), 1, "{works:?}");
    sim.wait_for_work_processed(&works[0].id, TIMEOUT)
        .await
        .unwrap()
}

fn bypass() -> ImportRequest {
    ImportRequest {
        bypass_validation: true,
        ..ImportRequest::default()
    }
}

fn ids(bundle: &Value) -> Vec<String> {
    bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_are_imported_and_bad_files_fail_their_work_only() {
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
    let running = Running::start(&sim, &[]).await;

    for case in ["plain", "relationships-markings"] {
        let file = if case == "plain" {
            "plain.json"
        } else {
            "relationships.json"
        };
        let text = fixture(&format!("inputs/{file}"));
        let work = import(&sim, &running, file, "application/json", &text, bypass()).await;
        assert!(work.errors.is_empty(), "{case}: {}", errors(&work));
        // The Python connector's text, with pycti's count of split bundles.
        let golden = fixture_json(&format!("goldens/{case}.json"));
        assert!(
            texts(&work).contains(&golden["message"].as_str().unwrap().to_owned()),
            "{case}: {:?}",
            texts(&work)
        );
        for id in ids(&fixture_json(&format!("inputs/{file}"))) {
            assert!(sim.object(&id).is_some(), "{case}: {id} not imported");
        }
    }

    let broken = import(
        &sim,
        &running,
        "broken.json",
        "application/json",
        r#"{"type": "bundle", "objects": [{"type": "malware""#,
        bypass(),
    )
    .await;
    assert!(
        errors(&broken).contains("`broken.json` is not a STIX 2.1 bundle: File data is not a valid JSON: EOF while parsing"),
        "{}",
        errors(&broken)
    );
    let not_bundle = import(
        &sim,
        &running,
        "list.json",
        "application/json",
        "[1, 2]",
        ImportRequest {
            bypass_entity_id: Some("grouping--2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f".to_owned()),
            ..bypass()
        },
    )
    .await;
    assert!(
        errors(&not_bundle).contains("`list.json` is not a STIX 2.1 bundle"),
        "{}",
        errors(&not_bundle)
    );
    let xml = import(
        &sim,
        &running,
        "indicators.xml",
        "text/xml",
        "<stix:STIX_Package/>",
        bypass(),
    )
    .await;
    assert!(
        errors(&xml).contains("`indicators.xml` is a STIX 1.x XML file"),
        "{}",
        errors(&xml)
    );

    // The failures were acknowledged and the connector goes on.
    let text = fixture("inputs/with-report.json");
    let work = import(
        &sim,
        &running,
        "again.json",
        "application/json",
        &text,
        bypass(),
    )
    .await;
    assert!(work.errors.is_empty(), "{}", errors(&work));
    assert!(
        sim.object("report--5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d")
            .is_some()
    );
    running.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_imported_on_a_container_goes_into_it() {
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
    let container = fixture_json("inputs/container.json");
    let container_id = container["id"].as_str().unwrap().to_owned();
    sim.inject_event(EventInjection::new(EventKind::Create, container))
        .unwrap();
    let running = Running::start(&sim, &[]).await;

    let text = fixture("inputs/plain.json");
    let work = import(
        &sim,
        &running,
        "plain.json",
        "application/json",
        &text,
        ImportRequest {
            bypass_entity_id: Some(container_id.clone()),
            ..bypass()
        },
    )
    .await;
    assert!(work.errors.is_empty(), "{}", errors(&work));
    let stored = sim.object(&container_id).expect("the container");
    let refs = format!("{stored:?}");
    for id in ids(&fixture_json("inputs/plain.json")) {
        assert!(sim.object(&id).is_some(), "{id} not imported");
        assert!(refs.contains(&id), "{id} not in the container: {refs}");
    }

    // An entity the platform does not know fails the work, naming it.
    let work = import(
        &sim,
        &running,
        "plain.json",
        "application/json",
        &text,
        ImportRequest {
            bypass_entity_id: Some("report--00000000-0000-4000-8000-000000000000".to_owned()),
            ..bypass()
        },
    )
    .await;
    assert!(
        errors(&work).contains("report--00000000-0000-4000-8000-000000000000"),
        "{}",
        errors(&work)
    );
    running.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft_and_workbench_validation_are_passed_through() {
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
    let running = Running::start(&sim, &[]).await;
    let text = fixture("inputs/plain.json");
    let golden = fixture_json("goldens/validation.json");

    let work = import(
        &sim,
        &running,
        "plain.json",
        "application/json",
        &text,
        ImportRequest {
            validation_mode: Some("draft".to_owned()),
            ..ImportRequest::default()
        },
    )
    .await;
    assert!(work.errors.is_empty(), "{}", errors(&work));
    assert!(texts(&work).contains(&golden["message"].as_str().unwrap().to_owned()));
    let draft_id = work.draft_context.clone().expect("the work is in a draft");
    let draft = sim
        .drafts()
        .into_iter()
        .find(|draft| draft.id == draft_id)
        .expect("the draft");
    // pycti names the draft after the file's id, as the Python connector
    // passes it.
    assert_eq!(draft.name, "import/global/plain.json");
    assert_eq!(draft.objects.len(), 3, "{draft:?}");
    assert!(
        sim.object("malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5")
            .is_none()
    );

    let work = import(
        &sim,
        &running,
        "plain.json",
        "application/json",
        &text,
        ImportRequest {
            validation_mode: Some("workbench".to_owned()),
            ..ImportRequest::default()
        },
    )
    .await;
    assert!(work.errors.is_empty(), "{}", errors(&work));
    assert!(
        sim.uploaded_files()
            .iter()
            .any(|file| file.id.starts_with("import/pending/")),
        "{:?}",
        sim.uploaded_files()
    );

    // In a draft the user is in, the import goes to that draft.
    let draft = sim.add_draft("mine", None);
    let work = import(
        &sim,
        &running,
        "plain.json",
        "application/json",
        &text,
        ImportRequest {
            draft_id: Some(draft.id.clone()),
            ..ImportRequest::default()
        },
    )
    .await;
    assert!(work.errors.is_empty(), "{}", errors(&work));
    let mine = sim
        .drafts()
        .into_iter()
        .find(|found| found.id == draft.id)
        .unwrap();
    assert_eq!(mine.objects.len(), 3, "{mine:?}");
    running.stop().await;
    sim.shutdown().await.unwrap();
}
