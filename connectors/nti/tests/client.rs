//! The download against the fake NTI server: retries, refusals, broken
//! connections, timeouts and corrupt packages.

use std::time::{Duration, Instant};

use opencti_nti::RunError;
use opencti_nti::client::DownloadError;
use opencti_nti::fake::{self, FakeNti, Fault};
use opencti_nti::package::PackageError;

use crate::support::{self, KEY, file_name, fixture_records, sent_objects};

fn url_package() -> Vec<u8> {
    let name = file_name("url-basic", 1);
    fake::package(&[(name, fake::entry_content(&fixture_records("url")))])
}

async fn server_with_package() -> FakeNti {
    let server = FakeNti::start(KEY).await;
    server.set_package(url_package());
    server
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_honouring_retry_after() {
    let server = server_with_package().await;
    server.push_fault(Fault::over_limit(1));
    server.push_fault(Fault::server_error(503));
    let mut connector = support::connector(&support::settings(&server.base_url(), &[]));
    let started = Instant::now();
    let (outcome, probe) = support::run_once(&mut connector, None).await;
    outcome.expect("the run succeeds after the retries");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(server.requests().len(), 3);
    assert_eq!(sent_objects(&probe).len(), 1);
}

#[tokio::test]
async fn server_errors_fail_the_run_once_the_retries_ran_out() {
    let server = server_with_package().await;
    for _ in 0..3 {
        server.push_fault(Fault::server_error(502));
    }
    let mut connector = support::connector(&support::settings(
        &server.base_url(),
        &[("NTI_HTTP_RETRIES", "2")],
    ));
    let (outcome, probe) = support::run_once(&mut connector, None).await;
    match outcome {
        Err(RunError::Download(DownloadError::Status {
            status: 502,
            attempts: 3,
            message,
        })) => assert_eq!(message, "upstream failure", "the answer's text"),
        other => panic!("unexpected outcome {other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
    assert!(probe.bundles().is_empty());
    assert!(probe.state().is_none(), "the state does not move");
}

#[tokio::test]
async fn a_refused_key_fails_at_once_with_ntis_message_and_without_the_key() {
    let server = server_with_package().await;
    let settings = support::settings(&server.base_url(), &[("NTI_API_KEY", "wrong-secret-key")]);
    let mut connector = support::connector(&settings);
    let (outcome, _) = support::run_once(&mut connector, None).await;
    let error = outcome.expect_err("refused");
    let message = error.to_string();
    assert!(
        matches!(
            error,
            RunError::Download(DownloadError::Refused { status: 401, .. })
        ),
        "{error:?}"
    );
    assert!(message.contains("Invalid NTI key"), "{message}");
    assert!(!message.contains("wrong-secret-key"));
    assert!(!format!("{connector:?}").contains("wrong-secret-key"));
    assert_eq!(server.requests().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn a_connection_broken_in_the_body_is_retried() {
    let server = server_with_package().await;
    server.push_fault(Fault::Truncated);
    let mut connector = support::connector(&support::settings(&server.base_url(), &[]));
    let (outcome, probe) = support::run_once(&mut connector, None).await;
    outcome.expect("the second download succeeds");
    assert_eq!(server.requests().len(), 2);
    assert_eq!(sent_objects(&probe).len(), 1);
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/api/v2/", listener.local_addr().unwrap());
    // Accepts connections and never answers.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let settings = support::settings(
        &base_url,
        &[("NTI_HTTP_TIMEOUT", "PT1S"), ("NTI_HTTP_RETRIES", "1")],
    );
    let mut connector = support::connector(&settings);
    let (outcome, _) = support::run_once(&mut connector, None).await;
    match outcome {
        Err(RunError::Download(DownloadError::Transport { attempts: 2, .. })) => {}
        other => panic!("unexpected outcome {other:?}"),
    }
    silent.abort();
}

#[tokio::test]
async fn a_package_that_is_not_a_zip_fails_the_run_and_leaves_no_file_behind() {
    let server = server_with_package().await;
    server.push_fault(Fault::Body(b"<html>maintenance</html>"));
    let directory = std::env::temp_dir().join(format!("nti-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&directory).unwrap();
    let mut connector = support::connector(&support::settings(&server.base_url(), &[]))
        .with_download_dir(directory.clone());
    let (outcome, probe) = support::run_once(&mut connector, None).await;
    assert!(
        matches!(outcome, Err(RunError::Package(PackageError::Archive(_)))),
        "{outcome:?}"
    );
    assert!(probe.bundles().is_empty());
    assert_eq!(
        std::fs::read_dir(&directory).unwrap().count(),
        0,
        "the download is removed"
    );
    // The next run gets the real package.
    let (outcome, probe) = support::run_once(&mut connector, None).await;
    outcome.expect("the next run succeeds");
    assert_eq!(sent_objects(&probe).len(), 1);
    assert_eq!(std::fs::read_dir(&directory).unwrap().count(), 0);
    std::fs::remove_dir(&directory).unwrap();
}
