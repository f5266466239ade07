//! HTTP routes: the platform's `/graphql` and `/stream`, plus the `/sim/api`
//! inspection and admin calls.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::accounts::Principal;
use crate::config::StreamCollectionConfig;
use crate::core::Core;
use crate::error::SimError;
use crate::graphql::{self, GraphqlRequest};
use crate::model::StreamConnection;
use crate::objects::EventInjection;
use crate::stream::{self, RawParameters, StreamRequest};

pub(crate) fn router(core: Arc<Core>) -> Router {
    // The control API changes the simulated platform: with `--token` it asks
    // for the same bearer token as the platform's own API.
    let control = Router::new()
        .route("/summary", get(summary))
        .route("/connectors", get(connectors))
        .route("/connectors/{id}/reset", post(reset_connector))
        .route("/connectors/{id}/pause", post(pause_worker))
        .route("/connectors/{id}/resume", post(resume_worker))
        .route("/connectors/{id}/listen", post(send_listen_message))
        .route("/works", get(works))
        .route("/objects", get(objects))
        .route("/stream-events", get(stream_events).post(inject_events))
        .route("/stream-collections", get(collections).post(add_collection))
        .route("/graphql-calls", get(graphql_calls))
        .route("/keep-recent-records", post(keep_recent_records))
        .route("/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/rejected-requests", get(rejected_requests))
        .route("/files", get(files).post(upload_file))
        .route("/drafts", get(drafts).post(add_draft))
        .route("/jobs", get(jobs))
        .route("/groups", get(groups))
        .route("/users", get(users))
        .route("/enrichments", post(ask_enrichment))
        .route("/imports", post(ask_job_import))
        .route("/exports", post(ask_entity_export))
        .route("/list-exports", post(ask_list_export))
        .route(
            "/playbook-steps",
            get(playbook_steps).post(run_playbook_step),
        )
        .layer(middleware::from_fn_with_state(
            Arc::clone(&core),
            require_control_token,
        ));
    Router::new()
        .route("/graphql", post(graphql_endpoint))
        .route("/stream", get(raw_stream))
        .route("/stream/{id}", get(collection_stream))
        .route("/storage/get/{*file}", get(storage_get))
        .nest("/sim/api", control)
        .with_state(core)
}

/// With a configured token, the control API answers 401 to any other.
async fn require_control_token(
    State(core): State<Arc<Core>>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    if core.config.token.is_some()
        && core.authenticate(bearer(request.headers())) != Some(Principal::Admin)
    {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "the control API needs the simulator's token (Authorization: Bearer)"}),
        );
    }
    next.run(request).await
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn sim_error(error: &SimError) -> Response {
    let status = match error {
        SimError::UnknownConnector { .. } => StatusCode::NOT_FOUND,
        SimError::InvalidEvent { .. }
        | SimError::InvalidCollection { .. }
        | SimError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json_response(status, &json!({"error": error.to_string()}))
}

async fn graphql_endpoint(
    State(core): State<Arc<Core>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let request = if content_type.starts_with("multipart/") {
        graphql::parse_multipart_request(&content_type, &body)
    } else {
        GraphqlRequest::from_json(&body)
    };
    let mut request = match request {
        Ok(request) => request,
        Err(reason) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"errors": [{"message": reason, "extensions": {"code": "BAD_REQUEST"}}]}),
            );
        }
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    request.applicant_id = header("opencti-applicant-id");
    request.draft_id = header("opencti-draft-id");
    let principal = core.authenticate(bearer(&headers));
    let runtime = tokio::runtime::Handle::current();
    let answer = tokio::task::spawn_blocking(move || {
        graphql::execute(&core, &runtime, &request, principal.as_ref())
    })
    .await;
    match answer {
        // The platform answers 200 even when the body carries errors; a
        // status fault answers its own.
        Ok((status, response)) => json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &response,
        ),
        Err(error) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"errors": [{"message": format!("resolver crashed: {error}"), "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}),
        ),
    }
}

async fn raw_stream(
    State(core): State<Arc<Core>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    serve_stream(&core, "live", &query, &headers)
}

async fn collection_stream(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    serve_stream(&core, &id, &query, &headers)
}

fn serve_stream(
    core: &Arc<Core>,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let Some(principal) = core.authenticate(bearer(headers)) else {
        return (
            StatusCode::UNAUTHORIZED,
            "You must be logged in to do this.",
        )
            .into_response();
    };
    core.store.write(|state| {
        state.record_stream_connection(StreamConnection {
            at: crate::model::now(),
            collection: id.to_owned(),
            user_id: principal.user_id(),
        });
    });
    let Some(collection) = core.store.read(|state| state.collections.get(id).cloned()) else {
        return (
            StatusCode::UNAUTHORIZED,
            "This stream collection does not exist",
        )
            .into_response();
    };
    if !collection.stream_live {
        return (StatusCode::GONE, "This live stream is stopped").into_response();
    }
    // First of query parameter, then header(s), as the platform reads them.
    let parameter = |names: &[&str]| -> Option<String> {
        query.get(names[0]).cloned().or_else(|| {
            names.iter().find_map(|name| {
                headers
                    .get(*name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
        })
    };
    let raw = RawParameters {
        from: parameter(&["from", "last-event-id"]),
        recover: parameter(&["recover", "recover-date"]),
        listen_delete: parameter(&["listen-delete"]),
        no_dependencies: parameter(&["no-dependencies"])
            .or_else(|| parameter(&["no-relationships"])),
        with_inferences: parameter(&["with-inferences"]),
    };
    let request = match StreamRequest::new(collection, &raw) {
        Ok(request) => request,
        Err(reason) => return (StatusCode::INTERNAL_SERVER_ERROR, reason).into_response(),
    };
    let body = stream::open(
        Arc::clone(&core.store),
        request,
        core.config.heartbeat_interval,
        core.cancel.clone(),
    );
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache, no-transform")
        .header(header::CONNECTION, "keep-alive")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .body(Body::from_stream(body))
        .unwrap_or_else(|error| {
            (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response()
        })
}

fn listing<T: serde::Serialize>(items: &T) -> Response {
    match serde_json::to_value(items) {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(error) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": error.to_string()}),
        ),
    }
}

async fn summary(State(core): State<Arc<Core>>) -> Response {
    listing(&crate::SimSummary::of(&core))
}

async fn connectors(State(core): State<Arc<Core>>) -> Response {
    core.store
        .read(|state| listing(&state.connectors.values().collect::<Vec<_>>()))
}

async fn works(
    State(core): State<Arc<Core>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let connector = query.get("connector_id");
    core.store.read(|state| {
        let mut works: Vec<_> = state
            .works
            .values()
            .filter(|w| connector.is_none_or(|c| *c == w.connector_id))
            .collect();
        works.sort_by_key(|w| w.timestamp);
        listing(&works)
    })
}

async fn objects(
    State(core): State<Arc<Core>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let wanted = query.get("type");
    core.store.read(|state| {
        listing(
            &state
                .objects
                .values()
                .filter(|o| wanted.is_none_or(|t| *t == o.stix_type))
                .collect::<Vec<_>>(),
        )
    })
}

async fn stream_events(State(core): State<Arc<Core>>) -> Response {
    core.store.read(|state| listing(&state.events))
}

/// Body: one injection object, an array of them, or JSONL.
async fn inject_events(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    let injections: Result<Vec<EventInjection>, String> =
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Array(items)) => items
                .into_iter()
                .map(|item| serde_json::from_value(item).map_err(|e| e.to_string()))
                .collect(),
            Ok(single) => serde_json::from_value(single)
                .map(|i| vec![i])
                .map_err(|e| e.to_string()),
            Err(_) => String::from_utf8_lossy(&body)
                .lines()
                .filter(|line| !line.trim().is_empty())
                .enumerate()
                .map(|(index, line)| {
                    serde_json::from_str(line).map_err(|e| format!("line {}: {e}", index + 1))
                })
                .collect(),
        };
    let injections = match injections {
        Ok(injections) => injections,
        Err(reason) => return sim_error(&SimError::InvalidEvent { reason }),
    };
    let mut events = Vec::new();
    for injection in injections {
        match core.inject(injection) {
            Ok(event) => events.push(event),
            Err(error) => return sim_error(&error),
        }
    }
    listing(&events)
}

async fn collections(State(core): State<Arc<Core>>) -> Response {
    core.store
        .read(|state| listing(&state.collections.values().collect::<Vec<_>>()))
}

async fn add_collection(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    match serde_json::from_slice::<StreamCollectionConfig>(&body) {
        Ok(config) => match crate::add_collection(&core, config) {
            Ok(collection) => listing(&collection),
            Err(error) => sim_error(&error),
        },
        Err(error) => sim_error(&SimError::InvalidCollection {
            id: String::new(),
            reason: error.to_string(),
        }),
    }
}

async fn reset_connector(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    match core.reset_state(&id).await {
        Ok(record) => listing(&record),
        Err(error) => sim_error(&error),
    }
}

async fn pause_worker(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    match core.set_worker_paused(&id, true) {
        Ok(()) => json_response(StatusCode::OK, &json!({"paused": true})),
        Err(error) => sim_error(&error),
    }
}

async fn resume_worker(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    match core.set_worker_paused(&id, false) {
        Ok(()) => json_response(StatusCode::OK, &json!({"paused": false})),
        Err(error) => sim_error(&error),
    }
}

/// Body: `{"event": {...}, "configuration": "<JSON string>"?}`.
async fn send_listen_message(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("body is not JSON: {error}")}),
            );
        }
    };
    let Some(event) = request.get("event").cloned() else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "`event` is required"}),
        );
    };
    let configuration = request
        .get("configuration")
        .and_then(Value::as_str)
        .map(str::to_owned);
    reply(core.send_listen_message(&id, event, configuration).await)
}

async fn faults(State(core): State<Arc<Core>>) -> Response {
    listing(&core.faults.list())
}

/// Body: a [`crate::CallFault`] (`{"operation", "after"?, "times"?, "status"?}`).
async fn add_fault(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    let fault: crate::CallFault = match json_body(&body) {
        Ok(fault) => fault,
        Err(reason) => return bad_body(&reason),
    };
    if fault.operation.trim().is_empty() {
        return bad_body("`operation` must name a GraphQL operation");
    }
    if fault
        .status
        .is_some_and(|status| StatusCode::from_u16(status).is_err() || status < 400)
    {
        return bad_body("`status` must be an HTTP error status (400-999)");
    }
    core.faults.install(fault);
    listing(&core.faults.list())
}

async fn clear_faults(State(core): State<Arc<Core>>) -> Response {
    core.faults.clear();
    listing(&core.faults.list())
}

/// Body `{"entries": n}` (n at least 1): from now on the histories keep
/// only their last `n` entries (`SimHandle::keep_recent_records`).
async fn keep_recent_records(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    struct Keep {
        entries: usize,
    }
    let keep: Keep = match json_body(&body) {
        Ok(keep) => keep,
        Err(reason) => return bad_body(&reason),
    };
    if keep.entries == 0 {
        return bad_body("`entries` must be at least 1");
    }
    core.store.write(|state| state.cap_histories(keep.entries));
    listing(&json!({"entries": keep.entries}))
}

async fn graphql_calls(State(core): State<Arc<Core>>) -> Response {
    core.store.read(|state| listing(&state.calls))
}

async fn rejected_requests(State(core): State<Arc<Core>>) -> Response {
    core.store.read(|state| listing(&state.rejected))
}

async fn files(State(core): State<Arc<Core>>) -> Response {
    core.store.read(|state| listing(&state.files))
}

async fn drafts(State(core): State<Arc<Core>>) -> Response {
    core.store.read(|state| listing(&state.drafts))
}

async fn groups(State(core): State<Arc<Core>>) -> Response {
    core.store.read(|state| {
        let groups: Vec<_> = state.groups.values().collect();
        listing(&groups)
    })
}

/// Users as the platform shows them: tokens masked, never in plaintext.
async fn users(State(core): State<Arc<Core>>) -> Response {
    core.store.read(|state| {
        let users: Vec<Value> = state
            .users
            .values()
            .map(|user| {
                let mut view = crate::graphql::views::platform_user(user);
                view["groups"] = json!(user.groups);
                view["max_confidence"] = json!(user.max_confidence);
                view
            })
            .collect();
        listing(&users)
    })
}

async fn playbook_steps(State(core): State<Arc<Core>>) -> Response {
    core.store.read(|state| listing(&state.playbook_steps))
}

/// The platform's `GET /storage/get/<file id>`: the file as an attachment
/// for an authenticated user (connectors fetch imports with their token).
async fn storage_get(
    State(core): State<Arc<Core>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !core.accepts_token(bearer(&headers)) {
        return (StatusCode::FORBIDDEN, "Forbidden").into_response();
    }
    let Some(stored) = core
        .store
        .read(|state| state.files.iter().find(|f| f.id == file).cloned())
    else {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "error", "error": format!("File {file} not found")}),
        );
    };
    let mime = stored
        .mime_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let disposition = format!("attachment; filename=\"{}\"", stored.name.replace('"', ""));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, mime),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        stored.bytes(),
    )
        .into_response()
}

/// Reads a JSON body into `T`, or says what is wrong with it.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|error| format!("invalid body: {error}"))
}

/// A control call's answer: the result as JSON, or the error.
fn reply<T: serde::Serialize>(result: Result<T, SimError>) -> Response {
    match result {
        Ok(value) => listing(&value),
        Err(error) => sim_error(&error),
    }
}

fn bad_body(reason: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": reason}))
}

async fn jobs(
    State(core): State<Arc<Core>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let connector = query.get("connector_id");
    core.store.read(|state| {
        listing(
            &state
                .jobs
                .iter()
                .filter(|job| connector.is_none_or(|c| *c == job.connector_id))
                .collect::<Vec<_>>(),
        )
    })
}

#[derive(serde::Deserialize)]
struct EnrichmentBody {
    entity_id: String,
    connector_id: String,
    #[serde(default)]
    draft_id: Option<String>,
}

/// Body: `{"entity_id", "connector_id", "draft_id"?}`; answers the work
/// (`null` for an unknown connector, as the platform does).
async fn ask_enrichment(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    let request: EnrichmentBody = match json_body(&body) {
        Ok(request) => request,
        Err(reason) => return bad_body(&reason),
    };
    reply(
        core.ask_enrichment(&request.entity_id, &request.connector_id, request.draft_id)
            .await,
    )
}

#[derive(serde::Deserialize)]
struct PlaybookBody {
    connector_id: String,
    entity_id: String,
}

/// Body: `{"connector_id", "entity_id"}`; answers the step sent.
async fn run_playbook_step(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    let request: PlaybookBody = match json_body(&body) {
        Ok(request) => request,
        Err(reason) => return bad_body(&reason),
    };
    reply(
        core.run_playbook_step(&request.connector_id, &request.entity_id)
            .await,
    )
}

#[derive(serde::Deserialize)]
struct UploadBody {
    name: String,
    #[serde(default)]
    mime_type: Option<String>,
    /// Text content, or Base64 with `base64: true`.
    content: String,
    #[serde(default)]
    base64: bool,
    #[serde(default)]
    markings: Vec<String>,
    #[serde(default)]
    no_trigger_import: bool,
}

/// `uploadImport` through the control API: body `{"name", "mime_type"?,
/// "content", "base64"?, "markings"?, "no_trigger_import"?}`; answers the
/// file and the works of the automatic imports.
async fn upload_file(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    let upload: UploadBody = match json_body(&body) {
        Ok(upload) => upload,
        Err(reason) => return bad_body(&reason),
    };
    let file = crate::model::UploadedFile {
        id: String::new(),
        name: upload.name,
        mime_type: upload.mime_type,
        content: upload.content,
        base64: upload.base64,
        entity_id: None,
        markings: upload.markings,
        list_filters: None,
        uploaded_at: crate::model::now(),
    };
    let uploaded = core.upload_import(file, upload.no_trigger_import).await;
    reply(uploaded.map(|(file, works)| json!({"file": file, "works": works})))
}

/// Body: an `ImportRequest` (`{"file_id", "connector_id"?, ...}`).
async fn ask_job_import(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    let request: crate::jobs::ImportRequest = match json_body(&body) {
        Ok(request) => request,
        Err(reason) => return bad_body(&reason),
    };
    reply(core.ask_job_import(&request).await.map(|(_, works)| works))
}

/// Body: an `ExportRequest` (`{"entity_id", "format", "export_type", ...}`).
async fn ask_entity_export(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    let request: crate::jobs::ExportRequest = match json_body(&body) {
        Ok(request) => request,
        Err(reason) => return bad_body(&reason),
    };
    reply(core.ask_entity_export(&request).await)
}

/// Body: a `ListExportRequest` (`{"entity_type", "format", ...}`).
async fn ask_list_export(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    let request: crate::jobs::ListExportRequest = match json_body(&body) {
        Ok(request) => request,
        Err(reason) => return bad_body(&reason),
    };
    reply(core.ask_list_export(&request).await)
}

#[derive(serde::Deserialize)]
struct DraftBody {
    name: String,
    #[serde(default)]
    entity_id: Option<String>,
}

/// Body: `{"name", "entity_id"?}`; answers the draft (as `draftWorkspaceAdd`).
async fn add_draft(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    let request: DraftBody = match json_body(&body) {
        Ok(request) => request,
        Err(reason) => return bad_body(&reason),
    };
    listing(&core.add_draft(request.name, request.entity_id))
}
