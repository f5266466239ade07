//! A sink run by the real stream runner over events injected into the
//! simulated platform's live stream.

use std::sync::{Arc, Mutex};

use opencti_connector::config::NoConfig;
use opencti_connector::prelude::*;
use opencti_testkit::{ConnectorHarness, EventInjection, KitError, TestPlatform};
// The platform's event kinds, for injecting (the prelude's are the sink's).
use opencti_testkit::EventKind as Inject;
use serde_json::{Value, json};

/// Records what it was handed; refuses malware.
#[derive(Debug, Default)]
struct Recorder(Arc<Mutex<Vec<(&'static str, String)>>>);

impl Connector for Recorder {
    type Config = NoConfig;
    type Error = std::convert::Infallible;
    const NAME: &'static str = "opencti-testkit-recorder";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Records stream events";

    fn from_config(_: NoConfig) -> Result<Self, Self::Error> {
        Ok(Self::default())
    }
}

impl StreamSink for Recorder {
    async fn handle(&mut self, event: &StreamEvent) -> Outcome {
        if event.object.str_field("type") == Some("malware") {
            return Outcome::reject("not an indicator");
        }
        let mut seen = self.0.lock().unwrap();
        seen.push((event.kind.as_str(), event.object.id().to_owned()));
        Outcome::Done
    }
}

fn indicator(n: u32, value: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "name": value,
        "pattern": format!("[ipv4-addr:value = '{value}']"),
        "pattern_type": "stix",
        "valid_from": "2025-11-24T10:00:00.000Z",
    })
}

/// A stream id `<ms>-<seq>` as a comparable pair.
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap();
    (ms.parse().unwrap(), seq.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_sees_the_scripted_stream_in_order_and_its_position_is_saved() {
    let platform = TestPlatform::start().await.unwrap();
    let events = vec![
        EventInjection::new(Inject::Create, indicator(1, "198.51.100.1")),
        EventInjection::new(
            Inject::Create,
            json!({"type": "malware", "spec_version": "2.1",
                   "id": "malware--00000000-0000-4000-8000-000000000002",
                   "name": "m", "is_family": false}),
        ),
        EventInjection::new(Inject::Update, indicator(1, "198.51.100.9")),
        EventInjection::delete_id("indicator--00000000-0000-4000-8000-000000000001"),
    ];
    let run = ConnectorHarness::new(&platform)
        .run_stream(Recorder::default(), events)
        .await
        .unwrap();
    let id = "indicator--00000000-0000-4000-8000-000000000001".to_owned();
    let seen = run.sink.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("create", id.clone()),
            ("update", id.clone()),
            ("delete", id)
        ]
    );
    let last = run.last_event.expect("events were injected");
    let position = run.position.expect("a saved position");
    assert!(
        stream_id(&position) >= stream_id(&last),
        "{position} < {last}"
    );
    platform.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_that_never_holds_times_out_and_stops_the_connector() {
    let platform = TestPlatform::start()
        .await
        .unwrap()
        .with_timeout(std::time::Duration::from_secs(3));
    let outcome = ConnectorHarness::new(&platform)
        .run_stream_until(Recorder::default(), Vec::new(), |_| false)
        .await;
    assert!(
        matches!(outcome, Err(KitError::Timeout { .. })),
        "{outcome:?}"
    );
    // Shut down while the runtime runs: a connector call still in flight
    // is answered, instead of holding the runtime's drop forever.
    platform.shutdown().await.unwrap();
}
