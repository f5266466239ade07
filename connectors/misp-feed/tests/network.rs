//! The feed downloads and the S3 client in the network a container is given
//! (extra CA, proxy, `NO_PROXY`, set as variables only), and feed URL
//! secrets that never reach an error, a work message or a log line.

use std::time::Duration;

use chrono::Utc;
use opencti_connector::config::Settings;
use opencti_connector::config::runtime::OPENCTI_VARS;
use opencti_connector::http::testing::{
    RecordingProxy, TEST_CA_PEM, TlsFront, address_of, capture_logs, refusing_address,
};
use opencti_connector::{Connector, ImportSource, RunContext};
use opencti_misp_feed::config::{MispFeedConfig, VARS};
use opencti_misp_feed::connector::MispFeed;

use crate::support::feed_server::FeedServer;
use crate::support::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};

const BUCKET: &str = "misp-drop";

/// One run of a connector configured from variables; the run's error and
/// the work errors as text.
async fn run(extra: &[(&str, &str)]) -> Result<(), String> {
    let mut pairs = vec![
        ("OPENCTI_URL", "http://127.0.0.1:1"),
        ("OPENCTI_TOKEN", "t"),
    ];
    pairs.extend_from_slice(extra);
    let settings = Settings::from_env_pairs(&[OPENCTI_VARS, VARS], pairs);
    let mut config = MispFeedConfig::from_settings(&settings, Utc::now()).unwrap();
    config.http.retry.initial_backoff = Duration::from_millis(5);
    let mut feed = MispFeed::from_config(config).unwrap();
    let (ctx, probe) = RunContext::for_test(None);
    let result = feed.run(&ctx).await;
    let mut text: Vec<String> = probe
        .errors()
        .iter()
        .map(|error| format!("{} | {}", error.source, error.error))
        .collect();
    if let Err(error) = result {
        text.push(opencti_connector::error_chain(&error));
    }
    if text.is_empty() {
        Ok(())
    } else {
        Err(text.join("\n"))
    }
}

async fn feed() -> FeedServer {
    let server = FeedServer::start(None).await;
    server.put("manifest.json", "{}");
    server
}

/// S3 mode against `endpoint`, plus `extra`.
fn s3_env<'a>(endpoint: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("MISP_FEED_SOURCE_TYPE", "s3"),
        ("MISP_FEED_BUCKET_NAME", BUCKET),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_S3_FORCE_PATH_STYLE", "true"),
        ("MISP_FEED_HTTP_RETRIES", "0"),
    ];
    env.extend_from_slice(extra);
    env
}

#[tokio::test]
async fn a_feed_and_a_bucket_only_the_extra_ca_vouches_for_are_read() {
    let server = feed().await;
    let backend = address_of(server.url());
    let front = TlsFront::start(backend).await;
    // The same feed path, over TLS.
    let url = server.url().replace(
        &format!("http://{backend}"),
        &format!("https://{}", front.addr()),
    );
    let plain = [
        ("MISP_FEED_URL", url.as_str()),
        ("MISP_FEED_HTTP_RETRIES", "0"),
    ];
    let error = run(&plain).await.unwrap_err();
    assert!(error.contains("certificate"), "{error}");
    let trusting = [
        ("MISP_FEED_URL", url.as_str()),
        ("HTTPS_CA_CERTIFICATES", TEST_CA_PEM),
    ];
    run(&trusting).await.unwrap();

    let s3 = S3Server::start(BUCKET).await;
    let endpoint = s3.settings(BUCKET, None).endpoint_url.unwrap();
    let s3_front = TlsFront::start(address_of(&endpoint)).await;
    let tls_endpoint = s3_front.url().to_string();
    let error = run(&s3_env(&tls_endpoint, &[])).await.unwrap_err();
    assert!(error.contains("certificate"), "{error}");
    run(&s3_env(
        &tls_endpoint,
        &[("HTTPS_CA_CERTIFICATES", TEST_CA_PEM)],
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn downloads_go_through_the_proxy_unless_exempted() {
    let server = feed().await;
    let proxy = RecordingProxy::start().await;
    let proxy_url = proxy.url().to_string();
    run(&[("MISP_FEED_URL", server.url()), ("HTTP_PROXY", &proxy_url)])
        .await
        .unwrap();
    let manifest = format!("GET {}/manifest.json HTTP/1.1", server.url());
    assert!(
        proxy.requests().contains(&manifest),
        "{:?}",
        proxy.requests()
    );

    let s3 = S3Server::start(BUCKET).await;
    let endpoint = s3.settings(BUCKET, None).endpoint_url.unwrap();
    let s3_proxy = RecordingProxy::start().await;
    let s3_proxy_url = s3_proxy.url().to_string();
    run(&s3_env(&endpoint, &[("HTTP_PROXY", &s3_proxy_url)]))
        .await
        .unwrap();
    let listing = format!("GET {endpoint}/{BUCKET}");
    assert!(
        s3_proxy
            .requests()
            .iter()
            .any(|line| line.starts_with(&listing)),
        "{:?}",
        s3_proxy.requests()
    );

    let bypassed = RecordingProxy::start().await;
    let bypassed_url = bypassed.url().to_string();
    run(&[
        ("MISP_FEED_URL", server.url()),
        ("HTTP_PROXY", &bypassed_url),
        ("NO_PROXY", "127.0.0.1"),
    ])
    .await
    .unwrap();
    run(&s3_env(
        &endpoint,
        &[("HTTP_PROXY", &bypassed_url), ("NO_PROXY", "127.0.0.1")],
    ))
    .await
    .unwrap();
    assert!(bypassed.requests().is_empty(), "{:?}", bypassed.requests());
}

#[tokio::test]
async fn a_refused_feed_never_shows_its_credentials() {
    let url = format!("http://feed:s3cr3t@{}/misp", refusing_address());
    let (logs, _guard) = capture_logs();
    let error = run(&[("MISP_FEED_URL", &url), ("MISP_FEED_HTTP_RETRIES", "1")])
        .await
        .unwrap_err();
    assert!(error.contains("/misp/manifest.json"), "{error}");
    assert!(!error.contains("s3cr3t"), "{error}");
    let logs = logs.text();
    assert!(logs.contains("/misp/manifest.json"), "{logs}");
    assert!(!logs.contains("s3cr3t"), "{logs}");
}

/// A server that answers 200 and then sends one byte of the body every
/// 100 ms, never silent long enough for the read timeout.
async fn dripping_server() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = socket.read(&mut head).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n{")
                    .await;
                for _ in 0..600 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if socket.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}

#[tokio::test]
async fn a_dripping_feed_is_cut_at_the_deadline() {
    let url = format!("http://{}/misp", dripping_server().await);
    let started = std::time::Instant::now();
    let error = run(&[
        ("MISP_FEED_URL", &url),
        ("MISP_FEED_HTTP_TIMEOUT", "PT5S"),
        ("MISP_FEED_HTTP_DEADLINE", "PT1S"),
        ("MISP_FEED_HTTP_RETRIES", "0"),
    ])
    .await
    .unwrap_err();
    assert!(error.contains("timed out"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
