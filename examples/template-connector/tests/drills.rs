//! Drills (issue #13) on the test kit's [`RefusalDrill`] and
//! [`OutputDrill`]: the platform refuses each call a run makes, in turn;
//! the broker nacks from each message of a run on, in turn; the directory
//! copy fails from each write on, in turn. Every faulted run ends promptly;
//! the state never passes what the platform stored; a failed run's work is
//! closed in error; the next run, without the fault, completes with nothing
//! lost.

use opencti_template_connector::Template;
use opencti_testkit::drill::{OutputDrill, OutputFault, RefusalDrill};
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

fn everything_stored(platform: &TestPlatform) -> bool {
    indicators(platform) == ADDRESSES.len() && lines(platform) == ADDRESSES.len()
}

/// The state counts the lines whose indicators were confirmed.
fn lines_backed(platform: &TestPlatform) -> bool {
    lines(platform) <= indicators(platform)
}

/// A file of [`ADDRESSES`], in a directory removed on drop.
fn address_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("addresses.txt");
    std::fs::write(&file, ADDRESSES.join("\n") + "\n").unwrap();
    let file = file.display().to_string();
    (dir, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_at_every_platform_call_ends_the_run_and_the_next_run_completes() {
    let (_dir, file) = address_file();
    RefusalDrill::new(
        async |platform: &TestPlatform| {
            ConnectorHarness::new(platform)
                .var("TEMPLATE_FILE", &file)
                .run_import::<Template>()
                .await
        },
        everything_stored,
        lines_backed,
    )
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_output_breaking_at_every_step_ends_the_run_and_the_next_run_completes() {
    let (_dir, file) = address_file();
    let drill = OutputDrill::new(
        async |harness: &ConnectorHarness<'_>| {
            harness
                .clone()
                .var("TEMPLATE_FILE", &file)
                .run_import::<Template>()
                .await
        },
        everything_stored,
        lines_backed,
    );
    drill.run(OutputFault::BrokerNacks).await;
    drill.run(OutputFault::DirectoryErrors).await;
}
