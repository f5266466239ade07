//! A stream connector registered with one platform that reads the live
//! stream of another (`CONNECTOR_LIVE_STREAM_OPENCTI_URL` / `_TOKEN`), as
//! OpenCTI's OpenCTI-to-OpenCTI connector does; two `opencti-sim`s play the
//! two platforms, each accepting only its own token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings};
use opencti_connector::http::testing::capture_logs;
use opencti_connector::state::PingSchedule;
use opencti_connector::stream::{Outcome, StreamEvent, StreamRunner, StreamSink};
use opencti_sim::{EventInjection, EventKind, Secret, Sim, SimConfig, SimHandle};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(30);
const REGISTRATION_TOKEN: &str = "registration-platform-token";
const SOURCE_TOKEN: &str = "source-platform-token";

/// Records the STIX ids of the events it handles.
#[derive(Default)]
struct StixIdSink {
    ids: Arc<Mutex<Vec<String>>>,
}

test_sink_identity!(StixIdSink, StixIdSink::default());

impl StreamSink for StixIdSink {
    async fn handle(&mut self, event: &StreamEvent) -> Outcome {
        self.ids.lock().unwrap().push(event.object.id().to_owned());
        Outcome::Done
    }
}

async fn start_sim(token: &str) -> SimHandle {
    let config = SimConfig {
        token: Some(Secret::new(token)),
        heartbeat_interval: Duration::from_millis(200),
        ..SimConfig::for_tests()
    };
    tokio::time::timeout(TIMEOUT, Sim::start(config))
        .await
        .expect("the simulator starts in time")
        .expect("the simulator starts")
}

fn indicator(n: u32) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "name": format!("indicator {n}"),
        "pattern": format!("[ipv4-addr:value = '192.0.2.{n}']"),
        "pattern_type": "stix",
    })
}

fn inject(sim: &SimHandle, numbers: std::ops::RangeInclusive<u32>) -> String {
    let mut last = String::new();
    for n in numbers {
        last = sim
            .inject_event(EventInjection::new(EventKind::Create, indicator(n)))
            .expect("injection")
            .id;
    }
    last
}

fn saved_position(sim: &SimHandle, connector_id: &str) -> Option<String> {
    let state: Value = serde_json::from_str(&sim.connector(connector_id)?.state?).ok()?;
    state["start_from"].as_str().map(str::to_owned)
}

/// `<ms>-<seq>` as a pair that orders like the stream.
fn stream_order(id: &str) -> Option<(u64, u64)> {
    let (millis, sequence) = id.split_once('-')?;
    Some((millis.parse().ok()?, sequence.parse().ok()?))
}

#[tokio::test]
async fn reads_the_stream_of_one_platform_and_registers_with_the_other() {
    opencti_connector::tls::install_crypto_provider();
    let (logs, _capture) = capture_logs();
    let registration = start_sim(REGISTRATION_TOKEN).await;
    let source = start_sim(SOURCE_TOKEN).await;
    // Events on the registration platform must never reach the sink.
    inject(&registration, 101..=102);
    let last_source_event = inject(&source, 1..=3);

    let connector_id = uuid::Uuid::new_v4().to_string();
    let env = [
        ("OPENCTI_URL", registration.url()),
        ("OPENCTI_TOKEN", REGISTRATION_TOKEN.to_owned()),
        ("CONNECTOR_ID", connector_id.clone()),
        ("CONNECTOR_NAME", "OpenCTI to OpenCTI".to_owned()),
        ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
        // With a trailing slash, as operators write URLs.
        (
            "CONNECTOR_LIVE_STREAM_OPENCTI_URL",
            format!("{}/", source.url()),
        ),
        (
            "CONNECTOR_LIVE_STREAM_OPENCTI_TOKEN",
            SOURCE_TOKEN.to_owned(),
        ),
        ("CONNECTOR_LIVE_STREAM_START_TIMESTAMP", "0".to_owned()),
    ];
    let config = RuntimeConfig::try_from(&Settings::from_env_pairs(RUNTIME_TABLES, env)).unwrap();
    let shown = format!("{config:?}");
    for token in [REGISTRATION_TOKEN, SOURCE_TOKEN] {
        assert!(!shown.contains(token), "a token in Debug: {shown}");
    }

    let sink = StixIdSink::default();
    let ids = Arc::clone(&sink.ids);
    let shutdown = CancellationToken::new();
    let runner = StreamRunner::new(sink, config).with_pings(PingSchedule {
        interval: Duration::from_millis(100),
        ..PingSchedule::default()
    });
    let run = tokio::spawn(runner.run(shutdown.clone()));
    registration
        .wait_until(
            "the position read on the source to be pinged",
            TIMEOUT,
            |sim| {
                saved_position(sim, &connector_id)
                    .is_some_and(|id| stream_order(&id) >= stream_order(&last_source_event))
            },
        )
        .await
        .expect("position");
    shutdown.cancel();
    tokio::time::timeout(TIMEOUT, run)
        .await
        .expect("the runner stops")
        .unwrap()
        .unwrap();

    let expected: Vec<String> = (1..=3)
        .map(|n| indicator(n)["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(*ids.lock().unwrap(), expected, "only the source's events");
    assert!(registration.connector(&connector_id).is_some());
    assert!(
        source.connector(&connector_id).is_none(),
        "registered with the source"
    );
    assert!(
        source.graphql_calls().is_empty(),
        "GraphQL calls went to the source: {:?}",
        source.graphql_calls()
    );
    // Each simulator refuses any token but its own: a token sent to the
    // other platform would show here (GraphQL) or keep the stream from
    // delivering (the stream answers 401).
    assert!(registration.rejected_requests().is_empty());
    assert!(source.rejected_requests().is_empty());
    let logged = logs.text();
    for token in [REGISTRATION_TOKEN, SOURCE_TOKEN] {
        assert!(!logged.contains(token), "a token in the logs: {logged}");
    }
    registration.shutdown().await.unwrap();
    source.shutdown().await.unwrap();
}
