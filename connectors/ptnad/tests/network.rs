//! The PT NAD client in the network a container is given (extra CA, proxy,
//! `NO_PROXY`, set as variables only), startup cancelled by shutdown, and
//! URL secrets that never reach an error or a log line.

use std::time::Duration;

use opencti_connector::config::Settings;
use opencti_connector::config::runtime::OPENCTI_VARS;
use opencti_connector::http::testing::{
    RecordingProxy, TEST_CA_PEM, TlsFront, address_of, cancelled_after, capture_logs,
    refusing_address,
};
use opencti_ptnad::config::{PtnadConfig, VARS};
use opencti_ptnad::connector::{PtnadSink, StartupError, StartupRetry};
use opencti_ptnad::fake::{FakePtnad, FakeSettings};

/// A sink for `url` configured from variables, retrying startup quickly.
fn sink(url: &str, extra: &[(&str, &str)]) -> PtnadSink {
    let mut pairs = vec![
        ("OPENCTI_URL", "http://127.0.0.1:1"),
        ("OPENCTI_TOKEN", "t"),
        ("PTNAD_URL", url),
        ("PTNAD_USERNAME", "opencti"),
        ("PTNAD_PASSWORD", "S3cret!"),
        ("PTNAD_TIMEOUT", "5"),
    ];
    pairs.extend_from_slice(extra);
    let settings = Settings::from_env_pairs(&[OPENCTI_VARS, VARS], pairs);
    PtnadSink::new(PtnadConfig::try_from(&settings).unwrap())
        .unwrap()
        .with_startup_retry(StartupRetry {
            attempts: 2,
            first_delay: Duration::from_millis(10),
            ..StartupRetry::default()
        })
}

async fn fake() -> FakePtnad {
    FakePtnad::start(FakeSettings::default()).await.unwrap()
}

#[tokio::test]
async fn a_server_only_the_extra_ca_vouches_for_is_reached() {
    // Token mode: the fake's same-origin check would refuse a session's
    // writes through the front, which changes the origin.
    let fake = FakePtnad::start(FakeSettings {
        token: Some("t0ken".to_owned()),
        ..FakeSettings::default()
    })
    .await
    .unwrap();
    let front = TlsFront::start(address_of(&fake.url())).await;
    let url = front.url().to_string();
    let error = sink(
        &url,
        &[("PTNAD_SSL_VERIFY", "true"), ("PTNAD_TOKEN", "t0ken")],
    )
    .start()
    .await
    .unwrap_err();
    assert!(
        opencti_connector::error_chain(&error).contains("certificate"),
        "{error}"
    );
    sink(
        &url,
        &[
            ("PTNAD_SSL_VERIFY", "true"),
            ("PTNAD_TOKEN", "t0ken"),
            ("HTTPS_CA_CERTIFICATES", TEST_CA_PEM),
        ],
    )
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
    let base = fake.url().trim_end_matches('/').to_owned();
    assert!(
        proxy
            .requests()
            .iter()
            .any(|line| line.starts_with(&format!("POST {base}/api/v2/auth/login "))),
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
    let url = format!("http://admin:s3cr3t@{}/nad/", refusing_address());
    let (logs, _guard) = capture_logs();
    let error = sink(&url, &[]).start().await.unwrap_err();
    let text = opencti_connector::error_chain(&error);
    assert!(matches!(error, StartupError::Unavailable { .. }), "{text}");
    assert!(text.contains("/nad/api/v2/auth/login"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    let logs = logs.text();
    assert!(logs.contains("/nad/api/v2/auth/login"), "{logs}");
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
