//! The runtime's top-level errors.

use crate::amqp::AmqpError;
use crate::api::ApiError;
use crate::config::ConfigErrors;

/// Why the runtime could not start or go on.
///
/// Each variant keeps the error it wraps as its [`source`](std::error::Error::source),
/// and names it in its message too; [`error_chain`] prints the whole chain
/// without repeating a cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (every problem listed).
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The platform refused or could not be reached.
    #[error("OpenCTI platform: {0}")]
    Api(#[from] ApiError),
    /// `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT` could not set up the account.
    #[error("{0}")]
    ServiceAccount(#[from] crate::service_account::ServiceAccountError),
    /// `CONNECTOR_LISTEN_PROTOCOL=API`: the job endpoint cannot start.
    #[error("{0}")]
    ListenCallback(#[from] crate::listen::CallbackError),
    /// The broker could not be used.
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] AmqpError),
    /// The connector could not be built from its configuration
    /// ([`Connector::from_config`](crate::Connector::from_config) failed).
    #[error("cannot start the connector: {0}")]
    Connector(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The live stream could not be set up (token, CA bundle).
    #[cfg(feature = "stream")]
    #[error("cannot set up the live stream: {0}")]
    StreamSetup(#[from] crate::stream::client::SetupError),
    /// The live stream stopped on an error (unusable position, the sink's
    /// start failed).
    #[cfg(feature = "stream")]
    #[error("live stream: {0}")]
    Stream(#[from] crate::stream::StreamError),
    /// The single run of a run-and-terminate connector failed; its error is
    /// on the run's work and in the log.
    #[error("run and terminate: the run failed")]
    RunFailed,
    /// A local resource failed (metrics port, signal handlers, ...).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A stop was requested before the work completed (the start, or the
    /// single run of a run-and-terminate connector).
    #[error("stopped before the run completed")]
    Interrupted,
}

/// Why [`crate::context::RunContext::send_bundle`] failed. The bundle was
/// not (completely) delivered: do not advance the state past it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The bundle is not a STIX bundle the splitter accepts.
    #[error("invalid bundle: {reason}")]
    InvalidBundle {
        /// Why.
        reason: String,
    },
    /// A platform call (work, expectations, `stixBundlePush`) failed.
    #[error("OpenCTI platform: {0}")]
    Platform(#[from] ApiError),
    /// The broker side failed for good (unusable TLS material, a refused
    /// TLS handshake).
    #[error("RabbitMQ: {0}")]
    Broker(AmqpError),
    /// Writing the directory copy failed.
    #[error("cannot write the bundle to {path}: {reason}")]
    Directory {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The S3 copy (`CONNECTOR_SEND_TO_S3`) cannot be uploaded.
    #[error("cannot upload the bundle to S3 ({location}): {reason}")]
    S3 {
        /// `s3://bucket/key`, or the missing setting.
        location: String,
        /// Why.
        reason: String,
    },
    /// Shutdown was requested; the bundle may be partially delivered.
    #[error("interrupted by shutdown")]
    Cancelled,
}

impl From<AmqpError> for SendError {
    fn from(error: AmqpError) -> Self {
        match error {
            AmqpError::Cancelled { .. } => Self::Cancelled,
            other => Self::Broker(other),
        }
    }
}

/// An error and its causes on one line, each cause once: HTTP and TLS
/// libraries keep the useful part ("connection refused", "certificate
/// expired") in `source()`, which `Display` leaves out.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A vendor's answer body for an error message: trimmed, at most
/// `max_chars` characters (cut with `…`), `(empty answer)` when blank.
pub fn answer_excerpt(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty answer)".to_owned();
    }
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{answer_excerpt, error_chain};

    #[test]
    fn answer_excerpts_are_trimmed_and_bounded() {
        const MAX: usize = 1000;
        assert_eq!(answer_excerpt(b"  ", MAX), "(empty answer)");
        assert_eq!(
            answer_excerpt(b" {\"detail\": \"x\"}\n", MAX),
            "{\"detail\": \"x\"}"
        );
        let long = "é".repeat(MAX + 10);
        assert_eq!(
            answer_excerpt(long.as_bytes(), MAX).chars().count(),
            MAX + 1
        );
    }

    #[derive(Debug)]
    struct Wrapped(&'static str, std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn every_cause_is_named_once() {
        let outer = Wrapped("request failed", std::io::Error::other("connection reset"));
        assert_eq!(error_chain(&outer), "request failed: connection reset");
        let repeating = Wrapped(
            "request failed: connection reset",
            std::io::Error::other("connection reset"),
        );
        assert_eq!(error_chain(&repeating), "request failed: connection reset");
    }
}
