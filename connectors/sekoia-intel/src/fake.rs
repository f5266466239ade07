//! An in-process fake Sekoia.io IoC-collection API (feature `fake`), for
//! tests and demos.
//!
//! It serves `…/v2/inthreat/ioc-collections/{collection}`: reading a
//! collection, text imports (`POST …/indicators/text`, checking each value
//! against the format and a cap on the collection's size), searches
//! (`GET …/indicators?term=`, matching substrings of values, as the real
//! service may), and revocations (`DELETE …/indicators/{id}`). Every call
//! needs `Authorization: Bearer <key>`. Tests can inject faults and
//! read the IoCs and the log of requests.
//!
//! Faults: error statuses (429 with `Retry-After`, 5xx, ...), 200 answers
//! whose body is not JSON, connections closed in the middle of an answer,
//! and slow answers. It runs on the test kit's [`StatefulVendor`], which
//! serves it, plays the faults once the key is checked and records every
//! request; its IoCs are the data of the [`VendorState`] its routes, its
//! key check and the handle share.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use opencti_testkit::axum::body::Bytes;
use opencti_testkit::axum::extract::{Query, State};
use opencti_testkit::axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use opencti_testkit::axum::response::{IntoResponse, Response};
use opencti_testkit::axum::{Json, Router};
use opencti_testkit::vendor::{
    self, Answer, AnsweredRequest, RetryAfter, StatefulVendor, VendorState, percent_decode,
};
use serde_json::{Value, json};

/// Path of the collections on the fake.
pub const COLLECTIONS_PATH: &str = "/v2/inthreat/ioc-collections";

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct FakeSettings {
    /// The API key accepted as `Authorization: Bearer`.
    pub api_key: String,
    /// The collections that exist.
    pub collections: Vec<String>,
    /// Most active IoCs a collection holds; imports beyond are refused with 409.
    pub max_indicators: usize,
}

impl Default for FakeSettings {
    fn default() -> Self {
        Self {
            api_key: "sk_test".to_owned(),
            collections: vec![DEFAULT_COLLECTION.to_owned()],
            max_indicators: 500_000,
        }
    }
}

/// The collection [`FakeSettings::default`] holds.
pub const DEFAULT_COLLECTION: &str = "ioc-collection--1f2e3d4c-5b6a-4789-8abc-def012345678";

/// An IoC as the fake stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeIoc {
    /// `ioc--<n>`.
    pub id: String,
    /// The collection holding it.
    pub collection: String,
    /// The value.
    pub value: String,
    /// The import format it came with.
    pub format: String,
    /// The import's other fields (`valid_from`, `description`, ...).
    pub fields: serde_json::Map<String, Value>,
    /// Whether it was revoked.
    pub revoked: bool,
}

#[derive(Debug, Default)]
struct FakeState {
    iocs: Vec<FakeIoc>,
    next_id: u64,
    tasks: u64,
}

type Shared = VendorState<FakeSettings, FakeState>;

/// A running fake Sekoia server on a loopback port; stops when dropped.
#[derive(Debug)]
pub struct FakeSekoia {
    served: StatefulVendor<FakeSettings, FakeState>,
}

impl FakeSekoia {
    /// Starts a fake on `127.0.0.1` with a free port.
    pub async fn start(settings: FakeSettings) -> std::io::Result<Self> {
        // Sekoia checks the key before anything else can fail.
        let served = StatefulVendor::start_gated(
            settings,
            FakeState::default(),
            Router::new().fallback(handle),
            |shared, request| has_key(shared.settings(), &request.headers),
        )
        .await?;
        Ok(Self { served })
    }

    /// The bare host URL (`http://127.0.0.1:<port>`), as a `SEKOIA_INTEL_URL`.
    pub fn url(&self) -> String {
        self.served.vendor().url()
    }

    /// The full IoC-collections base, as the Python connector needs it.
    pub fn collections_url(&self) -> String {
        self.served.vendor().url_for(COLLECTIONS_PATH)
    }

    /// Adds an IoC as if another source had pushed it; returns its id.
    pub fn insert_ioc(&self, collection: &str, value: &str, format: &str, revoked: bool) -> String {
        let mut state = self.served.data();
        let id = next_id(&mut state);
        state.iocs.push(FakeIoc {
            id: id.clone(),
            collection: collection.to_owned(),
            value: value.to_owned(),
            format: format.to_owned(),
            fields: serde_json::Map::new(),
            revoked,
        });
        id
    }

    /// Every IoC, in import order.
    pub fn iocs(&self) -> Vec<FakeIoc> {
        self.served.data().iocs.clone()
    }

    /// The values of the active (not revoked) IoCs of `collection`, sorted.
    pub fn active_values(&self, collection: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .served
            .data()
            .iocs
            .iter()
            .filter(|ioc| ioc.collection == collection && !ioc.revoked)
            .map(|ioc| ioc.value.clone())
            .collect();
        values.sort();
        values
    }

    /// Every request so far that got an answer.
    pub fn requests(&self) -> Vec<AnsweredRequest> {
        self.served.vendor().answered_requests()
    }

    /// The bodies of the imports Sekoia accepted, in order.
    pub fn accepted_imports(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == Method::POST && r.status == StatusCode::OK)
            .filter_map(|r| r.body)
            .collect()
    }

    /// The next `count` requests are answered with `status` (and
    /// `Retry-After: <seconds>` when given).
    pub fn inject_failures(&self, status: StatusCode, count: usize, retry_after: Option<u64>) {
        let answer = Answer::json(status.as_u16(), r#"{"message":"injected failure"}"#);
        let answer = match retry_after {
            Some(seconds) => answer.with_retry_after(RetryAfter::Seconds(seconds)),
            None => answer,
        };
        self.inject(vendor::Fault::Answer(answer), count);
    }

    /// The next `count` requests get a 200 answer whose body is not JSON.
    pub fn inject_malformed(&self, count: usize) {
        let answer =
            Answer::new(200).with_body("text/plain; charset=utf-8", b"<html>gateway hiccup</html>");
        self.inject(vendor::Fault::Answer(answer), count);
    }

    /// The next `count` requests get no answer: the connection closes
    /// before it, as with a crashing proxy.
    pub fn inject_dropped_connections(&self, count: usize) {
        self.inject(vendor::Fault::Hangup, count);
    }

    /// The next `count` requests are answered normally, before the faults
    /// injected after this call.
    pub fn pass_requests(&self, count: usize) {
        self.inject(vendor::Fault::Pass, count);
    }

    fn inject(&self, fault: vendor::Fault, count: usize) {
        self.served
            .vendor()
            .fail_next(std::iter::repeat_n(fault, count));
    }

    /// Delays every answer (to trigger client timeouts), or not.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.served.vendor().set_delay(delay);
    }
}

/// Whether the request carries `Authorization: Bearer <key>`.
fn has_key(settings: &FakeSettings, headers: &HeaderMap) -> bool {
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    sent.and_then(|value| value.strip_prefix("Bearer ")) == Some(settings.api_key.as_str())
}

fn next_id(state: &mut FakeState) -> String {
    state.next_id += 1;
    format!("ioc--00000000-0000-4000-8000-{:012}", state.next_id)
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({"message": text}))).into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = percent_decode(uri.path());
    let query: Vec<(String, String)> = Query::try_from_uri(&uri)
        .map(|Query(pairs)| pairs)
        .unwrap_or_default();
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    answer(&shared, &method, &path, &query, &headers, body.as_ref())
}

fn answer(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Response {
    if !has_key(shared.settings(), headers) {
        return message(StatusCode::UNAUTHORIZED, "invalid or missing API key");
    }
    let mut state = shared.data();
    let Some(rest) = path
        .strip_prefix(COLLECTIONS_PATH)
        .and_then(|p| p.strip_prefix('/'))
    else {
        return message(StatusCode::NOT_FOUND, "no such route");
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let collection = segments[0];
    if !shared
        .settings()
        .collections
        .iter()
        .any(|c| c == collection)
    {
        return message(StatusCode::NOT_FOUND, "IOC collection not found");
    }
    match (method.clone(), &segments[1..]) {
        (Method::GET, []) => Json(json!({
            "id": collection,
            "name": "OpenCTI",
            "description": "fed by OpenCTI",
        }))
        .into_response(),
        (Method::POST, ["indicators", "text"]) => {
            import(&mut state, shared.settings(), collection, body)
        }
        (Method::GET, ["indicators"]) => {
            let term = query
                .iter()
                .find(|(name, _)| name == "term")
                .map(|(_, value)| value.as_str())
                .unwrap_or_default();
            let items: Vec<Value> = state
                .iocs
                .iter()
                .filter(|ioc| ioc.collection == collection && ioc.value.contains(term))
                .map(|ioc| {
                    json!({
                        "id": ioc.id,
                        "value": ioc.value,
                        "type": ioc.format,
                        "revoked": ioc.revoked,
                    })
                })
                .collect();
            let total = items.len();
            Json(json!({"items": items, "total": total})).into_response()
        }
        (Method::DELETE, ["indicators", id]) => {
            match state
                .iocs
                .iter_mut()
                .find(|ioc| ioc.collection == collection && ioc.id == *id)
            {
                Some(ioc) => {
                    ioc.revoked = true;
                    StatusCode::NO_CONTENT.into_response()
                }
                None => message(StatusCode::NOT_FOUND, "indicator not found"),
            }
        }
        _ => message(StatusCode::METHOD_NOT_ALLOWED, "unsupported call"),
    }
}

fn import(
    state: &mut FakeState,
    settings: &FakeSettings,
    collection: &str,
    body: Option<&Value>,
) -> Response {
    let Some(Value::Object(body)) = body else {
        return message(StatusCode::BAD_REQUEST, "the body must be a JSON object");
    };
    let (Some(format), Some(text)) = (
        body.get("format").and_then(Value::as_str),
        body.get("indicators").and_then(Value::as_str),
    ) else {
        return message(
            StatusCode::BAD_REQUEST,
            "`format` and `indicators` are required",
        );
    };
    let values: Vec<&str> = text.split('\n').filter(|line| !line.is_empty()).collect();
    if values.is_empty() {
        return message(StatusCode::BAD_REQUEST, "no indicator");
    }
    for value in &values {
        if !valid(format, value) {
            return message(
                StatusCode::BAD_REQUEST,
                &format!("invalid {format} indicator: {value}"),
            );
        }
    }
    let active = |state: &FakeState, value: &str| {
        state
            .iocs
            .iter()
            .position(|ioc| ioc.collection == collection && ioc.value == value && !ioc.revoked)
    };
    let new = values
        .iter()
        .filter(|value| active(state, value).is_none())
        .count();
    let held = state
        .iocs
        .iter()
        .filter(|ioc| ioc.collection == collection && !ioc.revoked)
        .count();
    if held + new > settings.max_indicators {
        return message(
            StatusCode::CONFLICT,
            "the IOC collection reached its maximum number of indicators",
        );
    }
    let mut fields = body.clone();
    fields.remove("format");
    fields.remove("indicators");
    for value in values {
        match active(state, value) {
            Some(index) => state.iocs[index].fields.clone_from(&fields),
            None => {
                let id = next_id(state);
                state.iocs.push(FakeIoc {
                    id,
                    collection: collection.to_owned(),
                    value: value.to_owned(),
                    format: format.to_owned(),
                    fields: fields.clone(),
                    revoked: false,
                });
            }
        }
    }
    state.tasks += 1;
    Json(json!({"task_id": format!("00000000-0000-4000-9000-{:012}", state.tasks)})).into_response()
}

/// Whether Sekoia would accept `value` under `format` (roughly).
fn valid(format: &str, value: &str) -> bool {
    let hex =
        |len: &[usize]| len.contains(&value.len()) && value.bytes().all(|b| b.is_ascii_hexdigit());
    match format {
        "ipv4-addr.value" => value.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4()),
        "ipv6-addr.value" => value.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6()),
        "domain-name.value" => {
            value.contains('.')
                && !value.contains(char::is_whitespace)
                && value.parse::<IpAddr>().is_err()
        }
        "url.value" => value.contains("://") && !value.contains(char::is_whitespace),
        "email-addr.value" => value.contains('@'),
        "file.hashes" => hex(&[32, 40, 64, 128]),
        "one_per_line" => !value.trim().is_empty(),
        _ => false,
    }
}
