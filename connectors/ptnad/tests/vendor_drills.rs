//! Vendor drills (issue #13): a hostile front (the kit's `FakeVendor`,
//! forwarding to the fake PT NAD what it does not spoil) answers
//! oversized bodies (their length announced or not), bodies that drip for
//! ever, a `Retry-After` of a day, pages of reputation lists without end,
//! login pages with 200 and cut answers. Each call stays within a bound
//! and says what failed; no event is marked done (the batch is handed back
//! to be tried again, never applied nor rejected) and the lists are right
//! once the server is sane again. A stop ends a server-chosen wait at once.
//! The drills every writing sink shares are in `tests/sink_drills.rs`.
//!
//! The connector authenticates with an API token here: the front is
//! another origin, which the fake's session CSRF check (a same-origin
//! `Referer`) would refuse.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opencti_connector::config::Settings;
use opencti_connector::stream::sink::{BatchOutcome, Outcome};
use opencti_ptnad::client::ClientError;
use opencti_ptnad::connector::StartupError;
use opencti_ptnad::fake::{FakePtnad, FakeSettings};
use opencti_ptnad::{PtnadConfig, PtnadSink, VARS};
use opencti_testkit::events::{create, indicator};
use opencti_testkit::vendor::{Answer, FakeVendor, Fault, RetryAfter};
use opencti_testkit::{ConnectorHarness, TestPlatform};

use crate::hostile_front::Front;
use crate::sink_drills::{self, BOUND, SinkDrill, VALUE, creation};
use crate::sink_startup;

const TOKEN: &str = "nad-api-token";
const IP_KEY: &str = "opencti-ip";
const BULK: &str = "/api/v2/replists/dynamic/opencti-ip/_bulk";
const REPLISTS: &str = "/api/v2/replists";

struct Drill {
    ptnad: FakePtnad,
    front: FakeVendor,
    switch: Arc<Front>,
}

impl Drill {
    fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PTNAD_URL", self.front.url()),
            ("PTNAD_TOKEN", TOKEN.to_owned()),
            ("CONNECTOR_SCOPE", "ip".to_owned()),
            ("PTNAD_TIMEOUT", "2".to_owned()),
        ]
    }

    /// A sink through the front with `extra` variables, with quick
    /// startup retries.
    fn sink_with(&self, extra: &[(&'static str, &str)]) -> PtnadSink {
        let mut pairs = self.vars();
        pairs.extend(
            extra
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned())),
        );
        let config = PtnadConfig::try_from(&Settings::from_env_pairs(&[VARS], pairs)).unwrap();
        PtnadSink::new(config)
            .unwrap()
            .with_startup_retry(sink_startup::quick_retry())
    }
}

/// A PT NAD day of throttling, in Django REST framework's words.
fn throttled_for_a_day() -> Answer {
    Answer::json(429, r#"{"detail":"Request was throttled."}"#)
        .with_retry_after(RetryAfter::Seconds(86_400))
}

impl SinkDrill for Drill {
    type Sink = PtnadSink;
    type StartError = StartupError;
    const TIMEOUT: Duration = Duration::from_secs(2);

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

    fn hostile(&self) -> &Front {
        &self.switch
    }

    fn unstarted_sink(&self) -> PtnadSink {
        self.sink_with(&[])
    }

    async fn start_sink(sink: &PtnadSink) -> Result<(), StartupError> {
        sink.start().await
    }

    /// PT NAD hands a failed batch back whole, and says of a done one
    /// that each event is done.
    async fn apply_once(sink: &PtnadSink) -> Outcome {
        match sink.apply(&[creation()]).await {
            BatchOutcome::All(retry @ Outcome::Retry { .. }) => retry,
            BatchOutcome::PerEvent(outcomes) if outcomes == [Outcome::Done] => Outcome::Done,
            other => panic!("neither a batch handed back nor an event done: {other:?}"),
        }
    }

    fn fail_next_write(&self, fault: Fault) {
        self.front.fail_next_on(BULK, [fault]);
    }

    fn writes(&self) -> usize {
        self.front.requests_to(BULK).len()
    }

    fn applied(&self) -> bool {
        self.ptnad
            .values(IP_KEY)
            .is_some_and(|values| values.contains(VALUE))
    }

    fn throttled_for_a_day() -> Fault {
        Fault::Answer(throttled_for_a_day())
    }
}

crate::sink_drill_tests!(Drill);

/// Through the runtime: the batch waits out PT NAD's (capped) pause, a
/// stop ends the wait at once, and the position stays before the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_the_wait_for_a_retry_after_of_a_day() {
    let platform = TestPlatform::start().await.unwrap();
    let drill = Drill::start().await;
    drill
        .front
        .fail_next_on(BULK, [Fault::Answer(throttled_for_a_day()); 5]);
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
        .wait_until("the throttled bulk call", |_| drill.writes() > 0)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = Instant::now();
    let stopped = running.stop().await.expect("the connector stops cleanly");
    let took = stopping.elapsed();
    println!("stopped in {took:?}, position {:?}", stopped.position);
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(drill.writes(), 1, "no other attempt");
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
    let sink = drill.sink_with(&[("PTNAD_MAX_LIST_PAGES", "5")]);
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
    let drill = sink_drills::a_login_page_at_startup::<Drill>().await;
    assert!(drill.ptnad.lists().is_empty(), "nothing created");
}
