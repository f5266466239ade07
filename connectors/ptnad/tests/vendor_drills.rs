//! Vendor drills (issue #13): a hostile front (the kit's `FakeVendor`,
//! forwarding to the fake PT NAD what it does not spoil) answers
//! oversized bodies (their length announced or not), bodies that drip for
//! ever, a `Retry-After` of a day, pages of reputation lists without end,
//! login pages with 200 and cut answers. Each call stays within a bound
//! and says what failed; no event is marked done (the batch is handed back
//! to be tried again, never applied nor rejected) and the lists are right
//! once the server is sane again. A stop ends a server-chosen wait at once.
//!
//! The connector authenticates with an API token here: the front is
//! another origin, which the fake's session CSRF check (a same-origin
//! `Referer`) would refuse.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opencti_connector::config::Settings;
use opencti_connector::http::DEFAULT_MAX_SERVER_DELAY;
use opencti_connector::stream::event::{EventKind, StreamEvent};
use opencti_connector::stream::sink::{BatchOutcome, Outcome};
use opencti_ptnad::client::ClientError;
use opencti_ptnad::connector::{StartupError, StartupRetry};
use opencti_ptnad::fake::{FakePtnad, FakeSettings};
use opencti_ptnad::{PtnadConfig, PtnadSink, VARS};
use opencti_testkit::events::{create, indicator};
use opencti_testkit::vendor::{Answer, FakeVendor, Fault, RetryAfter};
use opencti_testkit::{ConnectorHarness, TestPlatform};

use crate::hostile_answers::Hostile;
use crate::hostile_front::Front;

/// Longest a drill's call may take.
const BOUND: Duration = Duration::from_secs(20);
/// What the client reads of an answer at most.
const ANSWER_LIMIT: u64 = 16 << 20;
const TOKEN: &str = "nad-api-token";
const IP_KEY: &str = "opencti-ip";
const BULK: &str = "/api/v2/replists/dynamic/opencti-ip/_bulk";
const REPLISTS: &str = "/api/v2/replists";
const VALUE: &str = "198.51.100.77";

struct Drill {
    ptnad: FakePtnad,
    front: FakeVendor,
    switch: Arc<Front>,
}

impl Drill {
    async fn start() -> Self {
        let settings = FakeSettings {
            token: Some(TOKEN.to_owned()),
            ..FakeSettings::default()
        };
        let ptnad = FakePtnad::start(settings).await.unwrap();
        let (front, switch) = Front::start(ptnad.url()).await;
        Self {
            ptnad,
            front,
            switch,
        }
    }

    fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PTNAD_URL", self.front.url()),
            ("PTNAD_TOKEN", TOKEN.to_owned()),
            ("CONNECTOR_SCOPE", "ip".to_owned()),
            ("PTNAD_TIMEOUT", "2".to_owned()),
        ]
    }

    /// A sink through the front, with quick startup retries.
    fn unstarted_sink(&self, extra: &[(&'static str, &str)]) -> PtnadSink {
        let mut pairs = self.vars();
        pairs.extend(
            extra
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned())),
        );
        let config = PtnadConfig::try_from(&Settings::from_env_pairs(&[VARS], pairs)).unwrap();
        PtnadSink::new(config)
            .unwrap()
            .with_startup_retry(StartupRetry {
                attempts: 2,
                first_delay: Duration::from_millis(10),
                ..StartupRetry::default()
            })
    }

    /// A started sink going through the front.
    async fn sink(&self) -> PtnadSink {
        let sink = self.unstarted_sink(&[]);
        sink.start().await.expect("the sink starts");
        sink
    }

    fn bulk_calls(&self) -> usize {
        self.front.requests_to(BULK).len()
    }

    fn applied(&self) -> bool {
        self.ptnad
            .values(IP_KEY)
            .is_some_and(|values| values.contains(VALUE))
    }
}

fn pattern() -> String {
    format!("[ipv4-addr:value = '{VALUE}']")
}

fn creation() -> StreamEvent {
    let indicator = indicator(77, &pattern());
    StreamEvent::for_test("1732460000000-1", EventKind::Create, indicator, None)
}

/// Applies the creation within [`BOUND`]: the batch's outcome and how
/// long it took.
async fn apply(sink: &PtnadSink) -> (BatchOutcome, Duration) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(BOUND, sink.apply(&[creation()]))
        .await
        .expect("the batch ends within the bound");
    (outcome, started.elapsed())
}

/// The batch was handed back whole, for the reason `why` names (neither
/// done nor rejected); the next try, the server sane, applies it.
async fn assert_retried_then_applied(
    drill: &Drill,
    sink: &PtnadSink,
    outcome: BatchOutcome,
    why: &str,
) {
    let BatchOutcome::All(Outcome::Retry { reason, .. }) = &outcome else {
        panic!("the batch must be tried again, not {outcome:?}");
    };
    assert!(reason.contains(why), "the reason says why: {reason}");
    let (outcome, _) = apply(sink).await;
    assert_eq!(outcome, BatchOutcome::PerEvent(vec![Outcome::Done]));
    assert!(drill.applied());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_to_a_write_marks_no_event_done() {
    let drill = Drill::start().await;
    let sink = drill.sink().await;
    drill
        .front
        .fail_next_on(BULK, [Fault::Oversized(ANSWER_LIMIT + (1 << 20))]);
    let (outcome, took) = apply(&sink).await;
    println!("oversized answer: {took:?}, {outcome:?}");
    assert_eq!(drill.bulk_calls(), 1);
    assert!(!drill.applied());
    assert_retried_then_applied(&drill, &sink, outcome, "larger than").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_oversized_answer_is_refused_before_it_is_read() {
    let drill = Drill::start().await;
    let sink = drill.sink().await;
    drill.switch.answer_next([Hostile::Announced]);
    let (outcome, took) = apply(&sink).await;
    println!("announced tebibyte: {took:?}, {outcome:?}");
    // Read, the body would end in the 2 s timeout, and say so.
    assert_retried_then_applied(&drill, &sink, outcome, "larger than").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_drips_for_ever_ends_at_the_timeout() {
    let drill = Drill::start().await;
    let sink = drill.sink().await;
    drill.switch.answer_next([Hostile::Drip]);
    let (outcome, took) = apply(&sink).await;
    println!("dripping answer: {took:?}, {outcome:?}");
    assert!(took >= Duration::from_secs(2), "PTNAD_TIMEOUT: {took:?}");
    assert_retried_then_applied(&drill, &sink, outcome, "did not answer in time").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_a_day_is_capped() {
    let drill = Drill::start().await;
    let sink = drill.sink().await;
    let day = Answer::json(429, r#"{"detail":"Request was throttled."}"#)
        .with_retry_after(RetryAfter::Seconds(86_400));
    drill.front.fail_next_on(BULK, [Fault::Answer(day)]);
    let (outcome, took) = apply(&sink).await;
    println!("a day's Retry-After: {took:?}, {outcome:?}");
    let BatchOutcome::All(Outcome::Retry {
        after: Some(after), ..
    }) = &outcome
    else {
        panic!("the batch must be tried again after a pause, not {outcome:?}");
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

/// Through the runtime: the batch waits out PT NAD's (capped) pause, a
/// stop ends the wait at once, and the position stays before the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_the_wait_for_a_retry_after_of_a_day() {
    let platform = TestPlatform::start().await.unwrap();
    let drill = Drill::start().await;
    let day = Answer::json(429, r#"{"detail":"Request was throttled."}"#)
        .with_retry_after(RetryAfter::Seconds(86_400));
    drill.front.fail_next_on(BULK, [Fault::Answer(day); 5]);
    let mut harness = ConnectorHarness::new(&platform)
        .var("CONNECTOR_NAME", "PT NAD")
        .var("PTNAD_BATCH_WAIT_MS", "20");
    for (name, value) in drill.vars() {
        harness = harness.var(name, value);
    }
    let mut running = harness
        .start_stream(harness.build::<PtnadSink>().unwrap())
        .await
        .unwrap();
    let event = running
        .inject([create(indicator(
            1,
            &format!("[ipv4-addr:value = '{VALUE}']"),
        ))])
        .unwrap()
        .expect("the event's id");
    running
        .wait_until("the throttled bulk call", |_| drill.bulk_calls() > 0)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = Instant::now();
    let stopped = running.stop().await.expect("the connector stops cleanly");
    let took = stopping.elapsed();
    println!("stopped in {took:?}, position {:?}", stopped.position);
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(drill.bulk_calls(), 1, "no other attempt");
    assert!(!drill.applied());
    let position = stopped.position.expect("a position");
    assert!(
        stream_id(&position) < stream_id(&event),
        "the position {position} stays before the event {event}"
    );
    drop(harness);
    platform.shutdown().await.expect("clean shutdown");
}

/// A stream id `<ms>-<seq>` as a comparable pair.
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_pages_of_lists_stop_the_startup_at_the_page_bound() {
    let drill = Drill::start().await;
    drill.ptnad.insert_list("bad-domains", "dn", None, &[]);
    drill.ptnad.set_endless_pages(true);
    let sink = drill.unstarted_sink(&[("PTNAD_MAX_LIST_PAGES", "5")]);
    let started = Instant::now();
    let result = tokio::time::timeout(BOUND, sink.start())
        .await
        .expect("the startup ends within the bound");
    println!("endless pages: {:?}, {result:?}", started.elapsed());
    let Err(error @ StartupError::Setup(ClientError::TooManyLists { what: "pages", .. })) = &result
    else {
        panic!("the startup stops at the bound: {result:?}");
    };
    assert!(
        error.to_string().contains("PTNAD_MAX_LIST_PAGES"),
        "{error}"
    );
    assert_eq!(
        drill.front.requests_to(REPLISTS).len(),
        5,
        "five pages read"
    );
    assert_eq!(
        drill.ptnad.lists().len(),
        1,
        "no list created on a partial read"
    );
    drill.ptnad.set_endless_pages(false);
    sink.start().await.expect("sane pages: the sink starts");
    assert!(drill.ptnad.values(IP_KEY).is_some(), "its list is created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_at_startup_is_not_taken_for_pt_nad() {
    let drill = Drill::start().await;
    drill.switch.answer_next([Hostile::LoginPage; 2]);
    let result = tokio::time::timeout(BOUND, drill.unstarted_sink(&[]).start())
        .await
        .expect("the startup ends within the bound");
    let error = result.expect_err("a login page is not PT NAD's status");
    println!("startup: {error}");
    assert!(error.to_string().contains("Sign in"), "{error}");
    assert!(drill.ptnad.lists().is_empty(), "nothing created");
}

/// Cut, broken or missing answers to a write: none confirms it, so the
/// batch is tried again (the writes are idempotent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_answers_to_a_write_mark_no_event_done() {
    let drill = Drill::start().await;
    let sink = drill.sink().await;
    for fault in [Fault::Truncated, Fault::Drop, Fault::Hangup] {
        drill.front.fail_next_on(BULK, [fault]);
        let (outcome, took) = apply(&sink).await;
        println!("{fault:?}: {took:?}, {outcome:?}");
        assert!(
            matches!(outcome, BatchOutcome::All(Outcome::Retry { .. })),
            "{fault:?}: the batch must be tried again, not {outcome:?}"
        );
    }
    let (outcome, _) = apply(&sink).await;
    assert_eq!(outcome, BatchOutcome::PerEvent(vec![Outcome::Done]));
    assert!(drill.applied());
}
