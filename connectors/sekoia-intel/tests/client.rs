//! The Sekoia client against the fake server: requests as the Python
//! connector sends them, and every failure classified.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use opencti_connector::config::Secret;
use opencti_connector::http::{DEFAULT_MAX_SERVER_DELAY, Network};
use opencti_sekoia_intel::client::{ClientError, ClientSettings, SekoiaClient};
use opencti_sekoia_intel::config::collections_base;
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
use reqwest::Url;
use serde_json::json;

fn client(fake: &FakeSekoia, key: &str, collection: &str) -> SekoiaClient {
    SekoiaClient::new(ClientSettings {
        collections_base: collections_base(&Url::parse(&fake.url()).unwrap()),
        api_key: Secret::new(key),
        collection: collection.to_owned(),
        timeout: Duration::from_secs(1),
        max_server_delay: DEFAULT_MAX_SERVER_DELAY,
        network: Network::default(),
    })
    .unwrap()
}

async fn fake() -> FakeSekoia {
    FakeSekoia::start(FakeSettings::default()).await.unwrap()
}

#[tokio::test]
async fn a_push_posts_the_body_to_the_collection() {
    let fake = fake().await;
    let client = client(&fake, "sk_test", DEFAULT_COLLECTION);
    client.check_collection().await.unwrap();
    let body = json!({"format": "ipv4-addr.value", "indicators": "198.51.100.7\n198.51.100.8"});
    let task = client.push(&body).await.unwrap();
    assert!(task.is_some_and(|task| !task.is_empty()));
    let requests = fake.requests();
    let push = &requests[1];
    assert_eq!(push.method, Method::POST);
    assert_eq!(
        push.path,
        format!("/v2/inthreat/ioc-collections/{DEFAULT_COLLECTION}/indicators/text")
    );
    assert_eq!(push.body.as_ref(), Some(&body));
    assert_eq!(
        fake.active_values(DEFAULT_COLLECTION),
        ["198.51.100.7", "198.51.100.8"]
    );
}

#[tokio::test]
async fn search_terms_are_url_encoded() {
    let fake = fake().await;
    let client = client(&fake, "sk_test", DEFAULT_COLLECTION);
    let value = "http://evil.example/a?b=c&d=e+f#g h";
    fake.insert_ioc(DEFAULT_COLLECTION, value, "url.value", false);
    let found = client.search(value).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].value.as_deref(), Some(value));
    let request = fake.requests().pop().unwrap();
    assert_eq!(request.query, [("term".to_owned(), value.to_owned())]);
}

#[tokio::test]
async fn revoking_an_unknown_ioc_is_not_an_error() {
    let fake = fake().await;
    let client = client(&fake, "sk_test", DEFAULT_COLLECTION);
    let id = fake.insert_ioc(DEFAULT_COLLECTION, "1.2.3.4", "ipv4-addr.value", false);
    assert!(client.revoke(&id).await.unwrap());
    assert!(fake.active_values(DEFAULT_COLLECTION).is_empty());
    assert!(!client.revoke("ioc--unknown").await.unwrap());
}

#[tokio::test]
async fn a_wrong_key_and_a_missing_collection_are_told_apart() {
    let fake = fake().await;
    let error = client(&fake, "wrong", DEFAULT_COLLECTION)
        .check_collection()
        .await
        .unwrap_err();
    assert!(error.is_bad_key(), "{error}");
    assert!(!error.to_string().contains("wrong"), "{error}");
    let error = client(&fake, "sk_test", "ioc-collection--missing")
        .check_collection()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::CollectionNotFound { collection, .. } if collection == "ioc-collection--missing"),
        "{error}"
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retryable() {
    let fake = fake().await;
    let client = client(&fake, "sk_test", DEFAULT_COLLECTION);
    fake.inject_failures(StatusCode::TOO_MANY_REQUESTS, 1, Some(7));
    let error = client.search("x").await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    fake.inject_failures(StatusCode::BAD_GATEWAY, 1, None);
    let error = client.push(&json!({})).await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Unavailable {
                status: 502,
                retry_after: None,
                ..
            }
        ),
        "{error}"
    );
    // A refused body is not worth retrying.
    let error = client
        .push(&json!({"format": "ipv4-addr.value", "indicators": "not-an-ip"}))
        .await
        .unwrap_err();
    assert_eq!(error.rejected_status(), Some(400), "{error}");
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("not-an-ip"), "{error}");
}

#[tokio::test]
async fn a_malformed_search_answer_is_an_error_an_empty_one_is_not() {
    let fake = fake().await;
    let client = client(&fake, "sk_test", DEFAULT_COLLECTION);
    fake.inject_malformed(1);
    let error = client.search("1.2.3.4").await.unwrap_err();
    assert!(
        matches!(error, ClientError::InvalidResponse { .. }),
        "{error}"
    );
    assert!(error.is_retryable());
    assert!(error.to_string().contains("gateway hiccup"), "{error}");
    assert!(client.search("1.2.3.4").await.unwrap().is_empty());
    // Whether a garbled import was taken is unknown: it is an error to retry.
    fake.inject_malformed(1);
    let error = client
        .push(&json!({"format": "ipv4-addr.value", "indicators": "1.2.3.4"}))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::InvalidResponse { .. }),
        "{error}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let fake = fake().await;
    let client = client(&fake, "sk_test", DEFAULT_COLLECTION);
    fake.set_delay(Some(Duration::from_secs(3)));
    let error = client.check_collection().await.unwrap_err();
    assert!(matches!(error, ClientError::Timeout { .. }), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let fake = fake().await;
    let client = client(&fake, "sk_test", DEFAULT_COLLECTION);
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let error = client.check_collection().await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Unreachable { .. } | ClientError::Timeout { .. }
        ),
        "{error}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_connection_dropped_mid_answer_is_retryable() {
    let fake = fake().await;
    let client = client(&fake, "sk_test", DEFAULT_COLLECTION);
    fake.inject_dropped_connections(1);
    let error = client
        .push(&json!({"format": "ipv4-addr.value", "indicators": "1.2.3.4"}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Unreachable { .. } | ClientError::Timeout { .. }
        ),
        "{error}"
    );
    assert!(error.is_retryable());
    // The next call gets through on a fresh connection.
    client.check_collection().await.unwrap();
}
