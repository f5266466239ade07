//! The whole connector against `opencti-sim` and the real RabbitMQ: the
//! golden package, through download faults, ends up in the platform with
//! the Python connector's ids, and the state is stored there.

use std::time::Duration;

use opencti_nti::connector::{IMPORTED_FILES, LAST_RUN};
use opencti_nti::fake::{FakeNti, Fault};
use opencti_testkit::{ConnectorHarness, ImportRun, TestPlatform};

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

/// One run-and-terminate run, with retries short enough for tests.
async fn run_once(harness: &ConnectorHarness<'_>) -> ImportRun {
    let settings = harness.settings::<opencti_nti::Nti>(&[]);
    harness
        .run_import_with(support::connector(&settings))
        .await
        .expect("the run ends in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_golden_package_reaches_the_platform_through_faults() {
    let platform = TestPlatform::start()
        .await
        .expect("the platform starts")
        .with_timeout(TIMEOUT);
    let server = FakeNti::start(KEY).await;
    server.set_package(support::golden_package());
    server.set_gzip(true);
    server.push_fault(Fault::over_limit(0));
    server.push_fault(Fault::Truncated);

    let harness = ConnectorHarness::new(&platform)
        .var("NTI_BASE_URL", server.base_url())
        .var("NTI_API_KEY", KEY)
        .var("NTI_CREATE_IOC", "true")
        .var("NTI_CREATE_IP", "true")
        .var("NTI_CREATE_URL", "true");
    let run = run_once(&harness).await;
    assert!(run.succeeded(), "the run succeeds: {run:?}");
    assert_eq!(server.requests().len(), 3, "two faults, then the package");

    // The harness returns once every message of the run is imported.
    let missing: Vec<&&str> = GOLDEN_IDS
        .iter()
        .filter(|id| !run.objects.iter().any(|object| object.id == **id))
        .collect();
    assert!(missing.is_empty(), "missing objects: {missing:?}");
    assert_eq!(platform.works().len(), 1, "one work per run");
    assert!(run.errors().is_empty(), "{:?}", run.errors());

    let state = run.state.as_ref().expect("state stored in the platform");
    assert!(state[LAST_RUN].is_string());
    assert_eq!(
        state[IMPORTED_FILES].as_object().map(serde_json::Map::len),
        Some(3)
    );

    // The same package again: nothing new is sent, no work is created.
    let again = run_once(&harness).await;
    assert!(again.succeeded(), "the second run succeeds: {again:?}");
    assert!(again.work.is_none());
    assert_eq!(platform.works().len(), 1);
    drop(harness);
    platform.shutdown().await.expect("clean shutdown");
}
