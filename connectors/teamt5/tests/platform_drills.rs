//! Drills (issue #13): the platform refuses each call a TeamT5 run makes, in
//! turn; the broker nacks from each message of a run on, in turn; the
//! directory copy (`CONNECTOR_SEND_TO_DIRECTORY`) fails from each write on,
//! in turn (`opencti_testkit::drill`). Every faulted run ends promptly, the
//! cursor never passes what the platform stored, a failed run's work is
//! closed in error, and the next run completes with nothing lost. The same
//! for a directory that becomes unwritable, and a broker that goes away, in
//! the middle of a run.

use std::time::Duration;

use opencti_sim::relay::Relay;
use opencti_teamt5::fake::{FakeSettings, FakeTeamt5, Fault};
use opencti_testkit::drill::{OutputDrill, OutputFault, RefusalDrill};
use opencti_testkit::{ConnectorHarness, ImportRun, KitError, TestPlatform};

use tokio::time::Instant;

use crate::support::{
    add_one_indicator_bundles, fake_with, fixture, ioc_item, report_item, run_with,
};

/// A run whose output breaks must end within this.
const PROMPT: Duration = Duration::from_secs(15);

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
    run_with(&ConnectorHarness::new(platform), fake).await
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
    RefusalDrill::new(
        async |platform: &TestPlatform| run_once(platform, &fake).await,
        everything_stored,
        cursor_backed,
    )
    .run()
    .await;
}

/// The output drill over the fake of [`publishing_fake`].
async fn output_drill(fake: &FakeTeamt5, fault: OutputFault) {
    OutputDrill::new(
        async |harness: &ConnectorHarness<'_>| run_with(harness, fake).await,
        everything_stored,
        cursor_backed,
    )
    // The cursor moves only once every message of the run is confirmed.
    .confirmed_only(|platform, _| !cursor_held_past(platform))
    .run(fault)
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_nacking_from_every_message_on_ends_the_run_and_the_next_run_completes() {
    let fake = publishing_fake().await;
    output_drill(&fake, OutputFault::BrokerNacks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_copy_failing_from_every_write_on_ends_the_run_and_the_next_run_completes() {
    let fake = publishing_fake().await;
    output_drill(&fake, OutputFault::DirectoryErrors).await;
}

/// Bundles of the publishing-failure drills; the fourth one's download is
/// answered 503 with a `Retry-After`, a pause in the middle of the run
/// during which the drill breaks the output.
const BUNDLES: usize = 6;
const PAUSED_BUNDLE: &str = "/api/v2/ioc_bundles/b3.stix";

fn indicator_id(bundle: usize) -> String {
    format!("indicator--00000000-0000-4000-8000-{bundle:012}")
}

/// A fake publishing [`BUNDLES`] IoC bundles of one indicator each, paused
/// before [`PAUSED_BUNDLE`].
async fn paused_fake() -> FakeTeamt5 {
    let fake = fake_with(FakeSettings::default()).await;
    add_one_indicator_bundles(&fake, BUNDLES, "b", "203.0.113.", indicator_id);
    fake.fail_next(PAUSED_BUNDLE, [Fault::Status(503, Some(2))]);
    fake
}

fn every_indicator_stored(platform: &TestPlatform) -> bool {
    (0..BUNDLES).all(|bundle| platform.sim().object(&indicator_id(bundle)).is_some())
}

/// Waits until the connector is in the pause before [`PAUSED_BUNDLE`].
async fn paused(fake: &FakeTeamt5) {
    let asked = async {
        while fake.requests_to(PAUSED_BUNDLE).is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(PROMPT, asked)
        .await
        .expect("the run reaches the paused bundle");
}

/// A run that failed: within the bound, cursor held, work closed in error.
fn assert_failed_and_held(platform: &TestPlatform, run: &ImportRun, elapsed: Duration) {
    assert!(!run.succeeded(), "the run fails: {run:?}");
    assert!(elapsed < PROMPT, "the run ends promptly: {elapsed:?}");
    assert!(!cursor_held_past(platform), "the cursor did not move");
    let work = run.work.as_ref().expect("the run's work");
    assert!(
        !work.errors.is_empty() && work.processed_time.is_some(),
        "the work is closed in error: {work:?}"
    );
}

fn cursor_held_past(platform: &TestPlatform) -> bool {
    platform
        .state()
        .is_some_and(|state| state.get("last_run").is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_unwritable_mid_run_fails_the_run_and_the_next_run_resumes() {
    let platform = TestPlatform::start()
        .await
        .expect("the platform starts")
        .with_timeout(PROMPT);
    let fake = paused_fake().await;
    // Unique to this test run; removed at the end.
    let root = std::env::temp_dir().join(format!(
        "teamt5-directory-drill-{}-{}",
        std::process::id(),
        platform.connector_id()
    ));
    let directory = root.join("bundles");
    std::fs::create_dir_all(&directory).unwrap();
    let with_directory = ConnectorHarness::new(&platform)
        .var("CONNECTOR_SEND_TO_DIRECTORY", "true")
        .var(
            "CONNECTOR_SEND_TO_DIRECTORY_PATH",
            directory.display().to_string(),
        );
    // Root ignores permissions: the directory is replaced by a file.
    let breaker = async {
        paused(&fake).await;
        let copies = std::fs::read_dir(&directory).unwrap().count();
        std::fs::remove_dir_all(&directory).unwrap();
        std::fs::write(&directory, b"not a directory").unwrap();
        copies
    };
    let started = Instant::now();
    let (first, copies) = tokio::join!(run_with(&with_directory, &fake), breaker);
    let first = first.expect("the run ends");
    println!(
        "{copies} copies written before the break, run ended in {:?}",
        started.elapsed()
    );
    assert_failed_and_held(&platform, &first, started.elapsed());
    assert!(
        first
            .errors()
            .iter()
            .any(|error| format!("{error:?}").contains("bundles")),
        "the work's error names the directory: {:?}",
        first.errors()
    );

    std::fs::remove_file(&directory).unwrap();
    std::fs::create_dir(&directory).unwrap();
    let next = run_with(&with_directory, &fake)
        .await
        .expect("the next run ends");
    assert!(next.succeeded(), "the next run succeeds: {next:?}");
    platform
        .wait_until("every indicator", every_indicator_stored)
        .await
        .expect("nothing is lost");
    assert!(cursor_held_past(&platform), "the cursor moves");
    assert!(std::fs::read_dir(&directory).unwrap().count() >= BUNDLES);
    std::fs::remove_dir_all(&root).unwrap();
    platform.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_refusing_connections_mid_run_fails_the_run_and_the_next_run_resumes() {
    let platform = TestPlatform::start()
        .await
        .expect("the platform starts")
        .with_timeout(PROMPT);
    let fake = paused_fake().await;
    let relay = Relay::start(5672).await.expect("relay starts");
    let through_relay = ConnectorHarness::new(&platform)
        .var("MQ_HOST", "127.0.0.1")
        .var("MQ_PORT", relay.port().to_string())
        .var("MQ_OUTAGE_TIMEOUT", "PT2S");
    // In the pause, the relay goes away: open connections are cut and new
    // ones refused, past the MQ_OUTAGE_TIMEOUT the publisher waits out.
    let breaker = async {
        paused(&fake).await;
        drop(relay);
    };
    let started = Instant::now();
    let (first, ()) = tokio::join!(run_with(&through_relay, &fake), breaker);
    let first = first.expect("the run ends");
    println!("run ended in {:?}: {:?}", started.elapsed(), first.outcome);
    assert_failed_and_held(&platform, &first, started.elapsed());

    let next = run_with(&ConnectorHarness::new(&platform), &fake)
        .await
        .expect("the next run ends");
    assert!(next.succeeded(), "the next run succeeds: {next:?}");
    platform
        .wait_until("every indicator", every_indicator_stored)
        .await
        .expect("nothing is lost");
    assert!(cursor_held_past(&platform), "the cursor moves");
    platform.shutdown().await.expect("clean shutdown");
}
