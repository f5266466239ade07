//! Throughput of the whole connector: a 10,000-event live stream served by
//! `opencti-sim` (creations of the four kinds, pattern changes,
//! revocations, deletions) applied to the fake PT NAD over loopback HTTP.
//!
//! `batched` uses the default batch size (500 events); `one_by_one` hands
//! events over singly, one PT NAD call per event as the Python connector
//! makes.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use opencti_ptnad::PtnadSink;
use opencti_ptnad::fake::{FakePtnad, FakeSettings};
use opencti_testkit::ConnectorHarness;
use opencti_testkit::bench::{Observable, StreamBench};

fn total_values(fake: &FakePtnad) -> usize {
    ["opencti-ip", "opencti-dn", "opencti-url", "opencti-md5"]
        .iter()
        .map(|key| fake.values(key).map_or(0, |values| values.len()))
        .sum()
}

/// One replay of the whole stream into a fresh fake PT NAD.
async fn replay(bench: &StreamBench, batch_size: &str) -> Duration {
    let fake = FakePtnad::start(FakeSettings::default())
        .await
        .expect("fake PT NAD");
    let harness = ConnectorHarness::new(bench.platform())
        .var("PTNAD_URL", fake.url())
        .var("PTNAD_USERNAME", "opencti")
        .var("PTNAD_PASSWORD", "S3cret!")
        .var("PTNAD_BATCH_SIZE", batch_size);
    let elapsed = bench.replay::<PtnadSink>(&harness).await.expect("replay");
    assert_eq!(
        total_values(&fake),
        bench.live(),
        "the lists match the stream"
    );
    elapsed
}

fn bench(c: &mut Criterion) {
    use Observable::{Domain, Ipv4, Md5, Url};
    let bench = StreamBench::start(&[Ipv4, Domain, Url, Md5]).expect("the stream");
    let batch_sizes = [("batched", "500"), ("one_by_one", "1")];
    bench.measure(c, "ptnad_stream", &batch_sizes, &replay);
    bench.shutdown().expect("platform shutdown");
}

criterion_group!(benches, bench);
criterion_main!(benches);
