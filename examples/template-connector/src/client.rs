//! The vendor's side: fetching the list from `TEMPLATE_URL`, on the
//! runtime's HTTP layer (proxies, CAs, timeouts, bounded bodies, retries
//! that honour `Retry-After` and end on shutdown).

use std::time::Duration;

use opencti_connector::http::{
    self, Answer, BuildError, CancellationToken, ClientOptions, Network, RetryClass, RetryPolicy,
    StatusClass, TransportError,
};
use reqwest::Url;

/// The list is small: a larger answer is refused, not read.
const MAX_LIST_BYTES: u64 = 16 << 20;

/// Why the list could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No answer, or an answer cut short or too large.
    #[error("{url}: {source}")]
    Transport {
        /// The address, redacted.
        url: String,
        /// What failed.
        #[source]
        source: TransportError,
    },
    /// The vendor answered with an error status.
    #[error("{url}: HTTP {status}: {excerpt}")]
    Status {
        /// The address, redacted.
        url: String,
        /// The status.
        status: u16,
        /// The start of the error body.
        excerpt: String,
        /// The vendor's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The list is not UTF-8 text.
    #[error("{url}: the list is not UTF-8 text")]
    NotText {
        /// The address, redacted.
        url: String,
    },
}

impl FetchError {
    /// What the error says about trying again.
    fn retry_class(&self) -> RetryClass {
        match self {
            Self::Transport { source, .. } if source.is_transient() => RetryClass::TRANSIENT,
            Self::Status {
                status,
                retry_after,
                ..
            } if is_transient(*status) => RetryClass::Transient {
                retry_after: *retry_after,
            },
            _ => RetryClass::Permanent,
        }
    }
}

fn is_transient(status: u16) -> bool {
    reqwest::StatusCode::from_u16(status)
        .is_ok_and(|status| StatusClass::of(status) == StatusClass::Transient)
}

/// A client for the list's address.
#[derive(Debug, Clone)]
pub struct ListClient {
    http: reqwest::Client,
    url: Url,
    retry: RetryPolicy,
}

impl ListClient {
    /// A client for `url`, with the user agent of this connector.
    ///
    /// # Errors
    ///
    /// When the network settings cannot make a client (a bad CA bundle).
    pub fn new(url: Url, network: Network) -> Result<Self, BuildError> {
        let http = ClientOptions::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(30))
            .total_timeout(Duration::from_secs(120))
            .network(network)
            .build()?;
        Ok(Self {
            http,
            url,
            retry: RetryPolicy::default(),
        })
    }

    /// The list's address.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The same client with another retry policy (tests shorten it).
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The list's text. Busy or failing answers (429, 5xx, broken
    /// connections) are tried again as the retry policy says.
    ///
    /// # Errors
    ///
    /// The last failure, once retries are exhausted or pointless, or when
    /// `shutdown` fires during a pause.
    pub async fn fetch(&self, shutdown: &CancellationToken) -> Result<String, FetchError> {
        let url = http::redact_url(&self.url);
        http::retry(
            &self.retry,
            shutdown,
            &url,
            |_| self.attempt(&url),
            FetchError::retry_class,
        )
        .await
    }

    async fn attempt(&self, url: &str) -> Result<String, FetchError> {
        let request = self.http.get(self.url.clone());
        let answer = http::send(request, MAX_LIST_BYTES).await;
        let answer: Answer = answer.map_err(|source| FetchError::Transport {
            url: url.to_owned(),
            source,
        })?;
        if !answer.status.is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: answer.status.as_u16(),
                excerpt: answer.excerpt(200),
                retry_after: answer.retry_after(),
            });
        }
        String::from_utf8(answer.body.to_vec()).map_err(|_| FetchError::NotText {
            url: url.to_owned(),
        })
    }
}
