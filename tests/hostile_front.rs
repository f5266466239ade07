//! A hostile front for a stream sink's vendor drills, shared with
//! `#[path]` (with `hostile_answers.rs`): the kit's `FakeVendor` before
//! a connector's fake vendor, forwarding each request to it unless a
//! [`Hostile`] answer is queued (the kit's own faults play first).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use opencti_testkit::axum::Router;
use opencti_testkit::axum::body::Body;
use opencti_testkit::axum::extract::{Request, State};
use opencti_testkit::axum::http::{StatusCode, header};
use opencti_testkit::axum::response::{IntoResponse, Response};
use opencti_testkit::vendor::FakeVendor;

use crate::hostile_answers::Hostile;

/// Where the front forwards, and its queue of hostile answers.
#[derive(Debug)]
pub(crate) struct Front {
    target: String,
    http: reqwest::Client,
    next: Mutex<VecDeque<Hostile>>,
}

impl Front {
    /// A front on a loopback port forwarding to `target` (a base URL).
    pub(crate) async fn start(target: String) -> (FakeVendor, Arc<Front>) {
        let front = Arc::new(Front {
            target,
            http: reqwest::Client::new(),
            next: Mutex::default(),
        });
        let routes = Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&front));
        (FakeVendor::start(routes).await.unwrap(), front)
    }

    /// The next requests get these answers.
    pub(crate) fn answer_next(&self, answers: impl IntoIterator<Item = Hostile>) {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        next.extend(answers);
    }
}

/// Plays the next hostile answer, or forwards to the target.
async fn forward(State(front): State<Arc<Front>>, request: Request) -> Response {
    let next = front
        .next
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop_front();
    if let Some(hostile) = next {
        return hostile.answer();
    }
    let (parts, body) = request.into_parts();
    let body = opencti_testkit::axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let mut outgoing = front
        .http
        .request(parts.method.clone(), format!("{}{path}", front.target))
        .body(body.to_vec());
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = parts.headers.get(&name) {
            outgoing = outgoing.header(name, value);
        }
    }
    match outgoing.send().await {
        Ok(answer) => {
            let status = answer.status();
            let bytes = answer.bytes().await.unwrap_or_default();
            (status, Body::from(bytes)).into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
