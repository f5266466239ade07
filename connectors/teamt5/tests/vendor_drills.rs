//! Vendor drills (issue #13): a hostile ThreatVision (the kit's
//! `FakeVendor` with a few routes of its own) answers oversized bodies,
//! login pages with 200, or a `Retry-After` of a day. Each run stays
//! within a bound, reports what it met, and leaves the cursor
//! (`last_run`) where it was; the next run, the server sane again, imports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opencti_connector::config::Settings;
use opencti_connector::http::DEFAULT_MAX_ANSWER_BYTES;
use opencti_connector::state::State;
use opencti_connector::{Connector, ImportSource, RunContext};
use opencti_teamt5::config::{HttpSettings, Teamt5Config, VARS};
use opencti_teamt5::{RunError, Teamt5};
use opencti_testkit::axum::extract::State as Shared;
use opencti_testkit::axum::http::{HeaderMap, StatusCode, Uri, header};
use opencti_testkit::axum::response::{IntoResponse, Response};
use opencti_testkit::axum::routing::get;
use opencti_testkit::axum::{Json, Router};
use opencti_testkit::drill::stop_during_a_pause;
use opencti_testkit::vendor::{FakeVendor, Fault};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::fast_http;

/// Longest a drill's run may take.
const BOUND: Duration = Duration::from_secs(30);
const REPORTS: &str = "/api/v2/reports";
const IOC_BUNDLES: &str = "/api/v2/ioc_bundles";
const BUNDLE: &str = "/api/v2/ioc_bundles/b0.stix";
const INDICATOR: &str = "indicator--6c1b1a30-8d5e-4b5f-9c1e-3f1d2a4b5c6d";
const EARLIER: &str = "2025-01-01T00:00:00+00:00";
/// A single sign-on proxy's page, answered 200 to any API call.
const LOGIN_PAGE: &str =
    "<!DOCTYPE html><html><body><form action=\"/login\">Sign in</form></body></html>";

/// The hostile server's own switch: the next answers of a route that are
/// the login page.
#[derive(Debug, Default)]
struct Hostile {
    login_pages: Mutex<HashMap<&'static str, usize>>,
}

impl Hostile {
    fn serve_login_pages(&self, route: &'static str, count: usize) {
        *self.lock().entry(route).or_default() += count;
    }

    fn login_page(&self, route: &'static str) -> Option<Response> {
        let mut pages = self.lock();
        let left = pages.get_mut(route).filter(|left| **left > 0)?;
        *left -= 1;
        Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                LOGIN_PAGE,
            )
                .into_response(),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, usize>> {
        self.login_pages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// ThreatVision publishing one IoC bundle of one indicator, no report.
async fn threatvision() -> (FakeVendor, Arc<Hostile>) {
    let hostile = Arc::new(Hostile::default());
    let routes = Router::new()
        .route(
            REPORTS,
            get(|Shared(hostile): Shared<Arc<Hostile>>| async move {
                hostile
                    .login_page(REPORTS)
                    .unwrap_or_else(|| Json(json!({"success": true, "reports": []})).into_response())
            }),
        )
        .route(
            IOC_BUNDLES,
            get(
                |Shared(hostile): Shared<Arc<Hostile>>, uri: Uri, headers: HeaderMap| async move {
                    if let Some(page) = hostile.login_page(IOC_BUNDLES) {
                        return page;
                    }
                    let host = headers
                        .get(header::HOST)
                        .and_then(|host| host.to_str().ok())
                        .unwrap_or_default();
                    let first_page = uri.query().unwrap_or_default().split('&').any(|pair| pair == "offset=0");
                    let items: Vec<Value> = if first_page {
                        vec![json!({
                            "id": "b0",
                            "created_at": 1_763_629_200,
                            "stix_url": format!("http://{host}{BUNDLE}"),
                            "csv_url": null,
                            "txt_url": null,
                        })]
                    } else {
                        Vec::new()
                    };
                    Json(json!({"success": true, "ioc_bundles": items})).into_response()
                },
            ),
        )
        .route(
            BUNDLE,
            get(|Shared(hostile): Shared<Arc<Hostile>>| async move {
                hostile.login_page(BUNDLE).unwrap_or_else(|| {
                    Json(json!({"type": "bundle", "id": "bundle--6c1b1a30-8d5e-4b5f-9c1e-000000000000", "objects": [{
                        "type": "indicator", "spec_version": "2.1", "id": INDICATOR,
                        "created": "2025-11-20T09:00:00.000Z", "modified": "2025-11-20T09:00:00.000Z",
                        "name": "192.0.2.7", "pattern": "[ipv4-addr:value = '192.0.2.7']",
                        "pattern_type": "stix", "valid_from": "2025-11-20T09:00:00Z",
                    }]}))
                    .into_response()
                })
            }),
        )
        .with_state(Arc::clone(&hostile));
    let vendor = FakeVendor::start(routes).await.expect("the vendor starts");
    (vendor, hostile)
}

fn connector(vendor: &FakeVendor, http: HttpSettings) -> Teamt5 {
    let pairs = [
        ("TEAMT5_API_BASE_URL", vendor.url()),
        ("TEAMT5_API_KEY", "static-key".to_owned()),
    ]
    .map(|(name, value)| (name.to_owned(), value));
    let mut config = Teamt5Config::try_from(&Settings::from_env_pairs(&[VARS], pairs)).unwrap();
    config.http = http;
    Teamt5::from_config(config).unwrap()
}

fn earlier_state() -> State {
    let mut state = State::new();
    state.insert("last_run".to_owned(), json!(EARLIER));
    state
}

struct Outcome {
    result: Result<String, RunError>,
    indicators: usize,
    errors: Vec<String>,
    state: Option<State>,
    elapsed: Duration,
}

impl Outcome {
    fn cursor_held(&self) -> bool {
        self.state.as_ref().map(|state| state["last_run"].clone()) == Some(json!(EARLIER))
    }
}

/// One run from [`earlier_state`], within [`BOUND`].
async fn run(vendor: &FakeVendor, http: HttpSettings) -> Outcome {
    let mut connector = connector(vendor, http);
    let (ctx, probe) = RunContext::for_test(Some(earlier_state()));
    let started = Instant::now();
    let result = tokio::time::timeout(BOUND, connector.run(&ctx))
        .await
        .expect("the run ends within the bound");
    let indicators = probe
        .bundles()
        .iter()
        .flat_map(|bundle| bundle["objects"].as_array().cloned().unwrap_or_default())
        .filter(|object| object["id"] == INDICATOR)
        .count();
    Outcome {
        result,
        indicators,
        errors: probe
            .errors()
            .iter()
            .map(|error| format!("{} | {}", error.source, error.error))
            .collect(),
        state: probe.state(),
        elapsed: started.elapsed(),
    }
}

/// The server sane again, the next run imports the indicator and moves
/// the cursor.
async fn assert_next_run_imports(vendor: &FakeVendor) {
    let next = run(vendor, fast_http()).await;
    next.result.as_ref().expect("the next run succeeds");
    assert_eq!(next.indicators, 1, "the indicator is sent");
    assert!(!next.cursor_held(), "the cursor moves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_bundle_is_refused_at_the_answer_limit_and_the_cursor_held() {
    let (vendor, _) = threatvision().await;
    vendor.fail_next_on(
        BUNDLE,
        [Fault::Oversized(DEFAULT_MAX_ANSWER_BYTES + (1 << 20))],
    );
    let outcome = run(&vendor, fast_http()).await;
    println!(
        "oversized bundle: {:?}, {:?}",
        outcome.elapsed, outcome.errors
    );
    outcome
        .result
        .as_ref()
        .expect("the run goes on past a bad bundle");
    assert_eq!(outcome.indicators, 0);
    assert!(
        outcome.errors.len() == 1
            && outcome.errors[0].contains("b0.stix")
            && outcome.errors[0].contains("larger than"),
        "reported, naming the bundle and the limit: {:?}",
        outcome.errors
    );
    assert_eq!(vendor.requests_to(BUNDLE).len(), 1, "not fetched again");
    assert!(outcome.cursor_held(), "{:?}", outcome.state);
    assert_next_run_imports(&vendor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_listing_pages_abort_the_listing_and_hold_the_cursor() {
    let (vendor, _) = threatvision().await;
    vendor.fail_next_on(
        IOC_BUNDLES,
        [Fault::Oversized(DEFAULT_MAX_ANSWER_BYTES + (1 << 20)); 5],
    );
    let outcome = run(&vendor, fast_http()).await;
    println!(
        "oversized pages: {:?}, {:?}",
        outcome.elapsed, outcome.result
    );
    let summary = outcome.result.as_ref().expect("the run ends");
    assert!(summary.contains("aborted"), "reported: {summary}");
    assert_eq!(vendor.requests_to(IOC_BUNDLES).len(), 5, "five pages tried");
    assert_eq!(outcome.indicators, 0);
    assert!(outcome.cursor_held(), "{:?}", outcome.state);
    assert_next_run_imports(&vendor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_instead_of_a_bundle_is_refused_and_the_cursor_held() {
    let (vendor, hostile) = threatvision().await;
    hostile.serve_login_pages(BUNDLE, 1);
    let outcome = run(&vendor, fast_http()).await;
    println!("login page for the bundle: {:?}", outcome.errors);
    outcome
        .result
        .as_ref()
        .expect("the run goes on past a bad bundle");
    assert_eq!(outcome.indicators, 0);
    assert!(
        outcome.errors.len() == 1
            && outcome.errors[0].contains("b0.stix")
            && outcome.errors[0].contains("malformed"),
        "reported, naming the bundle: {:?}",
        outcome.errors
    );
    assert!(outcome.cursor_held(), "{:?}", outcome.state);
    assert_next_run_imports(&vendor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_pages_instead_of_a_listing_abort_it_and_hold_the_cursor() {
    let (vendor, hostile) = threatvision().await;
    hostile.serve_login_pages(IOC_BUNDLES, 5);
    let outcome = run(&vendor, fast_http()).await;
    println!("login pages for the listing: {:?}", outcome.result);
    let summary = outcome.result.as_ref().expect("the run ends");
    assert!(summary.contains("aborted"), "reported: {summary}");
    assert_eq!(vendor.requests_to(IOC_BUNDLES).len(), 5);
    assert!(outcome.cursor_held(), "{:?}", outcome.state);
    assert_next_run_imports(&vendor).await;
}

/// Every listing request of the run answered 429 with a day's `Retry-After`.
fn throttle_for_a_day(vendor: &FakeVendor) {
    for route in [REPORTS, IOC_BUNDLES] {
        vendor.fail_next_on(route, [Fault::too_many_requests(86_400); 20]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_a_day_waits_no_longer_than_the_longest_backoff() {
    let (vendor, _) = threatvision().await;
    throttle_for_a_day(&vendor);
    let http = HttpSettings {
        attempts: 2,
        max_backoff: Duration::from_millis(200),
        ..fast_http()
    };
    let outcome = run(&vendor, http).await;
    println!(
        "a day's Retry-After: {:?}, {:?}",
        outcome.elapsed, outcome.result
    );
    let summary = outcome.result.as_ref().expect("the run ends");
    assert!(summary.contains("aborted"), "reported: {summary}");
    // Five pages of two attempts per listing, each pause capped at 200 ms.
    assert!(
        outcome.elapsed < Duration::from_secs(10),
        "{:?}",
        outcome.elapsed
    );
    assert_eq!(vendor.requests_to(REPORTS).len(), 10);
    assert!(outcome.cursor_held(), "{:?}", outcome.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_a_retry_after_wait_at_once() {
    let (vendor, _) = threatvision().await;
    throttle_for_a_day(&vendor);
    // The default longest backoff: a minute per pause.
    let mut connector = connector(&vendor, HttpSettings::default());
    let (ctx, probe) = RunContext::for_test(Some(earlier_state()));
    let (result, stop_took) = stop_during_a_pause(
        Box::pin(connector.run(&ctx)),
        || !vendor.requests_to(REPORTS).is_empty(),
        Duration::from_millis(300),
        || probe.shut_down(),
        BOUND,
    )
    .await;
    println!("stopped in {stop_took:?}: {result:?}");
    assert!(
        result.is_err(),
        "a stopped run is not a success: {result:?}"
    );
    assert!(stop_took < Duration::from_secs(1), "{stop_took:?}");
    assert_eq!(vendor.requests_to(REPORTS).len(), 1, "no other attempt");
    assert_eq!(
        probe.state().map(|state| state["last_run"].clone()),
        Some(json!(EARLIER))
    );
}
