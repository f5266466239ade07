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
//! With `CONNECTOR_LISTEN_PROTOCOL_API_SSL` the endpoint serves HTTPS (as
//! pycti's uvicorn does) with `LISTEN_PROTOCOL_API_SSL_CERT` and `_KEY`
//! (paths or inline PEM; an encrypted key opened with `_PASSPHRASE`).
//!
//! Ours besides: a request's line and headers must arrive within
//! [`HEADER_TIMEOUT`] (else the connection closes) and hold at most
//! [`MAX_HEADER_BYTES`] (`431`); a body is read within [`BODY_TIMEOUT`] and
//! up to a limit (`413` past it, `408` too slow); a TLS handshake must end
//! within [`HANDSHAKE_TIMEOUT`]; at most [`MAX_CONNECTIONS`] are served at
//! once; a job the stop interrupts answers `503`, so that the platform
//! sends it again later.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::api::Generation;
use crate::config::Secret;

/// How long the platform may take to send a job's body.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest job body accepted: the platform's messages carry at most a
/// playbook bundle or an entity with its neighbours.
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;
/// How long a client may take to finish its TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's line and headers.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request line and headers accepted: the platform sends a
/// bearer token and a few short headers.
pub(crate) const MAX_HEADER_BYTES: usize = 16 << 10;
/// Connections served at once (TLS handshakes included); more wait in
/// the kernel's backlog.
pub(crate) const MAX_CONNECTIONS: usize = 64;

const CERT_VAR: &str = "LISTEN_PROTOCOL_API_SSL_CERT";
const KEY_VAR: &str = "LISTEN_PROTOCOL_API_SSL_KEY";

/// `CONNECTOR_LISTEN_PROTOCOL_API_*`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiListen {
    /// Address the endpoint is served on.
    pub bind: SocketAddr,
    /// `CONNECTOR_LISTEN_PROTOCOL_API_PATH`: the route jobs are POSTed to.
    pub path: String,
    /// `CONNECTOR_LISTEN_PROTOCOL_API_URI`: how the platform reaches the
    /// connector; `None`: `http://127.0.0.1:<port actually bound>`
    /// (`https` when `tls`).
    pub uri: Option<String>,
    /// `CONNECTOR_LISTEN_PROTOCOL_API_SSL`: serve HTTPS with this.
    pub tls: Option<ListenTls>,
}

/// The certificate chain and key the endpoint serves HTTPS with, read
/// and checked against each other.
#[derive(Clone, PartialEq, Eq)]
pub struct ListenTls {
    cert_pem: String,
    key_pem: Secret,
}

impl std::fmt::Debug for ListenTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenTls")
            .field("cert_pem_bytes", &self.cert_pem.len())
            .field("key_pem", &self.key_pem)
            .finish()
    }
}

/// Why the certificate or key cannot be served, and which variable to fix.
#[derive(Debug)]
pub(crate) struct ListenTlsError {
    pub(crate) variable: &'static str,
    pub(crate) reason: String,
}

impl ListenTls {
    /// The chain (PEM, leaf first) and its unencrypted key (PEM).
    pub(crate) fn new(cert_pem: String, key_pem: Secret) -> Self {
        Self { cert_pem, key_pem }
    }

    /// The rustls configuration serving them, HTTP/1.1 only (what the
    /// endpoint speaks).
    pub(crate) fn server_config(&self) -> Result<rustls::ServerConfig, ListenTlsError> {
        let cert_error = |reason: String| ListenTlsError {
            variable: CERT_VAR,
            reason,
        };
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| cert_error(format!("not a PEM certificate chain: {error}")))?;
        if chain.is_empty() {
            return Err(cert_error("holds no PEM certificate".to_owned()));
        }
        // The parser's errors may quote the key's text: not repeated.
        let key =
            PrivateKeyDer::from_pem_slice(self.key_pem.expose().as_bytes()).map_err(|_| {
                ListenTlsError {
                    variable: KEY_VAR,
                    reason: "not a PEM private key (PKCS#8, PKCS#1 or SEC1)".to_owned(),
                }
            })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| cert_error(error.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|error| match error {
                rustls::Error::InvalidCertificate(_) => {
                    cert_error(format!("unusable certificate: {error}"))
                }
                other => ListenTlsError {
                    variable: KEY_VAR,
                    reason: format!("does not fit {CERT_VAR}: {other}"),
                },
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
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
    /// The certificate or key cannot be served.
    #[error("CONNECTOR_LISTEN_PROTOCOL_API_SSL: {variable}: {reason}")]
    Tls {
        /// The variable at fault.
        variable: &'static str,
        /// Why.
        reason: String,
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
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    config: ApiListen,
    bound: SocketAddr,
}

impl CallbackListener {
    /// Binds `config.bind`.
    pub(crate) async fn bind(config: &ApiListen) -> Result<Self, CallbackError> {
        let tls = config
            .tls
            .as_ref()
            .map(|tls| {
                tls.server_config()
                    .map(|server| TlsAcceptor::from(Arc::new(server)))
                    .map_err(|ListenTlsError { variable, reason }| CallbackError::Tls {
                        variable,
                        reason,
                    })
            })
            .transpose()?;
        let bind_error = |source| CallbackError::Bind {
            addr: config.bind,
            source,
        };
        let listener = TcpListener::bind(config.bind).await.map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        Ok(Self {
            listener,
            tls,
            config: config.clone(),
            bound,
        })
    }

    /// The `listen_callback_uri` to register: the URI (or
    /// `http(s)://127.0.0.1:<port>`) followed by the path.
    pub(crate) fn callback_uri(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let base = self
            .config
            .uri
            .clone()
            .unwrap_or_else(|| format!("{scheme}://127.0.0.1:{}", self.bound.port()));
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
        limits: CallbackLimits,
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
            max_body_bytes: limits.max_body_bytes,
            shutdown: shutdown.clone(),
        });
        let app = axum::Router::new()
            .route("/health", axum::routing::get(health))
            .route(&self.config.path, axum::routing::post(receive))
            .with_state(endpoint);
        tracing::info!(
            attributes.address = %self.bound,
            attributes.path = %self.config.path,
            attributes.https = self.tls.is_some(),
            "Listening for the platform's jobs over HTTP"
        );
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_header_size(MAX_HEADER_BYTES);
        let server = Arc::new(Server {
            tls: self.tls,
            http,
            app,
            handshake_timeout: limits.handshake_timeout,
            shutdown,
        });
        tokio::spawn(server.run(self.listener));
        Ok(receiver)
    }
}

/// The endpoint's bounds besides the request's own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallbackLimits {
    /// The largest job body accepted.
    pub(crate) max_body_bytes: usize,
    /// How long a TLS handshake may take.
    pub(crate) handshake_timeout: Duration,
    /// How long a request's line and headers may take.
    pub(crate) header_timeout: Duration,
}

/// Serves each connection in a task of its own, so that a client that
/// stalls (in its TLS handshake, its headers or its body, each bounded
/// in time) holds neither the others nor the accept loop.
struct Server {
    tls: Option<TlsAcceptor>,
    /// HTTP/1.1 with the header bounds (axum's own `serve` sets none).
    http: http1::Builder,
    app: axum::Router,
    handshake_timeout: Duration,
    shutdown: CancellationToken,
}

impl Server {
    /// Accepts until the stop, waiting for a free place while
    /// [`MAX_CONNECTIONS`] are served; dropping the listener closes the
    /// port.
    async fn run(self: Arc<Self>, listener: TcpListener) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let accepted = self
                .shutdown
                .run_until_cancelled(async {
                    let slot = Arc::clone(&slots).acquire_owned().await;
                    (slot, listener.accept().await)
                })
                .await;
            match accepted {
                // The semaphore is never closed.
                None | Some((Err(_), _)) => break,
                Some((Ok(slot), Ok((socket, peer)))) => {
                    tokio::spawn(Arc::clone(&self).connection(socket, peer, slot));
                }
                Some((Ok(_), Err(error))) => accept_failed(&error).await,
            }
        }
    }

    /// One connection, holding its `slot` to its end.
    async fn connection(
        self: Arc<Self>,
        socket: TcpStream,
        peer: SocketAddr,
        _slot: OwnedSemaphorePermit,
    ) {
        let Some(acceptor) = &self.tls else {
            return self.http_over(socket, peer).await;
        };
        let handshake = tokio::time::timeout(self.handshake_timeout, acceptor.accept(socket));
        match self.shutdown.run_until_cancelled(handshake).await {
            None => {}
            Some(Ok(Ok(stream))) => self.http_over(stream, peer).await,
            Some(Ok(Err(error))) => {
                tracing::debug!(attributes.peer = %peer, attributes.reason = %error, "TLS handshake failed");
            }
            Some(Err(_)) => {
                tracing::debug!(attributes.peer = %peer, "TLS handshake not finished in time");
            }
        }
    }

    /// Serves HTTP over `io`; at the stop, a request under way still gets
    /// its answer (its job's, or `503`) and an idle connection closes.
    async fn http_over<I>(&self, io: I, peer: SocketAddr)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = TowerToHyperService::new(self.app.clone());
        let mut connection = std::pin::pin!(self.http.serve_connection(TokioIo::new(io), service));
        let served = match self.shutdown.run_until_cancelled(connection.as_mut()).await {
            Some(served) => served,
            None => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(error) = served {
            tracing::debug!(attributes.peer = %peer, attributes.reason = %error, "Listen callback connection ended");
        }
    }
}

/// What axum's own `serve` does on an accept error: a connection gone
/// before it was accepted is nothing; anything else (out of file
/// descriptors) is logged, then accepting resumes a second later.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(attributes.reason = %error, "Listen callback endpoint cannot accept");
    tokio::time::sleep(Duration::from_secs(1)).await;
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
            Self::Token(own) => same_secret(token.as_bytes(), own.expose().as_bytes()),
            Self::Jwks(keys) => valid_jwt(keys, token, now),
        }
    }
}

/// Whether `given` equals `own`, in a time that depends on `given`'s
/// length only: comparing byte by byte up to the first difference would
/// tell a caller timing its answers how much of a guess is right.
fn same_secret(given: &[u8], own: &[u8]) -> bool {
    if own.is_empty() {
        return false;
    }
    let differences = given
        .iter()
        .enumerate()
        .fold(given.len() ^ own.len(), |differences, (at, byte)| {
            differences | usize::from(byte ^ own[at % own.len()])
        });
    std::hint::black_box(differences) == 0
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
    fn the_6x_token_check_compares_whole_secrets() {
        let own = Secret::new("s3cret-token");
        let caller = Caller::Token(own);
        assert!(caller.accepts("s3cret-token", 0));
        for wrong in [
            "",
            "s",
            "s3cret-toke",
            "s3cret-tokeN",
            "s3cret-token ",
            "x3cret-token",
        ] {
            assert!(!caller.accepts(wrong, 0), "{wrong:?}");
        }
        // The token repeated is no match: the lengths count.
        assert!(!same_secret(b"abab", b"ab"));
        assert!(!same_secret(b"", b""), "an empty token matches nothing");
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
