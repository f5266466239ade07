//! SIGTERM at 20 seeded points of the binary's run against `opencti-sim`
//! and the fake NTI: the stop fits in the grace, the state the platform
//! holds never names a file whose addresses it does not hold, and a
//! restart imports everything.

use std::collections::BTreeMap;
use std::time::Duration;

use opencti_nti::connector::IMPORTED_FILES;
use opencti_nti::fake::{self, FakeNti};
use opencti_sim::{Sim, SimConfig, SimHandle};
use serde_json::{Value, json};

#[path = "../../../tests/import_signal_drill.rs"]
mod import_signal_drill;
#[path = "../../../tests/signal_drill.rs"]
mod signal_drill;

use import_signal_drill::{
    TIMEOUT, calls, finish_restart, import_environment, interrupted_run, none_missing, restart,
};
use signal_drill::for_each_seed;

const KEY: &str = "signal-drill-key";

/// Three feed files of four addresses each.
fn files(seed: u64) -> BTreeMap<String, Vec<String>> {
    (1..=3u64)
        .map(|file| {
            let name = format!("data.NTI.API.V2.0.ip-basic-updated.20250425.{file:04}.json");
            let values = (0..4u64)
                .map(|n| format!("10.{}.{}.{}", seed, file, n + 1))
                .collect();
            (name, values)
        })
        .collect()
}

fn package(files: &BTreeMap<String, Vec<String>>) -> Vec<u8> {
    let entries: Vec<(String, String)> = files
        .iter()
        .map(|(name, values)| {
            let records: Vec<Value> = values
                .iter()
                .map(|value| {
                    json!({
                        "object": {"type": "ipv4-addr", "value": value},
                        "modified": "2025-04-25T00:00:00Z",
                    })
                })
                .collect();
            (name.clone(), fake::entry_content(&records))
        })
        .collect();
    fake::package(&entries)
}

fn environment(sim: &SimHandle, server: &FakeNti, connector_id: &str) -> Vec<(String, String)> {
    import_environment(
        sim,
        connector_id,
        "NTI signals",
        vec![
            ("NTI_BASE_URL", server.base_url()),
            ("NTI_API_KEY", KEY.to_owned()),
            ("NTI_CREATE_IOC", "false".to_owned()),
            ("NTI_CREATE_IP", "true".to_owned()),
        ],
    )
}

/// The files the platform's copy of the state names as imported.
fn imported(sim: &SimHandle, connector_id: &str) -> Vec<String> {
    sim.connector(connector_id)
        .and_then(|record| record.state)
        .and_then(|state| serde_json::from_str::<Value>(&state).ok())
        .and_then(|state| state.get(IMPORTED_FILES)?.as_object().cloned())
        .map(|files| files.keys().cloned().collect())
        .unwrap_or_default()
}

fn stored_addresses(sim: &SimHandle) -> Vec<String> {
    sim.objects()
        .into_iter()
        .filter(|object| object.stix_type == "ipv4-addr")
        .filter_map(|object| object.stix["value"].as_str().map(str::to_owned))
        .collect()
}

async fn all_stored(sim: &SimHandle, values: &[&String], what: &str) -> Result<(), String> {
    none_missing(sim, what, |sim| {
        let addresses = stored_addresses(sim);
        values
            .iter()
            .filter(|value| !addresses.contains(value))
            .collect::<Vec<_>>()
    })
    .await
}

async fn drill(seed: u64) -> Duration {
    let binary = env!("CARGO_BIN_EXE_opencti-nti");
    let sim = Sim::start(SimConfig::for_tests())
        .await
        .expect("the simulator");
    let server = FakeNti::start(KEY).await;
    let files = files(seed);
    server.set_package(package(&files));
    let connector_id = format!("5e1d0000-0000-4000-8000-{seed:012x}");
    let env = environment(&sim, &server, &connector_id);

    let (first, delay, took) =
        interrupted_run(seed, binary, &env, Duration::from_millis(1500)).await;
    let named = imported(&sim, &connector_id);
    println!(
        "seed {seed}: SIGTERM after {delay:?}, stopped in {took:?}, {} of {} files in the state, {} addresses stored",
        named.len(),
        files.len(),
        stored_addresses(&sim).len()
    );
    // A file the state names must be in the platform entirely.
    let vouched: Vec<&String> = named
        .iter()
        .filter_map(|name| files.get(name))
        .flatten()
        .collect();
    let confirmed = all_stored(&sim, &vouched, "the files the state names").await;
    assert!(
        confirmed.is_ok(),
        "seed {seed}: the state moved past unconfirmed work: {confirmed:?}\n{}",
        first.log()
    );

    let (second, registrations) = restart(&sim, binary, &env);
    let everything: Vec<&String> = files.values().flatten().collect();
    let ran = sim
        .wait_until("the restart to run", TIMEOUT, |sim| {
            calls(sim, "RegisterConnector") > registrations
                && imported(sim, &connector_id).len() == files.len()
        })
        .await;
    let resumed = all_stored(&sim, &everything, "every address").await;
    finish_restart(seed, ran.is_ok(), resumed, &first, second).await;
    sim.shutdown().await.expect("the simulator stops");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_seeded_points_loses_nothing() {
    opencti_connector::tls::install_crypto_provider();
    let longest = for_each_seed(drill).await;
    println!("longest stop after SIGTERM: {longest:?}");
}
