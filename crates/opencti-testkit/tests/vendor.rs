//! Each fault as an HTTP client meets it, and the normal answer after it.

use std::time::{Duration, Instant};

use std::sync::Arc;

use opencti_testkit::axum::extract::State;
use opencti_testkit::axum::http::{HeaderMap, Method, StatusCode};
use opencti_testkit::axum::{Json, Router, routing::get, routing::post};
use opencti_testkit::vendor::{Answer, FakeVendor, Fault, RetryAfter, StatefulVendor, VendorState};
use serde_json::{Value, json};

async fn vendor() -> FakeVendor {
    let routes = Router::new()
        .route("/feed", get(|| async { "198.51.100.1\n198.51.100.2\n" }))
        .route("/echo", post(|body: String| async move { body }));
    FakeVendor::start(routes).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn statuses_carry_their_retry_after_and_then_the_routes_answer() {
    let vendor = vendor().await;
    let date = chrono::DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
        .unwrap()
        .to_utc();
    vendor.fail_next_on(
        "/feed",
        [
            Fault::too_many_requests(7),
            Fault::unavailable_until(date),
            Fault::status(502),
        ],
    );
    let client = client();
    let url = vendor.url_for("/feed");
    let throttled = client.get(&url).send().await.unwrap();
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "7");
    let unavailable = client.get(&url).send().await.unwrap();
    assert_eq!(unavailable.status(), 503);
    assert_eq!(
        unavailable.headers()["retry-after"],
        "Wed, 02 Jan 2030 03:04:05 GMT"
    );
    let failing = client.get(&url).send().await.unwrap();
    assert_eq!(failing.status(), 502);
    assert!(failing.headers().get("retry-after").is_none());
    let normal = client.get(&url).send().await.unwrap();
    assert_eq!(normal.text().await.unwrap(), "198.51.100.1\n198.51.100.2\n");

    let statuses: Vec<u16> = vendor
        .requests_to("/feed")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 503, 502, 200]);
    assert_eq!(
        vendor.requests()[0].fault,
        Some(Fault::Status {
            status: 429,
            retry_after: Some(RetryAfter::Seconds(7))
        })
    );
    assert_eq!(vendor.pending_faults(), 0);
}

#[tokio::test]
async fn a_dropped_answer_fails_the_body_read_and_a_path_fault_comes_first() {
    let vendor = vendor().await;
    vendor.fail_next([Fault::status(500)]);
    vendor.fail_next_on("/feed", [Fault::Drop]);
    let client = client();
    // The head may or may not reach the client before the connection is
    // cut; either way the answer never arrives whole.
    match client.get(vendor.url_for("/feed")).send().await {
        Ok(answer) => assert!(answer.text().await.is_err(), "the body is cut off"),
        Err(error) => assert!(!error.is_status(), "{error}"),
    }
    // The fault for any path is still there, for the next request.
    let echo = client
        .post(vendor.url_for("/echo"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status(), 500);
    let echo = client
        .post(vendor.url_for("/echo"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(echo.text().await.unwrap(), "hello");
    let recorded = vendor.requests_to("/echo");
    assert_eq!(recorded.len(), 2);
    assert_eq!(&recorded[1].body[..], b"hello");
}

#[tokio::test]
async fn slow_and_oversized_answers() {
    let vendor = vendor().await;
    vendor.fail_next([
        Fault::Slow(Duration::from_millis(300)),
        Fault::Oversized(200_000),
    ]);
    let client = client();
    let started = Instant::now();
    let slow = client.get(vendor.url_for("/feed")).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(slow.text().await.unwrap(), "198.51.100.1\n198.51.100.2\n");
    let oversized = client.get(vendor.url_for("/feed")).send().await.unwrap();
    assert!(oversized.content_length().is_none(), "no length announced");
    assert_eq!(oversized.bytes().await.unwrap().len(), 200_000);
}

#[tokio::test]
async fn a_vendor_answer_replaces_the_normal_one_with_its_own_head() {
    let vendor = vendor().await;
    vendor.fail_next([
        Fault::Answer(
            Answer::json(429, r#"{"message":"Over limit"}"#)
                .with_retry_after(RetryAfter::Seconds(30)),
        ),
        Answer::html(200, "<html>Sign in</html>").into(),
        Fault::Answer(Answer::new(503)),
    ]);
    let client = client();
    let url = vendor.url_for("/feed");
    let throttled = client.get(&url).send().await.unwrap();
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "30");
    assert_eq!(throttled.headers()["content-type"], "application/json");
    assert_eq!(
        throttled.text().await.unwrap(),
        r#"{"message":"Over limit"}"#
    );
    let portal = client.get(&url).send().await.unwrap();
    assert_eq!(portal.status(), 200);
    assert_eq!(portal.headers()["content-type"], "text/html");
    assert_eq!(portal.text().await.unwrap(), "<html>Sign in</html>");
    let bare = client.get(&url).send().await.unwrap();
    assert_eq!(bare.status(), 503);
    assert!(bare.headers().get("retry-after").is_none());
    assert_eq!(bare.text().await.unwrap(), "");
}

#[tokio::test]
async fn a_truncated_answer_is_whole_but_short_and_a_hangup_never_answers() {
    let vendor = vendor().await;
    vendor.fail_next([Fault::Truncated, Fault::Hangup]);
    let client = client();
    let url = vendor.url_for("/feed");
    let truncated = client.get(&url).send().await.unwrap();
    assert_eq!(
        truncated.content_length(),
        Some(13),
        "the cut length is declared"
    );
    assert_eq!(truncated.text().await.unwrap(), "198.51.100.1\n");
    let error = client.get(&url).send().await.unwrap_err();
    assert!(!error.is_status(), "{error}");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let statuses: Vec<u16> = vendor.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 0, 200]);
}

#[tokio::test]
async fn a_gated_vendor_keeps_its_faults_for_the_requests_it_lets_through() {
    let routes = Router::new().route(
        "/iocs",
        get(|headers: HeaderMap| async move {
            if headers
                .get("authorization")
                .is_some_and(|v| v == "Bearer k")
            {
                (StatusCode::OK, "[]")
            } else {
                (StatusCode::UNAUTHORIZED, "no")
            }
        }),
    );
    let vendor = FakeVendor::start_gated(routes, |request| {
        request
            .headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer k")
    })
    .await
    .unwrap();
    vendor.fail_next([Fault::status(502)]);
    let client = client();
    let url = vendor.url_for("/iocs");
    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401, "credentials are checked first");
    assert_eq!(vendor.pending_faults(), 1);
    let failed = client.get(&url).bearer_auth("k").send().await.unwrap();
    assert_eq!(failed.status(), 502);
    let served = client.get(&url).bearer_auth("k").send().await.unwrap();
    assert_eq!(served.text().await.unwrap(), "[]");
}

#[tokio::test]
async fn a_delay_slows_every_answer_until_removed_and_requests_read_decoded() {
    let vendor = vendor().await;
    vendor.set_delay(Some(Duration::from_millis(300)));
    let client = client();
    let started = Instant::now();
    let url = vendor.url_for("/feed/a%2Fb?term=1.2.3.4&name=two+words%21");
    client.get(&url).send().await.unwrap();
    client.get(&url).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600));
    vendor.set_delay(None);
    let started = Instant::now();
    let form = client
        .post(vendor.url_for("/echo"))
        .form(&[("grant_type", "client_credentials"), ("id", "a b")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(300));

    let recorded = vendor.requests();
    assert_eq!(recorded[0].path, "/feed/a%2Fb");
    assert_eq!(recorded[0].decoded_path(), "/feed/a/b");
    assert_eq!(
        recorded[0].query_pairs(),
        [
            ("term".to_owned(), "1.2.3.4".to_owned()),
            ("name".to_owned(), "two words!".to_owned())
        ]
    );
    assert_eq!(
        recorded[2].form_pairs(),
        [
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("id".to_owned(), "a b".to_owned())
        ]
    );
    assert_eq!(
        recorded[2].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    vendor.clear_requests();
    assert!(vendor.requests().is_empty());
}

/// A vendor that issues tokens: its secret as settings, the tokens it
/// issued as data.
type Issuer = VendorState<&'static str, Vec<String>>;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    value.strip_prefix("Bearer ")
}

fn holds_token(shared: &Issuer, headers: &HeaderMap) -> bool {
    bearer(headers).is_some_and(|token| shared.data().iter().any(|held| held == token))
}

async fn issue(State(shared): State<Arc<Issuer>>, Json(body): Json<Value>) -> (StatusCode, String) {
    if body["secret"] != *shared.settings() {
        return (StatusCode::UNAUTHORIZED, "bad secret".to_owned());
    }
    let mut tokens = shared.data();
    let token = format!("t{}", tokens.len());
    tokens.push(token.clone());
    (StatusCode::OK, token)
}

async fn items(
    State(shared): State<Arc<Issuer>>,
    headers: HeaderMap,
) -> (StatusCode, &'static str) {
    if holds_token(&shared, &headers) {
        (StatusCode::OK, "[]")
    } else {
        (StatusCode::UNAUTHORIZED, "no token")
    }
}

#[tokio::test]
async fn a_stateful_vendor_shares_its_state_with_its_gate_and_the_test() {
    let routes = Router::new()
        .route("/login", post(issue))
        .route("/items", get(items));
    let fake = StatefulVendor::start_gated("s3cr3t", Vec::new(), routes, |shared, request| {
        holds_token(shared, &request.headers)
    })
    .await
    .unwrap();
    let vendor = fake.vendor();
    vendor.fail_next([Fault::status(503)]);
    let client = client();
    let items_url = vendor.url_for("/items?page=2&tag=a%20b");
    let login = |secret: &'static str| {
        client
            .post(vendor.url_for("/login"))
            .json(&json!({ "secret": secret }))
            .send()
    };

    let refused = client.get(&items_url).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the gate let no token through");
    let token = login("s3cr3t").await.unwrap().text().await.unwrap();
    assert_eq!(
        vendor.pending_faults(),
        1,
        "the login passed no token either"
    );
    let faulted = client.get(&items_url).bearer_auth(&token).send().await;
    assert_eq!(faulted.unwrap().status(), 503, "a token the routes issued");
    // The test changes what the routes and the gate read.
    fake.data().clear();
    vendor.fail_next([Fault::Hangup]);
    let revoked = client.get(&items_url).bearer_auth(&token).send().await;
    assert_eq!(revoked.unwrap().status(), 401);
    assert_eq!(vendor.pending_faults(), 1, "a revoked token passes no gate");
    let token = login("s3cr3t").await.unwrap().text().await.unwrap();
    let hung_up = client.get(&items_url).bearer_auth(&token).send().await;
    assert!(hung_up.is_err(), "{hung_up:?}");
    assert_eq!(login("wrong").await.unwrap().status(), 401);

    assert_eq!(vendor.requests().len(), 7);
    let answered = vendor.answered_requests();
    let seen: Vec<(Method, &str, u16)> = answered
        .iter()
        .map(|r| (r.method.clone(), r.path.as_str(), r.status.as_u16()))
        .collect();
    assert_eq!(
        seen,
        [
            (Method::GET, "/items", 401),
            (Method::POST, "/login", 200),
            (Method::GET, "/items", 503),
            (Method::GET, "/items", 401),
            (Method::POST, "/login", 200),
            (Method::POST, "/login", 401),
        ],
        "decoded, the hung-up request left out"
    );
    assert_eq!(
        answered[0].query,
        [
            ("page".to_owned(), "2".to_owned()),
            ("tag".to_owned(), "a b".to_owned())
        ]
    );
    assert_eq!(answered[0].body, None);
    assert_eq!(answered[5].body, Some(json!({"secret": "wrong"})));
    assert_eq!(*fake.data(), ["t0"], "the second login issued t0 again");
    assert_eq!(*fake.settings(), "s3cr3t");
}
