//! URL mode sources: HTTP(S) with faults, `file://` URLs and directories.

use std::time::Duration;

use opencti_connector::http::{Network, RetryPolicy};
use opencti_misp_feed::source::{
    FeedLocation, FeedReader, FetchError, HttpFetcher, HttpSettings, ManifestFetchError,
};

use crate::support::feed_server::{Fault, FeedServer};

const EVENT: &str = "5f1d9c8e-1a2b-4c3d-9e8f-0a1b2c3d4e5f";
const MANIFEST: &str = r#"{"5f1d9c8e-1a2b-4c3d-9e8f-0a1b2c3d4e5f": {"timestamp": "1705312800", "info": "x", "date": "2024-01-15"}}"#;
const EVENT_BODY: &str = r#"{"Event": {"info": "x"}}"#;

fn settings(max_file_size: u64) -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(10),
        deadline: Duration::from_secs(60),
        ssl_verify: true,
        retry: RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_secs(2),
            max_server_delay: Duration::from_secs(2),
            long_server_delay: opencti_connector::http::LongServerDelay::GiveUp,
        },
        max_file_size,
        network: Network::default(),
    }
}

fn reader(location: &str, authorization: Option<&str>, max_file_size: u64) -> FeedReader {
    let settings = settings(max_file_size);
    FeedReader::new(
        FeedLocation::parse(location).unwrap(),
        HttpFetcher::new(&settings, authorization).unwrap(),
        max_file_size,
    )
}

async fn served_feed(authorization: Option<&str>) -> FeedServer {
    let server = FeedServer::start(authorization).await;
    server.put("manifest.json", MANIFEST);
    server.put(&format!("{EVENT}.json"), EVENT_BODY);
    server
}

#[tokio::test]
async fn reads_manifest_and_events_with_the_authorization_header() {
    let server = served_feed(Some("Bearer feed-key")).await;
    let feed = reader(
        &format!("{}/", server.url()),
        Some("Bearer feed-key"),
        1 << 20,
    );
    let manifest = feed.manifest().await.unwrap();
    assert_eq!(manifest.entries.len(), 1);
    assert_eq!(manifest.entries[0].key, EVENT);
    assert_eq!(manifest.entries[0].timestamp, 1705312800);
    let event = feed.event(EVENT).await.unwrap();
    assert_eq!(&event[..], EVENT_BODY.as_bytes());
}

#[tokio::test]
async fn a_missing_or_wrong_authorization_is_a_non_retried_error() {
    let server = served_feed(Some("Bearer feed-key")).await;
    for authorization in [None, Some("Bearer other")] {
        let feed = reader(server.url(), authorization, 1 << 20);
        let error = feed.event(EVENT).await.unwrap_err();
        assert!(
            matches!(error, FetchError::Status { status: 401, .. }),
            "{error:?}"
        );
        assert!(
            !error.is_file_specific(),
            "an auth failure concerns the whole feed"
        );
    }
    assert_eq!(
        server.hits(&format!("{EVENT}.json")),
        2,
        "no retries on 401"
    );
}

#[tokio::test]
async fn rate_limits_server_errors_and_drops_are_retried() {
    let server = served_feed(None).await;
    let name = format!("{EVENT}.json");
    server.fail_next(
        &name,
        [
            Fault::StatusRetryAfter(429, 0),
            Fault::Status(503),
            Fault::Drop,
        ],
    );
    let feed = reader(server.url(), None, 1 << 20);
    let event = feed.event(EVENT).await.unwrap();
    assert_eq!(&event[..], EVENT_BODY.as_bytes());
    assert_eq!(server.hits(&name), 4);
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_the_retries() {
    let server = served_feed(None).await;
    server.fail_next("manifest.json", std::iter::repeat_n(Fault::Status(500), 10));
    let feed = reader(server.url(), None, 1 << 20);
    let error = feed.manifest().await.unwrap_err();
    assert!(
        matches!(
            error,
            ManifestFetchError::Fetch(FetchError::Status { status: 500, .. })
        ),
        "{error:?}"
    );
    assert_eq!(server.hits("manifest.json"), 4, "first attempt + 3 retries");
}

#[tokio::test]
async fn a_retry_after_beyond_the_maximum_backoff_ends_the_attempts() {
    let server = served_feed(None).await;
    server.fail_next("manifest.json", [Fault::StatusRetryAfter(503, 3600)]);
    let feed = reader(server.url(), None, 1 << 20);
    assert!(feed.manifest().await.is_err());
    assert_eq!(server.hits("manifest.json"), 1);
}

#[tokio::test]
async fn missing_events_are_file_specific_and_not_retried() {
    let server = served_feed(None).await;
    let feed = reader(server.url(), None, 1 << 20);
    let error = feed
        .event("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::NotFound { .. }), "{error:?}");
    assert!(error.is_file_specific());
    assert_eq!(server.hits("00000000-0000-0000-0000-000000000000.json"), 1);
}

#[tokio::test]
async fn files_over_the_size_limit_are_refused_with_a_clear_error() {
    let server = served_feed(None).await;
    let feed = reader(server.url(), None, 10);
    let error = feed.event(EVENT).await.unwrap_err();
    assert!(
        matches!(error, FetchError::TooLarge { limit: 10, .. }),
        "{error:?}"
    );
    assert!(error.is_file_specific());
    assert!(
        error.to_string().contains("MISP_FEED_MAX_FILE_SIZE_MB"),
        "{error}"
    );
}

#[tokio::test]
async fn a_malformed_manifest_is_a_parse_error() {
    let server = served_feed(None).await;
    server.fail_next("manifest.json", [Fault::Body(b"{\"5f1d9c8e\": {\"timesta")]);
    let feed = reader(server.url(), None, 1 << 20);
    let error = feed.manifest().await.unwrap_err();
    assert!(matches!(error, ManifestFetchError::Parse(_)), "{error:?}");
}

#[tokio::test]
async fn unsafe_keys_are_refused_without_a_request() {
    let server = served_feed(None).await;
    let feed = reader(server.url(), None, 1 << 20);
    let error = feed.event("../manifest").await.unwrap_err();
    assert!(matches!(error, FetchError::InvalidKey { .. }), "{error:?}");
    assert_eq!(server.hits("manifest.json"), 0);
}

#[tokio::test]
async fn local_directories_and_file_urls() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("manifest.json"), MANIFEST).unwrap();
    std::fs::write(directory.path().join(format!("{EVENT}.json")), EVENT_BODY).unwrap();
    let file_url = reqwest::Url::from_directory_path(directory.path()).unwrap();
    for location in [directory.path().display().to_string(), file_url.to_string()] {
        let feed = reader(&location, None, 1 << 20);
        assert_eq!(
            feed.manifest().await.unwrap().entries.len(),
            1,
            "{location}"
        );
        assert_eq!(&feed.event(EVENT).await.unwrap()[..], EVENT_BODY.as_bytes());
        let missing = feed.event("nope").await.unwrap_err();
        assert!(
            matches!(missing, FetchError::NotFound { .. }),
            "{missing:?}"
        );
    }
    let small = reader(&directory.path().display().to_string(), None, 10);
    assert!(matches!(
        small.event(EVENT).await.unwrap_err(),
        FetchError::TooLarge { .. }
    ));
}
