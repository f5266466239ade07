//! Feed files over HTTP(S): timeouts, retries, a size cap, an optional
//! `Authorization` header.

use opencti_connector::error_chain;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::error::FetchError;
use super::retry::{RetryPolicy, with_retries};

/// Connection set-up never needs longer than this, whatever the read timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How feed files are downloaded.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Longest silence while connecting or reading a response.
    pub timeout: Duration,
    /// Verify the server's TLS certificate (`MISP_FEED_SSL_VERIFY`).
    pub ssl_verify: bool,
    /// Retry schedule for transient failures.
    pub retry: RetryPolicy,
    /// Largest accepted file, in bytes.
    pub max_file_size: u64,
}

/// Downloads feed files; cheap to clone.
#[derive(Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    authorization: Option<HeaderValue>,
    retry: RetryPolicy,
    max_file_size: u64,
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
        Ok(Self {
            client: build_client(settings)?,
            authorization,
            retry: settings.retry,
            max_file_size: settings.max_file_size,
        })
    }

    /// The underlying client (shared with the S3 client: same TLS and
    /// timeout settings).
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// GETs `url` with retries and returns the whole body.
    pub async fn get(&self, url: &Url) -> Result<Bytes, FetchError> {
        let location = display_url(url);
        with_retries(&self.retry, &location, || self.get_once(url, &location)).await
    }

    async fn get_once(&self, url: &Url, location: &str) -> Result<Bytes, FetchError> {
        let mut request = self.client.get(url.clone());
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let transport = |error: reqwest::Error| FetchError::Transport {
            location: location.to_owned(),
            message: error_chain(&error),
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Err(FetchError::NotFound {
                location: location.to_owned(),
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                location: location.to_owned(),
                status: status.as_u16(),
                retry_after: response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(parse_retry_after),
            });
        }
        let too_large = || FetchError::TooLarge {
            location: location.to_owned(),
            limit: self.max_file_size,
        };
        let announced = response.content_length();
        if announced.is_some_and(|length| length > self.max_file_size) {
            return Err(too_large());
        }
        // The announced length only sizes the buffer; the cap is enforced on
        // what actually arrives.
        let capacity = announced.unwrap_or(0).min(self.max_file_size);
        let mut body = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if (body.len() + chunk.len()) as u64 > self.max_file_size {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

fn build_client(settings: &HttpSettings) -> Result<reqwest::Client, HttpSetupError> {
    // reqwest and the AMQP client both link rustls; pin the process-wide
    // provider before the first TLS client exists. A provider installed
    // earlier by the runtime is just as good, so the error is not interesting.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("opencti-misp-feed/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.timeout.min(MAX_CONNECT_TIMEOUT))
        .read_timeout(settings.timeout)
        .tls_danger_accept_invalid_certs(!settings.ssl_verify)
        .build()
        .map_err(|error| HttpSetupError::Client(error_chain(&error)))
}

/// `Retry-After` as delta-seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The URL without any `user:password@` part, for logs and errors.
pub(crate) fn display_url(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Both setters only fail for URLs that cannot carry credentials at all.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past means retry now"
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let wait = parse_retry_after(&future).unwrap();
        assert!(wait > Duration::from_secs(80) && wait <= Duration::from_secs(90));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn credentials_never_reach_the_display_form() {
        let url = Url::parse("https://alice:s3cret@feeds.example.org/misp/manifest.json").unwrap();
        let shown = display_url(&url);
        assert_eq!(shown, "https://feeds.example.org/misp/manifest.json");
        let plain = Url::parse("https://feeds.example.org/x").unwrap();
        assert_eq!(display_url(&plain), "https://feeds.example.org/x");
    }

    #[test]
    fn the_authorization_value_is_redacted_in_debug() {
        let settings = HttpSettings {
            timeout: Duration::from_secs(5),
            ssl_verify: true,
            retry: RetryPolicy::default(),
            max_file_size: 1024,
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
