//! The ThreatVision API client: OAuth2 client-credentials token (renewed
//! before expiry and after a 401) or a static key, listing pages and STIX
//! bundle downloads, with retries on 429/5xx/broken connections (the
//! runtime's HTTP layer: backoff with jitter, `Retry-After` capped).

use std::time::Duration;

use opencti_connector::answer_excerpt;
use opencti_connector::config::Secret;
use opencti_connector::http::{
    self, Answer, CancellationToken, ClientOptions, LongServerDelay, RetryClass, RetryPolicy,
    StatusClass, TransportError, redact_url,
};
use reqwest::{RequestBuilder, StatusCode, Url};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::{Auth, HttpSettings};
use crate::mapping::Kind;

/// A token's default lifetime when the server gives no `expires_in`.
const DEFAULT_TOKEN_LIFETIME: u64 = 3600;
/// A token is renewed this long before the server says it expires.
const TOKEN_MARGIN: u64 = 60;
/// Longest error body quoted in messages.
const MAX_ERROR_BODY: usize = 300;
/// Largest listing page or STIX bundle read.
const MAX_ANSWER_BYTES: u64 = http::DEFAULT_MAX_ANSWER_BYTES;

/// Why a ThreatVision call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No token could be obtained (`POST /oauth/token`).
    #[error("Failed to obtain OAuth token from TeamT5: {reason}")]
    Auth {
        /// What went wrong.
        reason: String,
    },
    /// The server answered with an error status (after the retries).
    #[error("GET {url}: HTTP {status}: {body}")]
    Status {
        /// The URL (without query).
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// No answer (connection refused or broken, timeout), after the retries.
    #[error("GET {url}: {reason}")]
    Transport {
        /// The URL (without query).
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The answer is not the JSON expected.
    #[error("GET {url}: malformed answer: {reason}")]
    Malformed {
        /// The URL (without query).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A listing page said `"success": false`.
    #[error("GET {url}: the server answered \"success\": false")]
    Unsuccessful {
        /// The URL (without query).
        url: String,
    },
    /// The HTTP client cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Setup(String),
}

impl ClientError {
    /// Whether no data call can succeed until credentials change.
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Auth { .. })
    }
}

#[derive(Debug, Clone)]
struct Token {
    value: Secret,
    /// Renew at or after this instant.
    renew_at: Instant,
}

impl Token {
    fn is_fresh(&self) -> bool {
        Instant::now() < self.renew_at
    }
}

/// The ThreatVision client; cheap to share by reference.
#[derive(Debug)]
pub struct Teamt5Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    settings: HttpSettings,
    retry: RetryPolicy,
    shutdown: CancellationToken,
    token: Mutex<Option<Token>>,
}

/// Why an attempt of [`Teamt5Client::send_retrying`] is worth repeating.
enum Failure {
    /// No answer.
    Transport(TransportError),
    /// 408, 429 or 5xx.
    Busy(Answer),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport(error) => error.fmt(f),
            Self::Busy(answer) => f.write_str(&status_reason(answer.status, &answer.body)),
        }
    }
}

fn url_text(url: &Url) -> String {
    redact_url(url)
}

impl Teamt5Client {
    /// A client for `base` (no trailing slash) with these credentials. No
    /// request is made; call [`Teamt5Client::authenticate`] to get the
    /// first OAuth2 token.
    pub fn new(base: Url, auth: Auth, settings: HttpSettings) -> Result<Self, ClientError> {
        let http = ClientOptions::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
            .connect_timeout(settings.request_timeout)
            .network(settings.network.clone())
            .build()
            .map_err(|error| ClientError::Setup(error.to_string()))?;
        // A Retry-After wins over the backoff, up to the longest backoff.
        let retry = RetryPolicy {
            attempts: settings.attempts,
            initial_backoff: settings.first_backoff,
            max_backoff: settings.max_backoff,
            max_server_delay: settings.max_backoff,
            long_server_delay: LongServerDelay::Cap,
        };
        Ok(Self {
            http,
            base,
            auth,
            settings,
            retry,
            shutdown: CancellationToken::new(),
            token: Mutex::new(None),
        })
    }

    /// Pauses between retries end when `shutdown` fires.
    pub fn set_shutdown(&mut self, shutdown: CancellationToken) {
        self.shutdown = shutdown;
    }

    /// The base URL as text without trailing slash, for building URLs.
    pub fn base_text(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    /// OAuth2 mode: makes sure a token is at hand, fetching one unless the
    /// last is still fresh (the Python connector fetches it at startup and
    /// exits when it fails). Static key: nothing to do.
    pub async fn authenticate(&self) -> Result<(), ClientError> {
        self.bearer(false).await.map(drop)
    }

    /// One listing page: the items at `offset` published since `date_from`.
    pub async fn listing_page(
        &self,
        kind: Kind,
        offset: usize,
        date_from: i64,
    ) -> Result<Vec<Value>, ClientError> {
        let url = self.endpoint(kind.listing_path())?;
        let query = [
            ("offset", offset.to_string()),
            ("date[from]", date_from.to_string()),
        ];
        let mut page = self.get_json(&url, &query, true).await?;
        let unsuccessful = || ClientError::Unsuccessful {
            url: url_text(&url),
        };
        let success = page.get("success").ok_or_else(unsuccessful)?;
        if !python_truthy(success) {
            return Err(unsuccessful());
        }
        match page.get_mut(kind.response_key()).map(Value::take) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(ClientError::Malformed {
                url: url_text(&url),
                reason: format!("`{}` is not an array", kind.response_key()),
            }),
        }
    }

    /// Downloads a STIX bundle and returns its `objects` (empty when
    /// missing). The token is only sent when the URL is on the API's own
    /// origin.
    pub async fn bundle_objects(&self, stix_url: &str) -> Result<Vec<Value>, ClientError> {
        let url = Url::parse(stix_url).map_err(|error| ClientError::Malformed {
            url: http::redact_urls(stix_url),
            reason: format!("not an absolute URL: {error}"),
        })?;
        let same_origin = url.origin() == self.base.origin();
        if !same_origin {
            tracing::debug!(url = %url_text(&url), "STIX url is on another host: sent without the TeamT5 token");
        }
        let mut bundle = self.get_json(&url, &[], same_origin).await?;
        match bundle.get_mut("objects").map(Value::take) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(objects)) => Ok(objects),
            Some(_) => Err(ClientError::Malformed {
                url: url_text(&url),
                reason: "`objects` is not an array".to_owned(),
            }),
        }
    }

    fn endpoint(&self, path: &str) -> Result<Url, ClientError> {
        let text = format!("{}{path}", self.base_text());
        Url::parse(&text).map_err(|error| ClientError::Malformed {
            url: text,
            reason: error.to_string(),
        })
    }

    /// The Bearer token to send: the static key, or the OAuth2 token,
    /// fetched when missing, expired or `force`d.
    async fn bearer(&self, force: bool) -> Result<Secret, ClientError> {
        let (client_id, client_secret) = match &self.auth {
            Auth::ApiKey(key) => return Ok(key.clone()),
            Auth::OAuth {
                client_id,
                client_secret,
            } => (client_id, client_secret),
        };
        let mut token = self.token.lock().await;
        if let Some(current) = token.as_ref()
            && !force
            && current.is_fresh()
        {
            return Ok(current.value.clone());
        }
        let fresh = self.fetch_token(client_id, client_secret).await?;
        let value = fresh.value.clone();
        *token = Some(fresh);
        Ok(value)
    }

    async fn fetch_token(
        &self,
        client_id: &Secret,
        client_secret: &Secret,
    ) -> Result<Token, ClientError> {
        let url = self.endpoint("/oauth/token")?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id.expose()),
            ("client_secret", client_secret.expose()),
        ];
        let answer = self
            .send_retrying(&url, || {
                self.http
                    .post(url.clone())
                    .form(&form)
                    .timeout(self.settings.token_timeout)
            })
            .await;
        let token = match answer {
            Ok(answer) if answer.status.is_success() => parse_token(&answer.body),
            Ok(answer) => Err(status_reason(answer.status, &answer.body)),
            Err(reason) => Err(reason),
        };
        token.map_err(|reason| {
            tracing::error!(token_url = %url_text(&url), error = %reason, "TeamT5 OAuth token exchange failed");
            ClientError::Auth { reason }
        })
    }

    /// Sends the request `build` makes until it gets an answer worth
    /// keeping: 429/408/5xx and broken connections are tried again, up to
    /// [`HttpSettings::attempts`] times. The last answer is returned
    /// whatever its status; `Err` is why the last attempt got none.
    async fn send_retrying(
        &self,
        url: &Url,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Answer, String> {
        let outcome = http::retry(
            &self.retry,
            &self.shutdown,
            &url_text(url),
            |_| async {
                let answer = http::send(build(), MAX_ANSWER_BYTES)
                    .await
                    .map_err(Failure::Transport)?;
                match answer.class() {
                    StatusClass::Transient => Err(Failure::Busy(answer)),
                    _ => Ok(answer),
                }
            },
            |failure| match failure {
                Failure::Transport(error) if !error.is_transient() => RetryClass::Permanent,
                Failure::Transport(_) => RetryClass::TRANSIENT,
                Failure::Busy(answer) => RetryClass::Transient {
                    retry_after: answer.retry_after(),
                },
            },
        )
        .await;
        match outcome {
            Ok(answer) | Err(Failure::Busy(answer)) => Ok(answer),
            Err(Failure::Transport(error)) => Err(error.to_string()),
        }
    }

    /// GET `url` as JSON, with the retries of
    /// [`Teamt5Client::send_retrying`]; a 401 in OAuth2 mode renews the
    /// token once and tries again.
    async fn get_json(
        &self,
        url: &Url,
        query: &[(&str, String)],
        with_token: bool,
    ) -> Result<Value, ClientError> {
        let mut renewed = false;
        loop {
            let token = if with_token {
                Some(self.bearer(false).await?)
            } else {
                None
            };
            let answer = self
                .send_retrying(url, || {
                    let mut request = self
                        .http
                        .get(url.clone())
                        .timeout(self.settings.request_timeout);
                    if !query.is_empty() {
                        request = request.query(query);
                    }
                    if let Some(token) = &token {
                        request = request.bearer_auth(token.expose());
                    }
                    request
                })
                .await
                .map_err(|reason| ClientError::Transport {
                    url: url_text(url),
                    reason,
                })?;
            if answer.status == StatusCode::UNAUTHORIZED
                && with_token
                && !renewed
                && matches!(self.auth, Auth::OAuth { .. })
            {
                tracing::info!(url = %url_text(url), "TeamT5 answered 401: renewing the OAuth token");
                renewed = true;
                self.bearer(true).await?;
                continue;
            }
            if !answer.status.is_success() {
                return Err(ClientError::Status {
                    url: url_text(url),
                    status: answer.status.as_u16(),
                    body: answer_excerpt(&answer.body, MAX_ERROR_BODY),
                });
            }
            return serde_json::from_slice(&answer.body).map_err(|error| ClientError::Malformed {
                url: url_text(url),
                reason: error.to_string(),
            });
        }
    }
}

/// `HTTP <status>: <start of the body>`, for messages.
fn status_reason(status: StatusCode, body: &[u8]) -> String {
    format!("HTTP {status}: {}", answer_excerpt(body, MAX_ERROR_BODY))
}

/// Python truthiness of a JSON value (`data["success"]` is tested with `if not`).
fn python_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|number| number != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// A token answer: `access_token` (string) and optional `expires_in`.
fn parse_token(body: &[u8]) -> Result<Token, String> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|error| format!("invalid JSON: {error}"))?;
    let value = answer
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| "the answer has no `access_token`".to_owned())?;
    let lifetime = answer
        .get("expires_in")
        .and_then(|expires| {
            expires
                .as_u64()
                .or_else(|| expires.as_str().and_then(|text| text.trim().parse().ok()))
        })
        .unwrap_or(DEFAULT_TOKEN_LIFETIME);
    Ok(Token {
        value: Secret::new(value),
        renew_at: Instant::now() + Duration::from_secs(lifetime.saturating_sub(TOKEN_MARGIN)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_are_read_with_defaults() {
        let token = parse_token(br#"{"access_token":"abc","expires_in":7200}"#).unwrap();
        assert_eq!(token.value.expose(), "abc");
        assert!(parse_token(br#"{"token_type":"Bearer"}"#).is_err());
        assert!(parse_token(b"<html>").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_renewed_a_minute_before_they_expire() {
        let token = parse_token(br#"{"access_token":"abc","expires_in":7200}"#).unwrap();
        tokio::time::advance(Duration::from_secs(7200 - 61)).await;
        assert!(token.is_fresh());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!token.is_fresh());

        // Without expires_in: an hour.
        let token = parse_token(br#"{"access_token":"abc"}"#).unwrap();
        tokio::time::advance(Duration::from_secs(3600 - 61)).await;
        assert!(token.is_fresh());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!token.is_fresh());

        // Shorter than the margin: renewed at every use.
        let token = parse_token(br#"{"access_token":"abc","expires_in":30}"#).unwrap();
        assert!(!token.is_fresh());
    }

    #[test]
    fn success_flags_follow_python_truthiness() {
        assert!(python_truthy(&Value::Bool(true)));
        assert!(python_truthy(&serde_json::json!(1)));
        assert!(!python_truthy(&serde_json::json!(0)));
        assert!(!python_truthy(&Value::Null));
        assert!(!python_truthy(&serde_json::json!("")));
    }
}
