//! The whole connector against `opencti-sim` (registration, live stream,
//! state in pings) and the fake PT NAD: the lists end up exactly as the
//! stream says, across a restart in the middle of the stream.

use std::collections::BTreeSet;
use std::time::Duration;

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings, Var};
use opencti_connector::state::PingSchedule;
use opencti_connector::stream::StreamRunner;
use opencti_ptnad::PtnadSink;
use opencti_ptnad::fake::{FakePtnad, FakeSettings};
use opencti_ptnad::{PtnadConfig, VARS};
use opencti_sim::{EventInjection, EventKind, SimConfig, SimHandle};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const CONNECTOR_ID: &str = "5d9c0a8e-4b43-4f0e-9a55-3f4d1f5c7e21";
/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(30);

const MD5_D: &str = "44d88612fea8a8f36de82e1278abb02f";
const MD5_I: &str = "d41d8cd98f00b204e9800998ecf8427e";
const MD5_N: &str = "0123456789abcdef0123456789abcdef";

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

/// The first half of the stream: creations of every kind, ignored objects.
fn first_half() -> Vec<EventInjection> {
    let mut yara = indicator(
        7,
        "rule x { strings: $a = \"url:value = 'http://no/'\" condition: $a }",
    );
    yara["pattern_type"] = json!("yara");
    vec![
        create(indicator(1, "[ipv4-addr:value = '198.51.100.1']")),
        create(indicator(2, "[domain-name:value = 'evil.example']")),
        create(indicator(
            3,
            "[url:value = 'http://evil.example/a/b?x=1#frag']",
        )),
        create(indicator(4, &format!("[file:hashes.'MD5' = '{MD5_D}']"))),
        create(indicator(
            5,
            "[ipv4-addr:value = '198.51.100.5'] AND [domain-name:value = 'e.example']",
        )),
        create(indicator(6, "[ipv6-addr:value = '2001:db8::1']")),
        create(yara),
        create(json!({
            "type": "malware",
            "spec_version": "2.1",
            "id": "malware--00000000-0000-4000-8000-000000000008",
            "name": "not an indicator",
            "is_family": false,
        })),
        create(indicator(9, &format!("[file:hashes.md5 = '{MD5_I}']"))),
        create(indicator(10, "[ipv4-addr:value = '198.51.100.10']")),
        create(indicator(11, "[ipv4-addr:value = '198.51.100.11']")),
        create(revoked(
            indicator(12, "[domain-name:value = 'born-revoked.example']"),
            true,
        )),
    ]
}

/// The second half: updates, revocations, deletions, a merge.
fn second_half() -> Vec<EventInjection> {
    let md5_i = format!("[file:hashes.md5 = '{MD5_I}']");
    vec![
        // The IP of 1 changes: the old one must leave.
        update(indicator(1, "[ipv4-addr:value = '198.51.100.2']")),
        update(revoked(
            indicator(2, "[domain-name:value = 'evil.example']"),
            true,
        )),
        EventInjection::delete_id(id(3)),
        update(revoked(indicator(9, &md5_i), true)),
        update(revoked(indicator(9, &md5_i), false)),
        EventInjection::new(
            EventKind::Merge,
            indicator(10, "[ipv4-addr:value = '198.51.100.10']"),
        )
        .with_sources(vec![json!(id(11))]),
        create(indicator(13, "[url:value = 'http://short-lived.example/']")),
        EventInjection::delete_id(id(13)),
        create(indicator(14, &format!("[file:hashes.MD5 = '{MD5_N}']"))),
    ]
}

/// What the lists hold once the whole stream is applied.
fn expected() -> [(&'static str, BTreeSet<String>); 4] {
    let set = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect();
    [
        (
            "opencti-ip",
            set(&["198.51.100.2", "198.51.100.5", "198.51.100.10"]),
        ),
        ("opencti-dn", set(&["e.example"])),
        ("opencti-url", set(&[])),
        ("opencti-md5", set(&[MD5_D, MD5_I, MD5_N])),
    ]
}

fn settings(sim: &SimHandle, fake: &FakePtnad, extra: &[(&str, &str)]) -> Settings {
    let tables: Vec<&[Var]> = RUNTIME_TABLES.iter().copied().chain([VARS]).collect();
    let mut pairs = vec![
        ("OPENCTI_URL", sim.url()),
        ("OPENCTI_TOKEN", "test-token".to_owned()),
        ("CONNECTOR_ID", CONNECTOR_ID.to_owned()),
        ("CONNECTOR_NAME", "PT NAD".to_owned()),
        ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
        ("PTNAD_URL", fake.url()),
        ("PTNAD_USERNAME", "opencti".to_owned()),
        ("PTNAD_PASSWORD", "S3cret!".to_owned()),
        // Small batches, so that a stop falls between batches.
        ("PTNAD_BATCH_SIZE", "3".to_owned()),
        ("PTNAD_BATCH_WAIT_MS", "20".to_owned()),
    ];
    pairs.extend(
        extra
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned())),
    );
    Settings::from_env_pairs(&tables, pairs)
}

fn runner(settings: &Settings) -> StreamRunner<PtnadSink> {
    let runtime = RuntimeConfig::try_from(settings).expect("runtime configuration");
    let ptnad = PtnadConfig::try_from(settings).expect("PT NAD configuration");
    let sink = PtnadSink::new(ptnad).expect("sink");
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

/// Starts the connector as the binary would, minus the command line.
async fn launch(sim: &SimHandle, fake: &FakePtnad) -> Running {
    let runner = runner(&settings(sim, fake, &[]));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        runner
            .run(stop)
            .await
            .expect("the connector runs until stopped");
    });
    let registered = sim
        .wait_until("the connector to register", TIMEOUT, |sim| {
            sim.connector(CONNECTOR_ID).is_some()
        })
        .await;
    registered.expect("registration");
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

/// A stream id `<ms>-<seq>` as a comparable pair.
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().expect("ms"), seq.parse().expect("seq"))
}

/// The stream position in the connector state the platform holds, once there is one.
fn saved_position(sim: &SimHandle) -> Option<String> {
    let state = sim.connector(CONNECTOR_ID)?.state?;
    let state: Value = serde_json::from_str(&state).ok()?;
    state["start_from"].as_str().map(str::to_owned)
}

/// Waits until every list holds exactly the expected values.
async fn wait_for_lists(fake: &FakePtnad, expected: &[(&str, BTreeSet<String>)]) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let actual: Vec<_> = expected
            .iter()
            .map(|(key, _)| (*key, fake.values(key).unwrap_or_default()))
            .collect();
        if actual.iter().zip(expected).all(|(a, e)| a.1 == e.1) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lists never reached the expected contents:\n actual {actual:#?}\n expected {expected:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lists_follow_the_stream_across_a_restart() {
    let sim = start_sim().await;
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();

    // A slow PT NAD keeps the first run busy long enough to stop it with
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

    // The platform kept going while the connector was down.
    let last = inject(&sim, second_half());
    let second = launch(&sim, &fake).await;
    wait_for_lists(&fake, &expected()).await;
    // The lists can be right before the last events are handled (some of
    // them change nothing), so wait for the position to reach the end (a
    // heartbeat may carry it further).
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let reached_end = |position: Option<String>| {
        position.is_some_and(|position| stream_id(&position) >= stream_id(&last))
    };
    while !reached_end(saved_position(&sim)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the position never reached the end of the stream: {:?} instead of {last}",
            saved_position(&sim)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    second.stop().await;
    assert!(
        reached_end(saved_position(&sim)),
        "the position stays at the end of the stream"
    );

    assert_eq!(
        fake.lists().len(),
        4,
        "the restart created no duplicate list"
    );
    assert_eq!(fake.logins(), 2, "one login per start");
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_pt_nad_delay_but_do_not_lose_events() {
    let sim = start_sim().await;
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let running = launch(&sim, &fake).await;

    inject(&sim, first_half());
    // Startup (login, lists) is over once the first event's value is in:
    // the faults below are meant for the stream, not for startup.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !fake
        .values("opencti-ip")
        .is_some_and(|values| values.contains("198.51.100.1"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first event never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fake.expire_sessions();
    fake.inject_failures(axum::http::StatusCode::SERVICE_UNAVAILABLE, 1, None);
    inject(&sim, second_half());
    wait_for_lists(&fake, &expected()).await;
    running.stop().await;
    assert_eq!(fake.logins(), 2, "the expired session was renewed");

    let refused = fake
        .requests()
        .iter()
        .filter(|r| r.status == axum::http::StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(refused, 1, "the injected failure was met and retried");
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_stop_the_connector_with_a_clear_error() {
    let sim = start_sim().await;
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let runner = runner(&settings(&sim, &fake, &[("PTNAD_PASSWORD", "wrong")]));
    let outcome = tokio::time::timeout(TIMEOUT, runner.run(CancellationToken::new()))
        .await
        .expect("the connector gives up in time");
    let Err(error) = outcome else {
        panic!("the connector must not run with refused credentials");
    };
    let message = error.to_string();
    assert!(
        message.contains("PT NAD refused the credentials"),
        "{message}"
    );
    assert!(message.contains("PTNAD_PASSWORD"), "{message}");
    assert!(
        !message.contains("wrong"),
        "the password never appears: {message}"
    );
    assert!(fake.lists().is_empty());
    sim.shutdown().await.expect("clean shutdown");
}
