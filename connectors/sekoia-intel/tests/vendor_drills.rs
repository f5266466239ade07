//! Vendor drills (issue #13): a hostile front (the kit's `FakeVendor`,
//! forwarding to the fake Sekoia what it does not spoil) answers oversized
//! bodies, login pages with 200, or a `Retry-After` of a day. Each time the
//! sink stays within a bound, says why (the event is handed back to be
//! tried again, never taken as applied nor dropped), and the collection is
//! right once the server is sane again. A shutdown ends a startup stuck in
//! a server-chosen wait at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opencti_connector::config::Settings;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::http::DEFAULT_MAX_SERVER_DELAY;
use opencti_connector::stream::event::{EventKind, StreamEvent};
use opencti_connector::stream::sink::{BatchOutcome, Outcome};
use opencti_sekoia_intel::SekoiaSink;
use opencti_sekoia_intel::connector::StartupRetry;
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
use opencti_sekoia_intel::{SekoiaConfig, VARS};
use opencti_testkit::vendor::{FakeVendor, Fault};
use opencti_testkit::{ConnectorHarness, TestPlatform};
use serde_json::json;

use crate::hostile_answers::Hostile;
use crate::hostile_front::Front;

/// Longest a drill's call may take.
const BOUND: Duration = Duration::from_secs(20);
/// What the sink reads of an answer at most (its client's limit).
const ANSWER_LIMIT: u64 = 16 << 20;
const VALUE: &str = "203.0.113.77";

struct Drill {
    sekoia: FakeSekoia,
    front: FakeVendor,
    switch: Arc<Front>,
}

impl Drill {
    async fn start() -> Self {
        let sekoia = FakeSekoia::start(FakeSettings::default()).await.unwrap();
        let (front, switch) = Front::start(sekoia.url()).await;
        Self {
            sekoia,
            front,
            switch,
        }
    }

    fn serve_login_pages(&self, count: usize) {
        self.switch
            .answer_next(std::iter::repeat_n(Hostile::LoginPage, count));
    }

    fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SEKOIA_INTEL_URL", self.front.url()),
            ("SEKOIA_INTEL_APIKEY", "sk_test".to_owned()),
            (
                "SEKOIA_INTEL_IOC_COLLECTION_UUID",
                DEFAULT_COLLECTION.to_owned(),
            ),
            ("SEKOIA_INTEL_TIMEOUT", "5".to_owned()),
        ]
    }

    /// The sink's configuration, through the front.
    fn config(&self) -> SekoiaConfig {
        let mut pairs: Vec<(&str, String)> = vec![
            ("OPENCTI_URL", "https://opencti.example.org".to_owned()),
            ("OPENCTI_TOKEN", "token".to_owned()),
            (
                "CONNECTOR_ID",
                "0b8f2c1e-8f5a-4c57-9d56-5b9f1f0e2a11".to_owned(),
            ),
            ("CONNECTOR_NAME", "Sekoia".to_owned()),
            ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
        ];
        pairs.extend(self.vars());
        let tables: Vec<_> = RUNTIME_TABLES.iter().copied().chain([VARS]).collect();
        SekoiaConfig::try_from(&Settings::from_env_pairs(&tables, pairs)).unwrap()
    }

    /// A sink through the front, with quick startup retries.
    fn unstarted_sink(&self) -> SekoiaSink {
        SekoiaSink::new(self.config())
            .unwrap()
            .with_startup_retry(StartupRetry {
                attempts: 3,
                first_delay: Duration::from_millis(10),
                ..StartupRetry::default()
            })
    }

    /// A started sink going through the front.
    async fn sink(&self) -> SekoiaSink {
        let sink = self.unstarted_sink();
        sink.start().await.expect("the sink starts");
        sink
    }

    fn pushes(&self) -> usize {
        self.front
            .requests()
            .iter()
            .filter(|request| request.path.ends_with("/indicators/text"))
            .count()
    }
}

fn creation() -> StreamEvent {
    let indicator = json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--00000000-0000-4000-8000-000000000077",
        "name": VALUE,
        "pattern": format!("[ipv4-addr:value = '{VALUE}']"),
        "pattern_type": "stix",
        "valid_from": "2025-11-24T10:00:00.000Z",
        "revoked": false,
    });
    StreamEvent::for_test("1732460000000-1", EventKind::Create, indicator, None)
}

/// Applies the creation within [`BOUND`]; its one outcome.
async fn apply(sink: &SekoiaSink) -> (Outcome, Duration) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(BOUND, sink.apply(&[creation()]))
        .await
        .expect("the batch ends within the bound");
    let BatchOutcome::PerEvent(mut outcomes) = outcome else {
        panic!("expected per-event outcomes, got {outcome:?}");
    };
    assert_eq!(outcomes.len(), 1);
    (outcomes.remove(0), started.elapsed())
}

/// The event was handed back, for the reason `why` names; nothing is in
/// the collection; the next try, the server sane, applies it.
async fn assert_retried_then_applied(
    drill: &Drill,
    sink: &SekoiaSink,
    outcome: Outcome,
    why: &str,
) {
    let Outcome::Retry { reason, .. } = &outcome else {
        panic!("the event must be tried again, not {outcome:?}");
    };
    assert!(reason.contains(why), "the reason says why: {reason}");
    assert!(drill.sekoia.active_values(DEFAULT_COLLECTION).is_empty());
    let (outcome, _) = apply(sink).await;
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(drill.sekoia.active_values(DEFAULT_COLLECTION), [VALUE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_is_cut_at_the_limit_and_the_event_tried_again() {
    let drill = Drill::start().await;
    let sink = drill.sink().await;
    drill
        .front
        .fail_next([Fault::Oversized(ANSWER_LIMIT + (1 << 20))]);
    let (outcome, took) = apply(&sink).await;
    println!("oversized answer: {took:?}, {outcome:?}");
    assert_eq!(drill.pushes(), 1, "one push, answered oversized");
    assert_retried_then_applied(&drill, &sink, outcome, "larger than").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_oversized_answer_is_refused_before_it_is_read() {
    let drill = Drill::start().await;
    let sink = drill.sink().await;
    drill.switch.answer_next([Hostile::Announced]);
    let (outcome, took) = apply(&sink).await;
    println!("announced tebibyte: {took:?}, {outcome:?}");
    // Read, the body would end in the 5 s timeout, and say so.
    assert_retried_then_applied(&drill, &sink, outcome, "larger than").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_drips_for_ever_ends_at_the_timeout() {
    let drill = Drill::start().await;
    let sink = drill.sink().await;
    drill.switch.answer_next([Hostile::Drip]);
    let (outcome, took) = apply(&sink).await;
    println!("dripping answer: {took:?}, {outcome:?}");
    assert!(
        took >= Duration::from_secs(5),
        "SEKOIA_INTEL_TIMEOUT: {took:?}"
    );
    assert_retried_then_applied(&drill, &sink, outcome, "did not answer in time").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_answered_with_200_is_not_taken_for_an_import() {
    let drill = Drill::start().await;
    let sink = drill.sink().await;
    drill.serve_login_pages(1);
    let (outcome, took) = apply(&sink).await;
    println!("login page: {took:?}, {outcome:?}");
    assert_retried_then_applied(&drill, &sink, outcome, "Sign in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_at_startup_does_not_pass_for_the_collection() {
    let drill = Drill::start().await;
    drill.serve_login_pages(3);
    let result = tokio::time::timeout(BOUND, drill.unstarted_sink().start())
        .await
        .expect("the startup ends within the bound");
    let error = result.expect_err("a login page is not the collection");
    println!("startup: {error}");
    assert!(error.to_string().contains("Sign in"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_a_day_is_capped() {
    let drill = Drill::start().await;
    let sink = drill.sink().await;
    drill.front.fail_next([Fault::too_many_requests(86_400)]);
    let (outcome, took) = apply(&sink).await;
    println!("a day's Retry-After: {took:?}, {outcome:?}");
    let Outcome::Retry {
        after: Some(after), ..
    } = &outcome
    else {
        panic!("the event must be tried again after a pause, not {outcome:?}");
    };
    assert!(
        *after <= DEFAULT_MAX_SERVER_DELAY,
        "the pause is capped: {after:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "not waited in the batch: {took:?}"
    );
    assert_retried_then_applied(&drill, &sink, outcome, "429").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_a_startup_waiting_out_a_retry_after_of_a_day() {
    let platform = TestPlatform::start().await.unwrap();
    let drill = Drill::start().await;
    drill
        .front
        .fail_next([Fault::too_many_requests(86_400); 10]);
    let mut harness = ConnectorHarness::new(&platform)
        .var("CONNECTOR_NAME", "Sekoia")
        .var("CONNECTOR_LIVE_STREAM_ID", "live");
    for (name, value) in drill.vars() {
        harness = harness.var(name, value);
    }
    let running = harness
        .start_stream(harness.build::<SekoiaSink>().unwrap())
        .await
        .unwrap();
    let asked = async {
        while drill.front.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(BOUND, asked)
        .await
        .expect("the startup asks Sekoia");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = Instant::now();
    running.stop().await.expect("the connector stops cleanly");
    let took = stopping.elapsed();
    println!("stopped in {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(drill.front.requests().len(), 1, "no other attempt");
    platform.shutdown().await.expect("clean shutdown");
}
