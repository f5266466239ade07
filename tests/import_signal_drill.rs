//! The parts of the SIGTERM drill common to the import connectors (MISP
//! feed, NTI, TeamT5), shared by their tests with `#[path]` next to
//! `signal_drill.rs`: their environment's platform half, the interrupted
//! first run, the wait for what the platform must hold, and the restart.

use std::fmt::Debug;
use std::time::Duration;

use opencti_sim::SimHandle;

use super::signal_drill::{Process, seeded_delay};

/// `CONNECTOR_STOP_GRACE_PERIOD` of the drill (the env says `PT3S`).
pub(crate) const GRACE: Duration = Duration::from_secs(3);
/// Every wait on the platform is bounded by this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(20);

/// The connector's environment: the platform's variables (an hour's
/// period, so that only the restart runs again), then `vendor`'s.
pub(crate) fn import_environment(
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
pub(crate) fn calls(sim: &SimHandle, operation: &str) -> usize {
    sim.graphql_calls()
        .iter()
        .filter(|call| call.operation.as_deref() == Some(operation))
        .count()
}

/// Waits until `missing` names nothing the platform lacks; the error
/// lists what is still missing.
pub(crate) async fn none_missing<T: Debug>(
    sim: &SimHandle,
    what: &str,
    missing: impl Fn(&SimHandle) -> Vec<T>,
) -> Result<(), String> {
    match sim
        .wait_until(what, TIMEOUT, |sim| missing(sim).is_empty())
        .await
    {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("{what}: missing {:?}", missing(sim))),
    }
}

/// The first run: started, then SIGTERM after the seed's delay in
/// `0..max_delay`. Returns the stopped process, the delay and how long
/// the stop took.
pub(crate) async fn interrupted_run(
    seed: u64,
    binary: &str,
    env: &[(String, String)],
    max_delay: Duration,
) -> (Process, Duration, Duration) {
    let mut first = Process::spawn(binary, env);
    let delay = seeded_delay(seed, max_delay);
    tokio::time::sleep(delay).await;
    let took = first
        .stop_within(GRACE, &format!("seed {seed}, first run"))
        .await;
    (first, delay, took)
}

/// Starts the binary again; returns it with the registrations the
/// platform had seen before, so that the caller can wait for its own.
pub(crate) fn restart(sim: &SimHandle, binary: &str, env: &[(String, String)]) -> (Process, usize) {
    let registrations = calls(sim, "RegisterConnector");
    (Process::spawn(binary, env), registrations)
}

/// Asserts that the restart completed (`completed`, and `resumed` found
/// everything), then stops it within the grace.
pub(crate) async fn finish_restart(
    seed: u64,
    completed: bool,
    resumed: Result<(), String>,
    first: &Process,
    mut second: Process,
) {
    assert!(
        completed && resumed.is_ok(),
        "seed {seed}: the restart did not complete: {resumed:?}\nfirst run:\n{}\nrestart:\n{}",
        first.log(),
        second.log()
    );
    second
        .stop_within(GRACE, &format!("seed {seed}, restart"))
        .await;
}
