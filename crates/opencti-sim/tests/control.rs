//! The control API (`/sim/api/*`) changes the simulated platform: with a
//! token configured it asks for it, like the platform's own API.

use opencti_sim::SimConfig;
use serde_json::json;

use crate::common::{TOKEN, start, start_with};

#[tokio::test]
async fn the_control_api_asks_for_the_token_when_one_is_set() {
    let sim = start_with(SimConfig {
        token: Some(opencti_sim::Secret::new(TOKEN)),
        ..SimConfig::for_tests()
    })
    .await;
    let client = reqwest::Client::new();
    let summary = format!("{}/sim/api/summary", sim.url());
    assert_eq!(
        client.get(&summary).send().await.expect("get").status(),
        401
    );
    assert_eq!(
        client
            .get(&summary)
            .bearer_auth("wrong")
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    let listen = client
        .post(format!("{}/sim/api/connectors/x/listen", sim.url()))
        .json(&json!({"event": {}}))
        .send()
        .await
        .expect("post");
    assert_eq!(listen.status(), 401, "control calls too");
    assert_eq!(
        client
            .get(&summary)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    sim.shutdown().await.expect("clean shutdown");

    let open = start().await;
    let status = client
        .get(format!("{}/sim/api/summary", open.url()))
        .send()
        .await
        .expect("get")
        .status();
    assert_eq!(status, 200, "without --token, the control API stays open");
    open.shutdown().await.expect("clean shutdown");
}

/// A call fault makes the named operation fail after n calls, k times; the
/// control route installs one like the handle does, and asks for the token.
#[tokio::test]
async fn call_faults_fail_the_named_operation_after_n_calls_k_times() {
    use opencti_sim::{CallFault, FAULT_MESSAGE};

    use crate::common::{ADD_EXPECTATIONS, PING, graphql, register, work_add};

    let sim = start_with(SimConfig {
        token: Some(opencti_sim::Secret::new(TOKEN)),
        ..SimConfig::for_tests()
    })
    .await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    register(&sim, &connector_id).await;
    let work_id = work_add(&sim, &connector_id, "faulted").await;
    let add = || {
        graphql(
            &sim,
            ADD_EXPECTATIONS,
            json!({"id": work_id, "expectations": 1}),
        )
    };

    sim.fail_calls(CallFault::new("addExpectations").after(1).times(2));
    let mut failed = Vec::new();
    for _ in 0..4 {
        let answer = add().await;
        failed.push(answer.get("errors").is_some());
        if let Some(errors) = answer.get("errors") {
            assert_eq!(errors[0]["message"], FAULT_MESSAGE);
        }
    }
    assert_eq!(failed, [false, true, true, false]);
    assert_eq!(
        sim.work(&work_id).expect("work").expected,
        2,
        "a failed call changes nothing"
    );
    let ping_state = json!({"id": connector_id, "state": "{}", "connectorInfo": null});
    let answer = graphql(&sim, PING, ping_state.clone()).await;
    assert!(
        answer.get("errors").is_none(),
        "other operations pass: {answer}"
    );

    let client = reqwest::Client::new();
    let faults = format!("{}/sim/api/faults", sim.url());
    let fault = json!({"operation": "PingConnector", "after": 0, "times": 1, "status": 503});
    let refused = client
        .post(&faults)
        .json(&fault)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 401, "faults need the token");
    let installed = client
        .post(&faults)
        .bearer_auth(TOKEN)
        .json(&fault)
        .send()
        .await
        .expect("post");
    assert_eq!(installed.status(), 200);
    let answer = reqwest::Client::new()
        .post(format!("{}/graphql", sim.url()))
        .bearer_auth(TOKEN)
        .json(&json!({"query": PING, "variables": ping_state}))
        .send()
        .await
        .expect("ping");
    assert_eq!(answer.status(), 503, "a status fault answers its status");
    let listed: serde_json::Value = client
        .get(&faults)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed[0]["fault"]["operation"], "addExpectations");
    assert_eq!(listed[0]["failed"], 2);
    assert_eq!(listed[1]["failed"], 1);
    let bad = client
        .post(&faults)
        .bearer_auth(TOKEN)
        .json(&json!({"operation": ""}))
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 400);
    let cleared = client
        .delete(&faults)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("delete");
    assert_eq!(cleared.status(), 200);
    assert!(sim.faults().is_empty());
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_stop_ends_while_a_client_never_finishes_its_request() {
    use tokio::io::AsyncWriteExt as _;

    let sim = start().await;
    let address = sim.url().trim_start_matches("http://").to_owned();
    // A client that announces a body and never sends it, as a connector
    // killed in the middle of a call leaves a connection behind.
    let mut stalled = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    stalled
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{",
        )
        .await
        .expect("write");
    // The request reached the server before the stop.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(20), sim.shutdown()).await;
    assert!(
        matches!(stopped, Ok(Ok(_))),
        "the stop waits on the stalled request: {stopped:?}"
    );
    drop(stalled);
}

#[tokio::test]
async fn keep_recent_records_caps_the_histories_through_the_control_api() {
    let sim = start().await;
    let client = reqwest::Client::new();
    let events = format!("{}/sim/api/stream-events", sim.url());
    let keep = format!("{}/sim/api/keep-recent-records", sim.url());
    let inject = |n: usize| {
        client
            .post(&events)
            .json(&json!({
                "type": "create",
                "data": {
                    "type": "indicator", "spec_version": "2.1",
                    "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
                    "name": format!("n{n}"), "pattern": "[ipv4-addr:value = '10.0.0.1']",
                    "pattern_type": "stix", "valid_from": "2025-11-24T10:00:00.000Z",
                },
            }))
            .send()
    };
    for n in 0..5 {
        assert_eq!(inject(n).await.expect("inject").status(), 200);
    }
    let names = || async {
        let listed: Vec<serde_json::Value> = client
            .get(&events)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        listed
            .iter()
            .map(|event| {
                event["data"]["data"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(names().await.len(), 5);

    for refused in [json!({"entries": 0}), json!({"keep": 2}), json!("2")] {
        let answer = client
            .post(&keep)
            .json(&refused)
            .send()
            .await
            .expect("post");
        assert_eq!(answer.status(), 400, "{refused}");
    }
    assert_eq!(names().await.len(), 5, "a refused call changes nothing");

    let answer = client
        .post(&keep)
        .json(&json!({"entries": 2}))
        .send()
        .await
        .expect("post");
    assert_eq!(answer.status(), 200);
    assert_eq!(names().await, ["n3", "n4"], "the newest two are kept");
    assert_eq!(inject(5).await.expect("inject").status(), 200);
    assert_eq!(names().await, ["n4", "n5"], "and stay capped from then on");
    sim.shutdown().await.expect("clean shutdown");
}
