//! Throughput of the whole connector: a 10,000-event live stream served by
//! `opencti-sim` (creations of five kinds, pattern changes, revocations,
//! deletions) applied to the fake Sekoia over loopback HTTP.
//!
//! `batched` uses the default batch size (100 events); `one_by_one` hands
//! events over singly, one request after the other as the Python connector
//! makes them.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opencti_sekoia_intel::SekoiaSink;
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
use opencti_testkit::events::Churn;
use opencti_testkit::{ConnectorHarness, TestPlatform};

const EVENTS: u32 = 10_000;

/// The pattern of indicator `n`, version `v` (a pattern change bumps it).
fn pattern(n: u32, v: u32) -> String {
    match n % 5 {
        0 => format!(
            "[ipv4-addr:value = '10.{}.{}.{}']",
            v,
            n / 256 % 256,
            n % 256
        ),
        1 => format!("[domain-name:value = 'host{n}-v{v}.example']"),
        2 => format!("[url:value = 'http://site{n}.example/v{v}/path?q={n}']"),
        3 => format!("[email-addr:value = 'user{n}-v{v}@evil.example']"),
        _ => format!(
            "[file:hashes.MD5 = '{:016x}{:016x}']",
            u64::from(n),
            u64::from(v)
        ),
    }
}

/// Injects the stream; returns the last event id and the number of active
/// values expected at the end.
fn inject_stream(platform: &TestPlatform) -> (String, usize) {
    let churn = Churn::new(pattern);
    assert_eq!(churn.events.len(), EVENTS as usize);
    let last = platform
        .inject(churn.events)
        .expect("injection")
        .expect("events");
    (last, churn.live)
}

/// One replay of the whole stream into a fresh fake Sekoia; returns the
/// time from the start of the stream reader to the last event handled.
async fn run_once(
    platform: &TestPlatform,
    last: &str,
    expected_values: usize,
    batch_size: &str,
) -> Duration {
    let fake = FakeSekoia::start(FakeSettings::default())
        .await
        .expect("fake Sekoia");
    let harness = ConnectorHarness::new(platform)
        .var("CONNECTOR_NAME", "Sekoia")
        .var("CONNECTOR_LIVE_STREAM_ID", "live")
        .var("SEKOIA_INTEL_URL", fake.url())
        .var("SEKOIA_INTEL_APIKEY", "sk_test")
        .var("SEKOIA_INTEL_IOC_COLLECTION_UUID", DEFAULT_COLLECTION)
        .var("SEKOIA_INTEL_BATCH_SIZE", batch_size);
    let sink: SekoiaSink = harness.build().expect("sink");
    let (_, elapsed) = harness.replay_stream(sink, last).await.expect("replay");
    assert_eq!(
        fake.active_values(DEFAULT_COLLECTION).len(),
        expected_values,
        "the collection matches the stream"
    );
    elapsed
}

fn bench(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let platform = tokio.block_on(async {
        TestPlatform::start()
            .await
            .expect("simulated platform")
            .with_timeout(Duration::from_secs(600))
    });
    let (last, expected_values) = inject_stream(&platform);

    let mut group = c.benchmark_group("sekoia_stream");
    group.throughput(Throughput::Elements(u64::from(EVENTS)));
    group.sample_size(10);
    for (name, batch_size) in [("batched", "100"), ("one_by_one", "1")] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| {
                        tokio.block_on(run_once(&platform, &last, expected_values, batch_size))
                    })
                    .sum()
            });
        });
    }
    group.finish();
    tokio.block_on(async { platform.shutdown().await.expect("platform shutdown") });
}

criterion_group!(benches, bench);
criterion_main!(benches);
