//! The SIGTERM drill of the stream connectors that push indicator values
//! to a vendor list (PT NAD, Sekoia.io), shared by their tests with
//! `#[path]` next to `signal_drill.rs`: a burst of live-stream events, a
//! SIGTERM at a seeded point, then the checks that the stream position
//! never passed a value the vendor does not hold and that a restart
//! brings the vendor to exactly what the stream says.

use std::collections::BTreeSet;
use std::time::Duration;

use opencti_sim::{EventInjection, EventKind, SimHandle};
use serde_json::{Value, json};

use super::signal_drill::{Process, seeded_delay};

/// `CONNECTOR_STOP_GRACE_PERIOD` of the drill (the env says `PT3S`).
pub(crate) const GRACE: Duration = Duration::from_secs(3);
/// Every wait on the platform is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Indicators created per seed.
const EVENTS: u32 = 24;

/// What a stream drill needs from its connector.
pub(crate) struct StreamDrill<'a> {
    pub(crate) seed: u64,
    pub(crate) binary: &'a str,
    /// The vendor's name in messages.
    pub(crate) vendor: &'a str,
    pub(crate) sim: &'a SimHandle,
    pub(crate) connector_id: &'a str,
    pub(crate) env: &'a [(String, String)],
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

impl StreamDrill<'_> {
    /// Runs the binary, injects the burst, stops it at the seed's point,
    /// checks what the vendor holds (read by `held`), restarts it and waits
    /// for every value. Returns how long the first stop took.
    pub(crate) async fn run(&self, held: impl Fn() -> BTreeSet<String>) -> Duration {
        let Self {
            seed,
            binary,
            vendor,
            sim,
            connector_id,
            env,
        } = *self;
        let mut first = Process::spawn(binary, env);
        let following = sim
            .wait_until("the connector to follow the stream", TIMEOUT, |sim| {
                position(sim, connector_id).is_some()
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
        let holds = held();
        let saved = position(sim, connector_id).unwrap_or_default();
        let vouched: Vec<&String> = events
            .iter()
            .filter(|(id, _)| stream_order(id) <= stream_order(&saved))
            .map(|(_, value)| value)
            .collect();
        let unconfirmed: Vec<&&String> = vouched.iter().filter(|v| !holds.contains(**v)).collect();
        println!(
            "seed {seed}: SIGTERM after {delay:?}, stopped in {took:?}, {} events under the position, {}/{EVENTS} values in {vendor}",
            vouched.len(),
            holds.len()
        );
        assert!(
            unconfirmed.is_empty(),
            "seed {seed}: the position {saved} passed values {vendor} does not hold: {unconfirmed:?}\n{}",
            first.log()
        );

        let mut second = Process::spawn(binary, env);
        let expected: BTreeSet<String> = events.into_iter().map(|(_, value)| value).collect();
        let complete = sim
            .wait_until(&format!("{vendor} to hold every value"), TIMEOUT, |_| {
                held() == expected
            })
            .await;
        assert!(
            complete.is_ok(),
            "seed {seed}: after the restart {vendor} holds {:?}\nfirst run:\n{}\nrestart:\n{}",
            held(),
            first.log(),
            second.log()
        );
        second
            .stop_within(GRACE, &format!("seed {seed}, restart"))
            .await;
        took
    }
}
