//! The NTI feed download: `GET <base>download/feed/?type=<package type>`
//! with the `X-Ns-Nti-Key` header, streamed to a file on disk (gzip
//! transfer encoding undone on the fly), with timeouts and retries.

use std::path::{Path, PathBuf};
use std::time::Duration;

use opencti_connector::answer_excerpt;
use opencti_connector::config::Secret;
use opencti_connector::http::{
    self, CancellationToken, ClientOptions, LongServerDelay, Network, RetryClass, RetryPolicy,
    StatusClass, TransportError,
};
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use tokio::io::AsyncWriteExt;

use crate::config::NtiConfig;

/// The authentication header of the NTI API.
pub const KEY_HEADER: &str = "X-Ns-Nti-Key";

/// Characters of a non-JSON error answer kept in the error.
const MAX_ERROR_TEXT: usize = 200;

/// Longest wait a `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// How the download behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientSettings {
    /// The API base URL, ending with `/`.
    pub base_url: Url,
    /// The API key.
    pub api_key: Secret,
    /// The package type (`type` query parameter).
    pub package_type: String,
    /// Connect timeout, and longest silence while reading.
    pub timeout: Duration,
    /// Retries after a transient failure.
    pub retries: u32,
    /// First wait between attempts, doubled each time (at most a minute).
    pub initial_backoff: Duration,
    /// Proxies and extra trusted CAs.
    pub network: Network,
    /// Largest package accepted, in bytes after gzip decoding.
    pub max_package_bytes: u64,
}

impl From<&NtiConfig> for ClientSettings {
    /// The configured download, with the default backoff (2 s).
    fn from(config: &NtiConfig) -> Self {
        Self {
            base_url: config.base_url.clone(),
            api_key: config.api_key.clone(),
            package_type: config.package_type.clone(),
            timeout: config.timeout,
            retries: config.retries,
            initial_backoff: Duration::from_secs(2),
            network: config.network.clone(),
            max_package_bytes: config.limits.max_package_bytes,
        }
    }
}

/// Why the package could not be downloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// NTI refused the key (401) or the caller (403); not retried.
    #[error(
        "NTI refused the request (HTTP {status}): {message}; check NTI_API_KEY and the key's IP whitelist"
    )]
    Refused {
        /// HTTP status.
        status: u16,
        /// NTI's message, or the start of the body.
        message: String,
    },
    /// Another error status (retried when transient, until the retries ran out).
    #[error("NTI answered HTTP {status} ({attempts} attempts): {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// NTI's message, or the start of the body.
        message: String,
    },
    /// The connection failed, timed out or broke off.
    #[error("cannot download the NTI feed package ({attempts} attempts): {reason}")]
    Transport {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The package is larger than `NTI_MAX_PACKAGE_SIZE_MB` (announced or
    /// received); not retried, the partial file is removed.
    #[error(
        "the NTI feed package is larger than {limit_mib} MiB; download stopped (raise NTI_MAX_PACKAGE_SIZE_MB if the package is genuine)"
    )]
    TooLarge {
        /// The limit in MiB.
        limit_mib: u64,
    },
    /// The package could not be written to disk.
    #[error("cannot write the feed package to {path}: {reason}")]
    Disk {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Setup(String),
}

/// The NTI download client.
#[derive(Debug, Clone)]
pub struct NtiClient {
    http: reqwest::Client,
    feed_url: Url,
    retry: RetryPolicy,
    shutdown: CancellationToken,
    max_package_bytes: u64,
}

/// A downloaded package file, removed when dropped.
#[derive(Debug)]
pub struct PackageFile {
    path: PathBuf,
    /// Bytes written (after gzip decoding).
    pub size: u64,
}

impl PackageFile {
    /// Where the package is.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PackageFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl NtiClient {
    /// A client for `settings`.
    ///
    /// # Errors
    /// [`DownloadError::Setup`] when the key is not a valid header value or
    /// the TLS stack cannot start.
    pub fn new(settings: ClientSettings) -> Result<Self, DownloadError> {
        let mut key = HeaderValue::from_str(settings.api_key.expose()).map_err(|_| {
            DownloadError::Setup("NTI_API_KEY is not a valid HTTP header value".to_owned())
        })?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(KEY_HEADER, key);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = ClientOptions::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
            .default_headers(headers)
            .connect_timeout(settings.timeout)
            .read_timeout(settings.timeout)
            .network(settings.network)
            .build()
            .map_err(|error| DownloadError::Setup(error.to_string()))?;
        let mut feed_url = settings
            .base_url
            .join("download/feed/")
            .map_err(|error| DownloadError::Setup(error.to_string()))?;
        feed_url
            .query_pairs_mut()
            .append_pair("type", &settings.package_type);
        let retry = RetryPolicy {
            attempts: settings.retries.saturating_add(1),
            initial_backoff: settings.initial_backoff,
            max_backoff: Duration::from_secs(60),
            max_server_delay: MAX_RETRY_AFTER,
            long_server_delay: LongServerDelay::Cap,
        };
        Ok(Self {
            http,
            feed_url,
            retry,
            shutdown: CancellationToken::new(),
            max_package_bytes: settings.max_package_bytes,
        })
    }

    /// Pauses between attempts end when `shutdown` fires.
    pub fn set_shutdown(&mut self, shutdown: CancellationToken) {
        self.shutdown = shutdown;
    }

    /// The download URL.
    #[must_use]
    pub fn feed_url(&self) -> &Url {
        &self.feed_url
    }

    /// Downloads the package into a new file in `directory`, retrying
    /// transient failures (timeouts, broken connections, 408, 429, 5xx)
    /// with exponential backoff or the server's `Retry-After`.
    ///
    /// # Errors
    /// [`DownloadError`] once the retries ran out, or at once for a refusal
    /// or another client error.
    pub async fn download(&self, directory: &Path) -> Result<PackageFile, DownloadError> {
        let path = directory.join(format!("opencti-nti-{}.zip", uuid::Uuid::new_v4()));
        let what = http::redact_url(&self.feed_url);
        let outcome = http::retry(
            &self.retry,
            &self.shutdown,
            &what,
            |attempt| self.attempt(&path, attempt),
            |failure| match failure {
                Failure::Final(_) => RetryClass::Permanent,
                Failure::Transient { retry_after, .. } => RetryClass::Transient {
                    retry_after: *retry_after,
                },
            },
        )
        .await;
        outcome.map_err(|failure| match failure {
            Failure::Final(error) | Failure::Transient { error, .. } => error,
        })
    }

    async fn attempt(&self, path: &Path, attempt: u32) -> Result<PackageFile, Failure> {
        let transport = |error: TransportError| Failure::Transient {
            error: DownloadError::Transport {
                attempts: attempt,
                reason: error.to_string(),
            },
            retry_after: None,
        };
        let mut response = self
            .http
            .get(self.feed_url.clone())
            .send()
            .await
            .map_err(|error| transport(TransportError::from_reqwest(error)))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = http::retry_after(response.headers());
            let message = error_message(response).await;
            let status_code = status.as_u16();
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Failure::Final(DownloadError::Refused {
                        status: status_code,
                        message,
                    })
                }
                _ => {
                    let error = DownloadError::Status {
                        status: status_code,
                        attempts: attempt,
                        message,
                    };
                    if StatusClass::of(status) == StatusClass::Transient {
                        Failure::Transient { error, retry_after }
                    } else {
                        Failure::Final(error)
                    }
                }
            });
        }
        let disk = |error: std::io::Error| {
            Failure::Final(DownloadError::Disk {
                path: path.display().to_string(),
                reason: error.to_string(),
            })
        };
        let too_large = || {
            Failure::Final(DownloadError::TooLarge {
                limit_mib: self.max_package_bytes >> 20,
            })
        };
        // Without gzip the announced length is the package's: refuse it
        // before writing anything.
        if response
            .content_length()
            .is_some_and(|length| length > self.max_package_bytes)
        {
            return Err(too_large());
        }
        let mut file = tokio::fs::File::create(path).await.map_err(disk)?;
        // From here the file exists: it is removed on any failure.
        let mut package = PackageFile {
            path: path.to_owned(),
            size: 0,
        };
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| transport(TransportError::from_reqwest(error)))?
        {
            package.size += chunk.len() as u64;
            if package.size > self.max_package_bytes {
                return Err(too_large());
            }
            file.write_all(&chunk).await.map_err(disk)?;
        }
        file.flush().await.map_err(disk)?;
        Ok(package)
    }
}

enum Failure {
    Final(DownloadError),
    Transient {
        error: DownloadError,
        retry_after: Option<Duration>,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Final(error) | Self::Transient { error, .. } => error.fmt(f),
        }
    }
}

/// NTI's error message (`message`, `error.message`, `detail`) or the start
/// of the body.
async fn error_message(response: reqwest::Response) -> String {
    // An error answer is read up to MAX_ERROR_ANSWER_BYTES.
    let body = http::Answer::read(response, 0)
        .await
        .map(|answer| answer.body)
        .unwrap_or_default();
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) {
        let message = json
            .get("message")
            .or_else(|| json.pointer("/error/message"))
            .and_then(serde_json::Value::as_str);
        if let Some(message) = message {
            return match json.get("detail").and_then(serde_json::Value::as_str) {
                Some(detail) => format!("{message} ({detail})"),
                None => message.to_owned(),
            };
        }
    }
    answer_excerpt(&body, MAX_ERROR_TEXT)
}
