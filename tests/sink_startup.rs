//! The startup retry of the stream sinks that check their vendor before
//! following the stream (PT NAD, Sekoia.io), shared by their
//! `tests/network.rs` with `#[path]`: a refused connection whose error and
//! logs never show the URL's secrets, and a shutdown that ends the wait
//! between attempts. Each sink passes how it starts and which of its
//! errors says what; [`sink_startup_tests!`] writes both tests for a sink
//! with the shared startup API.

use std::fmt::Display;
use std::time::Duration;

use opencti_connector::http::testing::{cancelled_after, capture_logs, refusing_address};
use opencti_connector::http::{CancellationToken, StartupRetry};

/// Generates a connector's two startup tests for a sink with the stream
/// sinks' startup API (`with_startup_retry`, `with_shutdown`, `start`,
/// failing with `$error::Unavailable` or `$error::Interrupted`):
/// `$sink(url, &[])` configures one for the vendor at `url`; a refused
/// startup goes to `<address>$tail` and names `$shown`.
#[macro_export]
macro_rules! sink_startup_tests {
    (sink: $sink:path, error: $error:ident, tail: $tail:expr, shown: $shown:expr $(,)?) => {
        #[tokio::test]
        async fn a_refused_connection_never_shows_url_secrets() {
            $crate::sink_startup::a_refused_startup_never_shows_url_secrets(
                $tail,
                $shown,
                async |url| $sink(url, &[]).start().await,
                |error| matches!(error, $error::Unavailable { .. }),
            )
            .await;
        }

        #[tokio::test]
        async fn shutdown_ends_the_startup_wait() {
            $crate::sink_startup::shutdown_ends_the_startup_wait(
                async |url, retry, shutdown| {
                    let sink = $sink(url, &[])
                        .with_startup_retry(retry)
                        .with_shutdown(shutdown);
                    sink.start().await
                },
                |error| matches!(error, $error::Interrupted(_)),
            )
            .await;
        }
    };
}

/// Two startup attempts 10 ms apart: the checks' sinks give up quickly.
pub(crate) fn quick_retry() -> StartupRetry {
    StartupRetry {
        attempts: 2,
        first_delay: Duration::from_millis(10),
        ..StartupRetry::default()
    }
}

/// A startup's outcome with its error chain as text, as
/// `vendor_network.rs`'s checks take it.
pub(crate) fn chained<E: std::error::Error>(started: Result<(), E>) -> Result<(), String> {
    started.map_err(|error| opencti_connector::error_chain(&error))
}

/// A sink's startup against `http://<user>:s3cr3t@<refusing address><tail>`
/// gives up unavailable (`unavailable`), naming `shown` (where it went)
/// in its error and logs, never the secret.
pub(crate) async fn a_refused_startup_never_shows_url_secrets<E: std::error::Error>(
    tail: &str,
    shown: &str,
    start: impl AsyncFn(&str) -> Result<(), E>,
    unavailable: impl Fn(&E) -> bool,
) {
    let url = format!("http://soc:s3cr3t@{}{tail}", refusing_address());
    let (logs, _guard) = capture_logs();
    let error = start(&url).await.unwrap_err();
    let text = opencti_connector::error_chain(&error);
    assert!(unavailable(&error), "{text}");
    assert!(text.contains(shown), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    let logs = logs.text();
    assert!(logs.contains(shown), "{logs}");
    assert!(!logs.contains("s3cr3t"), "{logs}");
}

/// A sink waiting an hour between startup attempts stops waiting when
/// shutdown fires, with the error `interrupted` accepts.
pub(crate) async fn shutdown_ends_the_startup_wait<E: Display>(
    start: impl AsyncFn(&str, StartupRetry, CancellationToken) -> Result<(), E>,
    interrupted: impl Fn(&E) -> bool,
) {
    let url = format!("http://{}/", refusing_address());
    let retry = StartupRetry {
        attempts: 10,
        first_delay: Duration::from_secs(3600),
        ..StartupRetry::default()
    };
    let shutdown = cancelled_after(Duration::from_millis(200));
    let error = tokio::time::timeout(Duration::from_secs(10), start(&url, retry, shutdown))
        .await
        .expect("startup ends on shutdown")
        .unwrap_err();
    assert!(interrupted(&error), "{error}");
}
