//! Vendor drills (issue #13) for URL mode over HTTP: a hostile feed server
//! (the kit's `FakeVendor`, with a few answers of its own) answers
//! oversized files (their length announced or not), bodies that drip
//! for ever, a `Retry-After` of a day, login pages with 200 and cut
//! files. Each run stays within a bound, says what failed (the run's
//! error or an error on the work, naming the file and the limit), and
//! leaves the cursor where it was; the next run, the server sane again,
//! imports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use opencti_connector::config::Settings;
use opencti_connector::context::TestProbe;
use opencti_connector::state::State;
use opencti_connector::{Connector, ImportSource, RunContext};
use opencti_misp_feed::source::{FetchError, ManifestFetchError};
use opencti_misp_feed::{MispFeed, MispFeedConfig, RunError, VARS};
use opencti_testkit::axum::Router;
use opencti_testkit::axum::extract::{Path, State as Shared};
use opencti_testkit::axum::http::StatusCode;
use opencti_testkit::axum::response::{IntoResponse, Response};
use opencti_testkit::axum::routing::get;
use opencti_testkit::drill::stop_during_a_pause;
use opencti_testkit::vendor::{Answer, FakeVendor, Fault, RetryAfter};
use serde_json::json;
use tokio::time::Instant;

use crate::hostile_answers::Hostile;
use crate::support::generator;

/// Longest a drill's run may take.
const BOUND: Duration = Duration::from_secs(30);
/// `MISP_FEED_MAX_FILE_SIZE_MB` of the drills.
const LIMIT: u64 = 1 << 20;
/// The cursor of the earlier run: before both events of the feed.
const EARLIER: i64 = 100;
const MANIFEST: &str = "manifest.json";

type Files = Arc<Mutex<HashMap<String, Bytes>>>;
type Pending = Arc<Mutex<HashMap<String, Vec<Hostile>>>>;

/// A MISP feed of two events (timestamps 200 and 300) under `/feed`.
struct Feed {
    vendor: FakeVendor,
    files: Files,
    hostile: Pending,
}

impl Feed {
    async fn start() -> Self {
        let files = Files::default();
        let hostile = Pending::default();
        let routes = Router::new()
            .route("/feed/{name}", get(serve))
            .with_state((Arc::clone(&files), Arc::clone(&hostile)));
        let feed = Self {
            vendor: FakeVendor::start(routes).await.unwrap(),
            files,
            hostile,
        };
        let mut manifest = serde_json::Map::new();
        for (index, timestamp) in [(0, 200), (1, 300)] {
            let (key, entry) = generator::manifest_entry(index, timestamp);
            let event = generator::event(index, 4, timestamp);
            feed.put(&format!("{key}.json"), serde_json::to_vec(&event).unwrap());
            manifest.insert(key, entry);
        }
        feed.put(MANIFEST, serde_json::to_vec(&manifest).unwrap());
        feed
    }

    fn put(&self, name: &str, content: Vec<u8>) {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        files.insert(name.to_owned(), content.into());
    }

    /// The next requests for `name` get these answers.
    fn answer_next(&self, name: &str, answers: impl IntoIterator<Item = Hostile>) {
        let mut hostile = self.hostile.lock().unwrap_or_else(PoisonError::into_inner);
        hostile.entry(name.to_owned()).or_default().extend(answers);
    }

    /// The next requests for `name` get these kit faults.
    fn fail_next(&self, name: &str, faults: impl IntoIterator<Item = Fault>) {
        self.vendor.fail_next_on(&format!("/feed/{name}"), faults);
    }

    fn hits(&self, name: &str) -> usize {
        self.vendor.requests_to(&format!("/feed/{name}")).len()
    }

    /// The connector on this feed, with `extra` variables.
    fn connector(&self, extra: &[(&str, &str)]) -> MispFeed {
        let url = self.vendor.url_for("/feed");
        let mut pairs = vec![
            ("MISP_FEED_URL", url.as_str()),
            ("MISP_FEED_MAX_FILE_SIZE_MB", "1"),
            ("MISP_FEED_HTTP_RETRIES", "1"),
        ];
        pairs.extend_from_slice(extra);
        let settings = Settings::from_env_pairs(&[VARS], pairs);
        let mut config = MispFeedConfig::from_settings(&settings, Utc::now()).unwrap();
        config.http.retry.initial_backoff = Duration::from_millis(5);
        MispFeed::from_config(config).unwrap()
    }
}

async fn serve(
    Shared((files, hostile)): Shared<(Files, Pending)>,
    Path(name): Path<String>,
) -> Response {
    let next = {
        let mut hostile = hostile.lock().unwrap_or_else(PoisonError::into_inner);
        hostile
            .get_mut(&name)
            .filter(|answers| !answers.is_empty())
            .map(|answers| answers.remove(0))
    };
    match next {
        Some(hostile) => hostile.answer(),
        None => {
            let files = files.lock().unwrap_or_else(PoisonError::into_inner);
            match files.get(&name) {
                Some(content) => content.clone().into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    }
}

fn event_file(index: usize) -> String {
    format!("{}.json", generator::event_uuid(index))
}

fn earlier_state() -> State {
    json!({
        "last_run": "2024-01-01T00:00:00+00:00",
        "last_event": "1970-01-01T00:01:40+00:00",
        "last_event_timestamp": EARLIER,
    })
    .as_object()
    .cloned()
    .unwrap()
}

struct Outcome {
    result: Result<String, RunError>,
    probe: TestProbe,
    elapsed: Duration,
}

impl Outcome {
    fn cursor(&self) -> Option<i64> {
        self.probe.state()?["last_event_timestamp"].as_i64()
    }

    /// Nothing sent, the state as the earlier run left it.
    fn assert_untouched(&self) {
        assert!(self.probe.bundles().is_empty(), "nothing sent");
        assert_eq!(self.probe.state(), Some(earlier_state()), "state untouched");
    }

    fn errors(&self) -> Vec<String> {
        let errors = self.probe.errors();
        errors
            .iter()
            .map(|error| format!("{} | {}", error.source, error.error))
            .collect()
    }
}

/// One run from [`earlier_state`], within [`BOUND`].
async fn run(connector: &mut MispFeed) -> Outcome {
    let (ctx, probe) = RunContext::for_test(Some(earlier_state()));
    let started = Instant::now();
    let result = tokio::time::timeout(BOUND, connector.run(&ctx))
        .await
        .expect("the run ends within the bound");
    Outcome {
        result,
        probe,
        elapsed: started.elapsed(),
    }
}

/// The server sane again, the next run sends both events and moves the
/// cursor past them.
async fn assert_next_run_imports(connector: &mut MispFeed) {
    let next = run(connector).await;
    next.result.as_ref().expect("the next run succeeds");
    assert_eq!(next.probe.bundles().len(), 2, "both events are sent");
    assert_eq!(next.cursor(), Some(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_manifest_is_refused_at_the_limit_announced_or_not() {
    let feed = Feed::start().await;
    let mut connector = feed.connector(&[("MISP_FEED_HTTP_TIMEOUT", "PT60S")]);
    feed.answer_next(MANIFEST, [Hostile::Announced]);
    feed.fail_next(MANIFEST, [Fault::Oversized(u64::MAX)]);
    for (answer, hits) in [("announced", 1), ("endless, unannounced", 2)] {
        let outcome = run(&mut connector).await;
        println!(
            "{answer} manifest: {:?}, {:?}",
            outcome.elapsed, outcome.result
        );
        // A client that read the announced body would wait for the 60 s
        // read timeout, and then say it timed out.
        let Err(RunError::Manifest(ManifestFetchError::Fetch(error @ FetchError::TooLarge { .. }))) =
            &outcome.result
        else {
            panic!("{answer}: refused as too large: {:?}", outcome.result);
        };
        assert!(
            error.to_string().contains("MISP_FEED_MAX_FILE_SIZE_MB"),
            "{error}"
        );
        assert_eq!(feed.hits(MANIFEST), hits, "{answer}: not tried again");
        outcome.assert_untouched();
    }
    assert_next_run_imports(&mut connector).await;
}

/// `MISP_FEED_MAX_FILE_SIZE_MB` says it: a larger event is reported and
/// skipped, so that one huge event cannot block the feed; the events
/// after it are imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_event_is_reported_on_the_work_and_skipped() {
    let feed = Feed::start().await;
    let mut connector = feed.connector(&[]);
    feed.fail_next(&event_file(0), [Fault::Oversized(LIMIT + (1 << 20))]);
    let outcome = run(&mut connector).await;
    println!("oversized event: {:?}", outcome.errors());
    outcome.result.as_ref().expect("the run goes on");
    let errors = outcome.errors();
    assert!(
        errors.len() == 1
            && errors[0].starts_with(&generator::event_uuid(0))
            && errors[0].contains("MISP_FEED_MAX_FILE_SIZE_MB"),
        "reported, naming the event and the limit: {errors:?}"
    );
    assert_eq!(feed.hits(&event_file(0)), 1, "not tried again");
    assert_eq!(outcome.probe.bundles().len(), 1, "the next event is sent");
    assert_eq!(outcome.cursor(), Some(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_that_drips_for_ever_ends_at_the_download_deadline() {
    let feed = Feed::start().await;
    // Reads never time out (a byte every 100 ms); the deadline ends each
    // attempt.
    let mut connector = feed.connector(&[
        ("MISP_FEED_HTTP_TIMEOUT", "PT2S"),
        ("MISP_FEED_HTTP_DEADLINE", "PT3S"),
    ]);
    feed.answer_next(MANIFEST, [Hostile::Drip, Hostile::Drip]);
    let outcome = run(&mut connector).await;
    println!(
        "dripping manifest: {:?}, {:?}",
        outcome.elapsed, outcome.result
    );
    let Err(RunError::Manifest(ManifestFetchError::Fetch(FetchError::Transport {
        message, ..
    }))) = &outcome.result
    else {
        panic!("the download fails: {:?}", outcome.result);
    };
    assert!(message.contains("timed out"), "{message}");
    assert_eq!(feed.hits(MANIFEST), 2, "the first attempt and one retry");
    assert!(
        outcome.elapsed >= Duration::from_secs(6),
        "two whole deadlines: {:?}",
        outcome.elapsed
    );
    outcome.assert_untouched();
    assert_next_run_imports(&mut connector).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_drips_for_ever_fails_the_run_before_the_cursor_passes_it() {
    let feed = Feed::start().await;
    let mut connector = feed.connector(&[
        ("MISP_FEED_HTTP_TIMEOUT", "PT2S"),
        ("MISP_FEED_HTTP_DEADLINE", "PT2S"),
    ]);
    feed.answer_next(&event_file(1), [Hostile::Drip, Hostile::Drip]);
    let outcome = run(&mut connector).await;
    println!(
        "dripping event: {:?}, {:?}",
        outcome.elapsed, outcome.result
    );
    let Err(RunError::Download { key, error }) = &outcome.result else {
        panic!("the run fails on the event: {:?}", outcome.result);
    };
    assert_eq!(*key, generator::event_uuid(1));
    assert!(error.to_string().contains("timed out"), "{error}");
    assert_eq!(outcome.probe.bundles().len(), 1, "the event before it");
    assert_eq!(outcome.cursor(), Some(200), "the cursor stops before it");
    let next = run(&mut connector).await;
    next.result.expect("the next run succeeds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_a_day_gives_up_until_the_next_run() {
    let feed = Feed::start().await;
    let mut connector = feed.connector(&[("MISP_FEED_HTTP_RETRIES", "3")]);
    let day = Answer::json(429, r#"{"message":"slow down"}"#)
        .with_retry_after(RetryAfter::Seconds(86_400));
    feed.fail_next(MANIFEST, [Fault::Answer(day)]);
    let outcome = run(&mut connector).await;
    println!(
        "a day's Retry-After: {:?}, {:?}",
        outcome.elapsed, outcome.result
    );
    let Err(RunError::Manifest(ManifestFetchError::Fetch(FetchError::Status {
        status: 429, ..
    }))) = &outcome.result
    else {
        panic!("the run gives up: {:?}", outcome.result);
    };
    assert_eq!(feed.hits(MANIFEST), 1, "no wait for another attempt");
    assert!(
        outcome.elapsed < Duration::from_secs(10),
        "{:?}",
        outcome.elapsed
    );
    outcome.assert_untouched();
    assert_next_run_imports(&mut connector).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_a_retry_after_wait_at_once() {
    let feed = Feed::start().await;
    let mut connector = feed.connector(&[]);
    // Within the connector's one-minute cap: waited out, unless stopped.
    let busy =
        Answer::json(503, r#"{"message":"maintenance"}"#).with_retry_after(RetryAfter::Seconds(50));
    feed.fail_next(MANIFEST, [Fault::Answer(busy)]);
    let (ctx, probe) = RunContext::for_test(Some(earlier_state()));
    let (result, took) = stop_during_a_pause(
        Box::pin(connector.run(&ctx)),
        || feed.hits(MANIFEST) > 0,
        Duration::from_millis(300),
        || probe.shut_down(),
        BOUND,
    )
    .await;
    println!("stopped in {took:?}: {result:?}");
    assert!(
        matches!(result, Err(RunError::Manifest(_))),
        "a stopped run is not a success: {result:?}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(feed.hits(MANIFEST), 1, "no other attempt");
    assert!(probe.bundles().is_empty());
    assert_eq!(probe.state(), Some(earlier_state()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_for_the_manifest_fails_the_run() {
    let feed = Feed::start().await;
    let mut connector = feed.connector(&[]);
    feed.answer_next(MANIFEST, [Hostile::LoginPage]);
    let outcome = run(&mut connector).await;
    println!("login page for the manifest: {:?}", outcome.result);
    let Err(error @ RunError::Manifest(_)) = &outcome.result else {
        panic!("the run fails: {:?}", outcome.result);
    };
    assert!(error.to_string().contains("manifest.json"), "{error}");
    assert_eq!(feed.hits(MANIFEST), 1, "a page is not tried again");
    outcome.assert_untouched();
    assert_next_run_imports(&mut connector).await;
}

/// A proxy's login page is not a malformed event of the feed (which would
/// be reported and skipped): the run stops before it, and the next run
/// fetches it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_for_an_event_fails_the_run_and_holds_the_cursor() {
    let feed = Feed::start().await;
    let mut connector = feed.connector(&[]);
    feed.answer_next(&event_file(0), [Hostile::LoginPage]);
    let outcome = run(&mut connector).await;
    println!(
        "login page for an event: {:?}, {:?}",
        outcome.result,
        outcome.errors()
    );
    let Err(error @ RunError::Download { key, .. }) = &outcome.result else {
        panic!("the run fails on the event: {:?}", outcome.result);
    };
    assert_eq!(*key, generator::event_uuid(0));
    assert!(error.to_string().contains("Sign in"), "{error}");
    outcome.assert_untouched();
    assert_next_run_imports(&mut connector).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_manifest_fails_the_run() {
    let feed = Feed::start().await;
    let mut connector = feed.connector(&[]);
    // Half the manifest, its length declared to match: a complete answer
    // that is not JSON.
    feed.fail_next(MANIFEST, [Fault::Truncated]);
    let outcome = run(&mut connector).await;
    println!("cut manifest: {:?}", outcome.result);
    let Err(error @ RunError::Manifest(ManifestFetchError::Parse(_))) = &outcome.result else {
        panic!("the run fails: {:?}", outcome.result);
    };
    assert!(
        error.to_string().contains("not a MISP feed manifest"),
        "{error}"
    );
    outcome.assert_untouched();
    assert_next_run_imports(&mut connector).await;
}
