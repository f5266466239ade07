//! Each fault as an HTTP client meets it, and the normal answer after it.

use std::time::{Duration, Instant};

use opencti_testkit::axum::{Router, routing::get, routing::post};
use opencti_testkit::vendor::{FakeVendor, Fault, RetryAfter};

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
