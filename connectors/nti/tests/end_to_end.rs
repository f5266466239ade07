//! The whole connector against `opencti-sim` and the real RabbitMQ: the
//! golden package, through download faults, ends up in the platform with
//! the Python connector's ids, and the state is stored there.

use std::time::Duration;

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings, Var};
use opencti_connector::import::ImportRunner;
use opencti_connector::state::PingSchedule;
use opencti_nti::config::VARS;
use opencti_nti::connector::{IMPORTED_FILES, LAST_RUN};
use opencti_nti::fake::{FakeNti, Fault};
use opencti_sim::{SimConfig, SimHandle};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support::{self, AUTHOR, KEY};

/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Ids the Python connector gives the golden records' objects.
const GOLDEN_IDS: &[&str] = &[
    "indicator--df27f30b-b5a2-5014-8695-bfea071991c4",
    "indicator--bd4de9eb-a7a1-5689-8965-eec280ac942a",
    "ipv4-addr--cb9d70c5-d244-531c-9efb-bcae57adc793",
    "file--c4b807d6-dca0-522e-890d-41e835f2422b",
    "relationship--973599ef-d3ce-533c-9802-226a6a58cbde",
    "relationship--58cd815b-b762-5eef-b373-50d7939ba966",
    "location--4afb3241-dd03-59c6-9735-5f9b3fa4b745",
    "autonomous-system--0a5f7072-df00-5729-9f0a-4eb18631a446",
    "relationship--4ec74ebb-d480-5ee5-9381-6aaf373b904d",
    "relationship--9b7c5bc1-9127-5c06-83d9-1674daae01a0",
    "url--63f1b9d8-375b-5912-956b-fb20a73b6dc9",
    AUTHOR,
];

async fn start_sim() -> SimHandle {
    tokio::time::timeout(TIMEOUT, opencti_sim::Sim::start(SimConfig::for_tests()))
        .await
        .expect("the simulator starts in time")
        .expect("the simulator starts")
}

fn settings(sim: &SimHandle, server: &FakeNti, connector_id: &str) -> Settings {
    let tables: Vec<&[Var]> = RUNTIME_TABLES.iter().copied().chain([VARS]).collect();
    Settings::from_env_pairs(
        &tables,
        [
            ("OPENCTI_URL", sim.url()),
            ("OPENCTI_TOKEN", "test-token".to_owned()),
            ("CONNECTOR_ID", connector_id.to_owned()),
            ("CONNECTOR_RUN_AND_TERMINATE", "true".to_owned()),
            ("NTI_BASE_URL", server.base_url()),
            ("NTI_API_KEY", KEY.to_owned()),
            ("NTI_CREATE_IOC", "true".to_owned()),
            ("NTI_CREATE_IP", "true".to_owned()),
            ("NTI_CREATE_URL", "true".to_owned()),
        ],
    )
}

/// One run-and-terminate run, as the binary does it.
async fn run_once(settings: &Settings) -> Result<(), opencti_connector::Error> {
    let runtime = RuntimeConfig::try_from(settings).expect("runtime configuration");
    let runner =
        ImportRunner::new(support::connector(settings), runtime).with_pings(PingSchedule {
            interval: Duration::from_secs(40),
            debounce: Duration::from_millis(20),
        });
    tokio::time::timeout(TIMEOUT, runner.run(CancellationToken::new()))
        .await
        .expect("the run ends in time")
}

fn platform_state(sim: &SimHandle, connector_id: &str) -> Option<Value> {
    serde_json::from_str(&sim.connector(connector_id)?.state?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_golden_package_reaches_the_platform_through_faults() {
    let sim = start_sim().await;
    let server = FakeNti::start(KEY).await;
    server.set_package(support::golden_package());
    server.set_gzip(true);
    server.push_fault(Fault::over_limit(0));
    server.push_fault(Fault::Truncated);

    let connector_id = uuid::Uuid::new_v4().to_string();
    let settings = settings(&sim, &server, &connector_id);
    run_once(&settings).await.expect("the run succeeds");
    assert_eq!(server.requests().len(), 3, "two faults, then the package");

    let stored = |sim: &SimHandle| GOLDEN_IDS.iter().all(|id| sim.object(id).is_some());
    let outcome = sim
        .wait_until("every golden object to be stored", TIMEOUT, stored)
        .await;
    let missing: Vec<&&str> = GOLDEN_IDS
        .iter()
        .filter(|id| sim.object(id).is_none())
        .collect();
    assert!(outcome.is_ok(), "missing objects: {missing:?}");
    let works = sim.works();
    assert_eq!(works.len(), 1, "one work per run");
    let work = sim
        .wait_for_work_complete(&works[0].id, TIMEOUT)
        .await
        .expect("the work completes");
    assert!(work.errors.is_empty(), "{:?}", work.errors);

    let state = platform_state(&sim, &connector_id).expect("state stored in the platform");
    assert!(state[LAST_RUN].is_string());
    assert_eq!(
        state[IMPORTED_FILES].as_object().map(serde_json::Map::len),
        Some(3)
    );

    // The same package again: nothing new is sent, no work is created.
    run_once(&settings).await.expect("the second run succeeds");
    assert_eq!(sim.works().len(), 1);
    sim.shutdown().await.expect("clean shutdown");
}
