//! SIGTERM at 20 seeded points of the binary's run against `opencti-sim`
//! and the fake ThreatVision API: the stop fits in the grace, the state the
//! platform holds never claims publications it does not hold, and a
//! restart imports everything.

use std::time::Duration;

use opencti_sim::{Sim, SimConfig, SimHandle};
use opencti_teamt5::fake::{FakeSettings, FakeTeamt5};
use serde_json::{Value, json};

#[path = "../../../tests/import_signal_drill.rs"]
mod import_signal_drill;
#[path = "../../../tests/signal_drill.rs"]
mod signal_drill;

use import_signal_drill::{
    TIMEOUT, calls, finish_restart, import_environment, interrupted_run, none_missing, restart,
};
use signal_drill::for_each_seed;

/// IoC bundles the fake publishes per seed.
const BUNDLES: u64 = 6;

fn indicator_id(seed: u64, n: u64) -> String {
    format!("indicator--{seed:08x}-0000-4000-8000-{n:012x}")
}

fn publish(fake: &FakeTeamt5, seed: u64) -> Vec<String> {
    let url = fake.url();
    let now = chrono::Utc::now().timestamp();
    (0..BUNDLES)
        .map(|n| {
            let id = indicator_id(seed, n);
            let item = json!({
                "id": format!("b{n}"),
                "created_at": now - 60 + n as i64,
                "stix_url": format!("{url}api/v2/ioc_bundles/b{n}.stix"),
                "csv_url": format!("{url}api/v2/ioc_bundles/b{n}.csv"),
                "txt_url": null,
            });
            let bundle = json!({
                "type": "bundle",
                "id": format!("bundle--{seed:08x}-0000-4000-8000-{n:012x}"),
                "objects": [{
                    "type": "indicator", "spec_version": "2.1", "id": id,
                    "created": "2025-11-20T09:00:00.000Z",
                    "modified": "2025-11-20T09:00:00.000Z",
                    "pattern": format!("[ipv4-addr:value = '198.51.100.{n}']"),
                    "pattern_type": "stix",
                    "valid_from": "2025-11-20T09:00:00Z",
                }],
            });
            fake.add_ioc_bundle(item, &bundle);
            id
        })
        .collect()
}

fn environment(sim: &SimHandle, fake: &FakeTeamt5, connector_id: &str) -> Vec<(String, String)> {
    import_environment(
        sim,
        connector_id,
        "TeamT5 signals",
        vec![
            ("TEAMT5_API_BASE_URL", fake.url()),
            ("TEAMT5_CLIENT_ID", "cid".to_owned()),
            ("TEAMT5_CLIENT_SECRET", "csecret".to_owned()),
            ("TEAMT5_TLP_LEVEL", "amber".to_owned()),
        ],
    )
}

/// Whether the platform's copy of the state has moved the cursor.
fn cursor_moved(sim: &SimHandle, connector_id: &str) -> bool {
    sim.connector(connector_id)
        .and_then(|record| record.state)
        .and_then(|state| serde_json::from_str::<Value>(&state).ok())
        .is_some_and(|state| state.get("last_run").is_some())
}

async fn all_stored(sim: &SimHandle, ids: &[String], what: &str) -> Result<(), String> {
    none_missing(sim, what, |sim| {
        ids.iter()
            .filter(|id| sim.object(id).is_none())
            .collect::<Vec<_>>()
    })
    .await
}

async fn drill(seed: u64) -> Duration {
    let binary = env!("CARGO_BIN_EXE_opencti-teamt5");
    let sim = Sim::start(SimConfig::for_tests())
        .await
        .expect("the simulator");
    let fake = FakeTeamt5::start(FakeSettings::default())
        .await
        .expect("the fake");
    let expected = publish(&fake, seed);
    let connector_id = format!("5e1d0000-0000-4000-8000-{seed:012x}");
    let env = environment(&sim, &fake, &connector_id);

    let (first, delay, took) =
        interrupted_run(seed, binary, &env, Duration::from_millis(3000)).await;
    let stored = expected
        .iter()
        .filter(|id| sim.object(id).is_some())
        .count();
    println!(
        "seed {seed}: SIGTERM after {delay:?}, stopped in {took:?}, cursor moved: {}, {stored}/{BUNDLES} stored",
        cursor_moved(&sim, &connector_id)
    );
    // A cursor that moved vouches for every publication before it.
    if cursor_moved(&sim, &connector_id) {
        let vouched = all_stored(&sim, &expected, "publications under the cursor").await;
        assert!(
            vouched.is_ok(),
            "seed {seed}: the state moved past unconfirmed work: {vouched:?}\n{}",
            first.log()
        );
    }

    let (second, registrations) = restart(&sim, binary, &env);
    // The restart registered and pinged after its run (nothing is left to
    // import when the first run completed).
    let ran = sim
        .wait_until("the restart to run", TIMEOUT, |sim| {
            calls(sim, "RegisterConnector") > registrations
                && sim
                    .graphql_calls()
                    .last()
                    .is_some_and(|call| call.operation.as_deref() == Some("PingConnector"))
        })
        .await;
    assert!(
        ran.is_ok(),
        "seed {seed}: the restart did not run:\n{}",
        second.log()
    );
    let resumed = all_stored(&sim, &expected, "the restart's publications").await;
    let moved = sim
        .wait_until("the cursor", TIMEOUT, |sim| {
            cursor_moved(sim, &connector_id)
        })
        .await;
    finish_restart(seed, moved.is_ok(), resumed, &first, second).await;
    sim.shutdown().await.expect("the simulator stops");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_seeded_points_loses_nothing() {
    opencti_connector::tls::install_crypto_provider();
    let longest = for_each_seed(drill).await;
    println!("longest stop after SIGTERM: {longest:?}");
}
