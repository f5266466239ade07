//! A pycti-compatible import round trip done by hand: register, work,
//! expectations, real envelopes on RabbitMQ, completion, stored objects,
//! and the live stream fed by the worker.

use opencti_sim::{SimConfig, WorkStatus};
use opencti_stix::split::{SplitOptions, split_bundle};
use serde_json::{Value, json};

use crate::common::{
    ADD_EXPECTATIONS, PING, TIMEOUT, WORK_QUERY, graphql, graphql_ok, publish_bundles, register,
    sample_bundle, sim_api, start, start_with, work_add,
};

#[tokio::test]
async fn pycti_style_import_completes_its_work_and_stores_every_object() {
    let sim = start().await;
    let connector_id = uuid::Uuid::new_v4().to_string();

    let about = graphql_ok(&sim, "\n            query healthCheck {\n                about {\n                    version\n                }\n            }\n        ", json!({})).await;
    assert_eq!(
        about,
        json!({"about": {"version": opencti_sim::DEFAULT_PLATFORM_VERSION}})
    );

    let registered = register(&sim, &connector_id).await;
    let prefix = sim.name_prefix().to_owned();
    assert!(!prefix.is_empty(), "tests use a random prefix");
    assert_eq!(
        registered["config"],
        json!({
            "connection": {"host": "127.0.0.1", "vhost": "/", "use_ssl": false, "port": 5672, "user": "guest", "pass": "guest"},
            "listen": format!("{prefix}listen_{connector_id}"),
            "listen_routing": format!("{prefix}listen_routing_{connector_id}"),
            "listen_exchange": format!("{prefix}amqp.connector.exchange"),
            "push": format!("{prefix}push_{connector_id}"),
            "push_routing": format!("{prefix}push_routing_{connector_id}"),
            "push_exchange": format!("{prefix}amqp.worker.exchange"),
        }),
        "exactly the selected fields, with OpenCTI's names"
    );
    assert_eq!(registered["connector_state"], Value::Null);
    let applicant = registered["connector_user_id"]
        .as_str()
        .expect("user id")
        .to_owned();

    let ping = graphql_ok(
        &sim,
        PING,
        json!({"id": connector_id, "state": "null", "connectorInfo": {
            "run_and_terminate": false, "buffering": false, "queue_threshold": 500.0,
            "queue_messages_size": 0.0, "next_run_datetime": null, "last_run_datetime": null}}),
    )
    .await;
    assert_eq!(
        ping["pingConnector"]["connector_state"], "null",
        "state echoed verbatim"
    );

    let work_id = work_add(&sim, &connector_id, "round trip").await;
    assert!(
        work_id.starts_with(&format!("work_{connector_id}_")),
        "{work_id}"
    );

    // What pycti does: split locally, announce the expectations, publish.
    let split = split_bundle(sample_bundle(), &SplitOptions::default()).expect("splits");
    let mut bundles = split.bundles;
    let invalid = json!({"type": "bundle", "id": "bundle--5b6a3a8c-6c1f-4b8e-9a11-0f6a2b7e1c02", "spec_version": "2.1",
        "objects": [{"type": "indicator", "spec_version": "2.1", "id": "indicator--2a1b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "name": "no pattern"}]});
    bundles.push(invalid);
    let expectations = bundles.len();
    assert_eq!(expectations, 5);
    graphql_ok(
        &sim,
        ADD_EXPECTATIONS,
        json!({"id": work_id, "expectations": expectations}),
    )
    .await;
    let config = &registered["config"];
    publish_bundles(config, &bundles, Some(&work_id), &applicant).await;

    let work = sim
        .wait_for_work_complete(&work_id, TIMEOUT)
        .await
        .expect("work completes");
    assert_eq!((work.expected, work.processed), (5, 5));
    assert_eq!(
        work.errors.len(),
        1,
        "the invalid indicator is reported: {:?}",
        work.errors
    );
    assert!(
        work.errors[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("pattern"))
    );
    assert!(
        work.errors[0]
            .source
            .as_deref()
            .is_some_and(|s| s.contains("no pattern"))
    );

    let queried = graphql_ok(&sim, WORK_QUERY, json!({"id": work_id})).await;
    assert_eq!(queried["work"]["status"], "complete");
    assert_eq!(
        queried["work"]["tracking"],
        json!({"import_expected_number": 5, "import_processed_number": 5})
    );
    assert_eq!(queried["work"]["errors"].as_array().map(Vec::len), Some(1));

    let objects = sim_api(&sim, "objects").await;
    let mut ids: Vec<&str> = objects
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        vec![
            "identity--3f8a2c1e-2b7d-4e5f-9a6b-1c2d3e4f5a6b",
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5",
            "relationship--1d9f0d0e-1f4a-4c55-8d3e-7a1b2c3d4e5f",
        ]
    );
    let stored = sim
        .object("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
        .expect("stored");
    assert_eq!(stored.work_id.as_deref(), Some(work_id.as_str()));
    assert!(stored.stix.get("nb_deps").is_none());

    // Every new object went to the live stream as a create event.
    let events = sim.stream_events();
    assert_eq!(events.len(), 4);
    assert!(
        events
            .iter()
            .all(|e| e.event == "create" && e.data["version"] == "4")
    );

    // Publishing a changed object yields an update with its patch.
    let work_2 = work_add(&sim, &connector_id, "second run").await;
    graphql_ok(
        &sim,
        ADD_EXPECTATIONS,
        json!({"id": work_2, "expectations": 1}),
    )
    .await;
    let renamed = json!({"type": "bundle", "id": "bundle--5b6a3a8c-6c1f-4b8e-9a11-0f6a2b7e1c03", "spec_version": "2.1",
        "objects": [{"type": "malware", "spec_version": "2.1", "id": "malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5", "name": "Evil v2", "is_family": true}]});
    publish_bundles(config, &[renamed], Some(&work_2), &applicant).await;
    sim.wait_for_work_complete(&work_2, TIMEOUT)
        .await
        .expect("second work completes");
    let update = sim.stream_events().pop().expect("an event");
    assert_eq!(update.event, "update");
    assert_eq!(
        update.data["context"]["patch"],
        json!([{"op": "replace", "path": "/name", "value": "Evil v2"}])
    );

    let summary = sim.shutdown().await.expect("clean shutdown");
    assert_eq!(summary.objects, 4);
    assert_eq!(summary.worker.objects_invalid, 1);
}

#[tokio::test]
async fn the_worker_splits_multi_object_bundles_like_the_platform() {
    let sim = start().await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    let registered = register(&sim, &connector_id).await;
    let work_id = work_add(&sim, &connector_id, "unsplit").await;

    // One message holding the whole bundle (as `stixBundlePush` or a
    // no-split-unaware sender would queue it): the worker splits it.
    let applicant = registered["connector_user_id"].as_str().expect("user");
    publish_bundles(
        &registered["config"],
        &[sample_bundle()],
        Some(&work_id),
        applicant,
    )
    .await;
    let work = sim
        .wait_for_work_complete(&work_id, TIMEOUT)
        .await
        .expect("completes");
    assert_eq!(
        (work.expected, work.processed),
        (4, 4),
        "addExpectations(4) then one report each"
    );
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    assert_eq!(sim.objects().len(), 4);
    assert_eq!(sim.summary().worker.split_messages, 1);
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn stix_bundle_push_creates_a_work_and_imports_through_the_worker() {
    let sim = start().await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    register(&sim, &connector_id).await;
    let pushed = graphql_ok(
        &sim,
        "mutation StixBundlePush($connectorId: String!, $bundle: String!, $work_id: String) {\n  stixBundlePush(connectorId: $connectorId, bundle: $bundle, work_id: $work_id)\n}",
        json!({"connectorId": connector_id, "bundle": sample_bundle().to_string(), "work_id": null}),
    )
    .await;
    assert_eq!(pushed, json!({"stixBundlePush": true}));
    sim.wait_until("the pushed bundle's work to complete", TIMEOUT, |sim| {
        sim.works().iter().any(|w| w.status == WorkStatus::Complete)
    })
    .await
    .expect("work completes");
    let work = sim.works().pop().expect("one work");
    assert!(
        work.name
            .as_deref()
            .is_some_and(|n| n.starts_with("Test connector run @ ")),
        "{:?}",
        work.name
    );
    assert_eq!(work.processed, 4);

    let refused = graphql(
        &sim,
        "mutation StixBundlePush($connectorId: String!, $bundle: String!) { stixBundlePush(connectorId: $connectorId, bundle: $bundle) }",
        json!({"connectorId": connector_id, "bundle": "{\"type\": \"bundle\", \"objects\": []}"}),
    )
    .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        "FUNCTIONAL_ERROR"
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn bad_push_messages_are_rejected_without_stopping_the_worker() {
    let sim = start().await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    let registered = register(&sim, &connector_id).await;
    let config = &registered["config"];

    let connection = lapin::Connection::connect(
        opencti_sim::DEFAULT_AMQP_URL,
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("broker");
    let channel = connection.create_channel().await.expect("channel");
    let bodies = [
        "not json".to_owned(),
        json!({"content": "%%%"}).to_string(),
        json!({"content": base64_of("{\"type\": \"bundle\"}")}).to_string(),
        json!({"content": base64_of("[1, 2]")}).to_string(),
    ];
    for body in &bodies {
        channel
            .basic_publish(
                config["push_exchange"].as_str().expect("exchange").into(),
                config["push_routing"].as_str().expect("routing").into(),
                lapin::options::BasicPublishOptions::default(),
                body.as_bytes(),
                lapin::BasicProperties::default(),
            )
            .await
            .expect("publish")
            .await
            .expect("published");
    }
    sim.wait_until("four rejections", TIMEOUT, |sim| {
        sim.summary().worker.rejected_messages == 4
    })
    .await
    .expect("all four rejected");
    let worker = sim.summary().worker;
    assert_eq!(worker.received_messages, 4);
    assert_eq!(
        worker.received_bytes,
        bodies.iter().map(|body| body.len() as u64).sum::<u64>(),
        "the mean message size is worked out from these"
    );

    // Still consuming afterwards.
    let work_id = work_add(&sim, &connector_id, "after garbage").await;
    let applicant = registered["connector_user_id"].as_str().expect("user");
    let one = split_bundle(sample_bundle(), &SplitOptions::default())
        .expect("split")
        .bundles;
    graphql_ok(
        &sim,
        ADD_EXPECTATIONS,
        json!({"id": work_id, "expectations": one.len()}),
    )
    .await;
    publish_bundles(config, &one, Some(&work_id), applicant).await;
    sim.wait_for_work_complete(&work_id, TIMEOUT)
        .await
        .expect("completes");
    connection.close(200, "done".into()).await.expect("close");
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_rejected_message_amid_good_ones_is_settled_alone() {
    // Paused from the start, so that everything below is delivered as one
    // batch: the good messages on both sides of the garbage are acked with
    // multiple-acks, the garbage is nacked on its own, and the channel
    // survives (a wrong delivery tag would close it).
    let mut config = SimConfig::for_tests();
    config.workers_paused = true;
    let sim = start_with(config).await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    let registered = register(&sim, &connector_id).await;
    let config = &registered["config"];
    let applicant = registered["connector_user_id"].as_str().expect("user");
    let parts = split_bundle(sample_bundle(), &SplitOptions::default())
        .expect("split")
        .bundles;
    let work_id = work_add(&sim, &connector_id, "mixed batch").await;
    graphql_ok(
        &sim,
        ADD_EXPECTATIONS,
        json!({"id": work_id, "expectations": parts.len()}),
    )
    .await;
    let (first, rest) = parts.split_at(1);
    publish_bundles(config, first, Some(&work_id), applicant).await;
    publish_bundles(config, &[json!([1, 2])], Some(&work_id), applicant).await;
    publish_bundles(config, rest, Some(&work_id), applicant).await;
    assert_eq!(sim.summary().worker.imported_messages, 0, "paused at start");

    sim.resume_worker(&connector_id).expect("resume");
    sim.wait_for_work_complete(&work_id, TIMEOUT)
        .await
        .expect("the good messages complete the work");
    assert_eq!(sim.summary().worker.rejected_messages, 1);

    let later = work_add(&sim, &connector_id, "after the batch").await;
    graphql_ok(
        &sim,
        ADD_EXPECTATIONS,
        json!({"id": later, "expectations": parts.len()}),
    )
    .await;
    publish_bundles(config, &parts, Some(&later), applicant).await;
    sim.wait_for_work_complete(&later, TIMEOUT)
        .await
        .expect("still consuming on the same channel");
    sim.shutdown().await.expect("clean shutdown");
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn multipart_works_on_7x_wait_for_to_processed() {
    let sim = start_with(SimConfig {
        platform_version: "7.261026.0".to_owned(),
        ..SimConfig::for_tests()
    })
    .await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    register(&sim, &connector_id).await;
    let added = graphql_ok(
        &sim,
        "mutation workAdd($connectorId: String!, $friendlyName: String, $isMultiPartWork: Boolean) {\n  workAdd(connectorId: $connectorId, friendlyName: $friendlyName, isMultiPartWork: $isMultiPartWork) { id }\n}",
        json!({"connectorId": connector_id, "friendlyName": "multi", "isMultiPartWork": true}),
    )
    .await;
    let work_id = added["workAdd"]["id"].as_str().expect("id").to_owned();
    graphql_ok(
        &sim,
        ADD_EXPECTATIONS,
        json!({"id": work_id, "expectations": 1}),
    )
    .await;
    let report = "mutation reportExpectation($id: ID!, $error: WorkErrorInput) { workEdit(id: $id) { reportExpectation(error: $error) } }";
    graphql_ok(&sim, report, json!({"id": work_id, "error": null})).await;
    assert_eq!(
        sim.work(&work_id).expect("work").status,
        WorkStatus::Progress
    );
    let processed = "mutation workToProcessed($id: ID!, $message: String, $inError: Boolean) { workEdit(id: $id) { toProcessed (message: $message, inError: $inError) } }";
    graphql_ok(
        &sim,
        processed,
        json!({"id": work_id, "message": "done", "inError": false}),
    )
    .await;
    let work = sim.work(&work_id).expect("work");
    assert_eq!(work.status, WorkStatus::Complete);
    assert_eq!(work.completed_number, Some(1));
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn platform_jobs_reach_an_internal_connector_through_its_listen_queue() {
    let sim = start().await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    register(&sim, &connector_id).await;
    let event = json!({"event_type": "INTERNAL_ENRICHMENT", "entity_id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"});
    let answer: Value = reqwest::Client::new()
        .post(format!(
            "{}/sim/api/connectors/{connector_id}/listen",
            sim.url()
        ))
        .json(&json!({"event": event}))
        .send()
        .await
        .expect("listen call")
        .json()
        .await
        .expect("JSON");
    assert_eq!(answer["status"], "wait");
    let work_id = answer["id"].as_str().expect("work id").to_owned();

    // Consume as pycti's listen thread would.
    let mut queue = crate::common::ListenQueue::open(&sim, &connector_id).await;
    let message = queue.next().await;
    assert_eq!(message["internal"]["work_id"], work_id.as_str());
    assert_eq!(
        message["internal"]["applicant_id"],
        opencti_sim::ADMIN_USER_ID
    );
    assert_eq!(message["event"], event);

    let received = "mutation workToReceived($id: ID!, $message: String) { workEdit(id: $id) { toReceived (message: $message) } }";
    graphql_ok(
        &sim,
        received,
        json!({"id": work_id, "message": "Connector ready to process the operation"}),
    )
    .await;
    assert_eq!(
        sim.work(&work_id).expect("work").status,
        WorkStatus::Progress
    );
    queue.close().await;
    sim.shutdown().await.expect("clean shutdown");
}
