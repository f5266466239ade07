//! A fake vendor for tests: your routes on a loopback port, with faults
//! played in front of them.
//!
//! Write the vendor's API as an [`axum::Router`] (the answers your
//! connector expects, from fixtures or built in the test), hand it to
//! [`FakeVendor::start`], and point the connector at [`FakeVendor::url`].
//! Queue faults with [`FakeVendor::fail_next`] (whatever the path) or
//! [`FakeVendor::fail_next_on`] (one path): each request takes the next
//! fault, if any, instead of (or around) the normal answer. Every request
//! is recorded with the status it got.
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

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

/// Largest request body recorded (and accepted): 16 MiB.
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// Largest normal answer a [`Fault::Drop`] cuts in half: 256 MiB.
const MAX_DROPPED_ANSWER_BYTES: usize = 256 << 20;

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
    /// The normal answer's status and headers, then half its body, then
    /// the connection is closed: the client sees the request or the body
    /// read fail.
    Drop,
    /// The normal answer after this pause.
    Slow(Duration),
    /// `200` with a body of this many bytes, streamed without a length, for
    /// the client's size limit to stop.
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

/// One request the fake vendor received.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The raw query, if any.
    pub query: Option<String>,
    /// The request headers (`Authorization` included: check credentials
    /// with them, never print them).
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// The status answered (for [`Fault::Drop`], the status sent before the
    /// connection was cut).
    pub status: u16,
    /// The fault played on this request, if any.
    pub fault: Option<Fault>,
}

#[derive(Debug, Default)]
struct Inner {
    any_path: VecDeque<Fault>,
    by_path: HashMap<String, VecDeque<Fault>>,
    log: Vec<RecordedRequest>,
}

#[derive(Debug, Default)]
struct Shared(Mutex<Inner>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next fault for `path`: a fault queued for the path first.
    fn next_fault(&self, path: &str) -> Option<Fault> {
        let mut inner = self.lock();
        let by_path = inner.by_path.get_mut(path).and_then(VecDeque::pop_front);
        by_path.or_else(|| inner.any_path.pop_front())
    }
}

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
        let shared = Arc::new(Shared::default());
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

    /// Queues faults for the next requests to `path`; they come before the
    /// faults queued for any path.
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
}

/// The layer in front of the routes: records the request, plays its fault.
async fn play_faults(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let path = parts.uri.path().to_owned();
    let mut recorded = RecordedRequest {
        method: parts.method.clone(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: body.clone(),
        status: 0,
        fault: shared.next_fault(&path),
    };
    let request = Request::from_parts(parts, Body::from(body));
    let response = match recorded.fault {
        None | Some(Fault::Pass) => next.run(request).await,
        Some(Fault::Status {
            status,
            retry_after,
        }) => status_answer(status, retry_after),
        Some(Fault::Slow(pause)) => {
            tokio::time::sleep(pause).await;
            next.run(request).await
        }
        Some(Fault::Drop) => dropped(next.run(request).await).await,
        Some(Fault::Oversized(bytes)) => oversized(bytes),
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

/// The normal answer's head and half its body, then a failing body: the
/// server aborts the connection.
async fn dropped(normal: Response) -> Response {
    let (mut parts, body) = normal.into_parts();
    let body = axum::body::to_bytes(body, MAX_DROPPED_ANSWER_BYTES)
        .await
        .unwrap_or_default();
    // The declared length would let the client notice before reading.
    parts.headers.remove(header::CONTENT_LENGTH);
    let chunks: [Result<Bytes, std::io::Error>; 2] = [
        Ok(body.slice(..body.len() / 2)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault: connection dropped",
        )),
    ];
    Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)))
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
