//! `CONNECTOR_LISTEN_PROTOCOL=API`: instead of consuming its listen queue,
//! the connector serves an HTTP endpoint the platform POSTs each job to
//! (the platform's worker consumes the queue and calls the
//! `listen_callback_uri` the connector registered).
//!
//! The exchange follows pycti 7.x's: `Authorization: Bearer <token>`
//! (scheme in any case), the token a connector JWT the platform signed
//! with a key of the registration's `jwks` (7.x; `iss` "opencti", `sub`
//! "connector", not expired) or, from a 6.x platform, the connector's own
//! token; `401 {"error": "Invalid credentials"}` otherwise; the body must be
//! JSON (`400 {"error": "Invalid JSON payload"}`); the job runs, then the
//! answer is `202 {"message": "Message successfully received"}`, also when
//! the connector failed (the job's work carries the error). `GET /health`
//! answers `200 {"status": "ok"}`.
//!
//! Ours besides: a body is read within [`BODY_TIMEOUT`] and up to a limit
//! (`413` past it, `408` too slow); a job the stop interrupts answers
//! `503`, so that the platform sends it again later.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::api::Generation;
use crate::config::Secret;

/// How long the platform may take to send a job's body.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest job body accepted: the platform's messages carry at most a
/// playbook bundle or an entity with its neighbours.
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

/// `CONNECTOR_LISTEN_PROTOCOL_API_*`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiListen {
    /// Address the endpoint is served on.
    pub bind: SocketAddr,
    /// `CONNECTOR_LISTEN_PROTOCOL_API_PATH`: the route jobs are POSTed to.
    pub path: String,
    /// `CONNECTOR_LISTEN_PROTOCOL_API_URI`: how the platform reaches the
    /// connector; `None`: `http://127.0.0.1:<port actually bound>`.
    pub uri: Option<String>,
}

/// A job the platform POSTed, handed to the listen loop.
pub(crate) struct CallbackJob {
    /// The request body (JSON).
    pub(crate) body: Bytes,
    /// Whether the job ran to its end (`false`: the stop interrupted it).
    pub(crate) done: oneshot::Sender<bool>,
}

/// Who may call: the keys of the platform's connector JWTs (7.x), or the
/// connector's own token (6.x).
enum Caller {
    Jwks(Vec<(String, Vec<u8>)>),
    Token(Secret),
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Jwks(keys) => f
                .debug_tuple("Jwks")
                .field(&keys.iter().map(|(kid, _)| kid).collect::<Vec<_>>())
                .finish(),
            Self::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// Why the endpoint cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The address cannot be bound.
    #[error(
        "CONNECTOR_LISTEN_PROTOCOL=API: cannot listen on {addr} (CONNECTOR_LISTEN_PROTOCOL_API_HOST / _PORT): {source}"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A 7.x platform gave no key to check its calls with.
    #[error(
        "CONNECTOR_LISTEN_PROTOCOL=API: the platform's registration holds no Ed25519 key (`jwks`) to check its calls with"
    )]
    NoKey,
}

/// The bound (not yet serving) endpoint: bound before registering, so the
/// registered URI names the port actually used.
pub(crate) struct CallbackListener {
    listener: tokio::net::TcpListener,
    config: ApiListen,
    bound: SocketAddr,
}

impl CallbackListener {
    /// Binds `config.bind`.
    pub(crate) async fn bind(config: &ApiListen) -> Result<Self, CallbackError> {
        let bind_error = |source| CallbackError::Bind {
            addr: config.bind,
            source,
        };
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        Ok(Self {
            listener,
            config: config.clone(),
            bound,
        })
    }

    /// The `listen_callback_uri` to register: the URI (or
    /// `http://127.0.0.1:<port>`) followed by the path.
    pub(crate) fn callback_uri(&self) -> String {
        let base = self
            .config
            .uri
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", self.bound.port()));
        format!("{}{}", base.trim_end_matches('/'), self.config.path)
    }

    /// Serves the endpoint until `shutdown`; jobs come out of the returned
    /// receiver, one at a time. `jwks` is the registration's (7.x),
    /// `token` the connector's own (what a 6.x platform presents).
    pub(crate) fn serve(
        self,
        generation: Generation,
        jwks: Option<&str>,
        token: &Secret,
        max_body_bytes: usize,
        shutdown: CancellationToken,
    ) -> Result<mpsc::Receiver<CallbackJob>, CallbackError> {
        let caller = match generation {
            Generation::V6 => Caller::Token(token.clone()),
            _ => {
                let keys = jwks.map(ed25519_keys).unwrap_or_default();
                if keys.is_empty() {
                    return Err(CallbackError::NoKey);
                }
                Caller::Jwks(keys)
            }
        };
        let (jobs, receiver) = mpsc::channel(1);
        let endpoint = Arc::new(Endpoint {
            caller,
            jobs,
            max_body_bytes,
            shutdown: shutdown.clone(),
        });
        let app = axum::Router::new()
            .route("/health", axum::routing::get(health))
            .route(&self.config.path, axum::routing::post(receive))
            .with_state(endpoint);
        tracing::info!(
            attributes.address = %self.bound,
            attributes.path = %self.config.path,
            "Listening for the platform's jobs over HTTP"
        );
        tokio::spawn(async move {
            let served = axum::serve(self.listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::error!(attributes.reason = %error, "Listen callback endpoint stopped");
            }
        });
        Ok(receiver)
    }
}

struct Endpoint {
    caller: Caller,
    jobs: mpsc::Sender<CallbackJob>,
    max_body_bytes: usize,
    shutdown: CancellationToken,
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn health() -> Response {
    answer(StatusCode::OK, json!({"status": "ok"}))
}

async fn receive(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let mut parts = value.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(scheme), Some(token), None) if scheme.eq_ignore_ascii_case("bearer") => {
                    Some(token)
                }
                _ => None,
            }
        });
    if !bearer.is_some_and(|token| {
        endpoint
            .caller
            .accepts(token, chrono::Utc::now().timestamp())
    }) {
        tracing::warn!("Refused a listen callback without valid credentials");
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "Invalid credentials"}),
        );
    }
    let too_large = || {
        answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": format!("Payload larger than {} bytes", endpoint.max_body_bytes)}),
        )
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > endpoint.max_body_bytes as u64) {
        return too_large();
    }
    let read = axum::body::to_bytes(body, endpoint.max_body_bytes);
    let body = match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Err(_) => {
            return answer(
                StatusCode::REQUEST_TIMEOUT,
                json!({"error": "Payload not received in time"}),
            );
        }
        Ok(Err(_)) => return too_large(),
        Ok(Ok(body)) => body,
    };
    if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        tracing::error!(attributes.cause = %error, "Invalid JSON payload");
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "Invalid JSON payload"}),
        );
    }
    let (done, finished) = oneshot::channel();
    let handed = tokio::select! {
        () = endpoint.shutdown.cancelled() => false,
        sent = endpoint.jobs.send(CallbackJob { body, done }) => sent.is_ok(),
    };
    // Once handed over, the answer waits for the job: a stop lets it
    // finish within its grace, and the loop settles (or drops) every job
    // it was handed.
    let ran = handed && finished.await.unwrap_or(false);
    if ran {
        answer(
            StatusCode::ACCEPTED,
            json!({"message": "Message successfully received"}),
        )
    } else {
        // The platform hands the job back to the queue and calls again.
        answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "The connector is stopping"}),
        )
    }
}

impl Caller {
    fn accepts(&self, token: &str, now: i64) -> bool {
        match self {
            Self::Token(own) => token == own.expose(),
            Self::Jwks(keys) => valid_jwt(keys, token, now),
        }
    }
}

/// The Ed25519 keys (`kty` OKP, `crv` Ed25519) of a JWK Set, by `kid`:
/// the platform signs connector JWTs with such a key.
fn ed25519_keys(jwks: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(set) = serde_json::from_str::<Value>(jwks) else {
        return Vec::new();
    };
    set.get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|key| key["kty"] == "OKP" && key["crv"] == "Ed25519")
        .filter_map(|key| {
            let kid = key.get("kid")?.as_str()?.to_owned();
            let x = URL_SAFE_NO_PAD.decode(key.get("x")?.as_str()?).ok()?;
            (x.len() == 32).then_some((kid, x))
        })
        .collect()
}

/// A compact JWS signed (`EdDSA`) by the key its header's `kid` names,
/// with `iss` "opencti", `sub` "connector" and an `exp` still ahead of
/// `now` (and an `nbf`, if any, behind it).
fn valid_jwt(keys: &[(String, Vec<u8>)], token: &str, now: i64) -> bool {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let decode = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (Some(header_json), Some(claims_json), Ok(signature)) = (
        decode(header),
        decode(claims),
        URL_SAFE_NO_PAD.decode(signature),
    ) else {
        return false;
    };
    if header_json["alg"] != "EdDSA" {
        return false;
    }
    let Some(key) = header_json["kid"]
        .as_str()
        .and_then(|kid| keys.iter().find(|(id, _)| id == kid))
        .map(|(_, key)| key)
    else {
        return false;
    };
    let signed = &token[..header.len() + 1 + claims.len()];
    if !verify_ed25519(key, signed.as_bytes(), &signature) {
        return false;
    }
    let expires = claims_json["exp"].as_i64();
    claims_json["iss"] == "opencti"
        && claims_json["sub"] == "connector"
        && expires.is_some_and(|exp| exp > now)
        && claims_json["nbf"].as_i64().is_none_or(|nbf| nbf <= now)
}

/// Checks an Ed25519 signature with the process's crypto provider (the
/// one TLS uses).
fn verify_ed25519(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Some(provider) = rustls::crypto::CryptoProvider::get_default() else {
        tracing::error!("no crypto provider installed to check the platform's JWT");
        return false;
    };
    provider
        .signature_verification_algorithms
        .mapping
        .iter()
        .filter(|(scheme, _)| *scheme == rustls::SignatureScheme::ED25519)
        .flat_map(|(_, algorithms)| algorithms.iter())
        .any(|algorithm| {
            algorithm
                .verify_signature(public_key, message, signature)
                .is_ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_keep_only_well_formed_ed25519_keys() {
        let x = URL_SAFE_NO_PAD.encode([7_u8; 32]);
        let jwks = json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "good"},
            {"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "short"},
            {"kty": "RSA", "n": "x", "e": "AQAB", "kid": "rsa"},
            {"kty": "OKP", "crv": "Ed25519", "x": x},
        ]})
        .to_string();
        let keys = ed25519_keys(&jwks);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].0, "good");
        assert!(ed25519_keys("not json").is_empty());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let keys = vec![("k".to_owned(), vec![0_u8; 32])];
        for token in ["", "a.b", "a.b.c.d", "!.!.!"] {
            assert!(!valid_jwt(&keys, token, 0), "{token}");
        }
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k"}"#);
        let claims = URL_SAFE_NO_PAD.encode(r#"{"iss":"opencti","sub":"connector","exp":10}"#);
        assert!(!valid_jwt(&keys, &format!("{header}.{claims}.AAAA"), 0));
    }
}
