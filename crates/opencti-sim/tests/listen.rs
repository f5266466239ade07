//! The platform's side of internal connectors: the jobs the simulator asks
//! of them (enrichment, import, export, playbook) as the UI triggers them,
//! with the messages on their listen queue, the file download and the
//! export upload, and the API listen forwarding.

use std::sync::{Arc, Mutex};

use opencti_sim::{
    EventInjection, EventKind, ExportRequest, ImportRequest, JobKind, ListExportRequest, SimConfig,
    SimHandle, WorkStatus,
};
use serde_json::{Value, json};

use crate::common::{
    ListenQueue, REGISTER_6_8, TIMEOUT, TOKEN, graphql, graphql_ok, graphql_upload, start,
    start_with,
};

/// Registers an internal connector with pycti 6.8's text.
async fn register_internal(
    sim: &SimHandle,
    kind: &str,
    scope: &[&str],
    auto: bool,
    callback: Option<&str>,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    graphql_ok(
        sim,
        REGISTER_6_8,
        json!({"input": {
            "id": id, "name": format!("{kind} check"), "type": kind, "scope": scope,
            "auto": auto, "auto_update": false, "enrichment_resolution": "none",
            "only_contextual": false, "playbook_compatible": false,
            "listen_callback_uri": callback,
        }}),
    )
    .await;
    id
}

const TO_PROCESSED: &str = "mutation workToProcessed($id: ID!, $message: String, $inError: Boolean) { workEdit(id: $id) { toProcessed (message: $message, inError: $inError) } }";

fn ipv4(value: &str) -> Value {
    json!({
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": format!("ipv4-addr--{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, value.as_bytes())),
        "value": value,
    })
}

#[tokio::test]
async fn an_enrichment_request_is_the_platforms_message_and_work() {
    let sim = start().await;
    let connector =
        register_internal(&sim, "INTERNAL_ENRICHMENT", &["IPv4-Addr"], false, None).await;
    let ip = ipv4("192.0.2.10");
    sim.inject_event(EventInjection::new(EventKind::Create, ip.clone()))
        .expect("stored");
    let mut queue = ListenQueue::open(&sim, &connector).await;

    let asked = graphql_ok(
        &sim,
        include_str!("documents/ui_ask_enrichment.graphql"),
        json!({"id": ip["id"], "connectorId": connector}),
    )
    .await;
    let work = &asked["stixCoreObjectEdit"]["askEnrichment"];
    assert_eq!(work["status"], "wait");
    assert_eq!(work["name"], "Manual enrichment");
    assert_eq!(work["connector"]["id"], connector.as_str());

    let message = queue.next().await;
    assert_eq!(
        message["internal"],
        json!({"work_id": work["id"], "applicant_id": null, "draft_id": null,
               "mode": "manual", "trigger": "update"})
    );
    let event = &message["event"];
    assert_eq!(event["event_type"], "INTERNAL_ENRICHMENT");
    assert_eq!(event["entity_id"], ip["id"]);
    assert_eq!(event["entity_type"], "IPv4-Addr");
    assert_eq!(event["stix_objects"], Value::Null);
    let stix_entity: Value =
        serde_json::from_str(event["stix_entity"].as_str().expect("a JSON string")).expect("JSON");
    assert_eq!(stix_entity["value"], "192.0.2.10");
    assert_eq!(
        stix_entity["extensions"]["extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"]["type"],
        "IPv4-Addr"
    );

    // The platform answers null for an unknown connector and refuses an
    // unknown entity.
    let unknown = graphql_ok(
        &sim,
        include_str!("documents/ui_ask_enrichment.graphql"),
        json!({"id": ip["id"], "connectorId": "nope"}),
    )
    .await;
    assert_eq!(unknown["stixCoreObjectEdit"]["askEnrichment"], Value::Null);
    let missing = graphql(
        &sim,
        include_str!("documents/ui_ask_enrichment.graphql"),
        json!({"id": "ipv4-addr--00000000-0000-5000-8000-000000000000", "connectorId": connector}),
    )
    .await;
    assert_eq!(
        missing["errors"][0]["message"],
        "Cannot enrich the object, element cannot be found."
    );
    assert_eq!(sim.jobs().len(), 1);
    assert_eq!(sim.jobs()[0].kind, JobKind::Enrichment);
    queue.close().await;
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn objects_the_worker_creates_are_enriched_by_auto_connectors_of_their_type() {
    let sim = start().await;
    let auto = register_internal(&sim, "INTERNAL_ENRICHMENT", &["IPv4-Addr"], true, None).await;
    let manual = register_internal(&sim, "INTERNAL_ENRICHMENT", &["IPv4-Addr"], false, None).await;
    let other_type =
        register_internal(&sim, "INTERNAL_ENRICHMENT", &["Domain-Name"], true, None).await;
    let importer = uuid::Uuid::new_v4().to_string();
    let registered = crate::common::register(&sim, &importer).await;
    let mut queue = ListenQueue::open(&sim, &auto).await;

    let ip = ipv4("192.0.2.20");
    let bundle = json!({"type": "bundle", "id": "bundle--1b2c3d4e-0000-4000-8000-000000000001", "objects": [ip]});
    crate::common::publish_bundles(
        &registered["config"],
        &[bundle],
        None,
        opencti_sim::ADMIN_USER_ID,
    )
    .await;

    let message = queue.next().await;
    assert_eq!(message["internal"]["mode"], "auto");
    assert_eq!(message["internal"]["trigger"], "create");
    assert_eq!(message["event"]["entity_id"], ip["id"]);
    let work = sim
        .work(message["internal"]["work_id"].as_str().expect("work"))
        .expect("work");
    assert_eq!(
        work.name.as_deref(),
        Some(format!("Enrichment ({})", ip["id"].as_str().unwrap_or_default()).as_str())
    );
    let asked: Vec<String> = sim.jobs().into_iter().map(|j| j.connector_id).collect();
    assert_eq!(
        asked,
        std::slice::from_ref(&auto),
        "not {manual} nor {other_type}"
    );
    queue.close().await;
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_file_import_goes_to_the_import_connectors_of_its_mime_type() {
    let sim = start().await;
    let json_auto = register_internal(
        &sim,
        "INTERNAL_IMPORT_FILE",
        &["application/json"],
        true,
        None,
    )
    .await;
    let json_manual = register_internal(
        &sim,
        "INTERNAL_IMPORT_FILE",
        &["application/json"],
        false,
        None,
    )
    .await;
    let csv = register_internal(&sim, "INTERNAL_IMPORT_FILE", &["text/csv"], true, None).await;
    let mut auto_queue = ListenQueue::open(&sim, &json_auto).await;

    let uploaded = graphql_upload(
        &sim,
        include_str!("documents/ui_upload_import.graphql"),
        json!({"fileMarkings": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]}),
        "file",
        ("report.json", "application/json", br#"{"type": "bundle"}"#),
    )
    .await;
    let file = &uploaded["data"]["uploadImport"];
    assert_eq!(file["id"], "import/global/report.json", "{uploaded}");
    assert_eq!(file["metaData"]["mimetype"], "application/json");
    // Uploading asks the automatic connectors only.
    let works = file["works"].as_array().expect("works");
    assert_eq!(works.len(), 1, "{uploaded}");
    assert_eq!(works[0]["status"], "wait");

    let message = auto_queue.next().await;
    assert_eq!(
        message,
        json!({
            "internal": {"work_id": works[0]["id"], "applicant_id": opencti_sim::ADMIN_USER_ID,
                         "draft_id": null, "trigger": "update", "mode": "auto"},
            "event": {"file_id": "import/global/report.json", "file_mime": "application/json",
                      "file_markings": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"],
                      "file_fetch": "/storage/get/import/global/report.json",
                      "validation_mode": "workbench", "bypass_validation": false,
                      "force_validation": false},
            "configuration": null,
        })
    );

    // Asking by hand reaches every live connector of the type, automatic or not.
    let works = sim
        .ask_job_import(&ImportRequest {
            file_id: "import/global/report.json".to_owned(),
            bypass_entity_id: Some("report--0f2c1b6e-3c5d-4d9e-8f7a-6b5c4d3e2f1a".to_owned()),
            configuration: Some("{\"mapper\": 1}".to_owned()),
            ..ImportRequest::default()
        })
        .await
        .expect("asked");
    let mut asked: Vec<String> = works.iter().map(|w| w.connector_id.clone()).collect();
    asked.sort();
    let mut expected = vec![json_auto.clone(), json_manual.clone()];
    expected.sort();
    assert_eq!(asked, expected, "not {csv}");
    let message = auto_queue.next().await;
    assert_eq!(
        message["event"]["entity_id"],
        "report--0f2c1b6e-3c5d-4d9e-8f7a-6b5c4d3e2f1a"
    );
    assert_eq!(message["configuration"], "{\"mapper\": 1}");

    // A draft forces draft mode without validation.
    let draft = sim.add_draft("triage", None);
    sim.ask_job_import(&ImportRequest {
        file_id: "import/global/report.json".to_owned(),
        connector_id: Some(json_auto.clone()),
        draft_id: Some(draft.id.clone()),
        ..ImportRequest::default()
    })
    .await
    .expect("asked");
    let message = auto_queue.next().await;
    assert_eq!(message["internal"]["draft_id"], draft.id.as_str());
    assert_eq!(message["event"]["validation_mode"], "draft");
    assert_eq!(message["event"]["bypass_validation"], true);
    let work = sim
        .work(message["internal"]["work_id"].as_str().expect("work"))
        .expect("work");
    assert_eq!(work.draft_context.as_deref(), Some(draft.id.as_str()));
    assert_eq!(
        work.name.as_deref(),
        Some(format!("Manual import of report.json in draft {}", draft.id).as_str())
    );
    auto_queue.close().await;
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn files_are_downloaded_with_a_token_as_from_the_platform() {
    let sim = start_with(SimConfig {
        token: Some(opencti_sim::Secret::new(TOKEN)),
        ..SimConfig::for_tests()
    })
    .await;
    let bytes = [0_u8, 159, 146, 150, b'x'];
    sim.upload_import("blob.bin", "application/octet-stream", &bytes, Vec::new())
        .await
        .expect("uploaded");
    let url = format!("{}/storage/get/import/global/blob.bin", sim.url());
    let client = reqwest::Client::new();
    let response = client
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"blob.bin\""
    );
    assert_eq!(response.bytes().await.expect("body").as_ref(), bytes);
    let refused = client
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), 403);
    let missing = client
        .get(format!("{}/storage/get/import/global/none.json", sim.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 503);
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn exports_are_asked_of_the_connectors_of_the_format_and_uploaded_back() {
    let sim = start().await;
    let stix = register_internal(
        &sim,
        "INTERNAL_EXPORT_FILE",
        &["application/json"],
        false,
        None,
    )
    .await;
    let csv = register_internal(&sim, "INTERNAL_EXPORT_FILE", &["text/csv"], false, None).await;
    let malware = json!({"type": "malware", "spec_version": "2.1", "name": "Evil", "is_family": true,
                         "id": "malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5"});
    sim.inject_event(EventInjection::new(EventKind::Create, malware.clone()))
        .expect("stored");
    let internal_id = sim
        .object(malware["id"].as_str().expect("id"))
        .expect("stored")
        .internal_id;
    let mut queue = ListenQueue::open(&sim, &stix).await;

    // The entity's export button.
    let green = opencti_stix::marking::TLP_GREEN.common.id.clone();
    let asked = graphql_ok(
        &sim,
        include_str!("documents/ui_entity_export_ask.graphql"),
        json!({"id": malware["id"], "input": {"format": "application/json", "exportType": "full",
               "contentMaxMarkings": [green], "fileMarkings": []}}),
    )
    .await;
    let files = asked["stixDomainObjectEdit"]["exportAsk"]
        .as_array()
        .expect("files");
    assert_eq!(files.len(), 1, "only the JSON exporter, not {csv}");
    let file_name = files[0]["name"].as_str().expect("name").to_owned();
    assert!(
        file_name.ends_with("_TLP:GREEN_(INTERNAL_EXPORT_FILE check)_Malware-Evil_full.json"),
        "{file_name}"
    );
    assert_eq!(files[0]["uploadStatus"], "wait");

    let message = queue.next().await;
    let work_id = message["internal"]["work_id"]
        .as_str()
        .expect("work")
        .to_owned();
    assert_eq!(files[0]["id"], work_id.as_str());
    assert_eq!(message["internal"]["mode"], "manual");
    assert_eq!(message["internal"]["trigger"], Value::Null);
    let event = &message["event"];
    assert_eq!(event["event_type"], "INTERNAL_EXPORT_FILE");
    assert_eq!(event["export_scope"], "single");
    assert_eq!(event["file_name"], file_name.as_str());
    assert_eq!(event["entity_id"], internal_id.as_str());
    assert_eq!(event["entity_name"], "Evil");
    assert_eq!(event["entity_type"], "Malware");
    assert_eq!(event["export_type"], "full");
    assert_eq!(event["access_filter"]["filters"][0]["operator"], "not_eq");
    assert_eq!(
        event["main_filter"]["filters"][1]["values"],
        json!([internal_id])
    );

    // The export connector uploads the file (pycti's push_entity_export) and
    // closes its work.
    let pushed = graphql_upload(
        &sim,
        "mutation StixDomainObjectEdit($id: ID!, $file: Upload!, $file_markings: [String]!) { stixDomainObjectEdit(id: $id) { exportPush(file: $file, file_markings: $file_markings) } }",
        json!({"id": internal_id, "file_markings": []}),
        "file",
        (&file_name, "application/json", b"{\"type\": \"bundle\", \"objects\": []}"),
    )
    .await;
    assert_eq!(
        pushed["data"]["stixDomainObjectEdit"]["exportPush"], true,
        "{pushed}"
    );
    graphql_ok(
        &sim,
        TO_PROCESSED,
        json!({"id": work_id, "message": "Export done"}),
    )
    .await;
    assert_eq!(
        sim.work(&work_id).expect("work").status,
        WorkStatus::Complete
    );
    let stored = sim
        .file(&format!("export/Malware/{internal_id}/{file_name}"))
        .expect("the export is stored under the entity");
    assert_eq!(stored.entity_id.as_deref(), Some(internal_id.as_str()));

    // A list export: the selection, then the whole query.
    let selection = graphql_ok(
        &sim,
        include_str!("documents/ui_list_export_ask.graphql"),
        json!({"input": {"format": "application/json", "exportType": "simple",
               "exportContext": {"entity_type": "Stix-Core-Object"},
               "selectedIds": [internal_id]}}),
    )
    .await;
    assert_eq!(
        selection["stixCoreObjectsExportAsk"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let message = queue.next().await;
    assert_eq!(
        message["internal"],
        json!({"work_id": message["internal"]["work_id"], "applicant_id": opencti_sim::ADMIN_USER_ID})
    );
    assert_eq!(message["event"]["export_scope"], "selection");
    assert_eq!(message["event"]["selected_ids"], json!([internal_id]));
    assert_eq!(message["event"]["entity_name"], "global");
    sim.ask_list_export(&ListExportRequest {
        entity_type: "Malware".to_owned(),
        format: "application/json".to_owned(),
        export_type: "full".to_owned(),
        search: Some("evil".to_owned()),
        ..ListExportRequest::default()
    })
    .await
    .expect("asked");
    let message = queue.next().await;
    assert_eq!(message["event"]["export_scope"], "query");
    assert_eq!(message["event"]["list_params"]["search"], "evil");
    assert!(
        message["event"].get("event_type").is_none(),
        "the platform sends none for a query export"
    );
    let list = graphql_upload(
        &sim,
        "mutation StixCoreObjectsExportPush($entity_id: String, $entity_type: String!, $file: Upload!, $file_markings: [String]!, $listFilters: String) { stixCoreObjectsExportPush(entity_id: $entity_id, entity_type: $entity_type, file: $file, file_markings: $file_markings, listFilters: $listFilters) }",
        json!({"entity_id": null, "entity_type": "Malware", "file_markings": [], "listFilters": "{\"search\": \"evil\"}"}),
        "file",
        ("list.json", "application/json", b"{}"),
    )
    .await;
    assert_eq!(list["data"]["stixCoreObjectsExportPush"], true, "{list}");
    assert_eq!(
        sim.file("export/Malware/list.json")
            .and_then(|f| f.list_filters)
            .as_deref(),
        Some("{\"search\": \"evil\"}")
    );

    // No export connector for the format: nothing is asked.
    let none = sim
        .ask_entity_export(&ExportRequest {
            entity_id: internal_id.clone(),
            format: "application/pdf".to_owned(),
            export_type: "simple".to_owned(),
            ..ExportRequest::default()
        })
        .await
        .expect("asked");
    assert!(none.is_empty());
    assert!(
        sim.rejected_requests().is_empty(),
        "{:?}",
        sim.rejected_requests()
    );
    queue.close().await;
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn objects_pushed_for_a_draft_go_into_it() {
    let sim = start().await;
    let importer = uuid::Uuid::new_v4().to_string();
    let registered = crate::common::register(&sim, &importer).await;
    let draft = sim.add_draft("triage", None);
    let work_id = crate::common::work_add(&sim, &importer, "draft run").await;
    let ip = ipv4("192.0.2.30");
    let in_draft = |draft_id: &str, object: &Value| {
        json!({"type": "bundle", "applicant_id": "7fa1c1b2-0000-4000-8000-00000000aaaa",
               "content": base64::Engine::encode(&base64::engine::general_purpose::STANDARD,
                    json!({"type": "bundle", "id": "bundle--1", "objects": [object]}).to_string()),
               "work_id": work_id, "draft_id": draft_id, "update": false})
    };
    crate::common::publish_messages(
        &registered["config"],
        &[in_draft(&draft.id, &ip), in_draft("no-such-draft", &ip)],
    )
    .await;
    sim.wait_until("both messages imported", TIMEOUT, |sim| {
        sim.work(&work_id).is_some_and(|w| w.processed == 2)
    })
    .await
    .expect("imported");
    let stored = sim
        .drafts()
        .into_iter()
        .find(|d| d.id == draft.id)
        .expect("draft");
    assert!(stored.objects.contains_key(ip["id"].as_str().expect("id")));
    assert!(
        sim.object(ip["id"].as_str().expect("id")).is_none(),
        "not live"
    );
    let work = sim.work(&work_id).expect("work");
    assert_eq!(work.errors.len(), 1, "{work:?}");
    assert!(
        work.errors[0]
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("no-such-draft")
    );
    sim.shutdown().await.expect("clean shutdown");
}

/// What a connector's callback server received.
type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A connector's API listen endpoint: answers 500 to the first call, then 202.
async fn callback_server() -> (String, Received) {
    let received: Received = Arc::default();
    let seen = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/api/callback",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen = Arc::clone(&seen);
            async move {
                let bearer = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let mut seen = seen.lock().expect("lock");
                seen.push((bearer, serde_json::from_str(&body).unwrap_or(Value::Null)));
                if seen.len() == 1 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::ACCEPTED
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (format!("http://{addr}/api/callback"), received)
}

#[tokio::test]
async fn connectors_on_the_api_listen_protocol_are_called_back_until_they_take_the_message() {
    let sim = start_with(SimConfig {
        platform_version: "7.261026.0".to_owned(),
        listen_callback_retry: std::time::Duration::from_millis(100),
        ..SimConfig::for_tests()
    })
    .await;
    let (uri, received) = callback_server().await;
    let connector = register_internal(
        &sim,
        "INTERNAL_ENRICHMENT",
        &["IPv4-Addr"],
        false,
        Some(&uri),
    )
    .await;
    let ip = ipv4("192.0.2.40");
    sim.inject_event(EventInjection::new(EventKind::Create, ip.clone()))
        .expect("stored");
    let work = sim
        .ask_enrichment(ip["id"].as_str().expect("id"), &connector)
        .await
        .expect("asked")
        .expect("known connector");
    // The callback server is not the simulator's state: poll it.
    let called_twice = tokio::time::timeout(TIMEOUT, async {
        while received.lock().expect("lock").len() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(called_twice.is_ok(), "called again after the refusal");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let calls = received.lock().expect("lock").clone();
    assert_eq!(calls.len(), 2, "taken once, not called again");
    for (bearer, body) in &calls {
        assert_eq!(body["internal"]["work_id"], work.id.as_str());
        let token = bearer
            .as_deref()
            .and_then(|b| b.strip_prefix("Bearer "))
            .expect("bearer");
        assert_eq!(token.split('.').count(), 3, "a connector JWT: {token}");
    }
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_playbook_step_carries_the_bundle_and_no_work() {
    let sim = start().await;
    let connector =
        register_internal(&sim, "INTERNAL_ENRICHMENT", &["IPv4-Addr"], false, None).await;
    let mut ip = ipv4("192.0.2.50");
    ip["object_marking_refs"] = json!([opencti_stix::marking::TLP_GREEN.common.id]);
    sim.inject_event(EventInjection::new(EventKind::Create, ip.clone()))
        .expect("stored");
    let mut queue = ListenQueue::open(&sim, &connector).await;
    let run = sim
        .run_playbook_step(&connector, ip["id"].as_str().expect("id"))
        .await
        .expect("sent");
    let message = queue.next().await;
    assert_eq!(message["internal"]["work_id"], Value::Null);
    assert_eq!(
        message["internal"]["applicant_id"],
        opencti_sim::AUTOMATION_USER_ID
    );
    assert_eq!(
        message["internal"]["playbook"]["execution_id"],
        run.execution_id.as_str()
    );
    assert_eq!(message["event"]["entity_id"], ip["id"]);
    assert_eq!(message["event"]["bundle"], run.bundle);
    assert_eq!(run.bundle["objects"][0]["id"], ip["id"]);
    assert_eq!(
        run.bundle["objects"].as_array().map(Vec::len),
        Some(1),
        "the TLP marking is not stored"
    );

    let answer = "mutation PlaybookStepExecution($execution_id: ID!, $event_id: ID!, $execution_start: DateTime!, $data_instance_id: ID!, $playbook_id: ID!, $previous_step_id: ID!, $step_id: ID!, $previous_bundle: String!, $bundle: String!) { playbookStepExecution(execution_id: $execution_id, event_id: $event_id, execution_start: $execution_start, data_instance_id: $data_instance_id, playbook_id: $playbook_id, previous_step_id: $previous_step_id, step_id: $step_id, previous_bundle: $previous_bundle, bundle: $bundle) }";
    let answered = graphql_ok(
        &sim,
        answer,
        json!({"execution_id": run.execution_id, "event_id": run.event_id,
               "execution_start": "2026-01-15T10:30:00+00:00", "data_instance_id": run.data_instance_id,
               "playbook_id": run.playbook_id, "previous_step_id": run.previous_step_id, "step_id": run.step_id,
               "previous_bundle": run.bundle.to_string(), "bundle": run.bundle.to_string()}),
    )
    .await;
    assert_eq!(answered["playbookStepExecution"], true);
    assert!(sim.playbook_answer(&run).is_some());
    queue.close().await;
    sim.shutdown().await.expect("clean shutdown");
}
