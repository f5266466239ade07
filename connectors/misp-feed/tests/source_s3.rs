//! S3 mode source against a real S3 API (s3s-fs on 127.0.0.1).

use opencti_misp_feed::source::{FetchError, S3Source};

use crate::support::s3_server::S3Server;

const BUCKET: &str = "misp-drop";

fn source(server: &S3Server, prefix: Option<&str>) -> S3Source {
    S3Source::new(&server.settings(BUCKET, prefix), reqwest::Client::new())
}

#[tokio::test]
async fn lists_gets_and_deletes_objects() {
    let server = S3Server::start(BUCKET).await;
    server.put(BUCKET, "events/b.json", br#"{"Event": {"info": "b"}}"#);
    server.put(BUCKET, "events/a.json", br#"{"Event": {"info": "a"}}"#);
    server.put(BUCKET, "other/c.json", b"{}");
    let s3 = source(&server, Some("events/"));

    let page = s3.list_page(None, None).await.unwrap();
    let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["events/a.json", "events/b.json"]);
    assert!(page.next.is_none());

    let after = s3.list_page(Some("events/a.json"), None).await.unwrap();
    assert_eq!(after.objects.len(), 1);
    assert_eq!(after.objects[0].key, "events/b.json");

    let body = s3.get("events/a.json").await.unwrap();
    assert_eq!(&body[..], br#"{"Event": {"info": "a"}}"#);

    s3.delete("events/a.json").await.unwrap();
    assert!(!server.contains(BUCKET, "events/a.json"));
    assert!(server.contains(BUCKET, "events/b.json"));
}

#[tokio::test]
async fn the_whole_bucket_without_a_prefix() {
    let server = S3Server::start(BUCKET).await;
    server.put(BUCKET, "x.json", b"{}");
    server.put(BUCKET, "deep/y.json", b"{}");
    let page = source(&server, None).list_page(None, None).await.unwrap();
    assert_eq!(page.objects.len(), 2);
}

#[tokio::test]
async fn missing_and_oversized_objects_are_file_specific() {
    let server = S3Server::start(BUCKET).await;
    server.put(BUCKET, "big.json", &vec![b' '; 2 << 20]);
    let s3 = source(&server, None);
    let missing = s3.get("nope.json").await.unwrap_err();
    assert!(
        matches!(missing, FetchError::NotFound { .. }),
        "{missing:?}"
    );
    let big = s3.get("big.json").await.unwrap_err();
    assert!(matches!(big, FetchError::TooLarge { .. }), "{big:?}");
    assert!(big.is_file_specific());
}

#[tokio::test]
async fn wrong_credentials_are_an_s3_error_naming_the_operation() {
    let server = S3Server::start(BUCKET).await;
    let mut settings = server.settings(BUCKET, None);
    settings.credentials.as_mut().unwrap().secret_access_key = "wrong".into();
    let s3 = S3Source::new(&settings, reqwest::Client::new());
    let error = s3.list_page(None, None).await.unwrap_err();
    assert!(
        matches!(
            error,
            FetchError::S3 {
                operation: "ListObjectsV2",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_file_specific());
    let shown = format!("{error:?} {error}");
    assert!(!shown.contains("wrong"), "the secret leaked: {shown}");
}
