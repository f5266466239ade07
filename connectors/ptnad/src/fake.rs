//! An in-process fake PT NAD server (feature `fake`), for tests, benches and demos.
//!
//! It keeps reputation lists in memory and enforces what the real server
//! enforces on the connector: Django session login with `csrftoken` and
//! `sessionid` cookies, the CSRF check on writes (`X-CSRFToken` equal to the
//! cookie and a same-origin `Referer`), or bearer-token authentication; paged
//! listing; list creation with unique names and external keys; bulk add and
//! bulk delete of dynamic list items with per-type value validation. Tests can
//! expire sessions, inject error answers or slow answers, read every list's
//! contents and the log of requests. It runs on the test kit's
//! [`StatefulVendor`], which serves it, plays the faults once the session
//! (or token) and CSRF checks pass, and records every request; its lists
//! and sessions are the data of the [`VendorState`] its routes, its checks
//! and the handle share.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use opencti_testkit::axum::body::Bytes;
use opencti_testkit::axum::extract::State;
use opencti_testkit::axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use opencti_testkit::axum::response::{IntoResponse, Response};
use opencti_testkit::axum::{Json, Router};
use opencti_testkit::vendor::{
    self, Answer, AnsweredRequest, RetryAfter, StatefulVendor, VendorState, percent_decode,
};
use serde_json::{Value, json};

/// What a proxy or portal in front of the server answers.
const LOGIN_PAGE: &str = "<html><body><form action=\"/login\">Sign in</form></body></html>";

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct FakeSettings {
    /// The only account that can log in.
    pub username: String,
    /// Its password.
    pub password: String,
    /// An API token accepted as `Authorization: Bearer`, if any.
    pub token: Option<String>,
    /// The largest page `GET /replists` returns, whatever `limit` asks.
    pub max_page_size: usize,
    /// Status for requests without a valid session (Django REST framework says 403).
    pub unauthenticated_status: StatusCode,
}

impl Default for FakeSettings {
    fn default() -> Self {
        Self {
            username: "opencti".to_owned(),
            password: "S3cret!".to_owned(),
            token: None,
            max_page_size: 100,
            unauthenticated_status: StatusCode::FORBIDDEN,
        }
    }
}

/// A reputation list as the fake stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeList {
    /// Numeric id.
    pub id: u64,
    /// Name (unique).
    pub name: String,
    /// `ip`, `dn`, `uri` or `md5`.
    pub list_type: String,
    /// Colour code.
    pub color: String,
    /// External key (unique when set).
    pub external_key: Option<String>,
    /// The items.
    pub values: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct FakeState {
    /// `http://127.0.0.1:<port>/`, known once the port is bound.
    origin: String,
    /// Makes the session ids and CSRF tokens of this fake.
    hasher: RandomState,
    lists: Vec<FakeList>,
    /// session id -> csrf token
    sessions: BTreeMap<String, String>,
    logins: usize,
    endless_pages: bool,
    next_id: u64,
    next_token: u64,
}

type Shared = VendorState<FakeSettings, FakeState>;

/// A running fake PT NAD server on a loopback port; stops when dropped.
#[derive(Debug)]
pub struct FakePtnad {
    served: StatefulVendor<FakeSettings, FakeState>,
}

impl FakePtnad {
    /// Starts a fake on `127.0.0.1` with a free port.
    pub async fn start(settings: FakeSettings) -> std::io::Result<Self> {
        let state = FakeState {
            next_id: 1,
            ..FakeState::default()
        };
        // PT NAD authenticates (and checks CSRF) before anything else can
        // fail; the login itself is never failed.
        let served = StatefulVendor::start_gated(
            settings,
            state,
            Router::new().fallback(handle),
            |shared, request| {
                let login =
                    route(&request.uri).is_none_or(|segments| segments == ["auth", "login"]);
                !login && authenticate(shared, &request.method, &request.headers).is_ok()
            },
        )
        .await?;
        served.data().origin = served.vendor().url_for("/");
        Ok(Self { served })
    }

    /// The base URL to configure as `PTNAD_URL`.
    pub fn url(&self) -> String {
        self.served.vendor().url()
    }

    /// Adds a list as if someone had created it beforehand; returns its id.
    pub fn insert_list(
        &self,
        name: &str,
        list_type: &str,
        external_key: Option<&str>,
        values: &[&str],
    ) -> u64 {
        let mut state = self.served.data();
        let id = state.next_id;
        state.next_id += 1;
        state.lists.push(FakeList {
            id,
            name: name.to_owned(),
            list_type: list_type.to_owned(),
            color: "0".to_owned(),
            external_key: external_key.map(str::to_owned),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        });
        id
    }

    /// Deletes the list with this external key, as an operator could; returns whether it existed.
    pub fn remove_list(&self, external_key: &str) -> bool {
        let mut state = self.served.data();
        let before = state.lists.len();
        state
            .lists
            .retain(|l| l.external_key.as_deref() != Some(external_key));
        state.lists.len() != before
    }

    /// Every list, in creation order.
    pub fn lists(&self) -> Vec<FakeList> {
        self.served.data().lists.clone()
    }

    /// The items of the list with this external key, if it exists.
    pub fn values(&self, external_key: &str) -> Option<BTreeSet<String>> {
        self.served
            .data()
            .lists
            .iter()
            .find(|l| l.external_key.as_deref() == Some(external_key))
            .map(|l| l.values.clone())
    }

    /// Forgets every session, as when Django's sessions expire.
    pub fn expire_sessions(&self) {
        self.served.data().sessions.clear();
    }

    /// How many successful logins happened.
    pub fn logins(&self) -> usize {
        self.served.data().logins
    }

    /// The next `count` authenticated requests get `status` (with a JSON error
    /// body, and `Retry-After` when given) instead of being served.
    pub fn inject_failures(&self, status: StatusCode, count: usize, retry_after: Option<u64>) {
        let answer = Answer::json(status.as_u16(), r#"{"detail":"injected failure"}"#);
        let answer = match retry_after {
            Some(seconds) => answer.with_retry_after(RetryAfter::Seconds(seconds)),
            None => answer,
        };
        self.served
            .vendor()
            .fail_next(std::iter::repeat_n(vendor::Fault::Answer(answer), count));
    }

    /// The next `count` authenticated requests get a login page with 200
    /// (a proxy or portal in the way) instead of being served.
    pub fn inject_login_pages(&self, count: usize) {
        let page = vendor::Fault::Answer(Answer::html(200, LOGIN_PAGE));
        self.served
            .vendor()
            .fail_next(std::iter::repeat_n(page, count));
    }

    /// Whether `GET /replists` always announces a next page (a broken or
    /// hostile pagination).
    pub fn set_endless_pages(&self, endless: bool) {
        self.served.data().endless_pages = endless;
    }

    /// Makes every answer wait this long (to trigger client timeouts); `None` removes it.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.served.vendor().set_delay(delay);
    }

    /// Every request so far that got an answer.
    pub fn requests(&self) -> Vec<AnsweredRequest> {
        self.served.vendor().answered_requests()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.served.vendor().clear_requests();
    }
}

/// The segments of an API path, each decoded (so that an encoded `/`
/// stays inside its segment); `None` outside the API.
fn route(uri: &Uri) -> Option<Vec<String>> {
    let route = uri.path().strip_prefix("/api/v2/")?;
    Some(
        route
            .trim_end_matches('/')
            .split('/')
            .map(percent_decode)
            .collect(),
    )
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(decoded) = route(&uri) else {
        return error(StatusCode::NOT_FOUND, "Not found.");
    };
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    if segments == ["auth", "login"] && method == Method::POST {
        return login(&shared, &body);
    }
    if let Err((status, detail)) = authenticate(&shared, &method, &headers) {
        return error(status, detail);
    }
    let mut state = shared.data();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["monitoring", "status"]) => {
            Json(json!({"status": "green", "problems": []})).into_response()
        }
        (&Method::GET, ["replists"]) => list_page(&shared, &state, &uri),
        (&Method::POST, ["replists"]) => create_list(&mut state, &body),
        (&Method::GET, ["replists", "dynamic", key]) => match find(&state, key) {
            Some(list) => {
                let items: Vec<Value> = list.values.iter().map(|v| json!({"value": v})).collect();
                Json(json!({"results": items})).into_response()
            }
            None => error(StatusCode::NOT_FOUND, "Not found."),
        },
        (&Method::POST, ["replists", "dynamic", key, "_bulk"]) => bulk_add(&mut state, key, &body),
        (&Method::POST, ["replists", "dynamic", key, "_delete"]) => {
            bulk_delete(&mut state, key, &body)
        }
        _ => error(StatusCode::NOT_FOUND, "Not found."),
    }
}

fn error(status: StatusCode, detail: &str) -> Response {
    (status, Json(json!({"detail": detail}))).into_response()
}

fn login(shared: &Shared, body: &[u8]) -> Response {
    let credentials: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let settings = shared.settings();
    if credentials["username"] != settings.username.as_str()
        || credentials["password"] != settings.password.as_str()
    {
        return error(StatusCode::UNAUTHORIZED, "Invalid username or password.");
    }
    let mut state = shared.data();
    state.next_token += 1;
    let session = format!(
        "{:016x}",
        state.hasher.hash_one(("session", state.next_token))
    );
    let csrf = format!("{:016x}", state.hasher.hash_one(("csrf", state.next_token)));
    state.sessions.insert(session.clone(), csrf.clone());
    state.logins += 1;
    let mut response = Json(json!({})).into_response();
    let cookies = [
        format!("csrftoken={csrf}; Path=/; SameSite=Lax"),
        format!("sessionid={session}; HttpOnly; Path=/"),
    ];
    for cookie in cookies {
        response.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("cookies are ASCII"),
        );
    }
    response
}

/// Checks the token or the session, and CSRF on unsafe methods.
fn authenticate(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), (StatusCode, &'static str)> {
    let header_text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(bearer) = header_text("authorization").and_then(|v| v.strip_prefix("Bearer ")) {
        return match &shared.settings().token {
            Some(token) if token == bearer => Ok(()),
            _ => Err((StatusCode::UNAUTHORIZED, "Invalid token.")),
        };
    }
    let cookies = parse_cookies(header_text("cookie").unwrap_or_default());
    let state = shared.data();
    let session_csrf = cookies
        .get("sessionid")
        .and_then(|session| state.sessions.get(*session));
    let Some(session_csrf) = session_csrf else {
        return Err((
            shared.settings().unauthenticated_status,
            "Authentication credentials were not provided.",
        ));
    };
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if safe {
        return Ok(());
    }
    let referer_ok = header_text("referer").is_some_and(|r| r.starts_with(&state.origin));
    if !referer_ok {
        return Err((
            StatusCode::FORBIDDEN,
            "CSRF Failed: Referer checking failed - no Referer.",
        ));
    }
    let cookie_csrf = cookies.get("csrftoken").copied();
    let header_csrf = header_text("x-csrftoken");
    if cookie_csrf != Some(session_csrf.as_str()) || header_csrf != Some(session_csrf.as_str()) {
        return Err((
            StatusCode::FORBIDDEN,
            "CSRF Failed: CSRF token missing or incorrect.",
        ));
    }
    Ok(())
}

fn list_json(list: &FakeList) -> Value {
    json!({
        "id": list.id,
        "name": list.name,
        "type": list.list_type,
        "color": list.color,
        "description": "",
        "external_key": list.external_key,
        "items_count": list.values.len(),
        "created": "2025-11-24T10:00:00Z",
        "modified": "2025-11-24T10:00:00Z",
    })
}

fn list_page(shared: &Shared, state: &FakeState, uri: &Uri) -> Response {
    let mut limit = shared.settings().max_page_size;
    let mut offset = 0;
    for pair in uri.query().unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("limit", v)) => limit = v.parse().unwrap_or(limit).min(limit),
            Some(("offset", v)) => offset = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    let limit = limit.max(1);
    let total = state.lists.len();
    // Endless pages repeat the lists for ever.
    let results: Vec<Value> = if state.endless_pages {
        let lists = state.lists.iter().cycle();
        lists.skip(offset).take(limit).map(list_json).collect()
    } else {
        let lists = state.lists.iter();
        lists.skip(offset).take(limit).map(list_json).collect()
    };
    let page_url = |offset: usize| {
        format!(
            "{}api/v2/replists?limit={limit}&offset={offset}",
            state.origin
        )
    };
    let next = (state.endless_pages || offset + limit < total).then(|| page_url(offset + limit));
    let previous = (offset > 0).then(|| page_url(offset.saturating_sub(limit)));
    Json(json!({"count": total, "next": next, "previous": previous, "results": results}))
        .into_response()
}

fn create_list(state: &mut FakeState, body: &[u8]) -> Response {
    let Ok(new) = serde_json::from_slice::<Value>(body) else {
        return error(StatusCode::BAD_REQUEST, "JSON parse error.");
    };
    let name = new["name"].as_str().unwrap_or_default();
    let list_type = new["type"].as_str().unwrap_or_default();
    let external_key = new["external_key"].as_str().filter(|k| !k.is_empty());
    let field_error = |field: &str, message: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({ field: [message] }))).into_response()
    };
    if !crate::client::is_slug(name) {
        return field_error("name", "Enter a valid slug.");
    }
    if !["ip", "dn", "uri", "md5"].contains(&list_type) {
        return field_error("type", "Not a valid choice.");
    }
    if state.lists.iter().any(|l| l.name == name) {
        return field_error("name", "replist with this name already exists.");
    }
    if external_key.is_some()
        && state
            .lists
            .iter()
            .any(|l| l.external_key.as_deref() == external_key)
    {
        return field_error(
            "external_key",
            "replist with this external key already exists.",
        );
    }
    let id = state.next_id;
    state.next_id += 1;
    let list = FakeList {
        id,
        name: name.to_owned(),
        list_type: list_type.to_owned(),
        color: new["color"].as_str().unwrap_or("0").to_owned(),
        external_key: external_key.map(str::to_owned),
        values: BTreeSet::new(),
    };
    let created = list_json(&list);
    state.lists.push(list);
    (StatusCode::CREATED, Json(created)).into_response()
}

fn find<'a>(state: &'a FakeState, key: &str) -> Option<&'a FakeList> {
    state
        .lists
        .iter()
        .find(|l| l.external_key.as_deref() == Some(key))
}

fn find_mut<'a>(state: &'a mut FakeState, key: &str) -> Option<&'a mut FakeList> {
    state
        .lists
        .iter_mut()
        .find(|l| l.external_key.as_deref() == Some(key))
}

/// Whether a value is acceptable for a list type; the whole request is refused otherwise.
fn valid_value(list_type: &str, value: &str) -> bool {
    match list_type {
        "ip" => value.parse::<IpAddr>().is_ok(),
        "md5" => value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        "dn" => !value.is_empty() && !value.contains(char::is_whitespace) && !value.contains('/'),
        _ => !value.is_empty(),
    }
}

fn bulk_add(state: &mut FakeState, key: &str, body: &[u8]) -> Response {
    let Some(list) = find_mut(state, key) else {
        return error(StatusCode::NOT_FOUND, "Not found.");
    };
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
        return error(StatusCode::BAD_REQUEST, "Expected a list of items.");
    };
    let mut values = Vec::with_capacity(items.len());
    for item in &items {
        let Some(value) = item["value"].as_str() else {
            return error(StatusCode::BAD_REQUEST, "Each item needs a string value.");
        };
        if !valid_value(&list.list_type, value) {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"value": [format!("Invalid {} value: {value}", list.list_type)]})),
            )
                .into_response();
        }
        values.push(value.to_owned());
    }
    let count = values.len();
    list.values.extend(values);
    Json(json!({"count": count})).into_response()
}

fn bulk_delete(state: &mut FakeState, key: &str, body: &[u8]) -> Response {
    let Some(list) = find_mut(state, key) else {
        return error(StatusCode::NOT_FOUND, "Not found.");
    };
    let Ok(values) = serde_json::from_slice::<Vec<String>>(body) else {
        return error(StatusCode::BAD_REQUEST, "Expected a list of values.");
    };
    for value in &values {
        list.values.remove(value);
    }
    StatusCode::NO_CONTENT.into_response()
}

fn parse_cookies(header: &str) -> BTreeMap<&str, &str> {
    header
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect()
}
