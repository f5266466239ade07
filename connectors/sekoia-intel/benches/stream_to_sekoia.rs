//! Throughput of the whole connector: a 10,000-event live stream served by
//! `opencti-sim` (creations of five kinds, pattern changes, revocations,
//! deletions) applied to the fake Sekoia over loopback HTTP.
//!
//! `batched` uses the default batch size (100 events); `one_by_one` hands
//! events over singly, one request after the other as the Python connector
//! makes them.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use opencti_sekoia_intel::SekoiaSink;
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
use opencti_testkit::ConnectorHarness;
use opencti_testkit::bench::{Observable, StreamBench};

/// One replay of the whole stream into a fresh fake Sekoia.
async fn replay(bench: &StreamBench, batch_size: &str) -> Duration {
    let fake = FakeSekoia::start(FakeSettings::default())
        .await
        .expect("fake Sekoia");
    let harness = ConnectorHarness::new(bench.platform())
        .var("CONNECTOR_NAME", "Sekoia")
        .var("CONNECTOR_LIVE_STREAM_ID", "live")
        .var("SEKOIA_INTEL_URL", fake.url())
        .var("SEKOIA_INTEL_APIKEY", "sk_test")
        .var("SEKOIA_INTEL_IOC_COLLECTION_UUID", DEFAULT_COLLECTION)
        .var("SEKOIA_INTEL_BATCH_SIZE", batch_size);
    let elapsed = bench.replay::<SekoiaSink>(&harness).await.expect("replay");
    assert_eq!(
        fake.active_values(DEFAULT_COLLECTION).len(),
        bench.live(),
        "the collection matches the stream"
    );
    elapsed
}

fn bench(c: &mut Criterion) {
    use Observable::{Domain, Email, Ipv4, Md5, Url};
    let bench = StreamBench::start(&[Ipv4, Domain, Url, Email, Md5]).expect("the stream");
    let batch_sizes = [("batched", "100"), ("one_by_one", "1")];
    bench.measure(c, "sekoia_stream", &batch_sizes, &replay);
    bench.shutdown().expect("platform shutdown");
}

criterion_group!(benches, bench);
criterion_main!(benches);
