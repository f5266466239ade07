//! The stream bench: the churn's values, a replay that leaves the sink
//! with what the stream says, and one measurement per variant.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use criterion::Criterion;
use opencti_connector::config::NoConfig;
use opencti_connector::prelude::*;
use opencti_testkit::ConnectorHarness;
use opencti_testkit::bench::{Observable, StreamBench};

use Observable::{Domain, Email, Ipv4, Md5, Url};

/// The live indicators the replayed sink saw (one test uses it).
static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Keeps [`LIVE`] as the stream says: created or updated and not revoked,
/// or gone.
#[derive(Debug)]
struct LiveSet;

impl Connector for LiveSet {
    type Config = NoConfig;
    type Error = std::convert::Infallible;
    const NAME: &'static str = "opencti-testkit-live-set";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Keeps the live indicators";

    fn from_config(_: NoConfig) -> Result<Self, Self::Error> {
        Ok(Self)
    }
}

impl StreamSink for LiveSet {
    async fn handle(&mut self, event: &StreamEvent) -> Outcome {
        let id = event.object.id().to_owned();
        let revoked = event
            .object
            .get("revoked")
            .and_then(serde_json::Value::as_bool)
            == Some(true);
        let mut live = LIVE.lock().unwrap();
        if event.kind == EventKind::Delete || revoked {
            live.remove(&id);
        } else {
            live.insert(id);
        }
        Outcome::Done
    }
}

#[test]
fn the_churn_values_are_the_ones_the_figures_were_measured_with() {
    let patterns: Vec<String> = [Ipv4, Domain, Url, Email, Md5]
        .iter()
        .map(|observable| observable.pattern(258, 1))
        .collect();
    assert_eq!(
        patterns,
        [
            "[ipv4-addr:value = '10.1.1.2']",
            "[domain-name:value = 'host258-v1.example']",
            "[url:value = 'http://site258.example/v1/path?q=258']",
            "[email-addr:value = 'user258-v1@evil.example']",
            "[file:hashes.MD5 = '00000000000001020000000000000001']",
        ]
    );
}

#[test]
fn every_indicator_and_version_has_its_own_value() {
    for observable in [Ipv4, Domain, Url, Email, Md5] {
        let patterns: BTreeSet<String> = (0..6_000)
            .flat_map(|n| [0, 1].map(|version| observable.pattern(n, version)))
            .collect();
        assert_eq!(patterns.len(), 12_000, "{observable:?}");
    }
}

#[test]
fn a_churn_cycles_through_its_observable_types() {
    let churn = Observable::churn(&[Ipv4, Md5]);
    assert_eq!(churn.events.len(), 10_000);
    let patterns: Vec<&str> = churn.events[..3]
        .iter()
        .map(|event| event.data.as_ref().unwrap()["pattern"].as_str().unwrap())
        .collect();
    assert_eq!(
        patterns,
        [Ipv4.pattern(0, 0), Md5.pattern(1, 0), Ipv4.pattern(2, 0)]
    );
}

#[test]
fn a_replay_applies_the_whole_stream_and_each_variant_is_measured() {
    let bench = StreamBench::start(&[Ipv4, Url]).unwrap();
    let calls = Mutex::new(Vec::new());
    let mut criterion = Criterion::default()
        .output_directory(&std::env::temp_dir().join("opencti-testkit-bench"))
        .without_plots()
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1));
    bench.measure(
        &mut criterion,
        "opencti_testkit_bench",
        &[("first", 1), ("second", 2)],
        &async |bench: &StreamBench, variant: u32| {
            let replayed = calls.lock().unwrap().contains(&variant);
            calls.lock().unwrap().push(variant);
            // One real replay per variant is enough; the other samples
            // only count.
            if replayed {
                return Duration::from_micros(1);
            }
            LIVE.lock().unwrap().clear();
            let harness = ConnectorHarness::new(bench.platform());
            let elapsed = bench.replay::<LiveSet>(&harness).await.unwrap();
            assert_eq!(LIVE.lock().unwrap().len(), bench.live());
            elapsed
        },
    );
    bench.shutdown().unwrap();
    let calls = calls.into_inner().unwrap();
    for variant in [1, 2] {
        let samples = calls.iter().filter(|call| **call == variant).count();
        assert!(samples > 10, "variant {variant}: {calls:?}");
    }
    assert!(calls.is_sorted(), "one variant after the other: {calls:?}");
}
