//! SIGTERM at 20 seeded points of the binary's run against `opencti-sim`
//! and a MISP feed on loopback: the stop fits in the grace, the cursor the
//! platform holds never passes an event it does not hold, and a restart
//! imports everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opencti_sim::{Sim, SimConfig, SimHandle};
use opencti_testkit::axum::Router;
use opencti_testkit::axum::extract::{Path, State};
use opencti_testkit::axum::http::StatusCode;
use opencti_testkit::axum::routing::get;
use opencti_testkit::vendor::FakeVendor;
use serde_json::{Value, json};

#[path = "../../../tests/import_signal_drill.rs"]
mod import_signal_drill;
#[path = "../../../tests/signal_drill.rs"]
mod signal_drill;

use import_signal_drill::{
    TIMEOUT, calls, finish_restart, import_environment, interrupted_run, none_missing, restart,
};
use signal_drill::for_each_seed;

/// Events in the feed, of [`ATTRIBUTES`] attributes each.
const EVENTS: u64 = 8;
const ATTRIBUTES: u64 = 30;
/// The first event's timestamp; event `n` has `FIRST + n`.
const FIRST: i64 = 1_700_000_000;

type Files = Arc<HashMap<String, String>>;

/// The feed's files: `manifest.json` and one file per event.
fn feed(seed: u64) -> HashMap<String, String> {
    let mut files = HashMap::new();
    let mut manifest = serde_json::Map::new();
    for n in 0..EVENTS {
        let uuid = format!("5e1d{seed:04x}-0000-4000-8000-{n:012x}");
        let timestamp = (FIRST + n as i64).to_string();
        let attributes: Vec<Value> = (0..ATTRIBUTES)
            .map(|a| {
                json!({
                    "uuid": format!("5e1d{seed:04x}-{a:04x}-4000-8000-{n:012x}"),
                    "type": "ip-dst",
                    "category": "Network activity",
                    "value": format!("10.{seed}.{n}.{a}"),
                    "to_ids": true,
                    "timestamp": timestamp,
                })
            })
            .collect();
        let event = json!({"Event": {
            "uuid": uuid, "info": event_name(n), "date": "2024-01-15",
            "timestamp": timestamp, "threat_level_id": "2", "analysis": "2",
            "published": true,
            "Orgc": {"name": "Drill", "uuid": "5e1d0000-0000-4000-8000-000000000000"},
            "Attribute": attributes,
        }});
        manifest.insert(
            uuid.clone(),
            json!({
                "Orgc": {"name": "Drill", "uuid": "5e1d0000-0000-4000-8000-000000000000"},
                "info": event_name(n), "date": "2024-01-15", "analysis": "2",
                "threat_level_id": "2", "timestamp": timestamp,
            }),
        );
        files.insert(format!("{uuid}.json"), event.to_string());
    }
    files.insert(
        "manifest.json".to_owned(),
        Value::Object(manifest).to_string(),
    );
    files
}

fn event_name(n: u64) -> String {
    format!("Drill event {n}")
}

/// Serves `files` under `/feed/`; returns `MISP_FEED_URL` and the server.
async fn serve(files: HashMap<String, String>) -> (String, FakeVendor) {
    async fn file(
        State(files): State<Files>,
        Path(name): Path<String>,
    ) -> Result<String, StatusCode> {
        files.get(&name).cloned().ok_or(StatusCode::NOT_FOUND)
    }
    let routes = Router::new()
        .route("/feed/{name}", get(file))
        .with_state(Arc::new(files));
    let server = FakeVendor::start(routes).await.expect("a loopback port");
    (server.url_for("/feed"), server)
}

fn environment(sim: &SimHandle, feed_url: &str, connector_id: &str) -> Vec<(String, String)> {
    import_environment(
        sim,
        connector_id,
        "MISP feed signals",
        vec![
            ("MISP_FEED_URL", feed_url.to_owned()),
            ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01".to_owned()),
            ("MISP_FEED_CREATE_INDICATORS", "true".to_owned()),
            ("MISP_FEED_CREATE_OBSERVABLES", "true".to_owned()),
        ],
    )
}

/// The events the platform's cursor vouches for (timestamp up to it).
fn vouched(sim: &SimHandle, connector_id: &str) -> Vec<u64> {
    let cursor = sim
        .connector(connector_id)
        .and_then(|record| record.state)
        .and_then(|state| serde_json::from_str::<Value>(&state).ok())
        .and_then(|state| state.get("last_event_timestamp")?.as_i64());
    match cursor {
        Some(cursor) => (0..EVENTS)
            .filter(|n| FIRST + *n as i64 <= cursor)
            .collect(),
        None => Vec::new(),
    }
}

fn stored_reports(sim: &SimHandle) -> Vec<String> {
    sim.objects()
        .into_iter()
        .filter(|object| object.stix_type == "report")
        .filter_map(|object| object.stix["name"].as_str().map(str::to_owned))
        .collect()
}

async fn all_stored(sim: &SimHandle, events: &[u64], what: &str) -> Result<(), String> {
    let names: Vec<String> = events.iter().map(|n| event_name(*n)).collect();
    none_missing(sim, what, |sim| {
        let reports = stored_reports(sim);
        names
            .iter()
            .filter(|name| !reports.contains(name))
            .collect::<Vec<_>>()
    })
    .await
}

async fn drill(seed: u64) -> Duration {
    let binary = env!("CARGO_BIN_EXE_opencti-misp-feed");
    let sim = Sim::start(SimConfig::for_tests())
        .await
        .expect("the simulator");
    let (feed_url, server) = serve(feed(seed)).await;
    let connector_id = format!("5e1d0000-0000-4000-8000-{seed:012x}");
    let env = environment(&sim, &feed_url, &connector_id);

    let (first, delay, took) =
        interrupted_run(seed, binary, &env, Duration::from_millis(2500)).await;
    let under_cursor = vouched(&sim, &connector_id);
    println!(
        "seed {seed}: SIGTERM after {delay:?}, stopped in {took:?}, {} of {EVENTS} events under the cursor, {} reports stored",
        under_cursor.len(),
        stored_reports(&sim).len()
    );
    let confirmed = all_stored(&sim, &under_cursor, "the events under the cursor").await;
    assert!(
        confirmed.is_ok(),
        "seed {seed}: the cursor moved past unconfirmed work: {confirmed:?}\n{}",
        first.log()
    );

    let (second, registrations) = restart(&sim, binary, &env);
    let every: Vec<u64> = (0..EVENTS).collect();
    let ran = sim
        .wait_until("the restart to run", TIMEOUT, |sim| {
            calls(sim, "RegisterConnector") > registrations
                && vouched(sim, &connector_id).len() == every.len()
        })
        .await;
    let resumed = all_stored(&sim, &every, "every event").await;
    finish_restart(seed, ran.is_ok(), resumed, &first, second).await;
    drop(server);
    sim.shutdown().await.expect("the simulator stops");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_seeded_points_loses_nothing() {
    opencti_connector::tls::install_crypto_provider();
    let longest = for_each_seed(drill).await;
    println!("longest stop after SIGTERM: {longest:?}");
}
