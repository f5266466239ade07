//! Client for Sekoia.io's IoC-collection API: the collection itself, text
//! imports of indicators, searches and revocations.
//!
//! Every call carries `Authorization: Bearer <key>` and JSON headers, as the
//! Python connector's session does. Errors are classified for the caller:
//! [`ClientError::is_retryable`] is true for throttling, server errors,
//! timeouts, unreachable servers, refused keys and a missing collection
//! (an operator can fix those without losing data); other 4xx answers are
//! rejections of the request itself.

use std::fmt;
use std::time::Duration;

use opencti_connector::answer_excerpt;
use opencti_connector::config::Secret;
use opencti_connector::http::{
    self, Answer, CallFailure, ClientOptions, Network, VendorError, redact_url,
};
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;

/// Sekoia error texts are cut to this many characters in errors and logs.
const MAX_ERROR_TEXT: usize = 1000;
/// Largest answer read (a search page, an import receipt).
const MAX_ANSWER_BYTES: u64 = 16 << 20;

/// Everything needed to build a [`SekoiaClient`].
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The IoC-collections base (`…/v2/inthreat/ioc-collections`).
    pub collections_base: Url,
    /// The API key.
    pub api_key: Secret,
    /// The collection id.
    pub collection: String,
    /// Bound on each HTTP request, connection included.
    pub timeout: Duration,
    /// Longest `Retry-After` passed on (longer ones are cut to it, logged).
    pub max_server_delay: Duration,
    /// Proxies and extra trusted CAs (the runtime's network variables).
    pub network: Network,
}

/// The API call that failed, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `GET {collection}`.
    ReadCollection,
    /// `POST {collection}/indicators/text`.
    Push,
    /// `GET {collection}/indicators?term=`.
    Search,
    /// `DELETE {collection}/indicators/{id}`.
    Revoke,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::ReadCollection => "read the IoC collection",
            Operation::Push => "push indicators",
            Operation::Search => "search indicators",
            Operation::Revoke => "revoke an indicator",
        })
    }
}

/// Failures of Sekoia calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client for Sekoia: {detail}")]
    Setup {
        /// What went wrong.
        detail: String,
    },
    /// 401 or 403: the key is refused or lacks rights on the collection.
    #[error("Sekoia denied access to {operation} (HTTP {status}): {detail}")]
    Unauthorized {
        /// The call.
        operation: Operation,
        /// 401 or 403.
        status: u16,
        /// Sekoia's error text.
        detail: String,
    },
    /// 404 on the collection: it does not exist (or no longer).
    #[error(
        "Sekoia does not know the IoC collection {collection:?} (HTTP 404 to {operation}): {detail}"
    )]
    CollectionNotFound {
        /// The call.
        operation: Operation,
        /// The collection id.
        collection: String,
        /// Sekoia's error text.
        detail: String,
    },
    /// 429 or 5xx: Sekoia is busy or failing.
    #[error("Sekoia could not {operation} right now (HTTP {status}): {detail}")]
    Unavailable {
        /// The call.
        operation: Operation,
        /// The HTTP status.
        status: u16,
        /// Sekoia's error text.
        detail: String,
        /// The server's `Retry-After`, when given in seconds.
        retry_after: Option<Duration>,
    },
    /// The request timed out.
    #[error("Sekoia did not answer in time to {operation}")]
    Timeout {
        /// The call.
        operation: Operation,
    },
    /// Sekoia could not be reached (refused or dropped connection, DNS, TLS).
    #[error("cannot reach Sekoia to {operation}: {detail}")]
    Unreachable {
        /// The call.
        operation: Operation,
        /// The transport's description.
        detail: String,
    },
    /// Another 4xx: Sekoia rejected the request itself.
    #[error("Sekoia rejected the request to {operation} (HTTP {status}): {detail}")]
    Rejected {
        /// The call.
        operation: Operation,
        /// The HTTP status.
        status: u16,
        /// Sekoia's error text.
        detail: String,
    },
    /// A success answer that could not be understood.
    #[error("unexpected answer from Sekoia to {operation}: {detail}")]
    InvalidResponse {
        /// The call.
        operation: Operation,
        /// What was wrong with it.
        detail: String,
    },
}

impl ClientError {
    /// Whether the same request may succeed later: Sekoia busy, down or
    /// answering garbage, or a key or collection an operator can fix.
    /// Rejections of the data itself are not.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            ClientError::Rejected { .. } | ClientError::Setup { .. }
        )
    }

    /// Whether the key itself was refused (401).
    pub fn is_bad_key(&self) -> bool {
        matches!(self, ClientError::Unauthorized { status: 401, .. })
    }

    /// The HTTP status of a rejection, if this is one.
    pub fn rejected_status(&self) -> Option<u16> {
        match self {
            ClientError::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The delay Sekoia asked for before the next attempt, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// How the runtime's sink startup and retried events read Sekoia's errors.
impl VendorError for ClientError {
    fn retry_after(&self) -> Option<Duration> {
        ClientError::retry_after(self)
    }

    /// A refused key, a missing collection (both retried once streaming,
    /// where an operator may fix them meanwhile) or a refused request.
    fn stops_startup(&self) -> bool {
        self.is_bad_key()
            || matches!(self, ClientError::CollectionNotFound { .. })
            || !self.is_retryable()
    }
}

/// An IoC found by a search.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FoundIoc {
    /// Sekoia's id (`ioc--…`).
    pub id: String,
    /// The value, when Sekoia returns it.
    #[serde(default)]
    pub value: Option<String>,
    /// Whether it is already revoked.
    #[serde(default)]
    pub revoked: Option<bool>,
}

#[derive(Deserialize)]
struct SearchPage {
    #[serde(default)]
    items: Option<Vec<FoundIoc>>,
}

/// A connection to Sekoia for one IoC collection. Cheap to share behind an
/// `Arc`; calls may run concurrently.
#[derive(Debug)]
pub struct SekoiaClient {
    http: reqwest::Client,
    max_server_delay: Duration,
    collection_url: Url,
    collection: String,
    authorization: HeaderValue,
}

impl SekoiaClient {
    /// Builds the client; no request is sent yet.
    pub fn new(settings: ClientSettings) -> Result<Self, ClientError> {
        let http = ClientOptions::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
            .connect_timeout(settings.timeout)
            .total_timeout(settings.timeout)
            .network(settings.network)
            .build()
            .map_err(|e| ClientError::Setup {
                detail: e.to_string(),
            })?;
        let mut authorization = HeaderValue::from_str(&format!(
            "Bearer {}",
            settings.api_key.expose()
        ))
        .map_err(|_| ClientError::Setup {
            detail: "SEKOIA_INTEL_APIKEY holds characters not allowed in an HTTP header".to_owned(),
        })?;
        authorization.set_sensitive(true);
        let mut collection_url = settings.collections_base;
        if collection_url.cannot_be_a_base() {
            return Err(ClientError::Setup {
                detail: format!(
                    "SEKOIA_INTEL_URL {} cannot hold a path",
                    redact_url(&collection_url)
                ),
            });
        }
        collection_url
            .path_segments_mut()
            .expect("checked just above")
            .pop_if_empty()
            .push(&settings.collection);
        Ok(Self {
            http,
            max_server_delay: settings.max_server_delay,
            collection_url,
            collection: settings.collection,
            authorization,
        })
    }

    /// The collection's URL, every call is under it.
    pub fn collection_url(&self) -> &Url {
        &self.collection_url
    }

    /// Checks that the collection exists and the key may read it.
    pub async fn check_collection(&self) -> Result<(), ClientError> {
        let answer = self
            .call(Operation::ReadCollection, Method::GET, &[], &[], None)
            .await?;
        // A proxy's login page answered 200 is not the collection.
        json_answer::<IgnoredAny>(Operation::ReadCollection, &answer.body).map(drop)
    }

    /// Pushes one text import (`POST …/indicators/text`); returns Sekoia's
    /// task id when it gives one.
    pub async fn push(&self, body: &Value) -> Result<Option<String>, ClientError> {
        let body = serde_json::to_vec(body).expect("a JSON value always serialises");
        let answer = self
            .call(
                Operation::Push,
                Method::POST,
                &["indicators", "text"],
                &[],
                Some(body),
            )
            .await?;
        // Garbage instead of Sekoia's JSON (a proxy's page, a cut answer)
        // leaves it unknown whether the import was taken: sending it again
        // is harmless, losing it is not.
        let answer: Option<Value> = json_answer(Operation::Push, &answer.body)?;
        Ok(answer.and_then(|answer| answer.get("task_id")?.as_str().map(str::to_owned)))
    }

    /// The IoCs a search for `term` returns (`GET …/indicators?term=`), the
    /// term URL-encoded.
    pub async fn search(&self, term: &str) -> Result<Vec<FoundIoc>, ClientError> {
        let answer = self
            .call(
                Operation::Search,
                Method::GET,
                &["indicators"],
                &[("term", term)],
                None,
            )
            .await?;
        // An empty answer, `null` and a page without items all mean none.
        let page: Option<Option<SearchPage>> = json_answer(Operation::Search, &answer.body)?;
        Ok(page
            .flatten()
            .and_then(|page| page.items)
            .unwrap_or_default())
    }

    /// Revokes one IoC (`DELETE …/indicators/{id}`); an unknown id is not an
    /// error. Returns whether Sekoia knew it.
    pub async fn revoke(&self, id: &str) -> Result<bool, ClientError> {
        match self
            .call(
                Operation::Revoke,
                Method::DELETE,
                &["indicators", id],
                &[],
                None,
            )
            .await
        {
            Ok(answer) => json_answer::<IgnoredAny>(Operation::Revoke, &answer.body).map(|_| true),
            Err(ClientError::CollectionNotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    async fn call(
        &self,
        operation: Operation,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ClientError> {
        let mut url = self.collection_url.clone();
        url.path_segments_mut()
            .expect("checked when the client was built")
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request = self
            .http
            .request(method, url)
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(body) = body {
            request = request.body(body);
        }
        let answer = http::send(request, MAX_ANSWER_BYTES)
            .await
            .map_err(|error| self.failed(operation, error.into()))?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            let failure =
                CallFailure::of_answer(&answer, MAX_ERROR_TEXT, self.max_server_delay, "Sekoia");
            Err(self.failed(operation, failure))
        }
    }

    /// The error of a failed `operation`; a 404 means the collection does
    /// not exist (every call is under it), a 410 is a rejection.
    fn failed(&self, operation: Operation, failure: CallFailure) -> ClientError {
        match failure {
            CallFailure::Unavailable {
                status,
                detail,
                retry_after,
            } => ClientError::Unavailable {
                operation,
                status,
                detail,
                retry_after,
            },
            CallFailure::Unauthorized { status, detail } => ClientError::Unauthorized {
                operation,
                status,
                detail,
            },
            CallFailure::NotFound {
                status: 404,
                detail,
            } => ClientError::CollectionNotFound {
                operation,
                collection: self.collection.clone(),
                detail,
            },
            CallFailure::NotFound { status, detail } | CallFailure::Rejected { status, detail } => {
                ClientError::Rejected {
                    operation,
                    status,
                    detail,
                }
            }
            CallFailure::InvalidResponse { detail } => {
                ClientError::InvalidResponse { operation, detail }
            }
            CallFailure::Timeout => ClientError::Timeout { operation },
            CallFailure::Unreachable { detail } => ClientError::Unreachable { operation, detail },
        }
    }
}

/// A success answer read as `T`, `None` when it is empty (as the Python
/// connector reads them).
fn json_answer<T: DeserializeOwned>(
    operation: Operation,
    body: &[u8],
) -> Result<Option<T>, ClientError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| ClientError::InvalidResponse {
            operation,
            detail: format!("{e}; body: {}", error_text(body)),
        })
}

/// Sekoia's answer as readable text, cut to a sane length.
fn error_text(body: &[u8]) -> String {
    answer_excerpt(body, MAX_ERROR_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str, collection: &str) -> SekoiaClient {
        SekoiaClient::new(ClientSettings {
            collections_base: Url::parse(base).unwrap(),
            api_key: Secret::new("sk_test"),
            collection: collection.to_owned(),
            timeout: Duration::from_secs(1),
            max_server_delay: http::DEFAULT_MAX_SERVER_DELAY,
            network: Network::default(),
        })
        .unwrap()
    }

    #[test]
    fn the_collection_is_one_path_segment_under_the_base() {
        let client = client(
            "https://api.sekoia.io/v2/inthreat/ioc-collections",
            "ioc-collection--1f2e",
        );
        assert_eq!(
            client.collection_url().as_str(),
            "https://api.sekoia.io/v2/inthreat/ioc-collections/ioc-collection--1f2e"
        );
    }

    #[test]
    fn a_base_without_a_path_is_named_in_the_error() {
        let error = SekoiaClient::new(ClientSettings {
            collections_base: Url::parse("mailto:soc@example.org").unwrap(),
            api_key: Secret::new("sk_test"),
            collection: "c".to_owned(),
            timeout: Duration::from_secs(1),
            max_server_delay: http::DEFAULT_MAX_SERVER_DELAY,
            network: Network::default(),
        })
        .unwrap_err();
        assert!(
            error.to_string().contains("mailto:soc@example.org"),
            "{error}"
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let debug = format!("{:?}", client("https://x/y", "c"));
        assert!(!debug.contains("sk_test"), "{debug}");
    }

    #[test]
    fn retryable_errors() {
        let rejected = ClientError::Rejected {
            operation: Operation::Push,
            status: 400,
            detail: String::new(),
        };
        assert!(!rejected.is_retryable());
        assert_eq!(rejected.rejected_status(), Some(400));
        let busy = ClientError::Unavailable {
            operation: Operation::Push,
            status: 429,
            detail: String::new(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(busy.is_retryable());
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(3)));
        let refused = ClientError::Unauthorized {
            operation: Operation::Push,
            status: 401,
            detail: String::new(),
        };
        assert!(refused.is_retryable() && refused.is_bad_key());
    }
}
