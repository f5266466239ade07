//! The output drill over a connector of the test's own: an honest one
//! passes it, and one that ignores a failed send, or whose state runs
//! ahead of what it sent, fails it at the check that should catch it.

use std::time::Duration;

use opencti_connector::config::NoConfig;
use opencti_connector::prelude::*;
use opencti_testkit::drill::{OutputDrill, OutputFault};
use opencti_testkit::{ConnectorHarness, ImportRun, KitError, TestPlatform, events};
use serde_json::json;

/// Bundles a run sends, one indicator each.
const BUNDLES: u64 = 3;

/// How the connector treats its state and a failed send.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Counts a bundle in its state once sent; a failed send fails the run.
    Honest,
    /// Goes on after a failed send, and the run succeeds.
    IgnoresErrors,
    /// Counts a bundle in its state before sending it.
    CountsFirst,
}

/// Sends [`BUNDLES`] bundles, counting them in its state (`sent`).
#[derive(Debug)]
struct Counting(Behaviour);

#[derive(Debug, thiserror::Error)]
#[error("cannot send: {0}")]
struct Failed(String);

impl Connector for Counting {
    type Config = NoConfig;
    type Error = Failed;
    const NAME: &'static str = "opencti-testkit-counting";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Sends three bundles, counting them in its state";

    fn from_config(_: NoConfig) -> Result<Self, Self::Error> {
        Ok(Self(Behaviour::Honest))
    }
}

fn sent(state: Option<&State>) -> u64 {
    state
        .and_then(|state| state.get("sent").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

impl ImportSource for Counting {
    async fn run(&mut self, ctx: &RunContext) -> Result<String, Failed> {
        let first = sent(ctx.state().as_ref());
        for n in first..BUNDLES {
            let count = |count: u64| {
                let mut state = ctx.state().unwrap_or_default();
                state.insert("sent".to_owned(), json!(count));
                ctx.set_state(state);
            };
            if matches!(self.0, Behaviour::CountsFirst) {
                count(n + 1);
            }
            let indicator = events::indicator(
                u32::try_from(n).unwrap(),
                &format!("[ipv4-addr:value = '198.51.100.{n}']"),
            );
            let bundle = json!({
                "type": "bundle",
                "id": format!("bundle--00000000-0000-4000-8000-{n:012}"),
                "objects": [indicator],
            });
            match (ctx.send_bundle(bundle).await, self.0) {
                (Ok(_), _) => count(n + 1),
                (Err(_), Behaviour::IgnoresErrors) => {}
                (Err(error), _) => return Err(Failed(error.to_string())),
            }
        }
        Ok(format!("{BUNDLES} bundles sent"))
    }
}

fn indicators(platform: &TestPlatform) -> u64 {
    platform.objects_of_type("indicator").len() as u64
}

fn stored_sent(platform: &TestPlatform) -> u64 {
    sent(platform.state().as_ref())
}

async fn drill(behaviour: Behaviour, fault: OutputFault) {
    OutputDrill::new(
        async |harness: &ConnectorHarness<'_>| -> Result<ImportRun, KitError> {
            harness.run_import_with(Counting(behaviour)).await
        },
        |platform| indicators(platform) == BUNDLES && stored_sent(platform) == BUNDLES,
        |platform| stored_sent(platform) <= indicators(platform),
    )
    .prompt(Duration::from_secs(10))
    // One message per bundle: the state counts at most the confirmed.
    .confirmed_only(|platform, confirmed| stored_sent(platform) <= confirmed as u64)
    .run(fault)
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_connector_passes_the_broker_drill() {
    drill(Behaviour::Honest, OutputFault::BrokerNacks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_connector_passes_the_directory_drill() {
    drill(Behaviour::Honest, OutputFault::DirectoryErrors).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "the run fails")]
async fn a_connector_going_on_after_a_failed_copy_fails_the_directory_drill() {
    drill(Behaviour::IgnoresErrors, OutputFault::DirectoryErrors).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "the state names more than the platform stored")]
async fn a_state_ahead_of_the_copies_fails_the_directory_drill() {
    drill(Behaviour::CountsFirst, OutputFault::DirectoryErrors).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "the state counts messages the broker did not confirm")]
async fn a_state_ahead_of_the_confirms_fails_the_broker_drill() {
    drill(Behaviour::CountsFirst, OutputFault::BrokerNacks).await;
}
