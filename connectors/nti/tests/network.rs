//! The NTI download in the network a container is given (extra CA, proxy,
//! `NO_PROXY`, set as variables only), and URLs whose secrets never reach an
//! error or a log line.

use opencti_connector::http::testing::{
    RecordingProxy, TEST_CA_PEM, TlsFront, address_of, capture_logs, refusing_address,
};
use opencti_nti::fake::{self, FakeNti};

use crate::support::{self, KEY, file_name, fixture_records, sent_objects};

async fn server() -> FakeNti {
    let server = FakeNti::start(KEY).await;
    let name = file_name("url-basic", 1);
    server.set_package(fake::package(&[(
        name,
        fake::entry_content(&fixture_records("url")),
    )]));
    server
}

/// One run against `base_url`; the run's error as text.
async fn run(base_url: &str, extra: &[(&str, &str)]) -> Result<usize, String> {
    let mut connector = support::connector(&support::settings(base_url, extra));
    let (outcome, probe) = support::run_once(&mut connector, None).await;
    outcome.map_err(|error| error.to_string())?;
    Ok(sent_objects(&probe).len())
}

#[tokio::test]
async fn an_api_only_the_extra_ca_vouches_for_is_reached() {
    let server = server().await;
    let front = TlsFront::start(address_of(&server.base_url())).await;
    let base = front.url().join("api/v2/").unwrap().to_string();
    let error = run(&base, &[("NTI_HTTP_RETRIES", "0")]).await.unwrap_err();
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(
        run(&base, &[("HTTPS_CA_CERTIFICATES", TEST_CA_PEM)]).await,
        Ok(1)
    );
}

#[tokio::test]
async fn the_download_goes_through_the_proxy_unless_exempted() {
    let server = server().await;
    let proxy = RecordingProxy::start().await;
    let proxy_url = proxy.url().to_string();
    assert_eq!(
        run(&server.base_url(), &[("HTTP_PROXY", &proxy_url)]).await,
        Ok(1)
    );
    let requests = proxy.requests();
    assert!(
        requests
            .iter()
            .any(|line| line.starts_with(&format!("GET {}download/feed/", server.base_url()))),
        "{requests:?}"
    );

    let bypassed = RecordingProxy::start().await;
    let bypassed_url = bypassed.url().to_string();
    let exempt = [
        ("HTTP_PROXY", bypassed_url.as_str()),
        ("NO_PROXY", "127.0.0.1"),
    ];
    assert_eq!(run(&server.base_url(), &exempt).await, Ok(1));
    assert!(bypassed.requests().is_empty(), "{:?}", bypassed.requests());
}

#[tokio::test]
async fn a_refused_download_never_shows_credentials_or_the_query() {
    let base = format!("http://nti:s3cr3t@{}/api/v2/", refusing_address());
    let (logs, _guard) = capture_logs();
    let error = run(
        &base,
        &[
            ("NTI_HTTP_RETRIES", "1"),
            ("NTI_PACKAGE_TYPE", "s3cr3t-type"),
        ],
    )
    .await
    .unwrap_err();
    assert!(error.contains("/api/v2/download/feed/"), "{error}");
    assert!(!error.contains("s3cr3t"), "{error}");
    let logs = logs.text();
    assert!(logs.contains("/api/v2/download/feed/"), "{logs}");
    assert!(!logs.contains("s3cr3t"), "{logs}");
}
