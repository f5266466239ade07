//! The whole connector against `opencti-sim` and the real RabbitMQ: feeds
//! over HTTP and S3 end up as objects in the platform, through faults.

use std::collections::BTreeSet;
use std::time::Duration;

use opencti_connector::Connector;
use opencti_connector::import::ImportRunner;
use opencti_connector::state::PingSchedule;
use opencti_misp_feed::MispFeed;
use opencti_sim::relay::Relay;
use opencti_testkit::drill::{NackingQueue, OutputDrill, OutputFault, RefusalDrill};
use opencti_testkit::{ConnectorHarness, ImportRun, TestPlatform};
use tokio_util::sync::CancellationToken;

use crate::convert_golden::fixture;
use crate::support::feed_server::{Fault, FeedServer};
use crate::support::generator;
use crate::support::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use serde_json::Value;

/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(60);
const RABBITMQ_PORT: u16 = 5672;

async fn start_platform() -> TestPlatform {
    let platform = TestPlatform::start().await.expect("the platform starts");
    platform.with_timeout(TIMEOUT)
}

/// The connector importing everything since 1970, as indicators and
/// observables.
fn harness(platform: &TestPlatform) -> ConnectorHarness<'_> {
    importing_everything(ConnectorHarness::new(platform))
}

/// `harness` importing everything since 1970, as indicators and
/// observables.
fn importing_everything(harness: ConnectorHarness<'_>) -> ConnectorHarness<'_> {
    harness
        .var("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01")
        .var("MISP_FEED_CREATE_INDICATORS", "true")
        .var("MISP_FEED_CREATE_OBSERVABLES", "true")
}

/// The connector built from the harness's variables, with retries short
/// enough for tests.
fn connector(harness: &ConnectorHarness<'_>) -> MispFeed {
    let mut config = harness
        .config::<MispFeed>()
        .expect("connector configuration");
    config.http.retry.initial_backoff = Duration::from_millis(10);
    MispFeed::from_config(config).expect("connector")
}

/// One run (run-and-terminate), as the binary would do it.
async fn run_once(harness: &ConnectorHarness<'_>) -> ImportRun {
    harness
        .run_import_with(connector(harness))
        .await
        .expect("the run ends in time")
}

/// Report names stored in the platform.
fn reports(platform: &TestPlatform) -> BTreeSet<String> {
    platform
        .objects_of_type("report")
        .iter()
        .filter_map(|object| object.stix["name"].as_str().map(str::to_owned))
        .collect()
}

async fn wait_for_reports(platform: &TestPlatform, expected: &BTreeSet<String>) {
    let outcome = platform
        .wait_until("every report to be stored", |platform| {
            expected.is_subset(&reports(platform))
        })
        .await;
    assert!(
        outcome.is_ok(),
        "missing reports: {:?}",
        expected.difference(&reports(platform)).collect::<Vec<_>>()
    );
}

fn names(range: std::ops::Range<usize>) -> BTreeSet<String> {
    range
        .map(|index| format!("Generated event {index}"))
        .collect()
}

/// Publishes generated events `range` (timestamps `first + index`) and
/// returns the manifest.
fn publish(
    server: &FeedServer,
    range: std::ops::Range<usize>,
    attributes: usize,
    first: i64,
) -> serde_json::Map<String, Value> {
    let mut manifest = serde_json::Map::new();
    for index in range {
        let timestamp = first + index as i64;
        let (key, entry) = generator::manifest_entry(index, timestamp);
        let body = serde_json::to_vec(&generator::event(index, attributes, timestamp)).unwrap();
        server.put(&format!("{key}.json"), body);
        manifest.insert(key, entry);
    }
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_feed_reaches_the_platform_through_faults() {
    let platform = start_platform().await;
    let server = FeedServer::start(Some("Bearer feed-key")).await;
    let mut manifest = publish(&server, 0..12, 20, 1_700_000_000);
    // The golden events too: the platform stores the Python connector's ids.
    for (name, key, timestamp) in [
        (
            "event1.json",
            "5f1d9c8e-1a2b-4c3d-9e8f-0a1b2c3d4e5f",
            1_705_312_800,
        ),
        (
            "event2.json",
            "00000000-0000-4000-8000-0000000000e2",
            1_706_745_600,
        ),
    ] {
        server.put(&format!("{key}.json"), fixture(name));
        manifest.insert(key.to_owned(), serde_json::json!({"timestamp": timestamp.to_string(), "info": name, "date": "2024-01-15"}));
    }
    server.put("manifest.json", serde_json::to_vec(&manifest).unwrap());
    // A server error then success, a broken connection then success, and a
    // truncated (poison) event in the middle of the feed.
    let flaky = format!("{}.json", generator::event_uuid(3));
    server.fail_next(
        &flaky,
        [Fault::Status(503), Fault::StatusRetryAfter(429, 0)],
    );
    let dropped = format!("{}.json", generator::event_uuid(4));
    server.fail_next(&dropped, [Fault::Drop]);
    let poison = generator::event_uuid(6);
    server.put(
        &format!("{poison}.json"),
        &b"{\"Event\": {\"info\": \"cut"[..],
    );

    let harness = harness(&platform)
        .var("MISP_FEED_URL", server.url())
        .var("MISP_FEED_HTTP_AUTHORIZATION_HEADER", "Bearer feed-key");
    let run = run_once(&harness).await;
    assert!(run.succeeded(), "the run succeeds: {run:?}");

    let mut expected = names(0..12);
    expected.remove("Generated event 6");
    expected.insert("OSINT - Example phishing campaign against banks".to_owned());
    expected.insert("Test 2".to_owned());
    wait_for_reports(&platform, &expected).await;
    for id in [
        "report--e740bb79-5370-505a-8d9a-89ce80bbbc50",
        "indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968",
        "sighting--7295d33c-de9a-526b-b89a-8aae32673de6",
    ] {
        assert!(platform.sim().object(id).is_some(), "{id} is stored");
    }
    assert_eq!(server.hits(&flaky), 3);
    assert_eq!(server.hits(&dropped), 2);

    assert_eq!(platform.works().len(), 1, "one work per run");
    assert!(
        run.errors()
            .iter()
            .any(|error| format!("{error:?}").contains(&poison)),
        "the poison event is reported on the work: {:?}",
        run.errors()
    );
    let state = platform.state().expect("state stored");
    assert_eq!(state["last_event_timestamp"], 1_706_745_600);
    drop(harness);
    platform.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_bucket_reaches_the_platform() {
    let platform = start_platform().await;
    let bucket = "misp-drop";
    let s3 = S3Server::start(bucket).await;
    for index in 0..5 {
        let body = serde_json::to_vec(&generator::event(index, 10, 1_700_000_000)).unwrap();
        s3.put(bucket, &format!("events/{index}.json"), &body);
    }
    let endpoint = s3.settings(bucket, None).endpoint_url.unwrap();
    let harness = harness(&platform)
        .var("MISP_FEED_SOURCE_TYPE", "s3")
        .var("MISP_FEED_BUCKET_NAME", bucket)
        .var("MISP_FEED_BUCKET_PREFIX", "events/")
        .var("AWS_ENDPOINT_URL", endpoint)
        .var("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    let run = run_once(&harness).await;
    assert!(run.succeeded(), "the run succeeds: {run:?}");
    wait_for_reports(&platform, &names(0..5)).await;
    for index in 0..5 {
        assert!(
            !s3.contains(bucket, &format!("events/{index}.json")),
            "consumed"
        );
    }
    let state = platform.state().expect("state stored");
    assert_eq!(state["last_file"], "4.json");
    drop(harness);
    platform.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_cut_loses_no_event() {
    let platform = start_platform().await;
    let server = FeedServer::start(None).await;
    let events = 30;
    let manifest = publish(&server, 0..events, 50, 1_700_000_000);
    server.put("manifest.json", serde_json::to_vec(&manifest).unwrap());
    let relay = Relay::start(RABBITMQ_PORT).await.expect("relay starts");
    let harness = harness(&platform)
        .var("MISP_FEED_URL", server.url())
        .var("MQ_HOST", "127.0.0.1")
        .var("MQ_PORT", relay.port().to_string());
    // Cut every broker connection once a third of the feed went through.
    let cutter = async {
        while relay.forwarded() < 1_500_000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        relay.cut();
    };
    let (first, ()) = tokio::join!(run_once(&harness), cutter);
    if !first.succeeded() {
        // The run stopped at the cut; the next run resumes from the state.
        let second = run_once(&harness).await;
        assert!(second.succeeded(), "the second run succeeds: {second:?}");
    }
    wait_for_reports(&platform, &names(0..events)).await;
    let state = platform.state().expect("state stored");
    assert_eq!(
        state["last_event_timestamp"],
        1_700_000_000 + (events as i64 - 1),
        "the cursor reached the end"
    );
    drop(harness);
    platform.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_platform_queue_pauses_the_backfill() {
    let platform = start_platform().await;
    let server = FeedServer::start(None).await;
    let harness = harness(&platform)
        .var("MISP_FEED_URL", server.url())
        // One waiting message is already too many.
        .var("CONNECTOR_QUEUE_THRESHOLD", "0.000001");
    // A first run on an empty feed registers the connector, so that the
    // platform's worker can be paused before the backfill starts.
    server.put("manifest.json", &b"{}"[..]);
    let empty = run_once(&harness).await;
    assert!(empty.succeeded(), "the empty run succeeds: {empty:?}");
    let sim = platform.sim();
    sim.pause_worker(platform.connector_id()).unwrap();
    // The events in flight (4, and 1 prepared) may all pass the threshold
    // check before the first one's messages reach the queue: a longer feed
    // shows the pause.
    let events = 12;
    let manifest = publish(&server, 0..events, 5, 1_700_000_000);
    server.put("manifest.json", serde_json::to_vec(&manifest).unwrap());

    // The harness waits for the run to end: this run is watched while it goes.
    let settings = harness.settings::<MispFeed>(&[("CONNECTOR_RUN_AND_TERMINATE", "true")]);
    let runtime = opencti_connector::config::RuntimeConfig::try_from(&settings)
        .expect("runtime configuration");
    let runner = ImportRunner::new(connector(&harness), runtime)
        .with_pings(PingSchedule {
            interval: Duration::from_secs(40),
            debounce: Duration::from_millis(20),
        })
        .with_buffering_delays(Duration::from_millis(20), Duration::ZERO);
    let task = tokio::spawn(runner.run(CancellationToken::new()));

    // Once the paused platform holds a bundle, the connector stops sending.
    platform
        .wait_until("a first event to be recorded", |platform| {
            platform.state().is_some()
        })
        .await
        .expect("progress before the pause");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let last = 1_700_000_000 + (events as i64 - 1);
    let paused_at = platform.state().unwrap()["last_event_timestamp"]
        .as_i64()
        .unwrap();
    assert!(
        paused_at < last,
        "the connector kept sending into a full queue"
    );

    sim.resume_worker(platform.connector_id()).unwrap();
    tokio::time::timeout(TIMEOUT, task)
        .await
        .expect("the run ends once the queue drains")
        .unwrap()
        .expect("the run succeeds");
    wait_for_reports(&platform, &names(0..events)).await;
    assert_eq!(platform.state().unwrap()["last_event_timestamp"], last);
    drop(harness);
    platform.shutdown().await.expect("clean shutdown");
}

/// Drill (issue #13): the platform refuses each call a URL-feed run makes,
/// in turn (first, second and last call of every operation a clean run
/// sends). Each faulted run ends in time; the cursor never passes a report
/// the platform did not get; the next run, without the fault, completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_at_every_platform_call_ends_the_run_and_the_next_run_completes() {
    const FIRST: i64 = 1_700_000_000;
    let server = FeedServer::start(None).await;
    let manifest = publish(&server, 0..4, 3, FIRST);
    server.put("manifest.json", serde_json::to_vec(&manifest).unwrap());
    let expected = names(0..4);

    RefusalDrill::new(
        async |platform: &TestPlatform| {
            let harness = harness(platform).var("MISP_FEED_URL", server.url());
            harness.run_import_with(connector(&harness)).await
        },
        |platform| expected.is_subset(&reports(platform)),
        |platform| cursor_backed(platform, FIRST),
    )
    .run()
    .await;
}

/// The cursor (`last_event_timestamp`, events published from `first` on,
/// one second apart) never passes a report the platform did not get.
fn cursor_backed(platform: &TestPlatform, first: i64) -> bool {
    platform
        .state()
        .and_then(|state| state["last_event_timestamp"].as_i64())
        .is_none_or(|cursor| {
            let confirmed = names(0..usize::try_from(cursor - first + 1).unwrap());
            confirmed.is_subset(&reports(platform))
        })
}

/// The output drill (issue #13) over a URL feed of two events of one
/// attribute: with `nacks`, the broker nacks from each message of a run
/// on; without, the directory copy fails from each write on. Each faulted
/// run ends in error in time; the cursor never passes a report the
/// platform did not get; the next run, without the fault, completes.
async fn output_drill(fault: OutputFault) {
    const FIRST: i64 = 1_700_000_000;
    let server = FeedServer::start(None).await;
    let manifest = publish(&server, 0..2, 1, FIRST);
    server.put("manifest.json", serde_json::to_vec(&manifest).unwrap());
    let expected = names(0..2);
    OutputDrill::new(
        async |harness: &ConnectorHarness<'_>| {
            let harness = importing_everything(harness.clone()).var("MISP_FEED_URL", server.url());
            harness.run_import_with(connector(&harness)).await
        },
        |platform| expected.is_subset(&reports(platform)),
        |platform| cursor_backed(platform, FIRST),
    )
    // Every step: the run publishes 20 messages.
    .at_most(20)
    .run(fault)
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_nacking_from_every_message_on_ends_the_run_and_the_next_run_completes() {
    output_drill(OutputFault::BrokerNacks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_copy_failing_from_every_write_on_ends_the_run_and_the_next_run_completes() {
    output_drill(OutputFault::DirectoryErrors).await;
}

/// Drill (issue #13): a broker that nacks publishes in the middle of a
/// URL-feed run ([`NackingQueue`] takes exactly the first event's
/// messages, counted on a clean run of that event alone). The run ends
/// promptly in error with its work closed in error, the cursor stays at
/// the first event, and once the queue is gone the next run imports the
/// rest. The first event is the largest, so the next one is split first:
/// it must still be published after it (one event publishes at a time:
/// with several, their messages interleave and the queue's limit would
/// fall inside the first event).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_nacking_publishes_mid_run_fails_the_run_and_the_next_run_resumes() {
    const FIRST: i64 = 1_700_000_000;
    // A run refused by the broker gives up after MQ_OUTAGE_TIMEOUT (2 s).
    const PROMPT: Duration = Duration::from_secs(15);
    const FIRST_ATTRIBUTES: usize = 100;

    let first_event = FeedServer::start(None).await;
    let manifest = publish(&first_event, 0..1, FIRST_ATTRIBUTES, FIRST);
    first_event.put("manifest.json", serde_json::to_vec(&manifest).unwrap());
    let clean = start_platform().await;
    let alone = run_once(&harness(&clean).var("MISP_FEED_URL", first_event.url())).await;
    let messages = alone
        .work
        .as_ref()
        .expect("the first event's work")
        .expected;
    clean.shutdown().await.unwrap();

    let server = FeedServer::start(None).await;
    let mut manifest = publish(&server, 0..1, FIRST_ATTRIBUTES, FIRST);
    manifest.extend(publish(&server, 1..4, 3, FIRST));
    server.put("manifest.json", serde_json::to_vec(&manifest).unwrap());
    let platform = start_platform().await.with_timeout(PROMPT);
    let nacking = NackingQueue::bind(&platform, u32::try_from(messages).unwrap()).await;
    let harness = harness(&platform)
        .var("MISP_FEED_URL", server.url())
        .var("MISP_FEED_EVENTS_IN_FLIGHT", "1")
        .var("MQ_OUTAGE_TIMEOUT", "PT2S");

    // The queue takes exactly the first event's messages.
    nacking.refused_run(PROMPT, run_once(&harness)).await;
    let cursor = || {
        platform
            .state()
            .and_then(|state| state["last_event_timestamp"].as_i64())
    };
    assert_eq!(cursor(), Some(FIRST), "the cursor stays at the first event");
    wait_for_reports(&platform, &names(0..1)).await;

    nacking.remove().await;
    let next = run_once(&harness).await;
    assert!(next.succeeded(), "the next run succeeds: {next:?}");
    wait_for_reports(&platform, &names(0..4)).await;
    assert_eq!(cursor(), Some(FIRST + 3));
    drop(harness);
    platform.shutdown().await.expect("clean shutdown");
}
