//! The NTI download in the network a container is given (extra CA, proxy,
//! `NO_PROXY`, set as variables only), and URLs whose secrets never reach an
//! error or a log line.

use opencti_connector::http::testing::{capture_logs, refusing_address};
use opencti_nti::fake::{self, FakeNti};

use crate::support::{self, KEY, file_name, fixture_records, sent_objects};
use crate::vendor_network;

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

/// One run against `base_url` that sends the package's one object.
async fn reach(base_url: &str, extra: &[(&str, &str)]) -> Result<(), String> {
    let sent = run(base_url, extra).await?;
    assert_eq!(sent, 1, "the package's object is sent");
    Ok(())
}

#[tokio::test]
async fn an_api_only_the_extra_ca_vouches_for_is_reached() {
    let server = server().await;
    let no_retry = [("NTI_HTTP_RETRIES", "0")];
    vendor_network::only_the_extra_ca_vouches(&server.base_url(), "api/v2/", &no_retry, reach)
        .await;
}

#[tokio::test]
async fn the_download_goes_through_the_proxy_unless_exempted() {
    let server = server().await;
    let download = format!("GET {}download/feed/", server.base_url());
    vendor_network::proxied_unless_exempted(&server.base_url(), reach, |line| {
        line.starts_with(&download)
    })
    .await;
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
