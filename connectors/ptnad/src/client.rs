//! Client for the PT NAD REST API v2: authentication, reputation lists and
//! bulk changes of dynamic list items.
//!
//! Two authentication modes exist. With an API token every request carries
//! `Authorization: Bearer <token>`. Without one the client logs in with a
//! username and password and keeps Django's `sessionid` and `csrftoken`
//! cookies; every later request sends them back with `X-CSRFToken` and a
//! same-origin `Referer`, which Django's CSRF check demands on writes. When a
//! session expires (401/403) the client logs in again and retries the call
//! once.
//!
//! Errors are classified for the caller: [`ClientError::is_retryable`] is true
//! for throttling, server errors, timeouts, unreachable servers and
//! authentication problems that an operator can fix without losing data; other
//! 4xx answers are rejections carrying PT NAD's error text.

use std::fmt;
use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use opencti_connector::answer_excerpt;
use opencti_connector::http::{
    self, Answer, CallFailure, ClientOptions, Network, VendorError, Verification,
};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// Page size asked for when listing reputation lists (PT NAD's own client uses 100).
const LIST_PAGE_SIZE: usize = 100;
/// Upper bound of values sent in one bulk call, to keep request bodies reasonable.
pub const MAX_BULK_VALUES: usize = 1000;
/// Colour given to the lists the connector creates (same as the Python connector).
const LIST_COLOR: &str = "7";
/// PT NAD error texts are cut to this many characters in errors and logs.
const MAX_ERROR_TEXT: usize = 1000;
/// Largest answer read (a page of lists, a status): far above PT NAD's.
const MAX_ANSWER_BYTES: u64 = 16 << 20;

/// The kinds of reputation lists the connector manages, as PT NAD names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListType {
    /// IPv4 addresses (`ip`).
    Ip,
    /// Domain names (`dn`).
    Dn,
    /// URLs (`uri`).
    Uri,
    /// MD5 file hashes (`md5`).
    Md5,
}

impl ListType {
    /// Every list type, in the order the connector reports them.
    pub const ALL: [ListType; 4] = [ListType::Ip, ListType::Dn, ListType::Uri, ListType::Md5];

    /// The `type` value PT NAD uses for lists of this kind.
    pub fn api_name(self) -> &'static str {
        match self {
            ListType::Ip => "ip",
            ListType::Dn => "dn",
            ListType::Uri => "uri",
            ListType::Md5 => "md5",
        }
    }
}

impl fmt::Display for ListType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api_name())
    }
}

/// Whether PT NAD's rule for list names (`^[a-zA-Z0-9_-]+$`) accepts `name`.
pub fn is_slug(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// How to authenticate against PT NAD. `Debug` never shows the secrets.
#[derive(Clone)]
pub enum Credentials {
    /// An API token sent as `Authorization: Bearer` (PT MC deployments).
    Token(String),
    /// A local account; the client keeps a Django session.
    Login {
        /// The account name.
        username: String,
        /// The account password.
        password: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token(***)"),
            Credentials::Login { username, .. } => f
                .debug_struct("Login")
                .field("username", username)
                .field("password", &"***")
                .finish(),
        }
    }
}

/// Server certificate checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsVerification {
    /// Accept any certificate (PT NAD's default: appliances ship self-signed ones).
    Off,
    /// Check against the system's trusted roots.
    System,
    /// Check against the certificates of this PEM bundle only.
    CaBundle(PathBuf),
}

/// Everything needed to build a [`PtnadClient`].
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// PT NAD's base URL (`PTNAD_URL`), without the `/api/v2` suffix.
    pub base_url: Url,
    /// Certificate checking (`PTNAD_SSL_VERIFY`).
    pub tls: TlsVerification,
    /// Token or login.
    pub credentials: Credentials,
    /// Bound on each HTTP request, connection included.
    pub timeout: Duration,
    /// Longest `Retry-After` passed on (longer ones are cut to it, logged).
    pub max_server_delay: Duration,
    /// Proxies and extra trusted CAs (the runtime's network variables).
    pub network: Network,
    /// Most pages of reputation lists read (`PTNAD_MAX_LIST_PAGES`).
    pub max_list_pages: usize,
    /// Most reputation lists read (`PTNAD_MAX_LISTS`).
    pub max_lists: usize,
}

/// A reputation list as PT NAD describes it. Fields PT NAD may omit default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RepList {
    /// PT NAD's numeric id.
    #[serde(default)]
    pub id: Option<u64>,
    /// The list's name.
    #[serde(default)]
    pub name: String,
    /// `ip`, `dn`, `uri`, `md5`, ...
    #[serde(rename = "type", default)]
    pub list_type: String,
    /// The handle of dynamic lists; `None` for lists managed by hand.
    #[serde(default)]
    pub external_key: Option<String>,
    /// Number of items, when PT NAD reports it.
    #[serde(default)]
    pub items_count: Option<u64>,
}

/// A dynamic reputation list the connector needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSpec {
    /// The name given when the list is created (must be a slug).
    pub name: String,
    /// The kind of values the list holds.
    pub list_type: ListType,
    /// The external key identifying the list.
    pub external_key: String,
}

/// What [`PtnadClient::ensure_lists`] did for one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsuredList {
    /// A list with the external key already existed.
    Existing,
    /// The list was created.
    Created,
}

/// The API call that failed, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `POST auth/login`.
    Login,
    /// `GET monitoring/status`.
    Status,
    /// `GET replists`.
    ListReplists,
    /// `POST replists`.
    CreateReplist,
    /// `POST replists/dynamic/{key}/_bulk`.
    AddItems,
    /// `POST replists/dynamic/{key}/_delete`.
    RemoveItems,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Login => "log in",
            Operation::Status => "read the monitoring status",
            Operation::ListReplists => "list reputation lists",
            Operation::CreateReplist => "create a reputation list",
            Operation::AddItems => "add items to a dynamic list",
            Operation::RemoveItems => "remove items from a dynamic list",
        })
    }
}

/// Failures of PT NAD calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The TLS setup could not be built (unreadable or invalid CA bundle).
    #[error("cannot set up TLS for PT NAD: {detail}")]
    Tls {
        /// What went wrong.
        detail: String,
    },
    /// A list name is not accepted by PT NAD; no request was sent.
    #[error(
        "reputation list name {name:?} is invalid: PT NAD accepts only letters, digits, '_' and '-'"
    )]
    InvalidListName {
        /// The rejected name.
        name: String,
    },
    /// The login was refused: wrong username or password.
    #[error("PT NAD refused the login (HTTP {status}): {detail}")]
    LoginRefused {
        /// HTTP status of the login answer.
        status: u16,
        /// PT NAD's error text.
        detail: String,
    },
    /// Still 401/403 after a fresh login, or with the API token.
    #[error("PT NAD denied access to {operation} (HTTP {status}): {detail}")]
    Unauthorized {
        /// The call.
        operation: Operation,
        /// 401 or 403.
        status: u16,
        /// PT NAD's error text.
        detail: String,
    },
    /// 429 or 5xx: PT NAD is busy or failing.
    #[error("PT NAD could not {operation} right now (HTTP {status}): {detail}")]
    Unavailable {
        /// The call.
        operation: Operation,
        /// The HTTP status.
        status: u16,
        /// PT NAD's error text.
        detail: String,
        /// The server's `Retry-After`, when given in seconds.
        retry_after: Option<Duration>,
    },
    /// The request timed out.
    #[error("PT NAD did not answer in time to {operation}")]
    Timeout {
        /// The call.
        operation: Operation,
    },
    /// PT NAD could not be reached (refused connection, DNS, TLS handshake).
    #[error("cannot reach PT NAD to {operation}: {detail}")]
    Unreachable {
        /// The call.
        operation: Operation,
        /// The transport's description.
        detail: String,
    },
    /// Another 4xx: PT NAD rejected the request itself.
    #[error("PT NAD rejected the request to {operation} (HTTP {status}): {detail}")]
    Rejected {
        /// The call.
        operation: Operation,
        /// The HTTP status.
        status: u16,
        /// PT NAD's error text.
        detail: String,
    },
    /// A success answer that could not be understood.
    #[error("unexpected answer from PT NAD to {operation}: {detail}")]
    InvalidResponse {
        /// The call.
        operation: Operation,
        /// What was wrong with it.
        detail: String,
    },
    /// A write answered with success but with a body PT NAD does not send
    /// (a proxy's or portal's login page, say): nothing is known to be
    /// applied, so the values are sent again later.
    #[error(
        "PT NAD answered {operation} with HTTP {status} but not with its answer (no body or JSON), so it is not counted as applied: {detail}"
    )]
    UnconfirmedWrite {
        /// The call.
        operation: Operation,
        /// The success status received.
        status: u16,
        /// The start of the body.
        detail: String,
    },
    /// PT NAD's list of reputation lists goes on past a configured bound
    /// (a broken or hostile pagination).
    #[error(
        "PT NAD's reputation lists go on past {limit} {what}; stopped reading (raise {variable} if PT NAD really holds that many)"
    )]
    TooManyLists {
        /// Pages or lists.
        what: &'static str,
        /// The bound reached.
        limit: usize,
        /// The variable setting it.
        variable: &'static str,
    },
    /// An existing list carries our external key but holds another kind of values.
    #[error(
        "reputation list {name:?} with external key {external_key:?} has type {found:?}, expected {expected:?}"
    )]
    ListTypeMismatch {
        /// The existing list's name.
        name: String,
        /// The shared external key.
        external_key: String,
        /// The type the connector needs.
        expected: ListType,
        /// The type PT NAD reports.
        found: String,
    },
}

impl ClientError {
    /// The error of a failed `operation`; PT NAD's 404 and 410 are
    /// rejections like any other 4xx.
    fn failed(operation: Operation, failure: CallFailure) -> Self {
        match failure {
            CallFailure::Unavailable {
                status,
                detail,
                retry_after,
            } => Self::Unavailable {
                operation,
                status,
                detail,
                retry_after,
            },
            CallFailure::Unauthorized { status, detail } => Self::Unauthorized {
                operation,
                status,
                detail,
            },
            CallFailure::NotFound { status, detail } | CallFailure::Rejected { status, detail } => {
                Self::Rejected {
                    operation,
                    status,
                    detail,
                }
            }
            CallFailure::InvalidResponse { detail } => Self::InvalidResponse { operation, detail },
            CallFailure::Timeout => Self::Timeout { operation },
            CallFailure::Unreachable { detail } => Self::Unreachable { operation, detail },
        }
    }

    /// Whether the same request may succeed later: PT NAD busy or down, or
    /// credentials an operator can fix. Rejections of the data itself are not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ClientError::Unavailable { .. }
                | ClientError::Timeout { .. }
                | ClientError::Unreachable { .. }
                | ClientError::Unauthorized { .. }
                | ClientError::LoginRefused { .. }
                | ClientError::UnconfirmedWrite { .. }
                // An unreadable answer to a write (one too large, say) is
                // not PT NAD refusing the values: nothing is known applied.
                | ClientError::InvalidResponse {
                    operation: Operation::AddItems | Operation::RemoveItems,
                    ..
                }
        )
    }

    /// Whether the credentials themselves were refused: at startup this is
    /// fatal, since retrying cannot help until an operator fixes them.
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            ClientError::Unauthorized { .. } | ClientError::LoginRefused { .. }
        )
    }

    /// The delay PT NAD asked for before the next attempt, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// How the runtime's sink startup and retried events read PT NAD's errors.
impl VendorError for ClientError {
    fn retry_after(&self) -> Option<Duration> {
        ClientError::retry_after(self)
    }

    /// Refused credentials, or a request retrying cannot fix.
    fn stops_startup(&self) -> bool {
        self.is_auth_failure() || !self.is_retryable()
    }
}

/// Cookies of the current Django session. `Debug` shows their names only.
#[derive(Default)]
struct Session {
    /// `(name, value)` pairs in the order PT NAD set them.
    cookies: Vec<(String, String)>,
    /// Bumped at each login, so concurrent callers log in again only once.
    generation: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.cookies.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Session")
            .field("cookies", &names)
            .field("generation", &self.generation)
            .finish()
    }
}

impl Session {
    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Applies the `Set-Cookie` headers of an answer; an empty value deletes.
    fn absorb(&mut self, headers: &HeaderMap) {
        for raw in headers.get_all(header::SET_COOKIE) {
            let Ok(raw) = raw.to_str() else { continue };
            let pair = raw.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim().trim_matches('"'));
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// A connection to one PT NAD server. Cheap to share behind an `Arc`; calls may run concurrently.
#[derive(Debug)]
pub struct PtnadClient {
    http: reqwest::Client,
    max_server_delay: Duration,
    max_list_pages: usize,
    max_lists: usize,
    api_base: Url,
    referer: HeaderValue,
    credentials: Credentials,
    session: Mutex<Session>,
}

#[derive(Serialize)]
struct LoginBody<'a> {
    username: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct NewList<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    list_type: &'a str,
    color: &'a str,
    external_key: &'a str,
}

#[derive(Serialize)]
struct BulkItem<'a> {
    value: &'a str,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    next: Option<serde_json::Value>,
    results: Vec<RepList>,
}

impl PtnadClient {
    /// Builds the client; no request is sent yet (see [`PtnadClient::connect`]).
    pub fn new(settings: ClientSettings) -> Result<Self, ClientError> {
        let verification = match &settings.tls {
            TlsVerification::Off => {
                // Only worth a warning when the URL is HTTPS; still applied
                // for HTTP in case PT NAD redirects to HTTPS.
                if settings.base_url.scheme() == "https" {
                    static WARN_ONCE: Once = Once::new();
                    WARN_ONCE.call_once(|| {
                        tracing::warn!(
                            "PT NAD certificate verification is off (PTNAD_SSL_VERIFY=false): \
                             the connection can be intercepted"
                        );
                    });
                }
                Verification::Off
            }
            TlsVerification::System => Verification::System,
            TlsVerification::CaBundle(path) => Verification::OnlyBundle(path.clone()),
        };
        let http = ClientOptions::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
            .connect_timeout(settings.timeout)
            .total_timeout(settings.timeout)
            .verification(verification)
            .network(settings.network)
            .build()
            .map_err(|e| ClientError::Tls {
                detail: e.to_string(),
            })?;
        let api_base = api_base(&settings.base_url);
        let referer = HeaderValue::from_str(api_base.as_str()).map_err(|e| ClientError::Tls {
            detail: format!("PT NAD URL cannot be sent as a Referer: {e}"),
        })?;
        Ok(Self {
            http,
            max_server_delay: settings.max_server_delay,
            max_list_pages: settings.max_list_pages,
            max_lists: settings.max_lists,
            api_base,
            referer,
            credentials: settings.credentials,
            session: Mutex::new(Session::default()),
        })
    }

    /// The `…/api/v2/` URL every call is relative to.
    pub fn api_base(&self) -> &Url {
        &self.api_base
    }

    /// Logs in (session mode) and checks that PT NAD answers; returns its monitoring status.
    pub async fn connect(&self) -> Result<String, ClientError> {
        if matches!(self.credentials, Credentials::Login { .. }) {
            let generation = self.session.lock().await.generation;
            self.login(generation).await?;
        }
        self.status().await
    }

    /// PT NAD's overall health (`green`, `yellow`, `red`, ...).
    pub async fn status(&self) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        struct Status {
            #[serde(default)]
            status: Option<String>,
        }
        let answer = self
            .call(
                Operation::Status,
                Method::GET,
                &["monitoring", "status"],
                &[],
                None,
            )
            .await?;
        let status: Status = parse(Operation::Status, &answer.body)?;
        Ok(status.status.unwrap_or_else(|| "unknown".to_owned()))
    }

    /// Every reputation list, following PT NAD's pages.
    pub async fn replists(&self) -> Result<Vec<RepList>, ClientError> {
        let mut lists = Vec::new();
        for _ in 0..self.max_list_pages {
            let offset = lists.len().to_string();
            let answer = self
                .call(
                    Operation::ListReplists,
                    Method::GET,
                    &["replists"],
                    &[("limit", &LIST_PAGE_SIZE.to_string()), ("offset", &offset)],
                    None,
                )
                .await?;
            let page: Page = parse(Operation::ListReplists, &answer.body)?;
            let last = page.results.is_empty() || page.next.is_none_or(|next| next.is_null());
            lists.extend(page.results);
            if lists.len() > self.max_lists {
                return Err(ClientError::TooManyLists {
                    what: "lists",
                    limit: self.max_lists,
                    variable: "PTNAD_MAX_LISTS",
                });
            }
            if last {
                return Ok(lists);
            }
        }
        Err(ClientError::TooManyLists {
            what: "pages",
            limit: self.max_list_pages,
            variable: "PTNAD_MAX_LIST_PAGES",
        })
    }

    /// Creates a dynamic reputation list.
    pub async fn create_replist(&self, spec: &ListSpec) -> Result<RepList, ClientError> {
        if !is_slug(&spec.name) {
            return Err(ClientError::InvalidListName {
                name: spec.name.clone(),
            });
        }
        let body = serde_json::to_vec(&NewList {
            name: &spec.name,
            list_type: spec.list_type.api_name(),
            color: LIST_COLOR,
            external_key: &spec.external_key,
        })
        .expect("a list description always serialises");
        let answer = self
            .call(
                Operation::CreateReplist,
                Method::POST,
                &["replists"],
                &[],
                Some(body),
            )
            .await?;
        parse(Operation::CreateReplist, &answer.body)
    }

    /// Makes sure every wanted list exists, matching existing lists by external key only.
    ///
    /// Lists are created in the order given; an existing list holding
    /// another type of values is an error rather than being fed wrong values.
    pub async fn ensure_lists(&self, wanted: &[ListSpec]) -> Result<Vec<EnsuredList>, ClientError> {
        for spec in wanted {
            if !is_slug(&spec.name) {
                return Err(ClientError::InvalidListName {
                    name: spec.name.clone(),
                });
            }
        }
        let existing = self.replists().await?;
        let mut outcomes = Vec::with_capacity(wanted.len());
        for spec in wanted {
            let found = existing
                .iter()
                .find(|list| list.external_key.as_deref() == Some(spec.external_key.as_str()));
            match found {
                Some(list) if list.list_type == spec.list_type.api_name() => {
                    outcomes.push(EnsuredList::Existing);
                }
                Some(list) => {
                    return Err(ClientError::ListTypeMismatch {
                        name: list.name.clone(),
                        external_key: spec.external_key.clone(),
                        expected: spec.list_type,
                        found: list.list_type.clone(),
                    });
                }
                None => {
                    self.create_replist(spec).await?;
                    outcomes.push(EnsuredList::Created);
                }
            }
        }
        Ok(outcomes)
    }

    /// Adds values to the dynamic list `external_key` (`_bulk`), at most
    /// [`MAX_BULK_VALUES`] per request. Adding a present value is harmless.
    pub async fn add_items(
        &self,
        external_key: &str,
        values: &[String],
    ) -> Result<(), ClientError> {
        for chunk in values.chunks(MAX_BULK_VALUES) {
            let items: Vec<BulkItem<'_>> = chunk.iter().map(|value| BulkItem { value }).collect();
            let body = serde_json::to_vec(&items).expect("strings always serialise");
            let answer = self
                .call(
                    Operation::AddItems,
                    Method::POST,
                    &["replists", "dynamic", external_key, "_bulk"],
                    &[],
                    Some(body),
                )
                .await?;
            confirm_write(Operation::AddItems, &answer)?;
        }
        Ok(())
    }

    /// Removes values from the dynamic list `external_key` (`_delete`), at
    /// most [`MAX_BULK_VALUES`] per request.
    pub async fn remove_items(
        &self,
        external_key: &str,
        values: &[String],
    ) -> Result<(), ClientError> {
        for chunk in values.chunks(MAX_BULK_VALUES) {
            let body = serde_json::to_vec(chunk).expect("strings always serialise");
            let answer = self
                .call(
                    Operation::RemoveItems,
                    Method::POST,
                    &["replists", "dynamic", external_key, "_delete"],
                    &[],
                    Some(body),
                )
                .await?;
            confirm_write(Operation::RemoveItems, &answer)?;
        }
        Ok(())
    }

    /// Logs in unless another caller already did since `seen_generation`.
    async fn login(&self, seen_generation: u64) -> Result<(), ClientError> {
        let Credentials::Login { username, password } = &self.credentials else {
            return Ok(());
        };
        let mut session = self.session.lock().await;
        if session.generation != seen_generation {
            return Ok(());
        }
        let body = serde_json::to_vec(&LoginBody { username, password })
            .expect("credentials always serialise");
        // A fresh session: stale cookies would only confuse the server.
        session.cookies.clear();
        let url = self.url(&["auth", "login"], &[]);
        let request = self
            .http
            .post(url)
            .header(header::REFERER, self.referer.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        let answer = send(Operation::Login, request).await?;
        session.absorb(&answer.headers);
        session.generation += 1;
        let status = answer.status;
        if status.is_success() {
            tracing::debug!(username = %username, "logged in to PT NAD");
            return Ok(());
        }
        Err(match self.classify(Operation::Login, &answer) {
            ClientError::Rejected { status, detail, .. }
            | ClientError::Unauthorized { status, detail, .. } => {
                ClientError::LoginRefused { status, detail }
            }
            other => other,
        })
    }

    /// Sends one call, logging in again and retrying once if the session expired.
    async fn call(
        &self,
        operation: Operation,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ClientError> {
        let session_mode = matches!(self.credentials, Credentials::Login { .. });
        let mut relogged = false;
        loop {
            let mut request = self
                .http
                .request(method.clone(), self.url(segments, query))
                .header(header::REFERER, self.referer.clone());
            if let Some(body) = &body {
                request = request
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let generation = match &self.credentials {
                Credentials::Token(token) => {
                    request = request.bearer_auth(token);
                    0
                }
                Credentials::Login { .. } => {
                    let session = self.session.lock().await;
                    if let Some(cookies) = session.cookie_header() {
                        request = request.header(header::COOKIE, cookies);
                    }
                    if let Some(csrf) = session.cookie("csrftoken") {
                        request = request.header("X-CSRFToken", csrf);
                    }
                    session.generation
                }
            };
            let answer = send(operation, request).await?;
            if session_mode {
                self.session.lock().await.absorb(&answer.headers);
            }
            if answer.status.is_success() {
                return Ok(answer);
            }
            let auth_failure = matches!(
                answer.status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            );
            if session_mode && auth_failure && !relogged {
                tracing::info!(
                    status = answer.status.as_u16(),
                    "PT NAD session expired or refused, logging in again"
                );
                self.login(generation).await?;
                relogged = true;
                continue;
            }
            return Err(self.classify(operation, &answer));
        }
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.api_base.clone();
        url.path_segments_mut()
            .expect("the API base is an http(s) URL")
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }
}

/// `<base>/api/v2/`, keeping any path prefix of the base (reverse proxies).
fn api_base(base: &Url) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(["api", "v2", ""]);
    }
    url
}

/// Sends one request; a transport failure becomes the matching error.
async fn send(
    operation: Operation,
    request: reqwest::RequestBuilder,
) -> Result<Answer, ClientError> {
    http::send(request, MAX_ANSWER_BYTES)
        .await
        .map_err(|error| ClientError::failed(operation, error.into()))
}

impl PtnadClient {
    /// Turns a non-success answer into the matching error.
    fn classify(&self, operation: Operation, answer: &Answer) -> ClientError {
        let failure =
            CallFailure::of_answer(answer, MAX_ERROR_TEXT, self.max_server_delay, "PT NAD");
        ClientError::failed(operation, failure)
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    operation: Operation,
    body: &[u8],
) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::InvalidResponse {
        operation,
        detail: format!("{e}; body: {}", error_text(body)),
    })
}

/// PT NAD answers `_bulk` with 200 and JSON, `_delete` with 204 and no
/// body; any other success body (HTML above all) came from something else
/// in the way and confirms nothing.
fn confirm_write(operation: Operation, answer: &Answer) -> Result<(), ClientError> {
    let body = answer.body.trim_ascii();
    let confirmed = match answer.status {
        StatusCode::NO_CONTENT => body.is_empty(),
        StatusCode::OK | StatusCode::CREATED => {
            body.is_empty() || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
        }
        _ => false,
    };
    if confirmed {
        Ok(())
    } else {
        Err(ClientError::UnconfirmedWrite {
            operation,
            status: answer.status.as_u16(),
            detail: error_text(&answer.body),
        })
    }
}

/// PT NAD's answer as readable text, cut to a sane length.
fn error_text(body: &[u8]) -> String {
    answer_excerpt(body, MAX_ERROR_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rule_matches_pt_nad() {
        assert!(is_slug("opencti-ip-replist"));
        assert!(is_slug("A_b-9"));
        assert!(!is_slug(""));
        assert!(!is_slug("with space"));
        assert!(!is_slug("dot.ted"));
        assert!(!is_slug("ünïcode"));
    }

    #[test]
    fn api_base_keeps_prefix_and_drops_trailing_slash() {
        let cases = [
            ("https://nad.example", "https://nad.example/api/v2/"),
            ("https://nad.example/", "https://nad.example/api/v2/"),
            (
                "https://nad.example/proxy/nad/",
                "https://nad.example/proxy/nad/api/v2/",
            ),
            (
                "http://127.0.0.1:8080/x?y=1",
                "http://127.0.0.1:8080/x/api/v2/",
            ),
        ];
        for (base, expected) in cases {
            assert_eq!(
                api_base(&Url::parse(base).unwrap()).as_str(),
                expected,
                "{base}"
            );
        }
    }

    #[test]
    fn external_keys_are_percent_encoded_in_paths() {
        let client = PtnadClient::new(ClientSettings {
            base_url: Url::parse("https://nad.example").unwrap(),
            tls: TlsVerification::System,
            credentials: Credentials::Token("t".to_owned()),
            timeout: Duration::from_secs(1),
            max_server_delay: http::DEFAULT_MAX_SERVER_DELAY,
            max_list_pages: 100,
            max_lists: 10_000,
            network: Network::default(),
        })
        .unwrap();
        let url = client.url(&["replists", "dynamic", "a/b c", "_bulk"], &[]);
        assert_eq!(
            url.as_str(),
            "https://nad.example/api/v2/replists/dynamic/a%2Fb%20c/_bulk"
        );
    }

    #[test]
    fn session_cookies_follow_set_cookie_headers() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_static("csrftoken=abc; Path=/; SameSite=Lax"),
        );
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_static("sessionid=s1; HttpOnly; Path=/"),
        );
        let mut session = Session::default();
        session.absorb(&headers);
        assert_eq!(session.cookie("csrftoken"), Some("abc"));
        assert_eq!(
            session.cookie_header().unwrap(),
            "csrftoken=abc; sessionid=s1"
        );

        let mut expired = HeaderMap::new();
        expired.append(
            header::SET_COOKIE,
            HeaderValue::from_static(
                "sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0",
            ),
        );
        session.absorb(&expired);
        assert_eq!(session.cookie("sessionid"), None);
        assert_eq!(session.cookie_header().unwrap(), "csrftoken=abc");
    }

    #[test]
    fn session_cookies_are_named_but_not_shown() {
        let session = Session {
            cookies: vec![
                ("sessionid".to_owned(), "s3cr3t-session".to_owned()),
                ("csrftoken".to_owned(), "s3cr3t-csrf".to_owned()),
            ],
            generation: 1,
        };
        let debug = format!("{session:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(
            debug.contains("sessionid") && debug.contains("csrftoken"),
            "{debug}"
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let token = format!("{:?}", Credentials::Token("tok-123".to_owned()));
        let login = format!(
            "{:?}",
            Credentials::Login {
                username: "opencti".to_owned(),
                password: "S3cret!".to_owned()
            }
        );
        assert!(!token.contains("tok-123"), "{token}");
        assert!(!login.contains("S3cret!"), "{login}");
        assert!(login.contains("opencti"), "{login}");
    }
}
