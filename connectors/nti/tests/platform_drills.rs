//! Drills (issue #13): the platform refuses each call an NTI run makes, in
//! turn; the broker nacks from each message of a run on, in turn; the
//! directory copy fails from each write on, in turn
//! (`opencti_testkit::drill`). Every faulted run ends promptly, the state
//! never names a file whose objects the platform did not store, a failed
//! run's work is closed in error, and the next run completes with nothing
//! lost.

use opencti_nti::connector::IMPORTED_FILES;
use opencti_nti::fake::FakeNti;
use opencti_testkit::drill::{OutputDrill, OutputFault, RefusalDrill};
use opencti_testkit::{ConnectorHarness, ImportRun, KitError, TestPlatform};

use crate::support::{self, KEY, url_stored};

fn files() -> Vec<(String, String)> {
    support::url_files("drill", 3)
}

fn package() -> Vec<u8> {
    support::url_package(&files())
}

/// One run through `harness` (the platform, and the drill's variables).
async fn run_with(harness: &ConnectorHarness<'_>, server: &FakeNti) -> Result<ImportRun, KitError> {
    let harness = harness
        .clone()
        .var("NTI_BASE_URL", server.base_url())
        .var("NTI_API_KEY", KEY)
        .var("NTI_CREATE_URL", "true");
    let settings = harness.settings::<opencti_nti::Nti>(&[]);
    harness.run_import_with(support::connector(&settings)).await
}

fn everything_stored(platform: &TestPlatform) -> bool {
    files().iter().all(|(_, url)| url_stored(platform, url))
}

/// Every file the state lists as imported has its URL stored.
fn imported_files_backed(platform: &TestPlatform) -> bool {
    let Some(state) = platform.state() else {
        return true;
    };
    files().iter().all(|(name, url)| {
        state
            .get(IMPORTED_FILES)
            .and_then(|imported| imported.get(name))
            .is_none()
            || url_stored(platform, url)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_at_every_platform_call_ends_the_run_and_the_next_run_completes() {
    let server = FakeNti::start(KEY).await;
    server.set_package(package());
    RefusalDrill::new(
        async |platform: &TestPlatform| run_with(&ConnectorHarness::new(platform), &server).await,
        everything_stored,
        imported_files_backed,
    )
    .run()
    .await;
}

/// The output drill over a package of three files.
async fn output_drill(server: &FakeNti, fault: OutputFault) {
    OutputDrill::new(
        async |harness: &ConnectorHarness<'_>| run_with(harness, server).await,
        everything_stored,
        imported_files_backed,
    )
    .confirmed_only(|platform, confirmed| imported(platform) <= confirmed / MESSAGES_PER_FILE)
    .run(fault)
    .await;
}

/// Messages of one file's bundle: its URL, the author and the marking.
const MESSAGES_PER_FILE: usize = 3;

/// How many files `imported_files` lists.
fn imported(platform: &TestPlatform) -> usize {
    let state = platform.state().unwrap_or_default();
    files()
        .iter()
        .filter(|(name, _)| {
            state
                .get(IMPORTED_FILES)
                .and_then(|imported| imported.get(name))
                .is_some()
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_nacking_from_every_message_on_ends_the_run_and_the_next_run_completes() {
    let server = FakeNti::start(KEY).await;
    server.set_package(package());
    output_drill(&server, OutputFault::BrokerNacks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_copy_failing_from_every_write_on_ends_the_run_and_the_next_run_completes() {
    let server = FakeNti::start(KEY).await;
    server.set_package(package());
    output_drill(&server, OutputFault::DirectoryErrors).await;
}
