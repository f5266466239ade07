//! The whole connector against `opencti-sim` (registration, live stream,
//! state in pings) and the fake Sekoia: the collection ends up as the
//! stream says, across a restart and through Sekoia's failures.

use std::time::Duration;

use axum::http::StatusCode;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings, Var};
use opencti_connector::state::PingSchedule;
use opencti_connector::stream::StreamRunner;
use opencti_sekoia_intel::SekoiaSink;
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
use opencti_sekoia_intel::{SekoiaConfig, VARS};
use opencti_sim::{EventInjection, EventKind, SimConfig, SimHandle};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const CONNECTOR_ID: &str = "8a1d6c2e-3f4b-4e5a-9b6c-7d8e9f0a1b2c";
/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(30);

fn id(n: u32) -> String {
    format!("indicator--00000000-0000-4000-8000-{n:012}")
}

fn indicator(n: u32, pattern: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id(n),
        "name": format!("indicator {n}"),
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2025-11-24T10:00:00.000Z",
        "revoked": false,
    })
}

fn revoked(mut object: Value, revoked: bool) -> Value {
    object["revoked"] = json!(revoked);
    object
}

fn create(object: Value) -> EventInjection {
    EventInjection::new(EventKind::Create, object)
}

fn update(object: Value) -> EventInjection {
    EventInjection::new(EventKind::Update, object)
}

fn first_half() -> Vec<EventInjection> {
    let mut yara = indicator(7, "rule x { condition: true }");
    yara["pattern_type"] = json!("yara");
    vec![
        create(indicator(1, "[ipv4-addr:value = '198.51.100.1']")),
        create(indicator(2, "[domain-name:value = 'evil.example']")),
        create(indicator(
            3,
            "[url:value = 'http://evil.example/a?b=c&d=e#f']",
        )),
        create(indicator(
            4,
            "[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f' OR file:hashes.'SHA-1' = '3395856ce81f2b7382dee72602f798b642f14140']",
        )),
        create(indicator(5, "[ipv4-addr:value = 'not-an-address']")),
        create(yara),
        create(json!({
            "type": "malware",
            "spec_version": "2.1",
            "id": "malware--00000000-0000-4000-8000-000000000008",
            "name": "not an indicator",
            "is_family": false,
        })),
        create(indicator(9, "[ipv4-addr:value = '198.51.100.9']")),
        create(revoked(
            indicator(10, "[domain-name:value = 'born-revoked.example']"),
            true,
        )),
    ]
}

fn second_half() -> Vec<EventInjection> {
    vec![
        // The address of 1 changes: the old one must leave.
        update(indicator(1, "[ipv4-addr:value = '198.51.100.2']")),
        update(revoked(
            indicator(2, "[domain-name:value = 'evil.example']"),
            true,
        )),
        EventInjection::delete_id(id(3)),
        update(revoked(
            indicator(9, "[ipv4-addr:value = '198.51.100.9']"),
            true,
        )),
        update(revoked(
            indicator(9, "[ipv4-addr:value = '198.51.100.9']"),
            false,
        )),
        create(indicator(11, "[email-addr:value = 'phish@evil.example']")),
        create(indicator(12, "[ipv6-addr:value = '2001:db8::12']")),
    ]
}

/// The active values once the whole stream is applied.
fn expected() -> Vec<String> {
    let mut values: Vec<String> = [
        "198.51.100.2",
        "44d88612fea8a8f36de82e1278abb02f",
        "3395856ce81f2b7382dee72602f798b642f14140",
        "198.51.100.9",
        "phish@evil.example",
        "2001:db8::12",
    ]
    .iter()
    .map(|v| (*v).to_owned())
    .collect();
    values.sort();
    values
}

fn settings(sim: &SimHandle, fake: &FakeSekoia) -> Settings {
    let tables: Vec<&[Var]> = RUNTIME_TABLES.iter().copied().chain([VARS]).collect();
    let pairs = vec![
        ("OPENCTI_URL", sim.url()),
        ("OPENCTI_TOKEN", "test-token".to_owned()),
        ("CONNECTOR_ID", CONNECTOR_ID.to_owned()),
        ("CONNECTOR_NAME", "Sekoia".to_owned()),
        ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
        ("SEKOIA_INTEL_URL", fake.url()),
        ("SEKOIA_INTEL_APIKEY", "sk_test".to_owned()),
        (
            "SEKOIA_INTEL_IOC_COLLECTION_UUID",
            DEFAULT_COLLECTION.to_owned(),
        ),
        // Small batches, so that a stop falls between batches.
        ("SEKOIA_INTEL_BATCH_SIZE", "3".to_owned()),
        ("SEKOIA_INTEL_BATCH_WAIT_MS", "20".to_owned()),
    ];
    Settings::from_env_pairs(&tables, pairs)
}

fn runner(settings: &Settings) -> StreamRunner<SekoiaSink> {
    let runtime = RuntimeConfig::try_from(settings).expect("runtime configuration");
    let sekoia = SekoiaConfig::try_from(settings).expect("Sekoia configuration");
    let sink = SekoiaSink::new(sekoia).expect("sink");
    StreamRunner::new(sink, runtime).with_pings(PingSchedule {
        interval: Duration::from_secs(40),
        debounce: Duration::from_millis(50),
    })
}

struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(TIMEOUT, self.task)
            .await
            .expect("the connector stops in time")
            .expect("the connector task does not panic");
    }
}

async fn launch(sim: &SimHandle, fake: &FakeSekoia) -> Running {
    let runner = runner(&settings(sim, fake));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        runner
            .run(stop)
            .await
            .expect("the connector runs until stopped");
    });
    sim.wait_until("the connector to register", TIMEOUT, |sim| {
        sim.connector(CONNECTOR_ID).is_some()
    })
    .await
    .expect("registration");
    Running { shutdown, task }
}

async fn start_sim() -> SimHandle {
    let config = SimConfig {
        heartbeat_interval: Duration::from_millis(200),
        ..SimConfig::for_tests()
    };
    tokio::time::timeout(TIMEOUT, opencti_sim::Sim::start(config))
        .await
        .expect("the simulator starts in time")
        .expect("the simulator starts")
}

fn inject(sim: &SimHandle, events: Vec<EventInjection>) -> String {
    let mut last = String::new();
    for event in events {
        last = sim.inject_event(event).expect("injection").id;
    }
    last
}

fn saved_position(sim: &SimHandle) -> Option<String> {
    let state = sim.connector(CONNECTOR_ID)?.state?;
    let state: Value = serde_json::from_str(&state).ok()?;
    state["start_from"].as_str().map(str::to_owned)
}

/// `<ms>-<seq>` as a pair that orders like the stream.
fn stream_order(id: &str) -> Option<(u64, u64)> {
    let (millis, sequence) = id.split_once('-')?;
    Some((millis.parse().ok()?, sequence.parse().ok()?))
}

/// Waits until the saved position reaches `last` (heartbeats may carry it
/// further).
async fn wait_for_position(sim: &SimHandle, last: &str) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let reached =
        |position: Option<String>| position.as_deref().and_then(stream_order) >= stream_order(last);
    while !reached(saved_position(sim)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the position never reached the end of the stream: {:?} instead of {last}",
            saved_position(sim)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_for_values(fake: &FakeSekoia, expected: &[String]) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let actual = fake.active_values(DEFAULT_COLLECTION);
        if actual == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the collection never reached the expected contents:\n actual {actual:#?}\n expected {expected:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collection_follows_the_stream_across_a_restart() {
    let sim = start_sim().await;
    let fake = FakeSekoia::start(FakeSettings::default()).await.unwrap();

    // A slow Sekoia keeps the first run busy long enough to stop it with
    // part of the first half applied and part still to come.
    fake.set_delay(Some(Duration::from_millis(100)));
    let first = launch(&sim, &fake).await;
    let first_half_end = inject(&sim, first_half());
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while saved_position(&sim).is_none_or(|position| position == "0-0") {
        assert!(tokio::time::Instant::now() < deadline, "no progress saved");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.stop().await;
    fake.set_delay(None);
    let paused_at = saved_position(&sim).expect("a saved position");
    assert_ne!(
        paused_at, first_half_end,
        "stopped in the middle of the stream"
    );

    let last = inject(&sim, second_half());
    let second = launch(&sim, &fake).await;
    wait_for_values(&fake, &expected()).await;
    wait_for_position(&sim, &last).await;
    second.stop().await;

    // Every import links back to its indicator in the platform.
    let imports = fake.accepted_imports();
    assert!(!imports.is_empty());
    for import in &imports {
        let description = import["description"].as_str().expect("a description");
        assert!(
            description.starts_with(&format!(
                "{}/dashboard/observations/indicators/",
                sim.url().trim_end_matches('/')
            )),
            "{description}"
        );
        assert_eq!(import["valid_from"], "2025-11-24T10:00:00.000Z");
    }
    // The refused value was tried, and did not hold anything up.
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.status == StatusCode::BAD_REQUEST)
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_sekoia_delay_but_do_not_lose_events() {
    let sim = start_sim().await;
    let fake = FakeSekoia::start(FakeSettings::default()).await.unwrap();
    let running = launch(&sim, &fake).await;

    inject(&sim, first_half());
    fake.inject_failures(StatusCode::TOO_MANY_REQUESTS, 1, Some(1));
    fake.inject_failures(StatusCode::SERVICE_UNAVAILABLE, 2, None);
    fake.inject_malformed(1);
    fake.inject_dropped_connections(1);
    let last = inject(&sim, second_half());
    wait_for_values(&fake, &expected()).await;
    wait_for_position(&sim, &last).await;
    running.stop().await;

    let failed = fake
        .requests()
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            )
        })
        .count();
    assert_eq!(failed, 3, "the injected failures were met and retried");
    sim.shutdown().await.expect("clean shutdown");
}
