//! Vendor drills (issue #13): a hostile front (the kit's `FakeVendor`,
//! forwarding to the fake Sekoia what it does not spoil) answers oversized
//! bodies, login pages with 200, or a `Retry-After` of a day. Each time the
//! sink stays within a bound, says why (the event is handed back to be
//! tried again, never taken as applied nor dropped), and the collection is
//! right once the server is sane again. A shutdown ends a startup stuck in
//! a server-chosen wait at once. The drills every writing sink shares are
//! in `tests/sink_drills.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opencti_connector::config::Settings;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::stream::sink::{BatchOutcome, Outcome};
use opencti_sekoia_intel::SekoiaSink;
use opencti_sekoia_intel::connector::StartupError;
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
use opencti_sekoia_intel::{SekoiaConfig, VARS};
use opencti_testkit::vendor::{FakeVendor, Fault};
use opencti_testkit::{ConnectorHarness, TestPlatform};

use crate::hostile_answers::Hostile;
use crate::hostile_front::Front;
use crate::sink_drills::{self, BOUND, SinkDrill, VALUE, creation};
use crate::sink_startup;

struct Drill {
    sekoia: FakeSekoia,
    front: FakeVendor,
    switch: Arc<Front>,
}

impl Drill {
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

    fn pushes(&self) -> usize {
        self.front
            .requests()
            .iter()
            .filter(|request| request.path.ends_with("/indicators/text"))
            .count()
    }
}

impl SinkDrill for Drill {
    type Sink = SekoiaSink;
    type StartError = StartupError;
    const TIMEOUT: Duration = Duration::from_secs(5);

    async fn start() -> Self {
        let sekoia = FakeSekoia::start(FakeSettings::default()).await.unwrap();
        let (front, switch) = Front::start(sekoia.url()).await;
        Self {
            sekoia,
            front,
            switch,
        }
    }

    fn hostile(&self) -> &Front {
        &self.switch
    }

    fn unstarted_sink(&self) -> SekoiaSink {
        SekoiaSink::new(self.config())
            .unwrap()
            .with_startup_retry(sink_startup::quick_retry())
    }

    async fn start_sink(sink: &SekoiaSink) -> Result<(), StartupError> {
        sink.start().await
    }

    /// Sekoia says of each event of a batch how it went.
    async fn apply_once(sink: &SekoiaSink) -> Outcome {
        let outcome = sink.apply(&[creation()]).await;
        let BatchOutcome::PerEvent(mut outcomes) = outcome else {
            panic!("expected per-event outcomes, got {outcome:?}");
        };
        assert_eq!(outcomes.len(), 1);
        outcomes.remove(0)
    }

    fn fail_next_write(&self, fault: Fault) {
        self.front.fail_next([fault]);
    }

    fn writes(&self) -> usize {
        self.pushes()
    }

    fn applied(&self) -> bool {
        self.sekoia.active_values(DEFAULT_COLLECTION) == [VALUE]
    }
}

crate::sink_drill_tests!(Drill);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_answered_with_200_is_not_taken_for_an_import() {
    let drill = Drill::start().await;
    let sink = sink_drills::started(&drill).await;
    drill.switch.answer_next([Hostile::LoginPage]);
    let (outcome, took) = sink_drills::apply::<Drill>(&sink).await;
    println!("login page: {took:?}, {outcome:?}");
    sink_drills::assert_retried_then_applied(&drill, &sink, outcome, "Sign in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_at_startup_does_not_pass_for_the_collection() {
    sink_drills::a_login_page_at_startup::<Drill>().await;
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
