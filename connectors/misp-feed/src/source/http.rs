//! Feed files over HTTP(S): timeouts and a total deadline, retries with
//! jittered backoff (the runtime's HTTP layer), a size cap, an optional
//! `Authorization` header, the runtime's network (proxies, extra CAs).

use std::time::Duration;

use bytes::Bytes;
use opencti_connector::http::{
    self, CancellationToken, ClientOptions, Network, RetryPolicy, StatusClass, TransportError,
    Verification,
};
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderValue};

use super::error::FetchError;

/// Connection set-up never needs longer than this, whatever the read timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of an HTML page answered instead of a feed file is quoted.
const PAGE_EXCERPT_CHARS: usize = 200;

/// How feed files are downloaded.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Longest silence while connecting or reading a response.
    pub timeout: Duration,
    /// Longest a whole download may take (`MISP_FEED_HTTP_DEADLINE`).
    pub deadline: Duration,
    /// Verify the server's TLS certificate (`MISP_FEED_SSL_VERIFY`).
    pub ssl_verify: bool,
    /// Retry schedule for transient failures.
    pub retry: RetryPolicy,
    /// Largest accepted file, in bytes.
    pub max_file_size: u64,
    /// Proxies and extra trusted CAs (the runtime's network variables).
    pub network: Network,
}

/// Downloads feed files; cheap to clone.
#[derive(Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    authorization: Option<HeaderValue>,
    retry: RetryPolicy,
    max_file_size: u64,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFetcher")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("retry", &self.retry)
            .field("max_file_size", &self.max_file_size)
            .finish_non_exhaustive()
    }
}

/// The `Authorization` value is not a valid HTTP header value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpSetupError {
    /// Control characters or non-visible bytes in `MISP_FEED_HTTP_AUTHORIZATION_HEADER`.
    #[error("MISP_FEED_HTTP_AUTHORIZATION_HEADER is not a valid HTTP header value")]
    InvalidAuthorization,
    /// The TLS/HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl HttpFetcher {
    /// Builds the client. `authorization` is sent verbatim as the
    /// `Authorization` header of every request; it is never logged.
    pub fn new(
        settings: &HttpSettings,
        authorization: Option<&str>,
    ) -> Result<Self, HttpSetupError> {
        let authorization = authorization
            .map(|value| {
                let mut header = HeaderValue::from_str(value)
                    .map_err(|_| HttpSetupError::InvalidAuthorization)?;
                header.set_sensitive(true);
                Ok(header)
            })
            .transpose()?;
        let client = ClientOptions::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
            .connect_timeout(settings.timeout.min(MAX_CONNECT_TIMEOUT))
            .read_timeout(settings.timeout)
            .total_timeout(settings.deadline)
            .verification(if settings.ssl_verify {
                Verification::System
            } else {
                Verification::Off
            })
            .network(settings.network.clone())
            .build()
            .map_err(|error| HttpSetupError::Client(error.to_string()))?;
        Ok(Self {
            client,
            authorization,
            retry: settings.retry,
            max_file_size: settings.max_file_size,
            shutdown: CancellationToken::new(),
        })
    }

    /// The same fetcher, its pauses between retries ending when `shutdown`
    /// fires.
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The underlying client (shared with the S3 client: same TLS, network
    /// and timeout settings).
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// GETs `url` with retries and returns the whole body.
    pub async fn get(&self, url: &Url) -> Result<Bytes, FetchError> {
        let location = display_url(url);
        http::retry(
            &self.retry,
            &self.shutdown,
            &location,
            |_| self.get_once(url, &location),
            FetchError::retry_class,
        )
        .await
    }

    async fn get_once(&self, url: &Url, location: &str) -> Result<Bytes, FetchError> {
        let mut request = self.client.get(url.clone());
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let failed = |error: TransportError| match error {
            TransportError::TooLarge { .. } => FetchError::TooLarge {
                location: location.to_owned(),
                limit: self.max_file_size,
            },
            other => FetchError::Transport {
                location: location.to_owned(),
                message: other.to_string(),
            },
        };
        let response = request
            .send()
            .await
            .map_err(|error| failed(TransportError::from_reqwest(error)))?;
        let status = response.status();
        match StatusClass::of(status) {
            StatusClass::Success => {}
            StatusClass::NotFound => {
                return Err(FetchError::NotFound {
                    location: location.to_owned(),
                });
            }
            _ => {
                return Err(FetchError::Status {
                    location: location.to_owned(),
                    status: status.as_u16(),
                    retry_after: http::retry_after(response.headers()),
                });
            }
        }
        let body = http::read_body(response, self.max_file_size)
            .await
            .map_err(failed)?;
        // Feed files are JSON, never markup: a page came from something in
        // the way, and taken for a malformed event it would be skipped for
        // good. Failing the download ends the run before that event.
        if body.trim_ascii_start().starts_with(b"<") {
            return Err(FetchError::Page {
                location: location.to_owned(),
                excerpt: opencti_connector::answer_excerpt(&body, PAGE_EXCERPT_CHARS),
            });
        }
        Ok(body)
    }
}

/// The URL without user info or query, for logs and errors.
pub(crate) fn display_url(url: &Url) -> String {
    http::redact_url(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorization_value_is_redacted_in_debug() {
        let settings = HttpSettings {
            timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(60),
            ssl_verify: true,
            retry: RetryPolicy::default(),
            max_file_size: 1024,
            network: Network::default(),
        };
        let fetcher = HttpFetcher::new(&settings, Some("Bearer top-secret")).unwrap();
        let debug = format!("{fetcher:?}");
        assert!(!debug.contains("top-secret"), "{debug}");
        assert!(debug.contains("<redacted>"));
        assert!(matches!(
            HttpFetcher::new(&settings, Some("Bearer a\nb")),
            Err(HttpSetupError::InvalidAuthorization)
        ));
    }
}
