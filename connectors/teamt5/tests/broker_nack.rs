//! Drill (issue #13): a broker that nacks publishes in the middle of a
//! TeamT5 run ([`NackingQueue`]: it takes the run's first messages, then
//! the broker nacks every publish). The run must end promptly in error, its work closed in error, the cursor
//! (`last_run`) not moved; once the queue is gone, the next run stores
//! every indicator and moves the cursor.

use std::time::Duration;

use opencti_teamt5::fake::{FakeSettings, FakeTeamt5};
use opencti_testkit::{ConnectorHarness, TestPlatform};

use crate::nacking_queue::NackingQueue;
use crate::support::{add_one_indicator_bundles, fake_with, run_with};

/// A run the broker refuses must end within this (the publisher gives up
/// after `MQ_OUTAGE_TIMEOUT`, 2 s here).
const PROMPT: Duration = Duration::from_secs(15);
/// IoC bundles of one indicator each.
const BUNDLES: usize = 6;
/// Messages the private queue takes before the broker nacks: fewer than
/// the run sends (at least one per bundle), more than none.
const ACCEPTED: u32 = 2;

fn indicator_id(bundle: usize) -> String {
    format!("indicator--00000000-0000-4000-9000-{bundle:012}")
}

async fn publishing_fake() -> FakeTeamt5 {
    let fake = fake_with(FakeSettings::default()).await;
    add_one_indicator_bundles(&fake, BUNDLES, "n", "198.51.100.", indicator_id);
    fake
}

fn cursor_set(platform: &TestPlatform) -> bool {
    platform
        .state()
        .is_some_and(|state| state.get("last_run").is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_nacking_publishes_mid_run_fails_the_run_and_the_next_run_resumes() {
    let platform = TestPlatform::start()
        .await
        .expect("the platform starts")
        .with_timeout(PROMPT);
    let fake = publishing_fake().await;
    let nacking = NackingQueue::bind(&platform, ACCEPTED).await;
    let harness = ConnectorHarness::new(&platform).var("MQ_OUTAGE_TIMEOUT", "PT2S");

    nacking
        .refused_run(PROMPT, async {
            run_with(&harness, &fake).await.expect("the run ends")
        })
        .await;
    assert!(!cursor_set(&platform), "the cursor did not move");
    // Bundles go newest first: the oldest one is never reached.
    assert!(
        fake.requests_to("/api/v2/ioc_bundles/n0.stix").is_empty(),
        "the run stopped at the refusal instead of going on"
    );

    nacking.remove().await;
    let next = run_with(&ConnectorHarness::new(&platform), &fake)
        .await
        .expect("the next run ends");
    assert!(next.succeeded(), "the next run succeeds: {next:?}");
    platform
        .wait_until("every indicator", |platform| {
            (0..BUNDLES).all(|bundle| platform.sim().object(&indicator_id(bundle)).is_some())
        })
        .await
        .expect("nothing is lost");
    assert!(cursor_set(&platform), "the cursor moves");
    platform.shutdown().await.expect("clean shutdown");
}
