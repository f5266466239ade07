//! The parts every stateful fake of a real vendor writes the same way:
//! the state its routes, its credential gate and the test's handle share
//! ([`VendorState`], served by a [`StatefulVendor`]), and the recorded
//! requests read back decoded, without those that got no answer
//! ([`AnsweredRequest`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::http::{Method, StatusCode, request};
use serde_json::Value;

use super::{FakeVendor, RecordedRequest};

/// What a fake vendor's routes, its gate and the test's handle share: the
/// settings it started with, and the data it holds and changes (lists,
/// tokens, sessions, ...) behind one lock. The routes take it as
/// `State<Arc<VendorState<S, D>>>`; a [`StatefulVendor`] makes it.
#[derive(Debug)]
pub struct VendorState<S, D> {
    settings: S,
    data: Mutex<D>,
}

impl<S, D> VendorState<S, D> {
    /// The settings the fake started with.
    pub fn settings(&self) -> &S {
        &self.settings
    }

    /// The data, locked until the guard is dropped. A route that panicked
    /// while holding it leaves it as it was: the lock is taken anyway, so
    /// that the test reports its own failure rather than a poisoned lock.
    pub fn data(&self) -> MutexGuard<'_, D> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A [`FakeVendor`] serving routes written against a [`VendorState`],
/// with a handle on that state for the test; stops when dropped.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use std::sync::Arc;
///
/// use opencti_testkit::axum::extract::State;
/// use opencti_testkit::axum::http::{HeaderMap, StatusCode};
/// use opencti_testkit::axum::{Router, routing::get};
/// use opencti_testkit::vendor::{Fault, StatefulVendor, VendorState};
///
/// /// The API key as settings, the IoCs served as data.
/// type Shared = VendorState<String, Vec<String>>;
///
/// fn has_key(shared: &Shared, headers: &HeaderMap) -> bool {
///     let sent = headers.get("authorization").and_then(|value| value.to_str().ok());
///     sent.and_then(|value| value.strip_prefix("Bearer ")) == Some(shared.settings().as_str())
/// }
///
/// async fn iocs(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> (StatusCode, String) {
///     if !has_key(&shared, &headers) {
///         return (StatusCode::UNAUTHORIZED, "bad key".to_owned());
///     }
///     (StatusCode::OK, shared.data().join("\n"))
/// }
///
/// // Faults wait for the requests with the key, as the vendor checks it first.
/// let fake = StatefulVendor::start_gated(
///     "s3cr3t".to_owned(),
///     vec!["198.51.100.7".to_owned()],
///     Router::new().route("/iocs", get(iocs)),
///     |shared, request| has_key(shared, &request.headers),
/// )
/// .await?;
/// fake.vendor().fail_next([Fault::status(503)]);
/// fake.data().push("198.51.100.8".to_owned());
/// // ... run the connector against fake.vendor().url() ...
/// assert!(fake.vendor().answered_requests().iter().all(|r| r.path == "/iocs"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct StatefulVendor<S, D> {
    state: Arc<VendorState<S, D>>,
    vendor: FakeVendor,
}

impl<S, D> StatefulVendor<S, D>
where
    S: Send + Sync + 'static,
    D: Send + 'static,
{
    /// Serves `routes` on a random loopback port, behind the fault layer,
    /// with a [`VendorState`] of `settings` and `data` as their state.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start(
        settings: S,
        data: D,
        routes: Router<Arc<VendorState<S, D>>>,
    ) -> std::io::Result<Self> {
        let state = Self::new_state(settings, data);
        let vendor = FakeVendor::start(routes.with_state(Arc::clone(&state))).await?;
        Ok(Self { state, vendor })
    }

    /// [`StatefulVendor::start`], with faults played only on the requests
    /// `gate` accepts, the gate reading the same state as the routes (the
    /// tokens the fake issued, the sessions it opened): see
    /// [`FakeVendor::start_gated`].
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start_gated(
        settings: S,
        data: D,
        routes: Router<Arc<VendorState<S, D>>>,
        gate: impl Fn(&VendorState<S, D>, &request::Parts) -> bool + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let state = Self::new_state(settings, data);
        let gated = Arc::clone(&state);
        let vendor =
            FakeVendor::start_gated(routes.with_state(Arc::clone(&state)), move |request| {
                gate(&gated, request)
            })
            .await?;
        Ok(Self { state, vendor })
    }

    fn new_state(settings: S, data: D) -> Arc<VendorState<S, D>> {
        Arc::new(VendorState {
            settings,
            data: Mutex::new(data),
        })
    }
}

impl<S, D> StatefulVendor<S, D> {
    /// The fake vendor: its URL, its faults, its records.
    pub fn vendor(&self) -> &FakeVendor {
        &self.vendor
    }

    /// The settings the fake started with.
    pub fn settings(&self) -> &S {
        self.state.settings()
    }

    /// The data the routes serve and change, locked: see
    /// [`VendorState::data`].
    pub fn data(&self) -> MutexGuard<'_, D> {
        self.state.data()
    }
}

impl FakeVendor {
    /// The requests that got an answer, oldest first, decoded: those the
    /// connection hung up on ([`super::Fault::Hangup`]) are left out.
    pub fn answered_requests(&self) -> Vec<AnsweredRequest> {
        self.requests()
            .iter()
            .filter_map(RecordedRequest::answered)
            .collect()
    }
}

/// A request that got an answer, decoded the way a vendor reads it: what a
/// fake's tests check (which call, with what, answered how).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AnsweredRequest {
    /// The method.
    pub method: Method,
    /// The path, without the query, its percent-escapes decoded.
    pub path: String,
    /// The query's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The body, when it is JSON.
    pub body: Option<Value>,
    /// The status answered.
    pub status: StatusCode,
}

impl RecordedRequest {
    /// The request decoded, when it got an answer (not after a
    /// [`super::Fault::Hangup`]).
    pub fn answered(&self) -> Option<AnsweredRequest> {
        let status = StatusCode::from_u16(self.status).ok()?;
        Some(AnsweredRequest {
            method: self.method.clone(),
            path: self.decoded_path(),
            query: self.query_pairs(),
            body: serde_json::from_slice(&self.body).ok(),
            status,
        })
    }
}
