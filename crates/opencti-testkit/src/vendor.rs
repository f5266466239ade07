//! A fake vendor for tests: your routes on a loopback port, with faults
//! played in front of them.
//!
//! Write the vendor's API as an [`axum::Router`] (the answers your
//! connector expects, from fixtures or built in the test), hand it to
//! [`FakeVendor::start`], and point the connector at [`FakeVendor::url`].
//! Queue faults with [`FakeVendor::fail_next`] (whatever the path) or
//! [`FakeVendor::fail_next_on`] (one path): each request takes the next
//! fault, if any, instead of (or around) the normal answer. Every request
//! is recorded with the status it got; [`FakeVendor::set_delay`] makes
//! every answer slow.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use opencti_testkit::axum::{Router, routing::get};
//! use opencti_testkit::vendor::{FakeVendor, Fault};
//!
//! let vendor = FakeVendor::start(Router::new().route("/feed", get(|| async { "a\nb\n" }))).await?;
//! // The first call is throttled, the second is cut off mid-answer, the
//! // third goes through.
//! vendor.fail_next_on("/feed", [Fault::too_many_requests(2), Fault::Drop]);
//! // ... run the connector against vendor.url() ...
//! assert_eq!(vendor.requests_to("/feed").len(), 3);
//! # Ok(()) }
//! ```
//!
//! # A vendor's own faults and credentials
//!
//! A fake of a real vendor answers faults the way that vendor does: its
//! error body, its `200` with `"success": false`, its login page. Build
//! those as an [`Answer`] played with [`Fault::Answer`]. A vendor that
//! checks credentials before it throttles is started with
//! [`FakeVendor::start_gated`]: requests the gate refuses reach the routes
//! (which answer `401`) and leave the queued faults for the next ones.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use opencti_testkit::axum::{Router, http::StatusCode, routing::get};
//! use opencti_testkit::vendor::{Answer, FakeVendor, Fault, RetryAfter};
//!
//! const KEY: &str = "Bearer s3cr3t";
//! let routes = Router::new().route(
//!     "/iocs",
//!     get(|headers: opencti_testkit::axum::http::HeaderMap| async move {
//!         match headers.get("authorization") {
//!             Some(value) if value == KEY => (StatusCode::OK, "[]"),
//!             _ => (StatusCode::UNAUTHORIZED, r#"{"message":"bad key"}"#),
//!         }
//!     }),
//! );
//! let vendor = FakeVendor::start_gated(routes, |request| {
//!     request.headers.get("authorization").is_some_and(|value| value == KEY)
//! })
//! .await?;
//! // The vendor's own rate-limit answer.
//! let over_limit = Answer::json(429, r#"{"message":"Over limit"}"#)
//!     .with_retry_after(RetryAfter::Seconds(30));
//! vendor.fail_next([Fault::Answer(over_limit)]);
//! # Ok(()) }
//! ```
//!
//! # A fake that holds state
//!
//! A fake of a real vendor keeps what the connector wrote (lists, IoCs),
//! what it issued (tokens, sessions) and what the test set up, and its
//! routes, its gate and the test's handle all read it. Write the routes
//! against `State<Arc<VendorState<S, D>>>` (the settings `S` the fake
//! started with, the data `D` it holds) and start them with
//! [`StatefulVendor::start`] (or [`StatefulVendor::start_gated`], whose
//! gate reads the same state): the handle reaches the data and the
//! [`FakeVendor`]. The test reads the requests back decoded with
//! [`FakeVendor::answered_requests`]. The fake's own file is then only its
//! vendor's routes and the handle's methods.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

mod state;

pub use state::{AnsweredRequest, StatefulVendor, VendorState};

/// Largest request body recorded (and accepted): 16 MiB.
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// Largest normal answer a [`Fault::Drop`] or [`Fault::Truncated`] cuts
/// in half: 256 MiB.
const MAX_CUT_ANSWER_BYTES: usize = 256 << 20;

/// What an oversized answer is made of, a chunk at a time.
static FILLER: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// The pause a fault's `Retry-After` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <HTTP date>`.
    Date(DateTime<Utc>),
}

impl RetryAfter {
    /// The header's value.
    fn header_value(self) -> HeaderValue {
        let text = match self {
            Self::Seconds(seconds) => seconds.to_string(),
            Self::Date(date) => date.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        };
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("1"))
    }
}

/// A whole answer given instead of the normal one: a vendor's own error
/// body, a `200` that says it failed, a login page a proxy put in the way.
///
/// ```
/// use opencti_testkit::vendor::{Answer, RetryAfter};
///
/// let throttled = Answer::json(429, r#"{"detail":"slow down"}"#)
///     .with_retry_after(RetryAfter::Seconds(3));
/// let portal = Answer::html(200, "<html><form action=\"/login\"></form></html>");
/// let bare = Answer::new(503);
/// # let _ = (throttled, portal, bare);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<&'static str>,
    /// The body (its length is declared).
    pub body: &'static [u8],
    /// The `Retry-After` header, if any.
    pub retry_after: Option<RetryAfter>,
}

impl Answer {
    /// This status, without a body.
    pub const fn new(status: u16) -> Self {
        Self {
            status,
            content_type: None,
            body: b"",
            retry_after: None,
        }
    }

    /// This status with a JSON body.
    pub const fn json(status: u16, body: &'static str) -> Self {
        Self::new(status).with_body("application/json", body.as_bytes())
    }

    /// This status with an HTML body.
    pub const fn html(status: u16, body: &'static str) -> Self {
        Self::new(status).with_body("text/html", body.as_bytes())
    }

    /// The same answer with this body and `Content-Type`.
    pub const fn with_body(mut self, content_type: &'static str, body: &'static [u8]) -> Self {
        self.content_type = Some(content_type);
        self.body = body;
        self
    }

    /// The same answer with this `Retry-After`.
    pub const fn with_retry_after(mut self, retry_after: RetryAfter) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Body::from(self.body)).into_response();
        let headers = response.headers_mut();
        if let Some(content_type) = self.content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if let Some(retry_after) = self.retry_after {
            headers.insert(header::RETRY_AFTER, retry_after.header_value());
        }
        response
    }
}

/// An answer given instead of (or around) the normal one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// This status with a short JSON body, and a `Retry-After` when given.
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header, if any.
        retry_after: Option<RetryAfter>,
    },
    /// This whole answer (a vendor's own error or failure page).
    Answer(Answer),
    /// The normal answer's status and headers, then half its body, then
    /// the connection is closed: the client sees the request or the body
    /// read fail.
    Drop,
    /// The normal answer with half its body, its length declared to
    /// match: the client reads a complete answer that ends too soon.
    Truncated,
    /// The connection is closed before any answer: the client sees the
    /// request fail. The request is recorded with status `0`.
    Hangup,
    /// The normal answer after this pause.
    Slow(Duration),
    /// `200` with a body of this many bytes, streamed without a length, for
    /// the client's size limit to stop (`u64::MAX`: a body that never ends).
    Oversized(u64),
    /// The normal answer (to place a fault after good answers).
    Pass,
}

impl Fault {
    /// This status without `Retry-After` (`500`, `502`, `503`, ...).
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
        }
    }

    /// `429 Too Many Requests` with `Retry-After: <seconds>`.
    pub fn too_many_requests(seconds: u64) -> Self {
        Self::Status {
            status: 429,
            retry_after: Some(RetryAfter::Seconds(seconds)),
        }
    }

    /// `503 Service Unavailable` with `Retry-After` as an HTTP date.
    pub fn unavailable_until(date: DateTime<Utc>) -> Self {
        Self::Status {
            status: 503,
            retry_after: Some(RetryAfter::Date(date)),
        }
    }
}

impl From<Answer> for Fault {
    fn from(answer: Answer) -> Self {
        Self::Answer(answer)
    }
}

/// One request the fake vendor received.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The path, without the query, as sent (percent-encoded).
    pub path: String,
    /// The raw query, if any.
    pub query: Option<String>,
    /// The request headers (`Authorization` included: check credentials
    /// with them, never print them).
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// The status answered (for [`Fault::Drop`], the status sent before the
    /// connection was cut; `0` for [`Fault::Hangup`]).
    pub status: u16,
    /// The fault played on this request, if any.
    pub fault: Option<Fault>,
}

impl RecordedRequest {
    /// The request as received, not yet answered, in memory of its own.
    ///
    /// The server parses header values, and reads a small body, as slices
    /// of the connection's read buffer. A log that kept those slices would
    /// keep every request's buffer alive, and the server would allocate a
    /// new one (8 KiB and up) for each next request on the connection: the
    /// copies are small next to the buffers they leave free.
    fn owned_copy(parts: &request::Parts, body: &[u8]) -> Self {
        let mut headers = HeaderMap::with_capacity(parts.headers.len());
        for (name, value) in &parts.headers {
            // A value the server accepted is valid here too; were it not,
            // the shared value is better than none.
            let mut copy =
                HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
            copy.set_sensitive(value.is_sensitive());
            headers.append(name.clone(), copy);
        }
        Self {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            body: Bytes::copy_from_slice(body),
            status: 0,
            fault: None,
        }
    }

    /// The path with its percent-escapes decoded.
    pub fn decoded_path(&self) -> String {
        percent_decode(&self.path)
    }

    /// The query's pairs, decoded (`+` as a space), in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_pairs(self.query.as_deref().unwrap_or_default())
    }

    /// The body's pairs when it is a form (`a=1&b=2`), decoded.
    pub fn form_pairs(&self) -> Vec<(String, String)> {
        form_pairs(&String::from_utf8_lossy(&self.body))
    }

    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// `text` with its `%XX` escapes decoded (an escape that is not one stays
/// as it is), as a vendor's router reads a path segment.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(hex) = text.get(index + 1..index + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The pairs of an `application/x-www-form-urlencoded` text, decoded.
fn form_pairs(text: &str) -> Vec<(String, String)> {
    let uri = format!("/?{text}").parse().unwrap_or_default();
    Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|Query(pairs)| pairs)
        .unwrap_or_default()
}

/// Which requests may take a queued fault (see [`FakeVendor::start_gated`]).
type Gate = dyn Fn(&request::Parts) -> bool + Send + Sync;

#[derive(Debug, Default)]
struct Inner {
    any_path: VecDeque<Fault>,
    by_path: HashMap<String, VecDeque<Fault>>,
    delay: Option<Duration>,
    log: Vec<RecordedRequest>,
}

struct Shared {
    inner: Mutex<Inner>,
    gate: Option<Box<Gate>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("inner", &self.inner)
            .field("gated", &self.gate.is_some())
            .finish()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next fault for this request: none when the gate refuses it, a
    /// fault queued for its path first.
    fn next_fault(&self, parts: &request::Parts) -> Option<Fault> {
        if let Some(gate) = &self.gate
            && !gate(parts)
        {
            return None;
        }
        let path = parts.uri.path();
        let mut inner = self.lock();
        let by_path = inner.by_path.get_mut(path).and_then(VecDeque::pop_front);
        by_path.or_else(|| inner.any_path.pop_front())
    }
}

/// The payload of the panic that closes a connection without an answer.
struct HungUp;

/// A vendor API served on `127.0.0.1` for one test; stops when dropped.
#[derive(Debug)]
pub struct FakeVendor {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeVendor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeVendor {
    /// Serves `routes` on a random loopback port, behind the fault layer.
    /// A router with state is given after `.with_state(...)`.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start(routes: Router) -> std::io::Result<Self> {
        Self::serve(routes, None).await
    }

    /// [`FakeVendor::start`], with faults played only on the requests
    /// `gate` accepts (those with valid credentials, say): the others go
    /// to the routes and leave the queue as it is, as with a vendor that
    /// checks credentials before it throttles or fails.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start_gated(
        routes: Router,
        gate: impl Fn(&request::Parts) -> bool + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::serve(routes, Some(Box::new(gate))).await
    }

    async fn serve(routes: Router, gate: Option<Box<Gate>>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            inner: Mutex::default(),
            gate,
        });
        let app = routes.layer(from_fn_with_state(Arc::clone(&shared), play_faults));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            // The server lives as long as its task; an error ends it.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { shared, addr, task })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url_for(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues faults for the next requests, whatever their path (after the
    /// faults already queued).
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().any_path.extend(faults);
    }

    /// Queues faults for the next requests to `path` (as sent, without the
    /// query); they come before the faults queued for any path.
    pub fn fail_next_on(&self, path: &str, faults: impl IntoIterator<Item = Fault>) {
        self.shared
            .lock()
            .by_path
            .entry(path.to_owned())
            .or_default()
            .extend(faults);
    }

    /// Faults still queued (for any path and per path).
    pub fn pending_faults(&self) -> usize {
        let inner = self.shared.lock();
        inner.any_path.len() + inner.by_path.values().map(VecDeque::len).sum::<usize>()
    }

    /// Makes every answer from now on wait this long first (a slow vendor,
    /// for timeouts and for runs a test interrupts); `None` removes it.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.shared.lock().delay = delay;
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().log.clone()
    }

    /// The requests to `path`, oldest first.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        let inner = self.shared.lock();
        inner
            .log
            .iter()
            .filter(|request| request.path == path)
            .cloned()
            .collect()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }
}

/// The layer in front of the routes: waits the delay, records the
/// request, plays its fault.
async fn play_faults(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let delay = shared.lock().delay;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut recorded = RecordedRequest::owned_copy(&parts, &body);
    recorded.fault = shared.next_fault(&parts);
    let request = Request::from_parts(parts, Body::from(body));
    let response = match recorded.fault {
        None | Some(Fault::Pass) => next.run(request).await,
        Some(Fault::Status {
            status,
            retry_after,
        }) => status_answer(status, retry_after),
        Some(Fault::Answer(answer)) => answer.into_response(),
        Some(Fault::Slow(pause)) => {
            tokio::time::sleep(pause).await;
            next.run(request).await
        }
        Some(Fault::Drop) => dropped(next.run(request).await).await,
        Some(Fault::Truncated) => truncated(next.run(request).await).await,
        Some(Fault::Oversized(bytes)) => oversized(bytes),
        Some(Fault::Hangup) => {
            shared.lock().log.push(recorded);
            // The connection's task ends without an answer: the server
            // closes the connection, as a crashing proxy would.
            std::panic::panic_any(HungUp);
        }
    };
    recorded.status = response.status().as_u16();
    shared.lock().log.push(recorded);
    response
}

fn status_answer(status: u16, retry_after: Option<RetryAfter>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = format!(
        r#"{{"error":"injected fault","status":{}}}"#,
        status.as_u16()
    );
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(retry_after) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after.header_value());
    }
    response
}

/// The normal answer's head and its body, read whole.
async fn read_whole(normal: Response) -> (axum::http::response::Parts, Bytes) {
    let (mut parts, body) = normal.into_parts();
    let body = axum::body::to_bytes(body, MAX_CUT_ANSWER_BYTES)
        .await
        .unwrap_or_default();
    // The length is declared again (or not at all) for the cut body.
    parts.headers.remove(header::CONTENT_LENGTH);
    (parts, body)
}

/// The normal answer's head and half its body, then a failing body: the
/// server aborts the connection.
async fn dropped(normal: Response) -> Response {
    let (parts, body) = read_whole(normal).await;
    let chunks: [Result<Bytes, std::io::Error>; 2] = [
        Ok(body.slice(..body.len() / 2)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault: connection dropped",
        )),
    ];
    Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)))
}

/// The normal answer with the first half of its body, complete.
async fn truncated(normal: Response) -> Response {
    let (parts, body) = read_whole(normal).await;
    Response::from_parts(parts, Body::from(body.slice(..body.len() / 2)))
}

/// `200` with `bytes` bytes of filler, a chunk at a time.
fn oversized(bytes: u64) -> Response {
    let chunk = FILLER.len() as u64;
    let chunks = (0..bytes.div_ceil(chunk)).map(move |index| {
        let size = (bytes - index * chunk).min(chunk) as usize;
        Ok::<_, Infallible>(Bytes::from_static(&FILLER[..size]))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(futures::stream::iter(chunks)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_holds_no_slice_of_the_connections_buffer() {
        // The connection's read buffer, with the head and body parsed from
        // it as the server parses them: slices sharing the buffer.
        let buffer =
            Bytes::copy_from_slice(br#"Bearer s3cr3t text/plain {"value":"198.51.100.7"}"#);
        let mut auth = HeaderValue::from_maybe_shared(buffer.slice(..13)).unwrap();
        auth.set_sensitive(true);
        let (parts, ()) = axum::http::Request::post("/iocs?term=a%20b")
            .header(header::AUTHORIZATION, auth)
            .header(
                header::ACCEPT,
                HeaderValue::from_maybe_shared(buffer.slice(14..24)).unwrap(),
            )
            .header(header::ACCEPT, "application/json")
            .body(())
            .unwrap()
            .into_parts();
        let body = buffer.slice(25..);

        let recorded = RecordedRequest::owned_copy(&parts, &body);
        drop((parts, body));
        assert!(buffer.is_unique(), "the record keeps the buffer alive");

        assert_eq!(recorded.method, Method::POST);
        assert_eq!(recorded.path, "/iocs");
        assert_eq!(recorded.query.as_deref(), Some("term=a%20b"));
        assert_eq!(recorded.header("authorization"), Some("Bearer s3cr3t"));
        assert!(recorded.headers[header::AUTHORIZATION].is_sensitive());
        let accept: Vec<_> = recorded.headers.get_all(header::ACCEPT).iter().collect();
        assert_eq!(accept, ["text/plain", "application/json"]);
        assert_eq!(recorded.body, r#"{"value":"198.51.100.7"}"#);
        assert_eq!((recorded.status, recorded.fault), (0, None));
    }
}
