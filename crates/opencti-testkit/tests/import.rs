//! An import run that fails after sending: the harness gives back what
//! the platform holds at once, without waiting for a work whose messages
//! may never all be imported.

use std::time::Duration;

use opencti_connector::config::NoConfig;
use opencti_connector::prelude::*;
use opencti_testkit::{ConnectorHarness, TestPlatform, WorkStatus};
use serde_json::json;

/// Sends one indicator when asked to, then fails.
#[derive(Debug)]
struct SendThenFail {
    send: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("the vendor went away")]
struct VendorGone;

impl Connector for SendThenFail {
    type Config = NoConfig;
    type Error = VendorGone;
    const NAME: &'static str = "opencti-testkit-send-then-fail";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Sends a bundle, then fails";

    fn from_config(_: NoConfig) -> Result<Self, Self::Error> {
        Ok(Self { send: false })
    }
}

impl ImportSource for SendThenFail {
    async fn run(&mut self, ctx: &RunContext) -> Result<String, VendorGone> {
        if !self.send {
            return Ok("nothing to send".to_owned());
        }
        let bundle = json!({
            "type": "bundle",
            "id": "bundle--00000000-0000-4000-8000-000000000001",
            "objects": [{
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--00000000-0000-4000-8000-000000000001",
                "created": "2025-11-24T10:00:00.000Z",
                "modified": "2025-11-24T10:00:00.000Z",
                "name": "198.51.100.1",
                "pattern": "[ipv4-addr:value = '198.51.100.1']",
                "pattern_type": "stix",
                "valid_from": "2025-11-24T10:00:00.000Z",
            }],
        });
        ctx.send_bundle(bundle).await.map_err(|_| VendorGone)?;
        Err(VendorGone)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_returned_without_waiting_for_its_work() {
    let platform = TestPlatform::start()
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    let harness = ConnectorHarness::new(&platform);
    // A first run registers the connector, so that its worker can be
    // paused: the failed run's message then stays in the queue.
    let registered = harness.run_import::<SendThenFail>().await.unwrap();
    assert!(registered.succeeded(), "{registered:?}");
    platform
        .sim()
        .pause_worker(platform.connector_id())
        .unwrap();

    let run = harness
        .run_import_with(SendThenFail { send: true })
        .await
        .expect("a failed run is no error of the harness");
    assert!(!run.succeeded());
    let work = run.work.as_ref().expect("the run's work");
    assert_ne!(work.status, WorkStatus::Complete, "{work:?}");
    assert!(
        run.errors()
            .iter()
            .any(|error| format!("{error:?}").contains("the vendor went away")),
        "{:?}",
        run.errors()
    );
    platform
        .sim()
        .resume_worker(platform.connector_id())
        .unwrap();
    drop(harness);
    platform.shutdown().await.unwrap();
}
