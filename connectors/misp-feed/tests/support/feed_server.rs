//! A MISP feed served over HTTP on 127.0.0.1, with scripted faults: the
//! feed's files on the test kit's `FakeVendor`, which plays the faults
//! (once the `Authorization` header is checked) and counts the requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use opencti_testkit::axum::Router;
use opencti_testkit::axum::extract::{Path, State};
use opencti_testkit::axum::http::{HeaderMap, StatusCode, header};
use opencti_testkit::axum::response::{IntoResponse, Response};
use opencti_testkit::axum::routing::get;
use opencti_testkit::vendor::{self, Answer, FakeVendor, RetryAfter};

/// What the next request for a file gets instead of the file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    /// This status, no body.
    Status(u16),
    /// This status with `Retry-After: <seconds>`.
    StatusRetryAfter(u16, u64),
    /// Half the file, then the connection breaks.
    Drop,
    /// A 200 with this body instead of the real file.
    Body(&'static [u8]),
}

impl From<Fault> for vendor::Fault {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::Status(status) => Answer::new(status).into(),
            Fault::StatusRetryAfter(status, seconds) => Answer::new(status)
                .with_retry_after(RetryAfter::Seconds(seconds))
                .into(),
            Fault::Drop => Self::Drop,
            Fault::Body(body) => Answer::new(200).with_body("application/json", body).into(),
        }
    }
}

type Files = Arc<Mutex<HashMap<String, Bytes>>>;

/// Whether the request carries the expected `Authorization`, if any.
fn authorized(expected: Option<&str>, headers: &HeaderMap) -> bool {
    expected.is_none_or(|expected| {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        sent == Some(expected)
    })
}

/// The server; stops when dropped.
pub(crate) struct FeedServer {
    base: String,
    files: Files,
    vendor: FakeVendor,
}

impl FeedServer {
    /// Serves `/feed/<name>`; with `authorization`, any request without
    /// exactly that `Authorization` header gets a 401.
    pub(crate) async fn start(authorization: Option<&str>) -> Self {
        let files = Files::default();
        let authorization = authorization.map(str::to_owned);
        let routes = Router::new()
            .route("/feed/{name}", get(serve))
            .with_state((Arc::clone(&files), authorization.clone()));
        let vendor = FakeVendor::start_gated(routes, move |request| {
            authorized(authorization.as_deref(), &request.headers)
        })
        .await
        .unwrap();
        Self {
            base: vendor.url_for("/feed"),
            files,
            vendor,
        }
    }

    /// The feed's base URL (what `MISP_FEED_URL` would hold).
    pub(crate) fn url(&self) -> &str {
        &self.base
    }

    /// Publishes (or replaces) a file.
    pub(crate) fn put(&self, name: &str, content: impl Into<Bytes>) {
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), content.into());
    }

    /// The next requests for `name` get these faults, in order.
    pub(crate) fn fail_next(&self, name: &str, faults: impl IntoIterator<Item = Fault>) {
        let faults = faults.into_iter().map(vendor::Fault::from);
        self.vendor.fail_next_on(&format!("/feed/{name}"), faults);
    }

    /// How many requests `name` received.
    pub(crate) fn hits(&self, name: &str) -> usize {
        self.vendor.requests_to(&format!("/feed/{name}")).len()
    }
}

async fn serve(
    State((files, authorization)): State<(Files, Option<String>)>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(authorization.as_deref(), &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let content = files
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&name)
        .cloned();
    match content {
        Some(content) => content.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
