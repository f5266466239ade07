//! Drill (issue #13) on the test kit's [`RefusalDrill`]: the platform
//! refuses each call a run makes, in turn. Every faulted run ends
//! promptly; the state never passes what the platform stored; a failed
//! run's work is closed in error; the next run, without the fault,
//! completes with nothing lost.

use opencti_template_connector::Template;
use opencti_testkit::drill::RefusalDrill;
use opencti_testkit::{ConnectorHarness, TestPlatform};

const ADDRESSES: [&str; 3] = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];

fn indicators(platform: &TestPlatform) -> usize {
    platform.objects_of_type("indicator").len()
}

/// The lines the platform's copy of the state says are done.
fn lines(platform: &TestPlatform) -> usize {
    platform
        .state()
        .and_then(|state| state.get("lines").and_then(serde_json::Value::as_u64))
        .map_or(0, |lines| usize::try_from(lines).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_at_every_platform_call_ends_the_run_and_the_next_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("addresses.txt");
    std::fs::write(&file, ADDRESSES.join("\n") + "\n").unwrap();
    RefusalDrill::new(
        async |platform: &TestPlatform| {
            ConnectorHarness::new(platform)
                .var("TEMPLATE_FILE", file.display().to_string())
                .run_import::<Template>()
                .await
        },
        |platform| indicators(platform) == ADDRESSES.len() && lines(platform) == ADDRESSES.len(),
        // The state counts the lines whose indicators were confirmed.
        |platform| lines(platform) <= indicators(platform),
    )
    .run()
    .await;
}
