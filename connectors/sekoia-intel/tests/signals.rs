//! SIGTERM at 20 seeded points of the binary's run against `opencti-sim`
//! and the fake Sekoia.io, while it applies a burst of live-stream events:
//! the stop fits in the grace, the stream position the platform holds
//! never passes an event whose value is not in the IoC collection, and a restart
//! brings the collection to exactly what the stream says.

use std::collections::BTreeSet;
use std::time::Duration;

use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
use opencti_sim::{EventInjection, EventKind, Sim, SimConfig, SimHandle};
use serde_json::{Value, json};

#[path = "../../../tests/signal_drill.rs"]
mod signal_drill;

use signal_drill::{Process, for_each_seed, seeded_delay};

/// `CONNECTOR_STOP_GRACE_PERIOD` of the drill.
const GRACE: Duration = Duration::from_secs(3);
/// Every wait on the platform is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Indicators created per seed.
const EVENTS: u32 = 24;
/// The active values of the collection.
fn held(fake: &FakeSekoia) -> BTreeSet<String> {
    fake.active_values(DEFAULT_COLLECTION).into_iter().collect()
}

fn value(n: u32) -> String {
    format!("198.51.100.{n}")
}

fn create(seed: u64, n: u32) -> EventInjection {
    EventInjection::new(
        EventKind::Create,
        json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": format!("indicator--{seed:08x}-0000-4000-8000-{n:012}"),
            "name": value(n),
            "pattern": format!("[ipv4-addr:value = '{}']", value(n)),
            "pattern_type": "stix",
            "valid_from": "2025-11-24T10:00:00.000Z",
            "revoked": false,
        }),
    )
}

fn environment(sim: &SimHandle, fake: &FakeSekoia, connector_id: &str) -> Vec<(String, String)> {
    [
        ("OPENCTI_URL", sim.url()),
        ("OPENCTI_TOKEN", "signal-drill".to_owned()),
        ("CONNECTOR_ID", connector_id.to_owned()),
        ("CONNECTOR_NAME", "Sekoia signals".to_owned()),
        ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
        ("CONNECTOR_STOP_GRACE_PERIOD", "PT3S".to_owned()),
        ("SEKOIA_INTEL_URL", fake.url()),
        ("SEKOIA_INTEL_APIKEY", "sk_test".to_owned()),
        (
            "SEKOIA_INTEL_IOC_COLLECTION_UUID",
            DEFAULT_COLLECTION.to_owned(),
        ),
        ("SEKOIA_INTEL_BATCH_SIZE", "3".to_owned()),
        ("SEKOIA_INTEL_BATCH_WAIT_MS", "20".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// `<ms>-<seq>` as a pair that orders like the stream.
fn stream_order(id: &str) -> (u64, u64) {
    let (millis, sequence) = id.split_once('-').unwrap_or((id, "0"));
    (millis.parse().unwrap_or(0), sequence.parse().unwrap_or(0))
}

fn position(sim: &SimHandle, connector_id: &str) -> Option<String> {
    let state = sim.connector(connector_id)?.state?;
    let state: Value = serde_json::from_str(&state).ok()?;
    state["start_from"].as_str().map(str::to_owned)
}

async fn drill(seed: u64) -> Duration {
    let binary = env!("CARGO_BIN_EXE_opencti-sekoia-intel");
    let sim = Sim::start(SimConfig {
        heartbeat_interval: Duration::from_millis(200),
        ..SimConfig::for_tests()
    })
    .await
    .expect("the simulator");
    let fake = FakeSekoia::start(FakeSettings::default())
        .await
        .expect("the fake");
    // A slow Sekoia spreads the burst over about a second.
    fake.set_delay(Some(Duration::from_millis(30)));
    let connector_id = format!("5e1d0000-0000-4000-8000-{seed:012x}");
    let env = environment(&sim, &fake, &connector_id);

    let mut first = Process::spawn(binary, &env);
    let following = sim
        .wait_until("the connector to follow the stream", TIMEOUT, |sim| {
            position(sim, &connector_id).is_some()
        })
        .await;
    assert!(following.is_ok(), "seed {seed}: {}", first.log());
    // Each value with the id of the event that created it.
    let events: Vec<(String, String)> = (1..=EVENTS)
        .map(|n| {
            let event = sim.inject_event(create(seed, n)).expect("injection");
            (event.id, value(n))
        })
        .collect();
    let delay = seeded_delay(seed, Duration::from_millis(800));
    tokio::time::sleep(delay).await;
    let took = first
        .stop_within(GRACE, &format!("seed {seed}, first run"))
        .await;
    let holds = held(&fake);
    let saved = position(&sim, &connector_id).unwrap_or_default();
    let vouched: Vec<&String> = events
        .iter()
        .filter(|(id, _)| stream_order(id) <= stream_order(&saved))
        .map(|(_, value)| value)
        .collect();
    let unconfirmed: Vec<&&String> = vouched.iter().filter(|v| !holds.contains(**v)).collect();
    println!(
        "seed {seed}: SIGTERM after {delay:?}, stopped in {took:?}, {} events under the position, {}/{EVENTS} values in Sekoia",
        vouched.len(),
        holds.len()
    );
    assert!(
        unconfirmed.is_empty(),
        "seed {seed}: the position {saved} passed values Sekoia does not hold: {unconfirmed:?}\n{}",
        first.log()
    );

    let mut second = Process::spawn(binary, &env);
    let expected: BTreeSet<String> = events.into_iter().map(|(_, value)| value).collect();
    let complete = sim
        .wait_until("Sekoia to hold every value", TIMEOUT, |_| {
            held(&fake) == expected
        })
        .await;
    assert!(
        complete.is_ok(),
        "seed {seed}: after the restart Sekoia holds {:?}\nfirst run:\n{}\nrestart:\n{}",
        held(&fake),
        first.log(),
        second.log()
    );
    second
        .stop_within(GRACE, &format!("seed {seed}, restart"))
        .await;
    sim.shutdown().await.expect("the simulator stops");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_seeded_points_loses_nothing() {
    opencti_connector::tls::install_crypto_provider();
    let longest = for_each_seed(drill).await;
    println!("longest stop after SIGTERM: {longest:?}");
}
