//! The Sekoia client in the network a container is given (extra CA, proxy,
//! `NO_PROXY`, set as variables only), startup cancelled by shutdown, and
//! URL secrets that never reach an error or a log line.

use std::time::Duration;

use opencti_connector::config::Settings;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::http::testing::{
    RecordingProxy, TEST_CA_PEM, TlsFront, address_of, cancelled_after, capture_logs,
    refusing_address,
};
use opencti_sekoia_intel::config::{SekoiaConfig, VARS};
use opencti_sekoia_intel::connector::{SekoiaSink, StartupError, StartupRetry};
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};

/// A sink for `url` configured from variables, retrying startup quickly.
fn sink(url: &str, extra: &[(&str, &str)]) -> SekoiaSink {
    let mut pairs = vec![
        ("OPENCTI_URL", "https://opencti.example.org"),
        ("OPENCTI_TOKEN", "token"),
        ("CONNECTOR_ID", "0b8f2c1e-8f5a-4c57-9d56-5b9f1f0e2a11"),
        ("CONNECTOR_NAME", "Sekoia"),
        ("CONNECTOR_LIVE_STREAM_ID", "live"),
        ("SEKOIA_INTEL_URL", url),
        ("SEKOIA_INTEL_APIKEY", "sk_test"),
        ("SEKOIA_INTEL_IOC_COLLECTION_UUID", DEFAULT_COLLECTION),
        ("SEKOIA_INTEL_TIMEOUT", "5"),
    ];
    pairs.extend_from_slice(extra);
    let tables: Vec<_> = RUNTIME_TABLES.iter().copied().chain([VARS]).collect();
    let config = SekoiaConfig::try_from(&Settings::from_env_pairs(&tables, pairs)).unwrap();
    SekoiaSink::new(config)
        .unwrap()
        .with_startup_retry(StartupRetry {
            attempts: 2,
            first_delay: Duration::from_millis(10),
            ..StartupRetry::default()
        })
}

async fn fake() -> FakeSekoia {
    FakeSekoia::start(FakeSettings::default()).await.unwrap()
}

#[tokio::test]
async fn an_api_only_the_extra_ca_vouches_for_is_reached() {
    let fake = fake().await;
    let front = TlsFront::start(address_of(&fake.url())).await;
    let url = front.url().to_string();
    let error = sink(&url, &[]).start().await.unwrap_err();
    assert!(
        opencti_connector::error_chain(&error).contains("certificate"),
        "{error}"
    );
    sink(&url, &[("HTTPS_CA_CERTIFICATES", TEST_CA_PEM)])
        .start()
        .await
        .unwrap();
}

#[tokio::test]
async fn requests_go_through_the_proxy_unless_exempted() {
    let fake = fake().await;
    let proxy = RecordingProxy::start().await;
    let proxy_url = proxy.url().to_string();
    sink(&fake.url(), &[("HTTP_PROXY", &proxy_url)])
        .start()
        .await
        .unwrap();
    let collection = format!("GET {}/", fake.url());
    assert!(
        proxy
            .requests()
            .iter()
            .any(|line| line.starts_with(&collection) && line.contains(DEFAULT_COLLECTION)),
        "{:?}",
        proxy.requests()
    );

    let bypassed = RecordingProxy::start().await;
    let bypassed_url = bypassed.url().to_string();
    let exempt = [
        ("HTTP_PROXY", bypassed_url.as_str()),
        ("NO_PROXY", "127.0.0.1"),
    ];
    sink(&fake.url(), &exempt).start().await.unwrap();
    assert!(bypassed.requests().is_empty(), "{:?}", bypassed.requests());
}

#[tokio::test]
async fn a_refused_connection_never_shows_url_secrets() {
    let url = format!(
        "http://soc:s3cr3t@{}/sekoia?tenant=s3cr3t",
        refusing_address()
    );
    let (logs, _guard) = capture_logs();
    let error = sink(&url, &[]).start().await.unwrap_err();
    let text = opencti_connector::error_chain(&error);
    assert!(matches!(error, StartupError::Unavailable { .. }), "{text}");
    assert!(text.contains(DEFAULT_COLLECTION), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    let logs = logs.text();
    assert!(logs.contains(DEFAULT_COLLECTION), "{logs}");
    assert!(!logs.contains("s3cr3t"), "{logs}");
}

#[tokio::test]
async fn shutdown_ends_the_startup_wait() {
    let sink = sink(&format!("http://{}/", refusing_address()), &[])
        .with_startup_retry(StartupRetry {
            attempts: 10,
            first_delay: Duration::from_secs(3600),
            ..StartupRetry::default()
        })
        .with_shutdown(cancelled_after(Duration::from_millis(200)));
    let error = tokio::time::timeout(Duration::from_secs(10), sink.start())
        .await
        .expect("startup ends on shutdown")
        .unwrap_err();
    assert!(matches!(error, StartupError::Interrupted(_)), "{error}");
}
