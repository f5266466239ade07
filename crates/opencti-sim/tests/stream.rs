//! The live stream over HTTP: wire format, resume, filters, 401/410, and the
//! loop from the worker to a stream reader.

use std::time::Duration;

use opencti_sim::{EventInjection, EventKind, Secret, SimConfig, StreamCollectionConfig};
use serde_json::{Value, json};

use crate::common::{SseReader, TOKEN, open_stream, start_with};

fn indicator(n: u32, name: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "name": name,
        "pattern": format!("[ipv4-addr:value = '10.0.0.{n}']"),
        "pattern_type": "stix",
    })
}

fn quick_heartbeats() -> SimConfig {
    SimConfig {
        heartbeat_interval: Duration::from_millis(200),
        stream_collections: vec![
            StreamCollectionConfig {
                entity_types: Some(vec!["malware".to_owned()]),
                ..StreamCollectionConfig::live("malware-only")
            },
            StreamCollectionConfig::stopped("stopped"),
        ],
        ..SimConfig::for_tests()
    }
}

#[tokio::test]
async fn a_reader_resumes_after_its_last_event_id() {
    let sim = start_with(quick_heartbeats()).await;
    for n in 1..=3 {
        sim.inject_event(EventInjection::new(
            EventKind::Create,
            indicator(n, "first"),
        ))
        .expect("inject");
    }
    let response = open_stream(
        &sim,
        "live",
        &[("Last-Event-ID", "0-0"), ("no-dependencies", "true")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "text/event-stream; charset=utf-8"
    );
    let mut reader = SseReader::new(response);
    let connected = reader.next().await;
    assert_eq!(
        (connected.id.as_deref(), connected.event.as_str()),
        (None, "connected")
    );
    let connected: Value = serde_json::from_str(&connected.data).expect("JSON");
    assert_eq!(connected["streamSize"], 3);

    let mut ids = Vec::new();
    for n in 1..=3 {
        let event = reader.next_data().await;
        assert_eq!(event.event, "create");
        let payload: Value = serde_json::from_str(&event.data).expect("JSON");
        assert_eq!(payload["version"], "4");
        assert_eq!(payload["data"]["name"], "first");
        assert_eq!(
            payload["data"]["pattern"],
            format!("[ipv4-addr:value = '10.0.0.{n}']")
        );
        ids.push(event.id.expect("data events carry an id"));
    }
    let heartbeat = reader.next().await;
    assert_eq!(heartbeat.event, "heartbeat");
    assert_eq!(
        heartbeat.id.as_deref(),
        Some(ids[2].as_str()),
        "position after the last read event"
    );
    drop(reader);

    // Reconnect after the second event: only the third one, then live ones.
    let response = open_stream(&sim, "live", &[("Last-Event-ID", ids[1].as_str())]).await;
    let mut reader = SseReader::new(response);
    assert_eq!(reader.next().await.event, "connected");
    let resumed = reader.next_data().await;
    assert_eq!(resumed.id.as_deref(), Some(ids[2].as_str()));
    sim.inject_event(EventInjection::new(EventKind::Update, {
        let mut revoked = indicator(1, "first");
        revoked["revoked"] = json!(true);
        revoked
    }))
    .expect("inject");
    let update = reader.next_data().await;
    assert_eq!(update.event, "update");
    let payload: Value = serde_json::from_str(&update.data).expect("JSON");
    assert_eq!(
        payload["context"]["patch"],
        json!([{"op": "add", "path": "/revoked", "value": true}])
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn live_mode_sends_only_new_events_and_filters_apply() {
    let sim = start_with(quick_heartbeats()).await;
    sim.inject_event(EventInjection::new(EventKind::Create, indicator(1, "old")))
        .expect("inject");
    let response = open_stream(&sim, "live", &[("listen-delete", "false")]).await;
    let mut reader = SseReader::new(response);
    assert_eq!(reader.next().await.event, "connected");
    // Heartbeats carry an id even when nothing was read.
    let heartbeat = reader.next().await;
    assert_eq!(heartbeat.event, "heartbeat");
    assert!(heartbeat.id.is_some());
    let date: String = serde_json::from_str(&heartbeat.data).expect("a JSON string");
    assert!(date.ends_with('Z'), "{date}");

    sim.inject_event(EventInjection::delete_id(
        "indicator--00000000-0000-4000-8000-000000000001",
    ))
    .expect("delete");
    sim.inject_event(EventInjection::new(EventKind::Create, indicator(2, "new")))
        .expect("inject");
    let event = reader.next_data().await;
    assert_eq!(
        event.event, "create",
        "the delete is skipped with listen-delete: false"
    );
    assert!(event.data.contains("\"new\""));

    // A collection filtered on malware does not see indicators.
    let response = open_stream(&sim, "malware-only", &[("from", "0")]).await;
    let mut reader = SseReader::new(response);
    assert_eq!(reader.next().await.event, "connected");
    sim.inject_event(EventInjection::new(
        EventKind::Create,
        json!({"type": "malware", "id": "malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5", "name": "Evil", "is_family": true}),
    ))
    .expect("inject");
    let event = reader.next_data().await;
    assert!(event.data.contains("\"Evil\""), "{}", event.data);
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn recover_replays_stored_objects_then_dependencies_precede_their_referrers() {
    let sim = start_with(quick_heartbeats()).await;
    let author = json!({"type": "identity", "id": "identity--3f8a2c1e-2b7d-4e5f-9a6b-1c2d3e4f5a6b", "name": "Author", "identity_class": "organization"});
    sim.inject_event(EventInjection::new(EventKind::Create, author))
        .expect("inject");
    sim.inject_event(EventInjection::new(EventKind::Create, indicator(1, "a")))
        .expect("inject");

    // First run of a pycti stream connector: from 0-0, recover until its
    // start date (whole seconds, so one second ahead to cover what exists).
    let recover_until = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let url = format!("{}/stream/live?recover={recover_until}", sim.url());
    let response = reqwest::Client::new()
        .get(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("Last-Event-ID", "0-0")
        .header("no-dependencies", "true")
        .send()
        .await
        .expect("stream");
    let mut reader = SseReader::new(response);
    assert_eq!(reader.next().await.event, "connected");
    for _ in 0..2 {
        let event = reader.next_data().await;
        let payload: Value = serde_json::from_str(&event.data).expect("JSON");
        assert_eq!(payload["origin"]["referer"], "init");
    }
    drop(reader);

    // Without no-dependencies, a referenced object nobody sent yet goes first.
    let response = open_stream(&sim, "live", &[]).await;
    let mut reader = SseReader::new(response);
    assert_eq!(reader.next().await.event, "connected");
    let mut referring = indicator(2, "b");
    referring["created_by_ref"] = json!("identity--3f8a2c1e-2b7d-4e5f-9a6b-1c2d3e4f5a6b");
    sim.inject_event(EventInjection::new(EventKind::Create, referring))
        .expect("inject");
    let dependency = reader.next_data().await;
    let payload: Value = serde_json::from_str(&dependency.data).expect("JSON");
    assert_eq!(payload["origin"]["referer"], "dependencies");
    assert_eq!(payload["data"]["name"], "Author");
    let main = reader.next_data().await;
    assert_eq!(
        main.id, dependency.id,
        "dependencies reuse the triggering event's id"
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn recovering_again_from_a_saved_position_loses_no_object_of_its_millisecond() {
    let sim = start_with(quick_heartbeats()).await;
    let count = 200;
    for n in 1..=count {
        sim.inject_event(EventInjection::new(EventKind::Create, indicator(n, "x")))
            .expect("inject");
    }
    let recover_until = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // (stream id, object id) of every recovered event, from `position`.
    let recovered = |position: String| {
        let url = format!("{}/stream/live?recover={recover_until}", sim.url());
        async move {
            let response = reqwest::Client::new()
                .get(url)
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("Last-Event-ID", position)
                .header("no-dependencies", "true")
                .send()
                .await
                .expect("stream");
            let mut reader = SseReader::new(response);
            let mut events = Vec::new();
            loop {
                let event = reader.next().await;
                match event.event.as_str() {
                    "connected" => {}
                    "heartbeat" => return events,
                    _ => {
                        let payload: Value = serde_json::from_str(&event.data).expect("JSON");
                        let object = payload["data"]["id"].as_str().expect("id").to_owned();
                        events.push((event.id.expect("recovery events carry ids"), object));
                    }
                }
            }
        }
    };
    let first = recovered("0-0".to_owned()).await;
    assert_eq!(first.len(), count as usize);
    let millisecond = |id: &str| id.split_once('-').expect("<ms>-<seq>").0.to_owned();
    // A connector that stopped right after the first of two objects
    // updated in the same millisecond.
    let stop = (0..first.len() - 1)
        .find(|&i| millisecond(&first[i].0) == millisecond(&first[i + 1].0))
        .expect("200 injections share a millisecond somewhere");
    let again: Vec<String> = recovered(first[stop].0.clone())
        .await
        .into_iter()
        .map(|(_, object)| object)
        .collect();
    for (_, object) in &first[stop + 1..] {
        assert!(again.contains(object), "{object} was not recovered again");
    }
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn bad_tokens_unknown_and_stopped_collections_are_refused() {
    let sim = start_with(SimConfig {
        token: Some(Secret::new(TOKEN)),
        ..quick_heartbeats()
    })
    .await;
    let get = |path: &str, token: Option<&str>| {
        let mut request = reqwest::Client::new().get(format!("{}/stream{path}", sim.url()));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send()
    };
    assert_eq!(get("/live", None).await.expect("answer").status(), 401);
    assert_eq!(
        get("/live", Some("wrong")).await.expect("answer").status(),
        401
    );
    assert_eq!(
        get("/no-such-collection", Some(TOKEN))
            .await
            .expect("answer")
            .status(),
        401
    );
    let stopped = get("/stopped", Some(TOKEN)).await.expect("answer");
    assert_eq!(stopped.status(), 410);
    assert_eq!(
        stopped.text().await.expect("body"),
        "This live stream is stopped"
    );
    let bad_recover = get("/live?recover=2026-01-01T00:00:00Z", Some(TOKEN))
        .await
        .expect("answer");
    assert_eq!(bad_recover.status(), 500);
    assert_eq!(
        get("", Some(TOKEN)).await.expect("answer").status(),
        200,
        "the raw stream"
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn events_can_be_injected_over_http_as_json_or_jsonl() {
    let sim = start_with(quick_heartbeats()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/sim/api/stream-events", sim.url());
    let created: Value = client
        .post(&url)
        .json(&json!({"type": "create", "data": indicator(1, "x")}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("JSON");
    assert_eq!(created[0]["event"], "create");
    let lines = format!(
        "{}\n\n{}\n",
        json!({"type": "update", "data": indicator(1, "y")}),
        json!({"type": "delete", "id": "indicator--00000000-0000-4000-8000-000000000001"})
    );
    let answer = client.post(&url).body(lines).send().await.expect("post");
    assert_eq!(answer.status(), 200);
    let kinds: Vec<String> = sim.stream_events().into_iter().map(|e| e.event).collect();
    assert_eq!(kinds, ["create", "update", "delete"]);
    assert!(sim.objects().is_empty());
    let refused = client
        .post(&url)
        .json(&json!({"type": "delete", "id": "indicator--missing"}))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 400);
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn objects_imported_by_the_worker_reach_a_stream_reader() {
    let sim = start_with(quick_heartbeats()).await;
    let response = open_stream(&sim, "live", &[("no-dependencies", "true")]).await;
    let mut reader = SseReader::new(response);
    assert_eq!(reader.next().await.event, "connected");

    let connector_id = uuid::Uuid::new_v4().to_string();
    let registered = crate::common::register(&sim, &connector_id).await;
    let applicant = registered["connector_user_id"].as_str().expect("user");
    crate::common::publish_bundles(
        &registered["config"],
        &[crate::common::sample_bundle()],
        None,
        applicant,
    )
    .await;

    let mut seen = Vec::new();
    for _ in 0..4 {
        let event = reader.next_data().await;
        assert_eq!(event.event, "create");
        let payload: Value = serde_json::from_str(&event.data).expect("JSON");
        assert_eq!(payload["origin"]["referer"], "worker");
        seen.push(payload["data"]["type"].as_str().expect("type").to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["identity", "indicator", "malware", "relationship"]);
    sim.shutdown().await.expect("clean shutdown");
}
