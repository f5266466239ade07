//! An in-process fake ThreatVision API (feature `fake`), for tests and demos.
//!
//! It issues OAuth2 client-credentials tokens that expire (or can be
//! revoked), accepts an optional static key, lists reports and IoC bundles
//! most recent first with offset paging and a `date[from]` filter, serves
//! STIX bundle files, and plays queued faults (error statuses with
//! `Retry-After`, `"success": false`, truncated or malformed bodies), endless
//! listings and missing files. It runs on the test kit's
//! [`StatefulVendor`], which serves it, plays the faults and records every
//! request; its listings, files and tokens are the data of the
//! [`VendorState`] its routes, its token check and the handle share.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use opencti_testkit::axum::Router;
use opencti_testkit::axum::body::Bytes;
use opencti_testkit::axum::extract::{Query, State};
use opencti_testkit::axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use opencti_testkit::axum::response::{IntoResponse, Response};
use opencti_testkit::vendor::{self, Answer, RetryAfter, StatefulVendor, VendorState};
use serde_json::{Value, json};
use tokio::time::Instant;

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct FakeSettings {
    /// The OAuth2 client id accepted.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// A static Bearer key also accepted, if any.
    pub api_key: Option<String>,
    /// `expires_in` of issued tokens (seconds); tokens stop working then.
    pub token_lifetime: u64,
    /// Reports per listing page.
    pub report_page_size: usize,
    /// IoC bundles per listing page.
    pub ioc_page_size: usize,
}

impl Default for FakeSettings {
    /// The Python connector's test credentials and the page sizes its
    /// first version assumed.
    fn default() -> Self {
        Self {
            client_id: "cid".to_owned(),
            client_secret: "csecret".to_owned(),
            api_key: None,
            token_lifetime: 3600,
            report_page_size: 10,
            ioc_page_size: 16,
        }
    }
}

/// An answer the fake gives instead of the normal one, in ThreatVision's
/// words (played as the kit's [`vendor::Fault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// This status, with `Retry-After: <seconds>` when given.
    Status(u16, Option<u64>),
    /// `200 {"success": false}`.
    Unsuccessful,
    /// The normal body cut in half.
    Truncated,
    /// A body that is not JSON.
    Malformed,
    /// The connection closes in the middle of the normal body.
    Drop,
    /// The normal answer (to place faults after good answers).
    Pass,
}

impl From<Fault> for vendor::Fault {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::Status(status, retry_after) => {
                let answer = Answer::json(status, r#"{"error":"fault"}"#);
                Self::Answer(match retry_after {
                    Some(seconds) => answer.with_retry_after(RetryAfter::Seconds(seconds)),
                    None => answer,
                })
            }
            Fault::Unsuccessful => {
                Answer::json(200, r#"{"success":false,"message":"try later"}"#).into()
            }
            Fault::Truncated => Self::Truncated,
            Fault::Malformed => Answer::html(200, "<html>upstream error</html>").into(),
            Fault::Drop => Self::Drop,
            Fault::Pass => Self::Pass,
        }
    }
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// HTTP method.
    pub method: Method,
    /// Path.
    pub path: String,
    /// Decoded query pairs.
    pub query: BTreeMap<String, String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The form body of token requests.
    pub form: BTreeMap<String, String>,
    /// Answer status.
    pub status: u16,
}

impl From<&vendor::RecordedRequest> for Recorded {
    fn from(request: &vendor::RecordedRequest) -> Self {
        let form = if request.method == Method::POST {
            request.form_pairs().into_iter().collect()
        } else {
            BTreeMap::new()
        };
        Self {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query_pairs().into_iter().collect(),
            authorization: request.header("authorization").map(str::to_owned),
            form,
            status: request.status,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    reports: Vec<Value>,
    ioc_bundles: Vec<Value>,
    files: HashMap<String, Bytes>,
    pages: HashMap<(String, usize), Value>,
    endless: HashSet<String>,
    tokens: HashMap<String, Instant>,
    issued: u64,
}

type Shared = VendorState<FakeSettings, Inner>;

/// A running fake; stops when dropped.
#[derive(Debug)]
pub struct FakeTeamt5 {
    served: StatefulVendor<FakeSettings, Inner>,
}

impl FakeTeamt5 {
    /// Starts on a random loopback port.
    pub async fn start(settings: FakeSettings) -> std::io::Result<Self> {
        // ThreatVision checks the token before anything else fails: a
        // request without one gets its 401 and leaves the faults queued.
        let served = StatefulVendor::start_gated(
            settings,
            Inner::default(),
            Router::new().fallback(handle),
            |shared, request| {
                let authorization = request
                    .headers
                    .get(header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok());
                request.uri.path() == "/oauth/token"
                    || authorised(shared.settings(), &shared.data(), authorization)
            },
        )
        .await?;
        Ok(Self { served })
    }

    /// `http://127.0.0.1:<port>/`, the API base URL.
    pub fn url(&self) -> String {
        self.served.vendor().url_for("/")
    }

    /// Adds a report listing item and its STIX bundle (served at the
    /// path of `stix_url`, or `/api/v2/reports/<alias>.stix`).
    pub fn add_report(&self, item: Value, bundle: &Value) {
        let path = stix_path(&item, "/api/v2/reports/", "alias");
        let mut inner = self.served.data();
        if let Some(path) = path {
            inner.files.insert(path, Bytes::from(bundle.to_string()));
        }
        inner.reports.push(item);
    }

    /// Adds an IoC bundle listing item and its STIX bundle.
    pub fn add_ioc_bundle(&self, item: Value, bundle: &Value) {
        let path = stix_path(&item, "/api/v2/ioc_bundles/", "id");
        let mut inner = self.served.data();
        if let Some(path) = path {
            inner.files.insert(path, Bytes::from(bundle.to_string()));
        }
        inner.ioc_bundles.push(item);
    }

    /// Serves `body` at `path`.
    pub fn put_file(&self, path: &str, body: impl Into<Bytes>) {
        self.served
            .data()
            .files
            .insert(path.to_owned(), body.into());
    }

    /// The next requests to `path` get these answers, in order.
    pub fn fail_next(&self, path: &str, faults: impl IntoIterator<Item = Fault>) {
        self.served
            .vendor()
            .fail_next_on(path, faults.into_iter().map(vendor::Fault::from));
    }

    /// Answers the listing `path` at `offset` with `page` from now on (to
    /// play a listing that shifted while being paged).
    pub fn override_page(&self, path: &str, offset: usize, page: Value) {
        self.served
            .data()
            .pages
            .insert((path.to_owned(), offset), page);
    }

    /// Makes the listing `path` endless: every page, whatever its offset,
    /// is the first one (a server that ignores the offset).
    pub fn endless_listing(&self, path: &str) {
        self.served.data().endless.insert(path.to_owned());
    }

    /// Stops serving the file at `path`: it answers 404 from now on.
    pub fn remove_file(&self, path: &str) {
        self.served.data().files.remove(path);
    }

    /// Makes every issued token invalid (as a server-side expiry would).
    pub fn revoke_tokens(&self) {
        self.served.data().tokens.clear();
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.served.data().issued
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.served
            .vendor()
            .requests()
            .iter()
            .map(Recorded::from)
            .collect()
    }

    /// Requests to `path` so far.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.served
            .vendor()
            .requests_to(path)
            .iter()
            .map(Recorded::from)
            .collect()
    }
}

/// The local path a listing item's bundle is served at.
fn stix_path(item: &Value, prefix: &str, key_field: &str) -> Option<String> {
    if let Some(url) = item.get("stix_url").and_then(Value::as_str) {
        return url.parse::<Uri>().ok().map(|uri| uri.path().to_owned());
    }
    let key = item.get(key_field)?.as_str()?;
    Some(format!("{prefix}{key}.stix"))
}

fn pairs(text: &str) -> BTreeMap<String, String> {
    let parsed: Result<Query<BTreeMap<String, String>>, _> =
        Query::try_from_uri(&format!("/?{text}").parse().unwrap_or_default());
    parsed.map(|Query(pairs)| pairs).unwrap_or_default()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = pairs(uri.query().unwrap_or_default());
    let form = if method == Method::POST {
        pairs(&String::from_utf8_lossy(&body))
    } else {
        BTreeMap::new()
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    answer(&shared, &method, uri.path(), &query, &form, authorization)
}

fn answer(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    form: &BTreeMap<String, String>,
    authorization: Option<&str>,
) -> Response {
    let settings = shared.settings();
    let mut inner = shared.data();
    if path == "/oauth/token" && method == Method::POST {
        let valid = form.get("grant_type").map(String::as_str) == Some("client_credentials")
            && form.get("client_id") == Some(&settings.client_id)
            && form.get("client_secret") == Some(&settings.client_secret);
        if !valid {
            return json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "invalid_client"}),
            );
        }
        inner.issued += 1;
        let token = format!("token-{}", inner.issued);
        let expires = Instant::now() + Duration::from_secs(settings.token_lifetime);
        inner.tokens.insert(token.clone(), expires);
        return json_response(
            StatusCode::OK,
            &json!({"access_token": token, "token_type": "Bearer", "expires_in": settings.token_lifetime}),
        );
    }
    if method != Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if !authorised(settings, &inner, authorization) {
        return json_response(StatusCode::UNAUTHORIZED, &json!({"error": "invalid_token"}));
    }
    let overridden = query
        .get("offset")
        .and_then(|offset| offset.parse().ok())
        .and_then(|offset: usize| inner.pages.get(&(path.to_owned(), offset)))
        .map(|page| Bytes::from(page.to_string()));
    let first_page;
    let query = if inner.endless.contains(path) {
        let mut pairs = query.clone();
        pairs.insert("offset".to_owned(), "0".to_owned());
        first_page = pairs;
        &first_page
    } else {
        query
    };
    let normal = match path {
        _ if let Some(page) = overridden => Ok(page),
        "/api/v2/reports" => listing(
            &inner.reports,
            "reports",
            "date",
            settings.report_page_size,
            query,
        ),
        "/api/v2/ioc_bundles" => listing(
            &inner.ioc_bundles,
            "ioc_bundles",
            "created_at",
            settings.ioc_page_size,
            query,
        ),
        _ => match inner.files.get(path) {
            Some(body) => Ok(body.clone()),
            None => Err(json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "not found"}),
            )),
        },
    };
    match normal {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(response) => response,
    }
}

/// Whether `authorization` holds the static key or a live token.
fn authorised(settings: &FakeSettings, inner: &Inner, authorization: Option<&str>) -> bool {
    let bearer = authorization.and_then(|value| value.strip_prefix("Bearer "));
    bearer.is_some_and(|token| {
        settings.api_key.as_deref() == Some(token)
            || inner
                .tokens
                .get(token)
                .is_some_and(|expires| Instant::now() < *expires)
    })
}

/// One page, most recent first, of the items published at or after
/// `date[from]`; a 400 for a query the API would refuse.
#[allow(clippy::result_large_err)]
fn listing(
    items: &[Value],
    key: &str,
    date_field: &str,
    page_size: usize,
    query: &BTreeMap<String, String>,
) -> Result<Bytes, Response> {
    let bad_request = |reason: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            &json!({"success": false, "error": reason}),
        )
    };
    let offset: usize = query
        .get("offset")
        .ok_or_else(|| bad_request("offset is required"))?
        .parse()
        .map_err(|_| bad_request("offset must be an integer"))?;
    let since: i64 = match query.get("date[from]") {
        Some(text) => text
            .parse()
            .map_err(|_| bad_request("date[from] must be an integer"))?,
        None => 0,
    };
    let date = |item: &Value| item.get(date_field).and_then(Value::as_i64).unwrap_or(0);
    let mut selected: Vec<&Value> = items.iter().filter(|item| date(item) >= since).collect();
    selected.sort_by_key(|item| std::cmp::Reverse(date(item)));
    let page: Vec<&Value> = selected.into_iter().skip(offset).take(page_size).collect();
    Ok(Bytes::from(json!({"success": true, key: page}).to_string()))
}
