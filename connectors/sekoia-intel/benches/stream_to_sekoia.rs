//! Throughput of the whole connector: a 10,000-event live stream served by
//! `opencti-sim` (creations of five kinds, pattern changes, revocations,
//! deletions) applied to the fake Sekoia over loopback HTTP.
//!
//! `batched` uses the default batch size (100 events); `one_by_one` hands
//! events over singly, one request after the other as the Python connector
//! makes them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opencti_connector::config::PlatformTls;
use opencti_connector::config::Settings;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::stream::client::{StreamSettings, http_client};
use opencti_connector::stream::position::StartSettings;
use opencti_connector::stream::runtime::{MemoryState, StateStore, StreamRuntime};
use opencti_sekoia_intel::SekoiaSink;
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
use opencti_sekoia_intel::{SekoiaConfig, VARS};
use opencti_sim::{EventInjection, EventKind, Sim, SimConfig, SimHandle};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

const EVENTS: u32 = 10_000;
/// Indicators created; the rest of the events change them.
const CREATED: u32 = 6_000;

fn id(n: u32) -> String {
    format!("indicator--00000000-0000-4000-8000-{n:012}")
}

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

fn indicator(n: u32, v: u32, revoked: bool) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id(n),
        "name": format!("indicator {n}"),
        "pattern": pattern(n, v),
        "pattern_type": "stix",
        "valid_from": "2025-11-24T10:00:00.000Z",
        "revoked": revoked,
    })
}

/// Injects the stream; returns the last event id and the number of active
/// values expected at the end.
fn inject_stream(sim: &SimHandle) -> (String, usize) {
    let mut live: BTreeSet<u32> = BTreeSet::new();
    let mut last = String::new();
    let mut push = |injection: EventInjection| {
        last = sim.inject_event(injection).expect("injection").id;
    };
    for n in 0..CREATED {
        push(EventInjection::new(
            EventKind::Create,
            indicator(n, 0, false),
        ));
        live.insert(n);
    }
    // 2,000 pattern changes, 1,000 revocations, 1,000 deletions.
    for n in 0..2_000 {
        push(EventInjection::new(
            EventKind::Update,
            indicator(n, 1, false),
        ));
    }
    for n in 2_000..3_000 {
        push(EventInjection::new(
            EventKind::Update,
            indicator(n, 0, true),
        ));
        live.remove(&n);
    }
    for n in 3_000..4_000 {
        push(EventInjection::delete_id(id(n)));
        live.remove(&n);
    }
    assert_eq!(sim.stream_events().len(), EVENTS as usize);
    (last, live.len())
}

/// `<ms>-<seq>` as a pair that orders like the stream.
fn stream_order(id: &str) -> Option<(u64, u64)> {
    let (millis, sequence) = id.split_once('-')?;
    Some((millis.parse().ok()?, sequence.parse().ok()?))
}

fn position(state: &MemoryState) -> Option<String> {
    state.load()?.get("start_from")?.as_str().map(str::to_owned)
}

/// One run of the connector over the whole stream into a fresh fake Sekoia;
/// returns the time from the start of the runtime to the last event handled.
async fn run_once(
    sim: &SimHandle,
    last: &str,
    expected_values: usize,
    batch_size: &str,
) -> Duration {
    let fake = FakeSekoia::start(FakeSettings::default())
        .await
        .expect("fake Sekoia");
    let fake_url = fake.url();
    let tables: Vec<_> = RUNTIME_TABLES.iter().copied().chain([VARS]).collect();
    let settings = Settings::from_env_pairs(
        &tables,
        [
            ("OPENCTI_URL", sim.url().as_str()),
            ("OPENCTI_TOKEN", "bench-token"),
            ("CONNECTOR_ID", "2f1e0d9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f"),
            ("CONNECTOR_NAME", "Sekoia"),
            ("CONNECTOR_LIVE_STREAM_ID", "live"),
            ("SEKOIA_INTEL_URL", fake_url.as_str()),
            ("SEKOIA_INTEL_APIKEY", "sk_test"),
            ("SEKOIA_INTEL_IOC_COLLECTION_UUID", DEFAULT_COLLECTION),
            ("SEKOIA_INTEL_BATCH_SIZE", batch_size),
        ],
    );
    let mut sink =
        SekoiaSink::new(SekoiaConfig::try_from(&settings).expect("config")).expect("sink");
    let mut replay_from_start = Map::new();
    replay_from_start.insert("start_from".to_owned(), json!("0-0"));
    replay_from_start.insert("recover_until".to_owned(), json!(false));
    let state = Arc::new(MemoryState::new(Some(replay_from_start)));
    let shutdown = CancellationToken::new();
    let runtime = StreamRuntime::new(
        StreamSettings::new(&sim.url(), "bench-token", Some("live")).expect("stream settings"),
        StartSettings::default(),
        http_client(&PlatformTls::NoVerify, &Default::default()).expect("HTTP client"),
        Arc::clone(&state),
        shutdown.clone(),
    );
    let started = Instant::now();
    let task = tokio::spawn(async move { runtime.run(&mut sink).await });
    // Heartbeats may carry the position past the last event.
    while position(&state).as_deref().and_then(stream_order) < stream_order(last) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    task.await.expect("runtime task").expect("runtime");
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
    let sim = tokio.block_on(async {
        Sim::start(SimConfig {
            heartbeat_interval: Duration::from_millis(500),
            ..SimConfig::for_tests()
        })
        .await
        .expect("simulator")
    });
    let (last, expected_values) = inject_stream(&sim);

    let mut group = c.benchmark_group("sekoia_stream");
    group.throughput(Throughput::Elements(u64::from(EVENTS)));
    group.sample_size(10);
    for (name, batch_size) in [("batched", "100"), ("one_by_one", "1")] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| tokio.block_on(run_once(&sim, &last, expected_values, batch_size)))
                    .sum()
            });
        });
    }
    group.finish();
    tokio.block_on(async { sim.shutdown().await.expect("simulator shutdown") });
}

criterion_group!(benches, bench);
criterion_main!(benches);
