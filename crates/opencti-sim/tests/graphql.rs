//! GraphQL behaviour: validation, authentication, exact selections, state
//! and reset, queue details for buffering, persistence.

use opencti_sim::{Secret, SimConfig};
use serde_json::{Value, json};

use crate::common::{
    GET_CONNECTOR, PING, TOKEN, graphql, graphql_ok, graphql_with_token, publish_bundles, register,
    sample_bundle, start, start_with,
};

#[tokio::test]
async fn documents_that_do_not_match_the_schema_are_rejected_and_recorded() {
    let sim = start().await;
    let invalid = graphql(&sim, "query Bad { about { version nope } }", json!({})).await;
    assert_eq!(
        invalid["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert!(invalid.get("data").is_none());
    let broken = graphql(&sim, "query Broken { about { version ", json!({})).await;
    assert_eq!(
        broken["errors"][0]["extensions"]["code"],
        "GRAPHQL_PARSE_FAILED"
    );
    // Variables must match the argument types (`ID!` here).
    let wrong_type = graphql(
        &sim,
        "query ($id: String!) { work(id: $id) { id } }",
        json!({"id": "x"}),
    )
    .await;
    assert_eq!(
        wrong_type["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );

    let rejected = sim.rejected_requests();
    assert_eq!(rejected.len(), 3);
    assert_eq!(rejected[0].query, "query Bad { about { version nope } }");
    assert!(
        rejected[0].errors[0].contains("nope"),
        "{:?}",
        rejected[0].errors
    );
    let listed: Value = reqwest::get(format!("{}/sim/api/rejected-requests", sim.url()))
        .await
        .expect("get")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn responses_hold_exactly_the_selected_fields_and_operations_are_named_from_the_document() {
    let sim = start().await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    register(&sim, &connector_id).await;
    let data = graphql_ok(
        &sim,
        "query GetConnector($id: String!) { connector(id: $id) { id name alias: connector_type config { push } } }",
        json!({"id": connector_id}),
    )
    .await;
    assert_eq!(
        data,
        json!({"connector": {
            "id": connector_id,
            "name": "Test connector",
            "alias": "EXTERNAL_IMPORT",
            "config": {"push": format!("{}push_{connector_id}", sim.name_prefix())},
        }})
    );
    let missing = graphql_ok(
        &sim,
        "query GetConnector($id: String!) { connector(id: $id) { id } }",
        json!({"id": "nope"}),
    )
    .await;
    assert_eq!(missing, json!({"connector": null}));

    let calls = sim.graphql_calls();
    let names: Vec<Option<&str>> = calls.iter().map(|c| c.operation.as_deref()).collect();
    assert_eq!(
        names,
        [
            Some("RegisterConnector"),
            Some("GetConnector"),
            Some("GetConnector")
        ]
    );
    assert_eq!(calls[0].kind, "mutation");
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_configured_token_is_required() {
    let sim = start_with(SimConfig {
        token: Some(Secret::new(TOKEN)),
        ..SimConfig::for_tests()
    })
    .await;
    let health = "query healthCheck { about { version } }";
    for token in [None, Some("wrong"), Some("")] {
        let refused = graphql_with_token(&sim, token, health, json!({})).await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "AUTH_REQUIRED",
            "{token:?}"
        );
        assert_eq!(
            refused["errors"][0]["message"],
            "You must be logged in to do this."
        );
    }
    assert!(
        graphql_with_token(&sim, Some(TOKEN), health, json!({}))
            .await
            .get("errors")
            .is_none()
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn platform_errors_carry_a_code_and_a_name() {
    let sim = start().await;
    let answer = graphql(
        &sim,
        PING,
        json!({"id": "unknown", "state": "null", "connectorInfo": null}),
    )
    .await;
    let error = &answer["errors"][0];
    assert_eq!(error["message"], "No connector found with the specified ID");
    assert_eq!(error["name"], "FUNCTIONAL_ERROR");
    assert_eq!(error["extensions"]["code"], "FUNCTIONAL_ERROR");
    assert_eq!(error["path"], json!(["pingConnector"]));

    let short_name = graphql(
        &sim,
        "mutation RegisterConnector($input: RegisterConnectorInput) { registerConnector(input: $input) { id } }",
        json!({"input": {"id": "x", "name": " ", "type": "STREAM"}}),
    )
    .await;
    assert_eq!(
        short_name["errors"][0]["extensions"]["code"],
        "VALIDATION_ERROR"
    );
    let bad_enum = graphql(
        &sim,
        "mutation RegisterConnector($input: RegisterConnectorInput) { registerConnector(input: $input) { id } }",
        json!({"input": {"id": "x", "name": "ok name", "type": "NOT_A_TYPE"}}),
    )
    .await;
    assert_eq!(
        bad_enum["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    sim.shutdown().await.expect("clean shutdown");
}

async fn queue_details(sim: &opencti_sim::SimHandle, id: &str) -> (f64, f64) {
    let data = graphql_ok(sim, GET_CONNECTOR, json!({"id": id})).await;
    let details = &data["connector"]["connector_queue_details"];
    (
        details["messages_number"].as_f64().expect("number"),
        details["messages_size"].as_f64().expect("size"),
    )
}

#[tokio::test]
async fn state_is_stored_from_pings_and_a_reset_purges_and_empties_it() {
    let sim = start().await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    let registered = register(&sim, &connector_id).await;
    let ping = |state: &'static str| {
        let sim = &sim;
        let id = connector_id.clone();
        async move {
            graphql_ok(
                sim,
                PING,
                json!({"id": id, "state": state, "connectorInfo": null}),
            )
            .await["pingConnector"]["connector_state"]
                .clone()
        }
    };
    assert_eq!(
        ping("{\"last_run\": 1718010586.1741812}").await,
        "{\"last_run\": 1718010586.1741812}"
    );

    // Buffering: a paused worker lets the queue fill, and the sizes show it.
    sim.pause_worker(&connector_id).expect("pause");
    let applicant = registered["connector_user_id"].as_str().expect("user");
    publish_bundles(
        &registered["config"],
        &[sample_bundle(), sample_bundle()],
        None,
        applicant,
    )
    .await;
    let mut details = (0.0, 0.0);
    for _ in 0..100 {
        details = queue_details(&sim, &connector_id).await;
        if details.0 >= 2.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(details.0, 2.0, "two messages waiting");
    let body_size = sample_bundle().to_string().len() as f64;
    assert!(
        details.1 > body_size * 2.0,
        "base64 bodies are bigger than the bundles: {details:?}"
    );

    // UI reset over the admin API.
    let reset = reqwest::Client::new()
        .post(format!(
            "{}/sim/api/connectors/{connector_id}/reset",
            sim.url()
        ))
        .send()
        .await
        .expect("reset");
    assert_eq!(reset.status(), 200);
    let connector = sim.connector(&connector_id).expect("registered");
    assert_eq!(connector.state.as_deref(), Some(""));
    assert!(connector.state_reset);
    let mut details = (1.0, 1.0);
    for _ in 0..100 {
        details = queue_details(&sim, &connector_id).await;
        if details == (0.0, 0.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(details, (0.0, 0.0), "both queues purged");

    // The next ping consumes the reset and echoes the empty state; the one
    // after that stores again.
    assert_eq!(ping("{\"last_run\": 1}").await, "");
    assert_eq!(
        sim.connector(&connector_id)
            .expect("registered")
            .state
            .as_deref(),
        Some("")
    );
    assert_eq!(ping("{\"last_run\": 2}").await, "{\"last_run\": 2}");
    sim.resume_worker(&connector_id).expect("resume");
    assert!(
        sim.objects().is_empty(),
        "purged messages were never imported"
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_data_file_keeps_state_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sim.json");
    let config = SimConfig {
        data_file: Some(path.clone()),
        ..SimConfig::for_tests()
    };
    let sim = start_with(config.clone()).await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    register(&sim, &connector_id).await;
    graphql_ok(
        &sim,
        PING,
        json!({"id": connector_id, "state": "{\"a\": 1}", "connectorInfo": null}),
    )
    .await;
    sim.inject_event(opencti_sim::EventInjection::new(
        opencti_sim::EventKind::Create,
        json!({"type": "malware", "id": "malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5", "name": "Evil", "is_family": true}),
    ))
    .expect("inject");
    let last_id = sim.stream_events().pop().expect("event").id;
    sim.shutdown().await.expect("clean shutdown");
    assert!(path.exists());

    let sim = start_with(config).await;
    let restored = graphql_ok(&sim, GET_CONNECTOR, json!({"id": connector_id})).await;
    assert_eq!(restored["connector"]["connector_state"], "{\"a\": 1}");
    assert_eq!(sim.objects().len(), 1);
    let next = sim
        .inject_event(opencti_sim::EventInjection::delete_id(
            "malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5",
        ))
        .expect("delete");
    let (last, next): (Vec<u64>, Vec<u64>) = (
        last_id
            .split('-')
            .map(|p| p.parse().expect("number"))
            .collect(),
        next.id
            .split('-')
            .map(|p| p.parse().expect("number"))
            .collect(),
    );
    assert!(next > last, "ids keep increasing across restarts");
    sim.shutdown().await.expect("clean shutdown");
}
