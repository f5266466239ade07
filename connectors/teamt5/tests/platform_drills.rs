//! Drill (issue #13): the platform refuses each call a TeamT5 run makes, in
//! turn (`opencti_testkit::drill`). Every faulted run ends promptly, the
//! cursor never passes what the platform stored, a failed run's work is
//! closed in error, and the next run completes with nothing lost.

use opencti_connector::Connector;
use opencti_teamt5::Teamt5;
use opencti_teamt5::fake::{FakeSettings, FakeTeamt5};
use opencti_testkit::drill::RefusalDrill;
use opencti_testkit::{ConnectorHarness, ImportRun, KitError, TestPlatform};

use crate::support::{fake_with, fast_http, fixture, ioc_item, report_item};

/// What the fake publishes: one report (with its author and the intrusion
/// set it names) and one IoC bundle.
const PUBLISHED: &[&str] = &[
    "report--b9b45212-7370-52dc-8e2c-696fb32896b6",
    "identity--4da37d9f-2e24-5549-9a5b-7219e5d7e056",
    "intrusion-set--d3f1e0a2-1111-4a5b-8c9d-0e1f2a3b4c5d",
    "indicator--0f1e2d3c-4b5a-4697-8877-665544332211",
    "malware--2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
];

async fn publishing_fake() -> FakeTeamt5 {
    let fake = fake_with(FakeSettings::default()).await;
    fake.add_report(
        report_item(
            &fake,
            "tt5-flash-2025-11-20-apt-x",
            "Flash Report: APT-X targets telecoms in Taiwan",
            1_763_625_600,
        ),
        &fixture("report-bundle.json"),
    );
    fake.add_ioc_bundle(
        ioc_item(&fake, "b1", 1_763_629_200),
        &fixture("ioc-bundle.json"),
    );
    fake
}

async fn run_once(platform: &TestPlatform, fake: &FakeTeamt5) -> Result<ImportRun, KitError> {
    let harness = ConnectorHarness::new(platform)
        .var("TEAMT5_API_BASE_URL", fake.url())
        .var("TEAMT5_CLIENT_ID", "cid")
        .var("TEAMT5_CLIENT_SECRET", "csecret");
    let mut config = harness.config::<Teamt5>()?;
    config.http = fast_http();
    let connector = Teamt5::from_config(config).expect("connector");
    harness.run_import_with(connector).await
}

fn everything_stored(platform: &TestPlatform) -> bool {
    PUBLISHED
        .iter()
        .all(|id| platform.sim().object(id).is_some())
}

/// The cursor (`last_run`) promises everything published before it.
fn cursor_backed(platform: &TestPlatform) -> bool {
    let cursor = platform
        .state()
        .is_some_and(|state| state.get("last_run").is_some());
    !cursor || everything_stored(platform)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_at_every_platform_call_ends_the_run_and_the_next_run_completes() {
    let fake = publishing_fake().await;
    let report = RefusalDrill::new(
        async |platform: &TestPlatform| run_once(platform, &fake).await,
        everything_stored,
        cursor_backed,
    )
    .run()
    .await;
    assert!(
        report.operations.contains_key("addExpectations"),
        "the run announces its messages: {:?}",
        report.operations
    );
    assert!(report.steps.len() >= report.operations.len());
    assert!(
        report.steps.iter().any(|step| step.failed),
        "some refusals fail the run"
    );
    for step in &report.steps {
        println!(
            "{} call {}: failed {}, {:?}",
            step.operation, step.call, step.failed, step.elapsed
        );
    }
}
