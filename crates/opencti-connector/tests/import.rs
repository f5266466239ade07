//! The import run loop against a faked platform and the real RabbitMQ.

use std::time::Duration;

use base64::Engine as _;
use opencti_connector::config::NoConfig;
use opencti_connector::context::RunContext;
use opencti_connector::http::testing::capture_logs;
use opencti_connector::import::{ImportRunner, ImportSource};
use opencti_connector::metrics::Metrics;
use opencti_connector::publish::{SendOptions, ValidationMode};
use opencti_connector::state::PingSchedule;
use opencti_connector::{Connector, SendError};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::broker::{BROKER_PORT, TestQueue};
use crate::platform::{BrokerTarget, FakePlatform};

#[derive(Debug, thiserror::Error)]
enum ScriptError {
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("the source broke")]
    Broken,
}

/// Streams `count` objects (`chunk` per split) into the run's sends.
struct Streamed {
    count: usize,
    chunk: usize,
}

impl Connector for Streamed {
    type Config = NoConfig;
    type Error = SendError;
    const NAME: &'static str = "opencti-streamed";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Streams objects into its sends";

    fn from_config(_: NoConfig) -> Result<Self, SendError> {
        Ok(Self { count: 0, chunk: 1 })
    }
}

impl ImportSource for Streamed {
    async fn run(&mut self, ctx: &RunContext) -> Result<String, SendError> {
        let mut stream = ctx.bundle_stream_with(SendOptions::default(), self.chunk);
        let author = json!({"type": "identity", "spec_version": "2.1", "id": IDENTITY, "name": "ACME", "identity_class": "organization"});
        stream.push_value(&author).await?;
        for index in 1..self.count {
            let note = json!({"type": "note", "spec_version": "2.1",
                "id": format!("note--00000000-0000-4000-8000-{index:012}"),
                "content": "streamed", "created_by_ref": IDENTITY});
            stream.push_json(&note.to_string()).await?;
        }
        let report = stream.finish().await?;
        assert_eq!(report.messages, self.count);
        Ok(format!("{} objects streamed", self.count))
    }
}

/// Sends its bundles, recording progress in the state after each, then
/// fails if asked, or waits for shutdown if asked. With `prepare_ahead`,
/// prepares every bundle first and publishes them last to first, except
/// the first `never_sent`, which it drops.
struct Scripted {
    bundles: Vec<Value>,
    options: SendOptions,
    fail: bool,
    wait_for_shutdown: bool,
    prepare_ahead: bool,
    never_sent: usize,
    /// After its bundles, the run never returns (a vendor call that hangs).
    hang: bool,
}

impl Connector for Scripted {
    type Config = NoConfig;
    type Error = ScriptError;
    const NAME: &'static str = "opencti-scripted";
    /// Not the runtime's version: registration must carry this one.
    const VERSION: &'static str = "3.2.1-scripted";
    const ABOUT: &'static str = "Sends the bundles it is given";
    const SLUG: Option<&'static str> = Some("scripted");

    fn from_config(_: NoConfig) -> Result<Self, ScriptError> {
        Ok(Self {
            bundles: Vec::new(),
            options: SendOptions::default(),
            fail: false,
            wait_for_shutdown: false,
            prepare_ahead: false,
            never_sent: 0,
            hang: false,
        })
    }
}

impl ImportSource for Scripted {
    async fn run(&mut self, ctx: &RunContext) -> Result<String, ScriptError> {
        if self.prepare_ahead {
            let mut prepared = Vec::new();
            for bundle in &self.bundles {
                prepared.push(ctx.prepare_bundle(bundle.clone()).await?);
            }
            for bundle in prepared.into_iter().skip(self.never_sent).rev() {
                ctx.send_prepared(bundle).await?;
            }
            return Ok(summary(ctx));
        }
        for (index, bundle) in self.bundles.iter().enumerate() {
            ctx.send_bundle_with(bundle.clone(), &self.options).await?;
            let mut state = ctx.state().unwrap_or_default();
            state.insert("sent".to_owned(), json!(index + 1));
            ctx.set_state(state);
        }
        if self.hang {
            std::future::pending::<()>().await;
        }
        if self.wait_for_shutdown {
            ctx.shutdown().cancelled().await;
        }
        if self.fail {
            return Err(ScriptError::Broken);
        }
        Ok(summary(ctx))
    }
}

fn summary(ctx: &RunContext) -> String {
    format!("{} bundles sent", ctx.bundles_sent())
}

fn scripted(bundles: Vec<Value>) -> Scripted {
    Scripted {
        bundles,
        options: SendOptions::default(),
        fail: false,
        wait_for_shutdown: false,
        prepare_ahead: false,
        never_sent: 0,
        hang: false,
    }
}

const IDENTITY: &str = "identity--7b82b010-b1c0-4dae-981f-7756374a17df";
const INDICATOR: &str = "indicator--1f8a9a4b-7e8c-4a0e-9b7a-2f6c0b9f2a11";
const MALWARE: &str = "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b";
const RELATIONSHIP: &str = "relationship--9f2b0f8e-3c1b-4d8e-9a57-6c8f4b2d1e10";

fn four_object_bundle() -> Value {
    json!({
        "type": "bundle",
        "id": "bundle--0d6a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b",
        "objects": [
            { "type": "relationship", "spec_version": "2.1", "id": RELATIONSHIP, "relationship_type": "indicates",
              "source_ref": INDICATOR, "target_ref": MALWARE, "created_by_ref": IDENTITY },
            { "type": "indicator", "spec_version": "2.1", "id": INDICATOR, "name": "évil.example",
              "pattern": "[domain-name:value = 'evil.example']", "pattern_type": "stix", "created_by_ref": IDENTITY },
            { "type": "malware", "spec_version": "2.1", "id": MALWARE, "name": "Evil", "is_family": true, "created_by_ref": IDENTITY },
            { "type": "identity", "spec_version": "2.1", "id": IDENTITY, "name": "ACME", "identity_class": "organization" }
        ]
    })
}

fn single(id_suffix: u32) -> Value {
    json!({ "type": "bundle", "id": format!("bundle--00000000-0000-4000-8000-{id_suffix:012}"), "objects": [
        { "type": "identity", "spec_version": "2.1", "id": format!("identity--00000000-0000-4000-8000-{id_suffix:012}"), "name": "x", "identity_class": "organization" }
    ] })
}

async fn platform_and_queue(
    version: &str,
    stored_state: Option<&str>,
) -> (FakePlatform, TestQueue) {
    let queue = TestQueue::declare().await;
    let platform = FakePlatform::start(
        version,
        BrokerTarget {
            port: BROKER_PORT,
            exchange: queue.exchange.clone(),
            routing_key: queue.routing_key.clone(),
        },
        stored_state,
    )
    .await;
    (platform, queue)
}

/// Returns once `done` holds, or after 10 s.
async fn poll_until(mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Stops a scheduled runner and checks that it ends well, promptly.
async fn stop_cleanly(
    shutdown: &CancellationToken,
    running: tokio::task::JoinHandle<Result<(), opencti_connector::Error>>,
) {
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("stopped promptly")
        .unwrap()
        .expect("a clean stop");
}

/// A platform whose registration names a broker that is gone (a closed
/// port), and that port.
async fn platform_without_broker(stored_state: Option<&str>) -> (FakePlatform, u16) {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let platform = FakePlatform::start(
        "6.8.10",
        BrokerTarget {
            port: closed_port,
            exchange: "nowhere".to_owned(),
            routing_key: "nowhere".to_owned(),
        },
        stored_state,
    )
    .await;
    (platform, closed_port)
}

fn quick_runner(
    source: Scripted,
    platform: &FakePlatform,
    extra: &[(&str, &str)],
) -> ImportRunner<Scripted> {
    ImportRunner::new(source, platform.runtime_config(extra))
        .with_api(platform.api())
        .with_buffering_delays(Duration::from_millis(20), Duration::ZERO)
}

/// A connector started before its platform waits for it (logging each
/// attempt) instead of exiting, so a container does not crash-loop.
#[tokio::test]
async fn a_connector_started_before_its_platform_waits_for_it() {
    let (platform, queue) = platform_and_queue("6.8.10", None).await;
    platform.refuse_health_checks(1);
    let (logs, _guard) = capture_logs();
    let runner = quick_runner(
        scripted(vec![four_object_bundle()]),
        &platform,
        &[("CONNECTOR_RUN_AND_TERMINATE", "true")],
    );
    tokio::time::timeout(
        Duration::from_secs(30),
        runner.run(CancellationToken::new()),
    )
    .await
    .expect("the run finished in time")
    .expect("the platform came up and the run succeeded");
    assert_eq!(platform.calls("healthCheck").len(), 2);
    assert_eq!(queue.consume(4, Duration::from_secs(10)).await.len(), 4);
    assert!(
        logs.text().contains("the OpenCTI platform not ready"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_run_publishes_the_split_bundle_with_pycti_envelopes() {
    for (version, has_no_split) in [("6.8.10", false), ("7.261026.0", true)] {
        let (platform, queue) = platform_and_queue(version, None).await;
        let runner = quick_runner(
            scripted(vec![four_object_bundle()]),
            &platform,
            &[("CONNECTOR_RUN_AND_TERMINATE", "true")],
        );
        tokio::time::timeout(
            Duration::from_secs(30),
            runner.run(CancellationToken::new()),
        )
        .await
        .expect("the run finished in time")
        .expect("the run succeeded");

        let received = queue.consume(4, Duration::from_secs(10)).await;
        assert_eq!(received.len(), 4, "{version}");
        let mut objects = Vec::new();
        for (index, message) in received.iter().enumerate() {
            let envelope: serde_json::Map<String, Value> =
                serde_json::from_slice(&message.body).unwrap();
            let keys: Vec<&str> = envelope.keys().map(String::as_str).collect();
            let mut expected = vec![
                "bundle_type",
                "applicant_id",
                "action_sequence",
                "entities_types",
                "content",
                "update",
                "draft_id",
            ];
            if has_no_split {
                expected.push("no_split");
            }
            expected.push("work_id");
            assert_eq!(keys, expected, "{version}");
            assert_eq!(envelope["bundle_type"], "QUEUE_BUNDLE");
            assert_eq!(envelope["applicant_id"], "user--applicant");
            assert_eq!(envelope["action_sequence"], json!(index + 1));
            assert_eq!(envelope["entities_types"], json!([]));
            assert_eq!(envelope["update"], json!(false));
            assert_eq!(envelope["draft_id"], Value::Null);
            assert_eq!(envelope["work_id"], "work_1");
            if has_no_split {
                assert_eq!(envelope["no_split"], json!(false));
            }
            let content = base64::engine::general_purpose::STANDARD
                .decode(envelope["content"].as_str().unwrap())
                .unwrap();
            let text = String::from_utf8(content).unwrap();
            assert!(text.is_ascii(), "Python-style JSON expected: {text}");
            if text.contains(INDICATOR) && text.contains("\"name\"") {
                assert!(text.contains("\"name\": \"\\u00e9vil.example\""), "{text}");
            }
            let bundle: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(bundle["id"], "bundle--0d6a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b");
            objects.push((
                bundle["objects"][0]["id"].as_str().unwrap().to_owned(),
                bundle["x_opencti_seq"].as_u64().unwrap(),
            ));
        }
        assert_eq!(
            objects,
            vec![
                (IDENTITY.to_owned(), 1),
                (INDICATOR.to_owned(), 2),
                (MALWARE.to_owned(), 2),
                (RELATIONSHIP.to_owned(), 6)
            ],
            "dependencies first ({version})"
        );

        let registered = &platform.calls("RegisterConnector")[0]["input"];
        if has_no_split {
            // 7.x registers the connector's own version and slug.
            assert_eq!(registered["version"], Scripted::VERSION);
            assert_eq!(registered["slug"], "scripted");
        } else {
            assert!(registered.get("version").is_none(), "{registered}");
        }

        let work_add = platform.calls("workAdd");
        assert_eq!(work_add.len(), 1);
        assert!(
            work_add[0]["friendlyName"]
                .as_str()
                .unwrap()
                .starts_with("Test import run @ ")
        );
        assert_eq!(
            platform.calls("addExpectations"),
            vec![json!({ "id": "work_1", "expectations": 4 })]
        );
        let processed = platform.calls("workToProcessed");
        assert_eq!(processed.len(), 1);
        assert_eq!(processed[0]["inError"], json!(false));
        assert_eq!(
            processed[0]["message"], "1 bundles sent",
            "the run's summary closes the work"
        );
        let operations = platform.operations();
        let expectations_at = operations
            .iter()
            .position(|op| op == "addExpectations")
            .unwrap();
        let processed_at = operations
            .iter()
            .position(|op| op == "workToProcessed")
            .unwrap();
        assert!(expectations_at < processed_at);
        assert_eq!(
            platform.stored_state().as_deref(),
            Some("{\"sent\":1}"),
            "final ping carries the state"
        );
        let pings = platform.calls("PingConnector");
        assert_eq!(
            pings.last().unwrap()["connectorInfo"]["run_and_terminate"],
            json!(true)
        );
        assert!(pings.last().unwrap()["connectorInfo"]["last_run_datetime"].is_string());
    }
}

#[tokio::test]
async fn prepared_bundles_are_announced_on_the_work_and_published_when_sent() {
    let (platform, queue) = platform_and_queue("7.261026.0", None).await;
    let mut source = scripted(vec![single(2), four_object_bundle(), single(1)]);
    source.prepare_ahead = true;
    source.never_sent = 1;
    let runner = quick_runner(
        source,
        &platform,
        &[("CONNECTOR_RUN_AND_TERMINATE", "true")],
    );
    tokio::time::timeout(
        Duration::from_secs(30),
        runner.run(CancellationToken::new()),
    )
    .await
    .expect("the run finished in time")
    .expect("the run succeeded");

    // Announced and published in the order sent: the single identity
    // first. The bundle prepared but never sent was not announced, so the
    // work does not wait for it.
    assert_eq!(
        platform.calls("addExpectations"),
        vec![
            json!({ "id": "work_1", "expectations": 1 }),
            json!({ "id": "work_1", "expectations": 4 })
        ]
    );
    let received = queue.consume(6, Duration::from_secs(2)).await;
    let first_ids: Vec<String> = received
        .iter()
        .map(|message| {
            let envelope: Value = serde_json::from_slice(&message.body).unwrap();
            let content = base64::engine::general_purpose::STANDARD
                .decode(envelope["content"].as_str().unwrap())
                .unwrap();
            let bundle: Value = serde_json::from_slice(&content).unwrap();
            bundle["objects"][0]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        first_ids,
        vec![
            "identity--00000000-0000-4000-8000-000000000001".to_owned(),
            IDENTITY.to_owned(),
            INDICATOR.to_owned(),
            MALWARE.to_owned(),
            RELATIONSHIP.to_owned(),
        ]
    );
}

#[tokio::test]
async fn a_failed_run_is_reported_on_its_work() {
    let (platform, _queue) = platform_and_queue("6.8.10", Some("{\"sent\": 7}")).await;
    let mut source = scripted(Vec::new());
    source.fail = true;
    let runner = quick_runner(
        source,
        &platform,
        &[("CONNECTOR_RUN_AND_TERMINATE", "true")],
    );
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        runner.run(CancellationToken::new()),
    )
    .await
    .unwrap();
    assert!(
        outcome.is_err(),
        "a failed single run makes the process fail"
    );
    let processed = platform.calls("workToProcessed");
    assert_eq!(processed.len(), 1);
    assert_eq!(processed[0]["inError"], json!(true));
    assert_eq!(processed[0]["message"], "the source broke");
    assert_eq!(
        platform.stored_state().as_deref(),
        Some("{\"sent\":7}"),
        "state untouched"
    );
}

#[tokio::test]
async fn buffering_pauses_a_run_between_bundles() {
    let (platform, queue) = platform_and_queue("6.8.10", None).await;
    // Checks: before the run, before bundle 1, then full twice, then drained.
    platform.set_queue_sizes(&[0.0, 0.0, 600e6, 600e6, 0.0]);
    let runner = quick_runner(
        scripted(vec![single(1), single(2)]),
        &platform,
        &[("CONNECTOR_RUN_AND_TERMINATE", "true")],
    );
    tokio::time::timeout(
        Duration::from_secs(30),
        runner.run(CancellationToken::new()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        platform.calls("GetConnector").len(),
        5,
        "the second bundle waited for the queue to drain"
    );
    assert_eq!(queue.consume(2, Duration::from_secs(10)).await.len(), 2);
    assert_eq!(platform.calls("addExpectations").len(), 2);
}

#[tokio::test]
async fn shutdown_while_the_broker_is_down_stops_cleanly_without_advancing_state() {
    let (platform, _) = platform_without_broker(Some("{\"sent\": 41}")).await;
    let runner = quick_runner(
        scripted(vec![single(1)]),
        &platform,
        &[("CONNECTOR_DURATION_PERIOD", "PT1H")],
    );
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(runner.run(shutdown.clone()));
    // The bundle is stuck: expectations announced, broker unreachable.
    poll_until(|| !platform.calls("addExpectations").is_empty()).await;
    assert_eq!(platform.calls("addExpectations").len(), 1);
    stop_cleanly(&shutdown, running).await;
    assert_eq!(
        platform.stored_state().as_deref(),
        Some("{\"sent\":41}"),
        "state not advanced"
    );
    let processed = platform.calls("workToProcessed");
    assert_eq!(processed.len(), 1);
    assert_eq!(processed[0]["inError"], json!(true));
}

#[tokio::test]
async fn streamed_objects_are_split_and_published_a_chunk_at_a_time() {
    let (platform, queue) = platform_and_queue("6.8.10", None).await;
    let runner = ImportRunner::new(
        Streamed {
            count: 2_500,
            chunk: 1_000,
        },
        platform.runtime_config(&[("CONNECTOR_RUN_AND_TERMINATE", "true")]),
    )
    .with_api(platform.api())
    .with_buffering_delays(Duration::from_millis(20), Duration::ZERO);
    tokio::time::timeout(
        Duration::from_secs(60),
        runner.run(CancellationToken::new()),
    )
    .await
    .unwrap()
    .unwrap();
    let expectations: Vec<u64> = platform
        .calls("addExpectations")
        .iter()
        .map(|call| call["expectations"].as_u64().unwrap())
        .collect();
    assert_eq!(expectations, [1_000, 1_000, 500]);
    let received = queue.consume(2_500, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 2_500);
    // The author leads its chunk: the notes of that chunk depend on it.
    let first: Value = serde_json::from_slice(&received[0].body).unwrap();
    let content = base64::engine::general_purpose::STANDARD
        .decode(first["content"].as_str().unwrap())
        .unwrap();
    let first_bundle: Value = serde_json::from_slice(&content).unwrap();
    assert_eq!(first_bundle["objects"][0]["id"], IDENTITY);
}

#[tokio::test]
async fn a_broker_gone_for_good_fails_the_run_after_the_outage_bound() {
    let (platform, closed_port) = platform_without_broker(Some("{\"sent\": 41}")).await;
    let runner = quick_runner(
        scripted(vec![single(1)]),
        &platform,
        &[
            ("CONNECTOR_RUN_AND_TERMINATE", "true"),
            ("MQ_OUTAGE_TIMEOUT", "PT2S"),
        ],
    );
    // Before the bound, the run went on retrying forever, its work "in
    // progress" and its pings healthy.
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        runner.run(CancellationToken::new()),
    )
    .await
    .expect("the run ends once the broker stayed away past MQ_OUTAGE_TIMEOUT");
    assert!(
        outcome.is_err(),
        "a failed single run makes the process fail"
    );
    let processed = platform.calls("workToProcessed");
    assert_eq!(processed.len(), 1);
    assert_eq!(processed[0]["inError"], json!(true));
    let message = processed[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("127.0.0.1:{closed_port}"))
            && message.contains("MQ_OUTAGE_TIMEOUT"),
        "{message}"
    );
    assert_eq!(
        platform.stored_state().as_deref(),
        Some("{\"sent\":41}"),
        "state untouched"
    );
}

#[tokio::test]
async fn a_state_change_reaches_the_platform_long_before_the_next_liveness_ping() {
    let (platform, _queue) = platform_and_queue("6.8.10", None).await;
    let mut source = scripted(Vec::new());
    source.wait_for_shutdown = true;
    source.bundles = vec![single(3)];
    let runner = quick_runner(source, &platform, &[("CONNECTOR_DURATION_PERIOD", "PT1H")])
        .with_pings(PingSchedule {
            interval: Duration::from_secs(3600),
            debounce: Duration::from_secs(1),
        });
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(runner.run(shutdown.clone()));
    let mut persisted = false;
    for _ in 0..120 {
        if platform.stored_state().as_deref() == Some("{\"sent\":1}") {
            persisted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        persisted,
        "the state was not pushed within 3 s (liveness pings are an hour apart here)"
    );
    stop_cleanly(&shutdown, running).await;
}

#[tokio::test]
async fn metrics_are_served_with_pycti_names() {
    let metrics = Metrics::new("octi_import");
    metrics.add_records_sent(3);
    let shutdown = CancellationToken::new();
    let address = metrics
        .serve("127.0.0.1:0".parse().unwrap(), shutdown.clone())
        .await
        .unwrap();
    let text = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "octi_import_bundles_sent_total",
        "octi_import_records_sent_total 3",
        "octi_import_ping_api_total",
        "octi_import_errors_total",
        "octi_import_state{state=\"idle\"} 1",
        "octi_import_confirms_pending",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    shutdown.cancel();
}

#[tokio::test]
async fn the_api_protocol_pushes_the_whole_bundle_and_directory_gets_a_copy() {
    let (platform, queue) = platform_and_queue("6.8.10", None).await;
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().to_str().unwrap().to_owned();
    let runner = quick_runner(
        scripted(vec![four_object_bundle()]),
        &platform,
        &[
            ("CONNECTOR_RUN_AND_TERMINATE", "true"),
            ("CONNECTOR_QUEUE_PROTOCOL", "api"),
            ("CONNECTOR_SEND_TO_DIRECTORY", "true"),
            ("CONNECTOR_SEND_TO_DIRECTORY_PATH", &path),
        ],
    );
    tokio::time::timeout(
        Duration::from_secs(30),
        runner.run(CancellationToken::new()),
    )
    .await
    .unwrap()
    .unwrap();
    let pushes = platform.calls("StixBundlePush");
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0]["work_id"], "work_1");
    let pushed: Value = serde_json::from_str(pushes[0]["bundle"].as_str().unwrap()).unwrap();
    assert_eq!(pushed, four_object_bundle(), "the unsplit bundle");
    assert!(platform.calls("addExpectations").is_empty());
    assert!(
        queue
            .consume(1, Duration::from_millis(500))
            .await
            .is_empty(),
        "nothing queued"
    );
    let files: Vec<_> = std::fs::read_dir(directory.path())
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().into_string().unwrap();
    assert!(
        name.starts_with("test_import-") && name.ends_with(".json"),
        "{name}"
    );
    let copy: Value = serde_json::from_slice(&std::fs::read(files[0].path()).unwrap()).unwrap();
    assert_eq!(copy["bundle_type"], "DIRECTORY_BUNDLE");
    assert_eq!(copy["connector"]["type"], "EXTERNAL_IMPORT");
    assert_eq!(copy["connector"]["scope"], "not-applicable");
    assert_eq!(copy["bundle"], four_object_bundle());
}

#[tokio::test]
async fn test_contexts_record_what_a_connector_does() {
    let mut source = scripted(vec![single(1), single(2)]);
    let mut initial = serde_json::Map::new();
    initial.insert("sent".to_owned(), json!(0));
    let (ctx, probe) = RunContext::for_test(Some(initial));
    source.run(&ctx).await.unwrap();
    assert_eq!(probe.bundles(), vec![single(1), single(2)]);
    assert_eq!(probe.state().unwrap()["sent"], json!(2));
    ctx.report_error("bad item", "row 3").await.unwrap();
    assert_eq!(probe.errors()[0].error, "bad item");
    let prepared = ctx.prepare_bundle(single(3)).await.unwrap();
    assert_eq!(probe.bundles().len(), 2, "recorded when sent, not prepared");
    ctx.send_prepared(prepared).await.unwrap();
    assert_eq!(probe.bundles()[2], single(3));
    probe.shut_down();
    assert!(matches!(
        ctx.send_bundle(single(3)).await,
        Err(SendError::Cancelled)
    ));
}

#[tokio::test]
async fn sigterm_fires_the_shutdown_token() {
    let shutdown = opencti_connector::cli::shutdown_on_signals().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(10), shutdown.cancelled())
        .await
        .expect("SIGTERM cancels the token");
}

#[tokio::test]
async fn validation_on_6x_uploads_a_pending_workbench_file_and_queues_nothing() {
    let (platform, queue) = platform_and_queue("6.8.10", None).await;
    let runner = quick_runner(
        scripted(vec![four_object_bundle()]),
        &platform,
        &[
            ("CONNECTOR_RUN_AND_TERMINATE", "true"),
            ("CONNECTOR_VALIDATE_BEFORE_IMPORT", "true"),
        ],
    );
    tokio::time::timeout(
        Duration::from_secs(30),
        runner.run(CancellationToken::new()),
    )
    .await
    .unwrap()
    .unwrap();
    let uploads = platform.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].file_name, "work_1.json");
    assert_eq!(uploads[0].mime_type, "application/json");
    let uploaded: Value = serde_json::from_slice(&uploads[0].content).unwrap();
    assert_eq!(uploaded, four_object_bundle());
    assert_eq!(
        platform.calls("UploadPending"),
        vec![json!({ "entityId": null, "file_markings": null, "file": null })]
    );
    assert!(platform.calls("addExpectations").is_empty());
    assert!(platform.calls("reportExpectation").is_empty());
    assert!(platform.calls("draftWorkspaceAdd").is_empty());
    assert_eq!(platform.calls("workToProcessed").len(), 1);
    assert!(
        queue
            .consume(1, Duration::from_millis(500))
            .await
            .is_empty(),
        "nothing queued"
    );
}

#[tokio::test]
async fn validation_on_7x_creates_a_draft_and_queues_into_it() {
    let (platform, queue) = platform_and_queue("7.261026.0", None).await;
    let runner = quick_runner(
        scripted(vec![four_object_bundle()]),
        &platform,
        &[
            ("CONNECTOR_RUN_AND_TERMINATE", "true"),
            ("CONNECTOR_VALIDATE_BEFORE_IMPORT", "true"),
        ],
    );
    tokio::time::timeout(
        Duration::from_secs(30),
        runner.run(CancellationToken::new()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        platform.calls("draftWorkspaceAdd"),
        vec![json!({ "input": { "name": "work_1.json", "entity_id": null } })]
    );
    assert_eq!(
        platform.calls("addDraftContext"),
        vec![json!({ "id": "work_1", "draftContext": "draft-1" })]
    );
    let operations = platform.operations();
    let position = |name: &str| operations.iter().position(|op| op == name).unwrap();
    assert!(position("draftWorkspaceAdd") < position("addDraftContext"));
    assert!(position("addDraftContext") < position("addExpectations"));
    assert_eq!(
        platform.calls("addExpectations"),
        vec![json!({ "id": "work_1", "expectations": 4 })]
    );
    assert!(platform.uploads().is_empty());
    let received = queue.consume(4, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 4);
    for message in &received {
        let envelope: Value = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(envelope["draft_id"], "draft-1");
        assert_eq!(envelope["work_id"], "work_1");
    }
}

#[tokio::test]
async fn workbench_validation_on_7x_completes_the_work_with_one_expectation() {
    let (platform, queue) = platform_and_queue("7.261026.0", None).await;
    let mut source = scripted(vec![four_object_bundle()]);
    source.options.validation_mode = Some(ValidationMode::Workbench);
    source.options.force_validation = true;
    source.options.file_name = Some("reviewed.json".to_owned());
    source.options.entity_id = Some("report--1".to_owned());
    let runner = quick_runner(
        source,
        &platform,
        &[("CONNECTOR_RUN_AND_TERMINATE", "true")],
    );
    tokio::time::timeout(
        Duration::from_secs(30),
        runner.run(CancellationToken::new()),
    )
    .await
    .unwrap()
    .unwrap();
    let uploads = platform.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].file_name, "reviewed.json");
    assert_eq!(platform.calls("UploadPending")[0]["entityId"], "report--1");
    assert_eq!(
        platform.calls("addExpectations"),
        vec![json!({ "id": "work_1", "expectations": 1 })]
    );
    assert_eq!(
        platform.calls("reportExpectation"),
        vec![json!({ "id": "work_1", "error": null })]
    );
    assert!(platform.calls("draftWorkspaceAdd").is_empty());
    assert!(
        queue
            .consume(1, Duration::from_millis(500))
            .await
            .is_empty(),
        "nothing queued"
    );
}

#[tokio::test]
async fn a_stop_fits_in_the_grace_when_the_run_and_the_platform_hang() {
    let (platform, _queue) = platform_and_queue("6.8.10", None).await;
    let mut source = scripted(vec![single(1)]);
    source.hang = true;
    let runner = quick_runner(
        source,
        &platform,
        &[
            ("CONNECTOR_DURATION_PERIOD", "PT1H"),
            ("CONNECTOR_STOP_GRACE_PERIOD", "PT2S"),
        ],
    )
    .with_pings(PingSchedule {
        interval: Duration::from_secs(40),
        debounce: Duration::from_millis(20),
    });
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(runner.run(shutdown.clone()));
    poll_until(|| platform.stored_state().as_deref() == Some("{\"sent\":1}")).await;
    assert_eq!(platform.stored_state().as_deref(), Some("{\"sent\":1}"));
    platform.stall();
    let stopping = std::time::Instant::now();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the stop ended")
        .unwrap()
        .expect("a scheduled connector's stop is clean");
    let took = stopping.elapsed();
    assert!(took <= Duration::from_secs(2), "{took:?}");
    assert_eq!(
        platform.calls("workToProcessed").len(),
        1,
        "closing the work was tried"
    );
    assert_eq!(platform.stored_state().as_deref(), Some("{\"sent\":1}"));
}

#[tokio::test]
async fn a_one_shot_run_cut_short_by_a_stop_is_an_error() {
    let (platform, _queue) = platform_and_queue("6.8.10", None).await;
    let mut source = scripted(vec![single(1)]);
    source.wait_for_shutdown = true;
    let runner = quick_runner(
        source,
        &platform,
        &[("CONNECTOR_RUN_AND_TERMINATE", "true")],
    );
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(runner.run(shutdown.clone()));
    poll_until(|| !platform.calls("addExpectations").is_empty()).await;
    shutdown.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("stopped promptly")
        .unwrap();
    let error = outcome.expect_err("the single run did not complete");
    assert_eq!(error.to_string(), "stopped before the run completed");
}

/// The log of one run-and-terminate run with no bundle and `extra`
/// settings. The API client reaches the fake platform whatever
/// `OPENCTI_URL` says.
async fn log_of_an_empty_run(platform: &FakePlatform, extra: &[(&str, &str)]) -> String {
    let (logs, _guard) = capture_logs();
    let mut settings = vec![("CONNECTOR_RUN_AND_TERMINATE", "true")];
    settings.extend_from_slice(extra);
    let runner = quick_runner(scripted(Vec::new()), platform, &settings);
    tokio::time::timeout(
        Duration::from_secs(30),
        runner.run(CancellationToken::new()),
    )
    .await
    .unwrap()
    .unwrap();
    logs.text()
}

#[tokio::test]
async fn unverified_tls_to_the_platform_and_the_broker_is_named_once_at_start() {
    let (platform, _queue) = platform_and_queue("6.8.10", None).await;
    let https_platform = ("OPENCTI_URL", "https://opencti.example");
    let amqps_broker = ("MQ_USE_SSL", "true");
    let text = log_of_an_empty_run(&platform, &[https_platform, amqps_broker]).await;
    assert_eq!(
        text.matches("OPENCTI_SSL_VERIFY is false").count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("MQ_USE_SSL_REJECT_UNAUTHORIZED is false")
            .count(),
        1,
        "{text}"
    );
    assert!(text.contains("WARN"), "{text}");

    let verified = [
        https_platform,
        amqps_broker,
        ("OPENCTI_SSL_VERIFY", "true"),
        ("MQ_USE_SSL_REJECT_UNAUTHORIZED", "true"),
    ];
    let text = log_of_an_empty_run(&platform, &verified).await;
    assert!(!text.contains("is not verified"), "{text}");
}

#[tokio::test]
async fn a_failed_scheduled_run_is_reported_at_once_with_its_next_run() {
    let (platform, _queue) = platform_and_queue("6.8.10", Some("{\"sent\": 7}")).await;
    let mut source = scripted(Vec::new());
    source.fail = true;
    let metrics = Metrics::new("");
    let runner = quick_runner(source, &platform, &[("CONNECTOR_DURATION_PERIOD", "PT1H")])
        .with_metrics(metrics.clone())
        .with_pings(PingSchedule {
            interval: Duration::from_secs(40),
            debounce: Duration::from_millis(20),
        });
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(runner.run(shutdown.clone()));
    let scheduled = |ping: &Value| !ping["connectorInfo"]["next_run_datetime"].is_null();
    poll_until(|| platform.calls("PingConnector").iter().any(scheduled)).await;
    let pings = platform.calls("PingConnector");
    let ping = pings
        .iter()
        .find(|ping| scheduled(ping))
        .expect("a ping right after the failed run, long before the next liveness ping");
    let info = &ping["connectorInfo"];
    let last =
        chrono::DateTime::parse_from_rfc3339(info["last_run_datetime"].as_str().unwrap()).unwrap();
    let next =
        chrono::DateTime::parse_from_rfc3339(info["next_run_datetime"].as_str().unwrap()).unwrap();
    assert_eq!(
        next - last,
        chrono::Duration::hours(1),
        "retried on its schedule"
    );
    assert_eq!(ping["state"], "{\"sent\":7}", "state untouched");
    assert_eq!(metrics.counter("run_failures"), Some(1));
    assert!(
        metrics
            .encode()
            .lines()
            .any(|line| line == "last_run_failed 1"),
        "{}",
        metrics.encode()
    );
    assert_eq!(platform.calls("workToProcessed")[0]["inError"], json!(true));
    stop_cleanly(&shutdown, running).await;
}
