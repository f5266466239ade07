//! The SIGTERM drill of the import connectors (MISP feed, NTI, TeamT5),
//! shared by their tests with `#[path]` next to `signal_drill.rs`. Each
//! connector says what its vendor's fake serves and what its state vouches
//! for ([`ImportDrill`]); the drill runs the binary against `opencti-sim`,
//! stops it at the seed's point within the grace, checks that the platform
//! holds everything the state it kept vouches for, then restarts it and
//! checks that everything arrives.

use std::future::Future;
use std::time::Duration;

use opencti_sim::{Sim, SimConfig, SimHandle};
use serde_json::Value;

use super::signal_drill::{Process, for_each_seed, seeded_delay};

/// `CONNECTOR_STOP_GRACE_PERIOD` of the drill (the env says `PT3S`).
const GRACE: Duration = Duration::from_secs(3);
/// Every wait on the platform is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(20);

/// One import connector's part of the drill: its binary and its vendor's
/// fake, serving content drawn from the seed.
pub(crate) trait ImportDrill: Send + Sync + Sized + 'static {
    /// `env!("CARGO_BIN_EXE_<package>")`.
    const BINARY: &'static str;
    /// `CONNECTOR_NAME`.
    const NAME: &'static str;
    /// The SIGTERM comes after a delay in `0..MAX_DELAY`: past the end of
    /// a whole run, so that the seeds cover every part of it.
    const MAX_DELAY: Duration;
    /// The STIX type and property of the objects the drill looks for:
    /// what [`ImportDrill::expected`] and [`ImportDrill::vouched`] list.
    const STORED: (&'static str, &'static str);

    /// Starts the fake serving `seed`'s content.
    fn start(seed: u64) -> impl Future<Output = Self> + Send;
    /// The connector's own variables, to reach the fake.
    fn variables(&self) -> Vec<(&'static str, String)>;
    /// Everything the fake serves, as the platform should store it.
    fn expected(&self) -> Vec<String>;
    /// What the connector's state, as the platform holds it, says was
    /// imported.
    fn vouched(&self, state: &Value) -> Vec<String>;
    /// Whether the restart's run has ended, besides its state vouching for
    /// everything: a connector whose state cannot tell a finished first
    /// run from the restart's says how the restart shows its end.
    fn restart_ran(&self, _sim: &SimHandle) -> bool {
        true
    }
}

/// The drill for seeds `0..SEEDS`; prints the longest stop.
pub(crate) async fn sigterm_at_seeded_points<D: ImportDrill>() {
    opencti_connector::tls::install_crypto_provider();
    let longest = for_each_seed(drill::<D>).await;
    println!("longest stop after SIGTERM: {longest:?}");
}

/// One seed: the interrupted run, its checks, the restart and its checks.
/// Returns how long the first stop took.
async fn drill<D: ImportDrill>(seed: u64) -> Duration {
    let sim = Sim::start(SimConfig::for_tests())
        .await
        .expect("the simulator");
    let vendor = D::start(seed).await;
    let connector_id = format!("5e1d0000-0000-4000-8000-{seed:012x}");
    let env = environment(&sim, &connector_id, D::NAME, vendor.variables());
    let expected = vendor.expected();

    let mut first = Process::spawn(D::BINARY, &env);
    let delay = seeded_delay(seed, D::MAX_DELAY);
    tokio::time::sleep(delay).await;
    let took = first
        .stop_within(GRACE, &format!("seed {seed}, first run"))
        .await;
    let vouched = state_vouches_for(&sim, &connector_id, &vendor);
    let stored = stored::<D>(&sim);
    println!(
        "seed {seed}: SIGTERM after {delay:?}, stopped in {took:?}, {} of {} vouched for by the state, {} stored",
        vouched.len(),
        expected.len(),
        expected.iter().filter(|item| stored.contains(item)).count()
    );
    let confirmed = none_missing::<D>(&sim, &vouched, "what the state vouches for").await;
    assert!(
        confirmed.is_ok(),
        "seed {seed}: the state moved past unconfirmed work: {confirmed:?}\n{}",
        first.log()
    );

    let registrations = calls(&sim, "RegisterConnector");
    let mut second = Process::spawn(D::BINARY, &env);
    let ran = sim
        .wait_until("the restart to run", TIMEOUT, |sim| {
            let vouched = state_vouches_for(sim, &connector_id, &vendor);
            calls(sim, "RegisterConnector") > registrations
                && vendor.restart_ran(sim)
                && expected.iter().all(|item| vouched.contains(item))
        })
        .await;
    let resumed = none_missing::<D>(&sim, &expected, "everything").await;
    assert!(
        ran.is_ok() && resumed.is_ok(),
        "seed {seed}: the restart did not complete: {ran:?} {resumed:?}\nfirst run:\n{}\nrestart:\n{}",
        first.log(),
        second.log()
    );
    second
        .stop_within(GRACE, &format!("seed {seed}, restart"))
        .await;
    drop(vendor);
    sim.shutdown().await.expect("the simulator stops");
    took
}

/// The connector's environment: the platform's variables (an hour's
/// period, so that only the restart runs again), then the vendor's.
fn environment(
    sim: &SimHandle,
    connector_id: &str,
    name: &str,
    vendor: Vec<(&str, String)>,
) -> Vec<(String, String)> {
    [
        ("OPENCTI_URL", sim.url()),
        ("OPENCTI_TOKEN", "signal-drill".to_owned()),
        ("CONNECTOR_ID", connector_id.to_owned()),
        ("CONNECTOR_NAME", name.to_owned()),
        ("CONNECTOR_DURATION_PERIOD", "PT1H".to_owned()),
        ("CONNECTOR_STOP_GRACE_PERIOD", "PT3S".to_owned()),
    ]
    .into_iter()
    .chain(vendor)
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// How many GraphQL calls of `operation` the platform received.
fn calls(sim: &SimHandle, operation: &str) -> usize {
    sim.graphql_calls()
        .iter()
        .filter(|call| call.operation.as_deref() == Some(operation))
        .count()
}

/// What the platform's copy of the connector's state vouches for.
fn state_vouches_for<D: ImportDrill>(
    sim: &SimHandle,
    connector_id: &str,
    vendor: &D,
) -> Vec<String> {
    sim.connector(connector_id)
        .and_then(|record| record.state)
        .and_then(|state| serde_json::from_str::<Value>(&state).ok())
        .map(|state| vendor.vouched(&state))
        .unwrap_or_default()
}

/// The [`ImportDrill::STORED`] property of every object of its type the
/// platform holds.
fn stored<D: ImportDrill>(sim: &SimHandle) -> Vec<String> {
    let (stix_type, property) = D::STORED;
    sim.objects()
        .into_iter()
        .filter(|object| object.stix_type == stix_type)
        .filter_map(|object| object.stix[property].as_str().map(str::to_owned))
        .collect()
}

/// Waits until the platform holds every one of `items`; the error lists
/// what is still missing.
async fn none_missing<D: ImportDrill>(
    sim: &SimHandle,
    items: &[String],
    what: &str,
) -> Result<(), String> {
    let missing = |sim: &SimHandle| {
        let stored = stored::<D>(sim);
        items
            .iter()
            .filter(|item| !stored.contains(item))
            .cloned()
            .collect::<Vec<_>>()
    };
    match sim
        .wait_until(what, TIMEOUT, |sim| missing(sim).is_empty())
        .await
    {
        Ok(()) => Ok(()),
        Err(_) => Err(format!("{what}: missing {:?}", missing(sim))),
    }
}
