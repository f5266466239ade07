//! The whole connector against `opencti-sim` and the real RabbitMQ:
//! ThreatVision publications end up as objects in the platform through
//! API faults, and the cursor only moves once everything went through.

use std::time::Duration;

use opencti_connector::Connector;
use opencti_sim::relay::Relay;
use opencti_teamt5::Teamt5;
use opencti_teamt5::fake::{FakeSettings, FakeTeamt5, Fault};
use opencti_testkit::{ConnectorHarness, ImportRun, KitError, TestPlatform};
use serde_json::{Value, json};

use crate::support::{fake_with, fast_http, fixture, ioc_item, report_item};

/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(60);
/// pycti's id of the specification's sample report.
const SPEC_REPORT: &str = "report--b9b45212-7370-52dc-8e2c-696fb32896b6";
const AUTHOR: &str = "identity--4da37d9f-2e24-5549-9a5b-7219e5d7e056";

async fn start_platform() -> TestPlatform {
    let platform = TestPlatform::start().await.expect("the platform starts");
    platform.with_timeout(TIMEOUT)
}

/// The connector configured for the fake with OAuth credentials.
fn harness<'p>(platform: &'p TestPlatform, fake: &FakeTeamt5) -> ConnectorHarness<'p> {
    ConnectorHarness::new(platform)
        .var("TEAMT5_API_BASE_URL", fake.url())
        .var("TEAMT5_CLIENT_ID", "cid")
        .var("TEAMT5_CLIENT_SECRET", "csecret")
        .var("TEAMT5_TLP_LEVEL", "amber")
}

/// One run (run-and-terminate) with retries short enough for tests.
async fn run_once(harness: &ConnectorHarness<'_>) -> Result<ImportRun, KitError> {
    let mut config = harness.config::<Teamt5>()?;
    config.http = fast_http();
    let connector = Teamt5::from_config(config).expect("connector");
    harness.run_import_with(connector).await
}

fn cursor_stored(platform: &TestPlatform) -> bool {
    platform
        .state()
        .is_some_and(|state| state.get("last_run").is_some())
}

async fn wait_for(platform: &TestPlatform, ids: &[&str]) {
    let present =
        |platform: &TestPlatform| ids.iter().all(|id| platform.sim().object(id).is_some());
    let outcome = platform
        .wait_until("every object to be stored", present)
        .await;
    let missing: Vec<&&str> = ids
        .iter()
        .filter(|id| platform.sim().object(id).is_none())
        .collect();
    assert!(outcome.is_ok(), "missing objects: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publications_reach_the_platform_through_faults() {
    let platform = start_platform().await;
    // Tokens expire within the renewal margin: every call renews first.
    let fake = fake_with(FakeSettings {
        token_lifetime: 60,
        report_page_size: 2,
        ..FakeSettings::default()
    })
    .await;
    let mut spec_item = report_item(
        &fake,
        "tt5-flash-2025-11-20-apt-x",
        "Flash Report: APT-X targets telecoms in Taiwan",
        1_763_625_600,
    );
    spec_item["digest"] = json!("Short summary of the report ...");
    fake.add_report(spec_item, &fixture("report-bundle.json"));
    for index in 0..3 {
        fake.add_report(
            report_item(
                &fake,
                &format!("r{index}"),
                &format!("Report {index}"),
                1_763_000_000 + index,
            ),
            &fixture("report-bundle.json"),
        );
    }
    fake.add_ioc_bundle(
        ioc_item(&fake, "b1", 1_763_629_200),
        &fixture("ioc-bundle.json"),
    );
    // Throttled listing, a flaky download, and a truncated bundle that
    // holds the cursor for this run.
    fake.fail_next(
        "/api/v2/reports",
        [Fault::Status(429, Some(0)), Fault::Unsuccessful],
    );
    fake.fail_next("/api/v2/ioc_bundles/b1.stix", [Fault::Status(502, None)]);
    fake.fail_next("/api/v2/ioc_bundles", [Fault::Drop]);
    fake.fail_next("/api/v2/reports/r1.stix", [Fault::Truncated]);

    let harness = harness(&platform, &fake);
    let first = run_once(&harness).await.unwrap();
    assert!(first.succeeded(), "the first run succeeds: {first:?}");
    wait_for(
        &platform,
        &[
            SPEC_REPORT,
            AUTHOR,
            "intrusion-set--d3f1e0a2-1111-4a5b-8c9d-0e1f2a3b4c5d",
            "indicator--0f1e2d3c-4b5a-4697-8877-665544332211",
            "malware--2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
        ],
    )
    .await;
    let report = platform.sim().object(SPEC_REPORT).unwrap().stix;
    assert_eq!(report["created_by_ref"], AUTHOR);
    assert_eq!(report["published"], "2025-11-20T08:00:00Z");
    let indicator = platform
        .sim()
        .object("indicator--0f1e2d3c-4b5a-4697-8877-665544332211")
        .unwrap()
        .stix;
    assert_eq!(
        indicator["object_marking_refs"],
        json!(["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"])
    );
    assert_eq!(platform.works().len(), 1, "one work per run");
    assert!(
        format!("{:?}", first.errors()).contains("r1.stix"),
        "the truncated bundle is reported on the work: {:?}",
        first.errors()
    );
    assert!(
        !cursor_stored(&platform),
        "the cursor is held while an item is missing"
    );

    // The next run re-lists the window and completes it.
    let second = run_once(&harness).await.unwrap();
    assert!(second.succeeded(), "the second run succeeds: {second:?}");
    let names = |platform: &TestPlatform| -> Vec<String> {
        let mut names: Vec<String> = platform
            .objects()
            .iter()
            .filter(|object| object.stix_type == "report")
            .filter_map(|object| object.stix["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    platform
        .wait_until("the retried report", |platform| names(platform).len() == 4)
        .await
        .expect("every report stored");
    assert_eq!(
        names(&platform),
        [
            "Flash Report: APT-X targets telecoms in Taiwan",
            "Report 0",
            "Report 1",
            "Report 2"
        ]
    );
    platform
        .wait_until("the cursor to be stored", cursor_stored)
        .await
        .expect("the cursor moves once everything is in");
    assert!(fake.tokens_issued() > 5, "tokens were renewed");
    drop(harness);
    platform.shutdown().await.expect("clean shutdown");
}

/// An IoC bundle of `count` indicators with ids unique to `bundle`.
fn generated_bundle(bundle: usize, count: usize) -> Value {
    let objects: Vec<Value> = (0..count)
        .map(|index| {
            json!({
                "type": "indicator",
                "spec_version": "2.1",
                "id": format!("indicator--00000000-0000-4000-8000-{bundle:06}{index:06}"),
                "created": "2025-11-20T09:00:00.000Z",
                "modified": "2025-11-20T09:00:00.000Z",
                "name": format!("203.0.{bundle}.{index}"),
                "pattern": format!("[ipv4-addr:value = '203.0.{bundle}.{index}']"),
                "pattern_type": "stix",
                "valid_from": "2025-11-20T09:00:00Z",
                "description": "x".repeat(200),
            })
        })
        .collect();
    json!({"type": "bundle", "id": "bundle--7d6c5b4a-3f2e-4d1c-8b0a-9e8f7d6c5b4a", "objects": objects})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_cut_loses_no_publication() {
    let platform = start_platform().await;
    let fake = fake_with(FakeSettings::default()).await;
    let (bundles, per_bundle) = (30, 40);
    for bundle in 0..bundles {
        fake.add_ioc_bundle(
            ioc_item(&fake, &format!("b{bundle}"), 1_763_000_000 + bundle as i64),
            &generated_bundle(bundle, per_bundle),
        );
    }
    let relay = Relay::start(5672).await.expect("relay starts");
    let harness = harness(&platform, &fake)
        .var("MQ_HOST", "127.0.0.1")
        .var("MQ_PORT", relay.port().to_string());
    // Cut every broker connection once about a third went through (a
    // run that never gets there fails the test instead of hanging it).
    let cutter = async {
        let third_through = async {
            while relay.forwarded() < 150_000 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        tokio::time::timeout(TIMEOUT, third_through)
            .await
            .expect("a third of the messages reach the broker");
        relay.cut();
    };
    let (first, ()) = tokio::join!(run_once(&harness), cutter);
    let held = !cursor_stored(&platform);
    if !first.as_ref().is_ok_and(ImportRun::succeeded) {
        assert!(held, "a failed run must not move the cursor");
        let second = run_once(&harness).await.unwrap();
        assert!(second.succeeded(), "the second run succeeds: {second:?}");
    }
    let expected: Vec<String> = (0..bundles)
        .flat_map(|bundle| {
            (0..per_bundle).map(move |index| {
                format!("indicator--00000000-0000-4000-8000-{bundle:06}{index:06}")
            })
        })
        .collect();
    let ids: Vec<&str> = expected.iter().map(String::as_str).collect();
    wait_for(&platform, &ids).await;
    platform
        .wait_until("the cursor to be stored", cursor_stored)
        .await
        .expect("the cursor moves once everything is in");
    drop(harness);
    platform.shutdown().await.expect("clean shutdown");
}

/// Runs the `opencti-teamt5` binary once (run-and-terminate) with this
/// environment; returns its exit status and standard error.
async fn run_binary(env: &[(String, String)]) -> (std::process::ExitStatus, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_opencti-teamt5"));
    command
        .env_clear()
        .envs(env.iter().map(|(key, value)| (key, value)))
        .env("CONNECTOR_RUN_AND_TERMINATE", "true")
        .kill_on_drop(true);
    let output = tokio::time::timeout(TIMEOUT, command.output())
        .await
        .expect("the binary ends in time")
        .expect("the binary starts");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_imports_and_exits_cleanly_or_with_status_1() {
    let platform = start_platform().await;
    let fake = fake_with(FakeSettings::default()).await;
    fake.add_ioc_bundle(
        ioc_item(&fake, "b1", 1_763_629_200),
        &fixture("ioc-bundle.json"),
    );
    let mut env: Vec<(String, String)> = platform.env();
    env.extend(
        [
            ("TEAMT5_API_BASE_URL", fake.url()),
            ("TEAMT5_CLIENT_ID", "cid".to_owned()),
            ("TEAMT5_CLIENT_SECRET", "csecret".to_owned()),
        ]
        .map(|(name, value)| (name.to_owned(), value)),
    );
    let (status, output) = run_binary(&env).await;
    assert!(status.success(), "{status}: {output}");
    wait_for(
        &platform,
        &["malware--2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", AUTHOR],
    )
    .await;
    platform
        .wait_until("the cursor to be stored", cursor_stored)
        .await
        .expect("the cursor is stored");

    // Wrong credentials: the run fails and the process says why.
    env.retain(|(key, _)| *key != "TEAMT5_CLIENT_SECRET");
    env.push((
        "TEAMT5_CLIENT_SECRET".to_owned(),
        "wrong-secret-5f3a".to_owned(),
    ));
    let (status, output) = run_binary(&env).await;
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        !output.contains("wrong-secret-5f3a"),
        "the secret leaked: {output}"
    );
    assert!(
        output.contains("Failed to obtain OAuth token from TeamT5"),
        "{output}"
    );

    // No credentials at all: a configuration error naming the variables.
    env.retain(|(key, _)| !key.starts_with("TEAMT5_CLIENT"));
    let (status, output) = run_binary(&env).await;
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("TEAMT5_API_KEY") && output.contains("client_secret"),
        "{output}"
    );
    platform.shutdown().await.expect("clean shutdown");
}
