//! Drill (issue #13): a broker that nacks publishes in the middle of an NTI
//! run ([`NackingQueue`]: it takes the run's first messages, then the
//! broker nacks every publish). The run must end promptly in error, its
//! work closed in error, and `imported_files` must list only files sent
//! before the refusal; once the queue is gone, the next run imports the
//! rest and nothing is lost.

use std::time::Duration;

use opencti_nti::connector::IMPORTED_FILES;
use opencti_nti::fake::FakeNti;
use opencti_testkit::{ConnectorHarness, ImportRun, KitError, TestPlatform};

use crate::nacking_queue::NackingQueue;
use crate::support::{self, KEY, url_stored};

/// A run the broker refuses must end within this (the publisher gives up
/// after `MQ_OUTAGE_TIMEOUT`, 2 s here).
const PROMPT: Duration = Duration::from_secs(15);
/// Files of the package, one URL each: one bundle sent per file.
const FILES: u32 = 4;
/// Messages the private queue takes before the broker nacks: those of the
/// first file's bundle (its URL, the author and the marking), so that the
/// refusal comes at the second file.
const ACCEPTED: u32 = 3;

fn files() -> Vec<(String, String)> {
    support::url_files("nack", FILES)
}

fn package() -> Vec<u8> {
    support::url_package(&files())
}

async fn run_with(harness: &ConnectorHarness<'_>, server: &FakeNti) -> Result<ImportRun, KitError> {
    let harness = harness
        .clone()
        .var("NTI_BASE_URL", server.base_url())
        .var("NTI_API_KEY", KEY)
        .var("NTI_CREATE_URL", "true");
    let settings = harness.settings::<opencti_nti::Nti>(&[]);
    harness.run_import_with(support::connector(&settings)).await
}

/// The files `imported_files` lists, in package order.
fn imported(platform: &TestPlatform) -> Vec<String> {
    let state = platform.state().unwrap_or_default();
    files()
        .into_iter()
        .filter(|(name, _)| {
            state
                .get(IMPORTED_FILES)
                .and_then(|imported| imported.get(name))
                .is_some()
        })
        .map(|(name, _)| name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_nacking_publishes_mid_run_fails_the_run_and_the_next_run_resumes() {
    let platform = TestPlatform::start()
        .await
        .expect("the platform starts")
        .with_timeout(PROMPT);
    let server = FakeNti::start(KEY).await;
    server.set_package(package());
    let nacking = NackingQueue::bind(&platform, ACCEPTED).await;
    let harness = ConnectorHarness::new(&platform).var("MQ_OUTAGE_TIMEOUT", "PT2S");

    nacking
        .refused_run(PROMPT, async {
            run_with(&harness, &server).await.expect("the run ends")
        })
        .await;
    // The state holds the first file, confirmed before the refusal, and
    // none of the others.
    let first_file = files()[0].clone();
    platform
        .wait_until("the first file in the state", |platform| {
            imported(platform) == [first_file.0.clone()]
        })
        .await
        .unwrap_or_else(|_| panic!("imported_files: {:?}", imported(&platform)));
    assert!(url_stored(&platform, &first_file.1));

    nacking.remove().await;
    let next = run_with(&ConnectorHarness::new(&platform), &server)
        .await
        .expect("the next run ends");
    assert!(next.succeeded(), "the next run succeeds: {next:?}");
    platform
        .wait_until("every URL", |platform| {
            files().iter().all(|(_, url)| url_stored(platform, url))
        })
        .await
        .expect("nothing is lost");
    assert_eq!(
        imported(&platform).len(),
        FILES as usize,
        "every file listed"
    );
    platform.shutdown().await.expect("clean shutdown");
}
