//! Vendor drills: a hostile or broken NTI server (endless or oversized
//! downloads, zip bombs, endless lines, a login page answered with 200, a
//! day-long `Retry-After`). Each run ends within a bound with an error
//! naming the limit, the state stays where it was, and the next run
//! imports once the server is sane again.

use std::time::{Duration, Instant};

use opencti_connector::state::State;
use opencti_connector::{ImportSource, RunContext};
use opencti_nti::client::DownloadError;
use opencti_nti::connector::{IMPORTED_FILES, LAST_RUN, RunError};
use opencti_nti::fake::{self, FakeNti, Fault};
use opencti_nti::package::PackageError;
use serde_json::json;

use crate::support::{self, KEY, file_name};

/// Longest a drill may take.
const BOUND: Duration = Duration::from_secs(60);

/// A package body over a 1 MiB limit, its length announced.
static THREE_MIB: [u8; 3 << 20] = [0; 3 << 20];

/// A state from an earlier run, which a refused package must not touch.
fn earlier_state() -> State {
    let mut state = State::new();
    state.insert(LAST_RUN.to_owned(), json!("2025-04-24 00:00:00"));
    state
}

fn good_package() -> Vec<u8> {
    let record = json!({"object": {"type": "url", "value": "http://a.example/"}, "contents": [{"contents": [29]}]});
    fake::package(&[(file_name("url-basic", 1), fake::entry_content(&[record]))])
}

/// Runs once from [`earlier_state`] with `extra` settings, within [`BOUND`].
async fn run(
    server: &FakeNti,
    extra: &[(&str, &str)],
) -> (
    Result<String, RunError>,
    opencti_connector::context::TestProbe,
) {
    let mut connector = support::connector(&support::settings(&server.base_url(), extra));
    tokio::time::timeout(
        BOUND,
        support::run_once(&mut connector, Some(earlier_state())),
    )
    .await
    .expect("the run ends within the bound")
}

/// The refused run sent nothing and left the state alone; the next run,
/// the server sane again, imports the package.
async fn assert_untouched_then_recovers(
    server: &FakeNti,
    probe: &opencti_connector::context::TestProbe,
    extra: &[(&str, &str)],
) {
    assert!(probe.bundles().is_empty(), "nothing sent");
    assert_eq!(probe.state(), Some(earlier_state()), "state untouched");
    server.set_package(good_package());
    let (outcome, probe) = run(server, extra).await;
    outcome.expect("the next run imports");
    assert_eq!(probe.bundles().len(), 1);
    assert!(probe.state().unwrap()[IMPORTED_FILES][file_name("url-basic", 1)].is_string());
}

#[tokio::test]
async fn an_endless_download_stops_at_the_package_limit() {
    let server = FakeNti::start(KEY).await;
    server.push_fault(Fault::Endless);
    let extra = [("NTI_MAX_PACKAGE_SIZE_MB", "2")];
    let (outcome, probe) = run(&server, &extra).await;
    let error = outcome.expect_err("refused");
    assert!(
        matches!(
            error,
            RunError::Download(DownloadError::TooLarge { limit_mib: 2 })
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("NTI_MAX_PACKAGE_SIZE_MB"),
        "{error}"
    );
    assert_eq!(
        server.requests().len(),
        1,
        "an oversized package is not retried"
    );
    assert_untouched_then_recovers(&server, &probe, &extra).await;
}

#[tokio::test]
async fn an_announced_oversized_download_is_refused_before_it_is_read() {
    let server = FakeNti::start(KEY).await;
    server.push_fault(Fault::Body(&THREE_MIB));
    let extra = [("NTI_MAX_PACKAGE_SIZE_MB", "1")];
    let (outcome, probe) = run(&server, &extra).await;
    assert!(
        matches!(
            outcome,
            Err(RunError::Download(DownloadError::TooLarge { limit_mib: 1 }))
        ),
        "{outcome:?}"
    );
    assert_untouched_then_recovers(&server, &probe, &extra).await;
}

#[tokio::test]
async fn a_zip_bomb_declaring_its_size_is_refused_before_anything_is_imported() {
    let bomb_name = file_name("url-basic", 2);
    let server = FakeNti::start(KEY).await;
    server.set_package(fake::bomb(&bomb_name, 3 << 20));
    let extra = [("NTI_MAX_FILE_SIZE_MB", "1")];
    let (outcome, probe) = run(&server, &extra).await;
    let error = outcome.expect_err("refused");
    assert!(
        matches!(&error, RunError::Package(PackageError::EntryTooLarge { entry, limit_mib: 1 }) if *entry == bomb_name),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("NTI_MAX_FILE_SIZE_MB"),
        "{error}"
    );
    assert_untouched_then_recovers(&server, &probe, &extra).await;
}

#[tokio::test]
async fn a_zip_bomb_lying_about_its_size_is_stopped_while_inflating() {
    let bomb_name = file_name("url-basic", 1);
    let server = FakeNti::start(KEY).await;
    let lying = fake::declare_sizes(fake::bomb(&bomb_name, 3 << 20), 100);
    server.set_package(lying);
    // The line limit is above the bomb's one line: only the inflated-bytes
    // count can stop it.
    let extra = [("NTI_MAX_FILE_SIZE_MB", "1"), ("NTI_MAX_LINE_SIZE_MB", "8")];
    let (outcome, probe) = run(&server, &extra).await;
    assert!(
        matches!(&outcome, Err(RunError::Package(PackageError::EntryTooLarge { entry, limit_mib: 1 })) if *entry == bomb_name),
        "{outcome:?}"
    );
    assert!(
        probe.errors().is_empty(),
        "no record reported: the file is refused whole"
    );
    assert_untouched_then_recovers(&server, &probe, &extra).await;
}

#[tokio::test]
async fn a_line_over_the_limit_is_refused_with_its_number() {
    let name = file_name("url-basic", 1);
    let server = FakeNti::start(KEY).await;
    server.set_package(fake::bomb(&name, 2 << 20));
    let extra = [("NTI_MAX_LINE_SIZE_MB", "1")];
    let (outcome, probe) = run(&server, &extra).await;
    let error = outcome.expect_err("refused");
    assert!(
        matches!(&error, RunError::Package(PackageError::LineTooLong { entry, line: 2, limit_mib: 1 }) if *entry == name),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("NTI_MAX_LINE_SIZE_MB"),
        "{error}"
    );
    assert_untouched_then_recovers(&server, &probe, &extra).await;
}

#[tokio::test]
async fn a_login_page_answered_with_200_is_not_a_package() {
    let server = FakeNti::start(KEY).await;
    server.push_fault(Fault::LoginPage);
    let (outcome, probe) = run(&server, &[]).await;
    assert!(
        matches!(outcome, Err(RunError::Package(PackageError::Archive(_)))),
        "{outcome:?}"
    );
    assert_untouched_then_recovers(&server, &probe, &[]).await;
}

/// A day-long `Retry-After` is capped, and the wait ends on shutdown.
#[tokio::test]
async fn a_day_long_retry_after_ends_on_shutdown() {
    let server = FakeNti::start(KEY).await;
    server.push_fault(Fault::over_limit(86_400));
    let mut connector = support::connector(&support::settings(&server.base_url(), &[]));
    let (ctx, probe) = RunContext::for_test(Some(earlier_state()));
    let stop = probe.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.shut_down();
    });
    let started = Instant::now();
    let outcome = tokio::time::timeout(BOUND, connector.run(&ctx))
        .await
        .expect("the run ends within the bound");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "ended {:?} after the start",
        started.elapsed()
    );
    assert!(outcome.is_err(), "{outcome:?}");
    assert_untouched_then_recovers(&server, &probe, &[]).await;
}
