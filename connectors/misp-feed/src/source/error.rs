//! Why a feed file could not be fetched.

use std::time::Duration;

use opencti_connector::http::RetryClass;

/// A failed download of one feed file (manifest, event or S3 object).
///
/// `location` is the URL (credentials stripped), path or `s3://bucket/key`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The server answered with a status other than success or not-found.
    #[error("GET {location} answered HTTP {status}")]
    Status {
        /// What was requested.
        location: String,
        /// The HTTP status code.
        status: u16,
        /// The pause the server asked for (`Retry-After`), if any.
        retry_after: Option<Duration>,
    },
    /// The file does not exist (HTTP 404/410, missing file, `NoSuchKey`).
    #[error("{location} does not exist")]
    NotFound {
        /// What was requested.
        location: String,
    },
    /// The connection failed, timed out or broke before the whole body arrived.
    #[error("GET {location} failed: {message}")]
    Transport {
        /// What was requested.
        location: String,
        /// The transport error, flattened to text.
        message: String,
    },
    /// A success answer that is an HTML page (a proxy's or portal's login
    /// page), not a feed file: the feed itself was not reached.
    #[error(
        "GET {location} answered with an HTML page, not the feed's file (a login or proxy page?): {excerpt}"
    )]
    Page {
        /// What was requested.
        location: String,
        /// The start of the page.
        excerpt: String,
    },
    /// The file is larger than `MISP_FEED_MAX_FILE_SIZE_MB` allows.
    #[error("{location} is larger than the {limit}-byte limit (MISP_FEED_MAX_FILE_SIZE_MB)")]
    TooLarge {
        /// What was requested.
        location: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A local file could not be read for another reason than its absence.
    #[error("cannot read {location}: {message}")]
    Io {
        /// The path.
        location: String,
        /// The I/O error, flattened to text.
        message: String,
    },
    /// An S3 call failed (after the SDK's own retries).
    #[error("S3 {operation} {location} failed: {message}")]
    S3 {
        /// `ListObjectsV2`, `GetObject` or `DeleteObject`.
        operation: &'static str,
        /// `s3://bucket/key` or `s3://bucket/prefix`.
        location: String,
        /// The service or transport error, flattened to text.
        message: String,
    },
    /// A manifest key that cannot name a feed file (path separators, `..`, ...).
    #[error("manifest key {key:?} is not a valid event file name")]
    InvalidKey {
        /// The offending key.
        key: String,
    },
}

impl FetchError {
    /// True when the failure is about this one file (it is missing, too big
    /// or badly named) rather than about the source as a whole. Such a file
    /// is reported and skipped; any other failure ends the run so that the
    /// next run retries from the same place.
    pub fn is_file_specific(&self) -> bool {
        matches!(
            self,
            FetchError::NotFound { .. }
                | FetchError::TooLarge { .. }
                | FetchError::InvalidKey { .. }
        )
    }
}

impl FetchError {
    /// Whether a download is worth trying again: 408, 429 and 5xx answers
    /// (with the server's `Retry-After`) and broken connections are.
    pub(crate) fn retry_class(&self) -> RetryClass {
        match self {
            FetchError::Status {
                status,
                retry_after,
                ..
            } if *status == 408 || *status == 429 || *status >= 500 => RetryClass::Transient {
                retry_after: *retry_after,
            },
            FetchError::Transport { .. } => RetryClass::TRANSIENT,
            // The AWS SDK already retried S3 calls with its own policy.
            _ => RetryClass::Permanent,
        }
    }
}
