//! The SIGTERM drill of the stream connectors that push indicator values
//! to a vendor list (PT NAD, Sekoia.io), shared by their tests with
//! `#[path]` next to `signal_drill.rs`: a burst of live-stream events, a
//! SIGTERM at a seeded point, then the checks that the stream position
//! never passed a value the vendor does not hold and that a restart
//! brings the vendor to exactly what the stream says.

use std::collections::BTreeSet;
use std::time::Duration;

use opencti_sim::{EventInjection, EventKind, Sim, SimConfig, SimHandle};
use serde_json::{Value, json};

use super::signal_drill::{Process, for_each_seed, seeded_delay};

/// `CONNECTOR_STOP_GRACE_PERIOD` of the drill (the env says `PT3S`).
pub(crate) const GRACE: Duration = Duration::from_secs(3);
/// Every wait on the platform is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Indicators created per seed.
const EVENTS: u32 = 24;

/// What a stream drill needs from its connector.
pub(crate) struct StreamDrill {
    pub(crate) binary: &'static str,
    /// The vendor's name in messages (and in `CONNECTOR_NAME`).
    pub(crate) vendor: &'static str,
    /// The prefix of the connector's own variables: the drill sets
    /// `<prefix>_BATCH_SIZE` to 3 and `<prefix>_BATCH_WAIT_MS` to 20, so
    /// that a stop falls between batches.
    pub(crate) prefix: &'static str,
}

/// The fake's delay on every answer: it spreads the burst over about a
/// second.
pub(crate) const SLOW_VENDOR: Duration = Duration::from_millis(30);

/// The stream connector's test: `drill` for every seed (see
/// `for_each_seed`), with the longest stop printed.
pub(crate) async fn every_seed<F, Fut>(drill: F)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Duration> + Send + 'static,
{
    opencti_connector::tls::install_crypto_provider();
    let longest = for_each_seed(drill).await;
    println!("longest stop after SIGTERM: {longest:?}");
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

impl StreamDrill {
    /// The drill of `seed` against a simulator of its own, the connector
    /// pointed at its fake (slowed by [`SLOW_VENDOR`]) by `vendor_env`.
    /// Returns how long the first stop took.
    pub(crate) async fn run(
        &self,
        seed: u64,
        vendor_env: &[(&str, String)],
        held: impl Fn() -> BTreeSet<String>,
    ) -> Duration {
        let sim = Sim::start(SimConfig {
            heartbeat_interval: Duration::from_millis(200),
            ..SimConfig::for_tests()
        })
        .await
        .expect("the simulator");
        let connector_id = format!("5e1d0000-0000-4000-8000-{seed:012x}");
        let env = self.env(&sim, &connector_id, vendor_env);
        let took = self.run_on(seed, &sim, &connector_id, &env, held).await;
        sim.shutdown().await.expect("the simulator stops");
        took
    }

    /// The connector's whole environment on `sim`.
    fn env(
        &self,
        sim: &SimHandle,
        connector_id: &str,
        vendor_env: &[(&str, String)],
    ) -> Vec<(String, String)> {
        let prefix = self.prefix;
        let platform = [
            ("OPENCTI_URL".to_owned(), sim.url()),
            ("OPENCTI_TOKEN".to_owned(), "signal-drill".to_owned()),
            ("CONNECTOR_ID".to_owned(), connector_id.to_owned()),
            (
                "CONNECTOR_NAME".to_owned(),
                format!("{} signals", self.vendor),
            ),
            ("CONNECTOR_LIVE_STREAM_ID".to_owned(), "live".to_owned()),
            ("CONNECTOR_STOP_GRACE_PERIOD".to_owned(), "PT3S".to_owned()),
            (format!("{prefix}_BATCH_SIZE"), "3".to_owned()),
            (format!("{prefix}_BATCH_WAIT_MS"), "20".to_owned()),
        ];
        let vendor = vendor_env
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()));
        platform.into_iter().chain(vendor).collect()
    }

    /// Runs the binary, injects the burst, stops it at the seed's point,
    /// checks what the vendor holds (read by `held`), restarts it and waits
    /// for every value. Returns how long the first stop took.
    async fn run_on(
        &self,
        seed: u64,
        sim: &SimHandle,
        connector_id: &str,
        env: &[(String, String)],
        held: impl Fn() -> BTreeSet<String>,
    ) -> Duration {
        let Self { binary, vendor, .. } = *self;
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
