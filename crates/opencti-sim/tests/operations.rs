//! The rest of the connector operations of the protocol, with pycti's texts.

use opencti_sim::StreamCollectionConfig;
use serde_json::json;

use crate::common::{graphql, graphql_ok, register, start_with, work_add};

#[tokio::test]
async fn every_remaining_helper_operation_is_answered() {
    let sim = start_with(opencti_sim::SimConfig {
        stream_collections: vec![StreamCollectionConfig::live("feed")],
        ..opencti_sim::SimConfig::for_tests()
    })
    .await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    register(&sim, &connector_id).await;
    let work_id = work_add(&sim, &connector_id, "ops").await;
    let other = uuid::Uuid::new_v4().to_string();
    register(&sim, &other).await;
    work_add(&sim, &other, "someone else's").await;

    let pinged = graphql_ok(
        &sim,
        "mutation pingWork($id: ID!) { workEdit(id: $id) { ping } }",
        json!({"id": work_id}),
    )
    .await;
    assert_eq!(pinged, json!({"workEdit": {"ping": work_id}}));
    let alive = graphql_ok(
        &sim,
        "query WorkAliveQuery($id: ID!) { isWorkAlive(id: $id) }",
        json!({"id": work_id}),
    )
    .await;
    assert_eq!(alive, json!({"isWorkAlive": true}));

    let works = graphql_ok(
        &sim,
        "query ConnectorWorksQuery($count: Int $orderBy: WorksOrdering $orderMode: OrderingMode $filters: FilterGroup) { works(first: $count orderBy: $orderBy orderMode: $orderMode filters: $filters) { edges { node { id name status tracking { import_expected_number import_processed_number } } } } }",
        json!({"count": 50, "filters": {"mode": "and", "filters": [{"key": "connector_id", "values": [connector_id]}], "filterGroups": []}}),
    )
    .await;
    assert_eq!(
        works["works"]["edges"],
        json!([{"node": {"id": work_id, "name": "ops", "status": "progress",
            "tracking": {"import_expected_number": 0, "import_processed_number": 0}}}])
    );

    let draft = graphql_ok(
        &sim,
        "mutation draftWorkspaceAdd($input: DraftWorkspaceAddInput!) { draftWorkspaceAdd(input: $input) { id } }",
        json!({"input": {"name": format!("{work_id}.json"), "entity_id": null}}),
    )
    .await;
    let draft_id = draft["draftWorkspaceAdd"]["id"]
        .as_str()
        .expect("draft id")
        .to_owned();
    graphql_ok(
        &sim,
        "mutation addDraftContext($id: ID!, $draftContext: String) { workEdit(id: $id) { addDraftContext(draftContext: $draftContext) } }",
        json!({"id": work_id, "draftContext": draft_id}),
    )
    .await;
    assert_eq!(
        sim.work(&work_id).expect("work").draft_context.as_deref(),
        Some(draft_id.as_str())
    );
    assert_eq!(sim.drafts().len(), 1);

    let collection = graphql_ok(
        &sim,
        "query StreamCollection($id: String!) { streamCollection(id: $id) { id name description stream_live stream_public } }",
        json!({"id": "feed"}),
    )
    .await;
    assert_eq!(
        collection,
        json!({"streamCollection": {"id": "feed", "name": "feed", "description": null, "stream_live": true, "stream_public": false}})
    );

    let step = graphql_ok(
        &sim,
        "mutation PlaybookStepExecution($execution_id: ID!, $event_id: ID!, $execution_start: DateTime!, $data_instance_id: ID!, $playbook_id: ID!, $previous_step_id: ID!, $step_id: ID!, $previous_bundle: String!, $bundle: String!) { playbookStepExecution(execution_id: $execution_id, event_id: $event_id, execution_start: $execution_start, data_instance_id: $data_instance_id, playbook_id: $playbook_id, previous_step_id: $previous_step_id, step_id: $step_id, previous_bundle: $previous_bundle, bundle: $bundle) }",
        json!({"execution_id": "e", "event_id": "v", "execution_start": "2026-01-15T10:30:00+00:00", "data_instance_id": "d",
               "playbook_id": "p", "previous_step_id": "s0", "step_id": "s1", "previous_bundle": "{}", "bundle": "{}"}),
    )
    .await;
    // Kept, but `false` like the platform: no playbook step "s1" was sent.
    assert_eq!(step, json!({"playbookStepExecution": false}));
    assert_eq!(sim.playbook_steps()[0].arguments["step_id"], "s1");

    // The 7.x worker's discovery query.
    let workers = graphql_ok(
        &sim,
        "query GetConnectors { connectorsForWorker { id name connector_user { api_tokens { id name } } connector_priority_group config { connection { host vhost use_ssl port user pass } listen listen_exchange listen_callback_uri push push_exchange push_routing dead_letter_routing } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        workers["connectorsForWorker"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        workers["connectorsForWorker"][0]["config"]["dead_letter_routing"],
        format!("{}listen_routing_too-large-bundle", sim.name_prefix())
    );

    let deleted = graphql_ok(
        &sim,
        "mutation ConnectorWorksMutation($workId: ID!) { workEdit(id: $workId) { delete } }",
        json!({"workId": work_id}),
    )
    .await;
    assert_eq!(deleted, json!({"workEdit": {"delete": work_id}}));
    let alive = graphql_ok(
        &sim,
        "query WorkAliveQuery($id: ID!) { isWorkAlive(id: $id) }",
        json!({"id": work_id}),
    )
    .await;
    assert_eq!(alive, json!({"isWorkAlive": false}));
    let gone = graphql(
        &sim,
        "mutation pingWork($id: ID!) { workEdit(id: $id) { ping } }",
        json!({"id": work_id}),
    )
    .await;
    assert_eq!(gone["errors"][0]["extensions"]["code"], "FUNCTIONAL_ERROR");

    let unregistered = graphql_ok(
        &sim,
        "mutation ConnectorDeletionMutation($id: ID!) { deleteConnector(id: $id) }",
        json!({"id": other}),
    )
    .await;
    assert_eq!(unregistered, json!({"deleteConnector": other}));
    assert_eq!(sim.connectors().len(), 1);
    assert!(
        sim.works().is_empty(),
        "the deleted connector's works went with it"
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn files_are_uploaded_as_graphql_multipart_requests() {
    let sim = start_with(opencti_sim::SimConfig::for_tests()).await;
    let answer = crate::common::graphql_upload(
        &sim,
        "mutation UploadPending($file: Upload!, $entityId: String, $file_markings: [String!]) { uploadPending(file: $file, entityId: $entityId, file_markings: $file_markings) { id name } }",
        json!({"entityId": null, "file_markings": ["marking-definition--x"]}),
        "file",
        ("work.json", "application/json", br#"{"type": "bundle", "objects": []}"#),
    )
    .await;
    assert_eq!(
        answer,
        json!({"data": {"uploadPending": {"id": "import/pending/work.json", "name": "work.json"}}})
    );
    let files = sim.uploaded_files();
    assert_eq!(files[0].content, "{\"type\": \"bundle\", \"objects\": []}");
    assert_eq!(files[0].markings, ["marking-definition--x"]);
    sim.shutdown().await.expect("clean shutdown");
}
