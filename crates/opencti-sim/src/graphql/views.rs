//! JSON views of the records, shaped like the platform's GraphQL types.
//! Selection sets pick from these maps, so every field a client may ask for
//! is filled; fields the simulator has no value for are left out (null).

use serde_json::{Value, json};

use crate::config::CheckedConfig;
use crate::model::{
    ADMIN_USER_ID, ADMIN_USER_NAME, ApiTokenRecord, ConnectorRecord, DraftRecord, GroupRecord,
    StreamCollection, UploadedFile, UserRecord, WorkMessage, WorkRecord, iso,
};

fn representative(main: &str) -> Value {
    json!({"main": main, "secondary": null})
}

/// The user every token authenticates as.
pub(crate) fn user() -> Value {
    json!({
        "id": ADMIN_USER_ID,
        "standard_id": format!("user--{ADMIN_USER_ID}"),
        "entity_type": "User",
        "parent_types": ["Basic-Object", "Internal-Object"],
        "representative": representative(ADMIN_USER_NAME),
        "name": ADMIN_USER_NAME,
        "user_email": "admin@opencti.io",
        "api_tokens": [],
        "account_status": "Active",
        "user_service_account": false,
        "external": false,
        "created_at": "2024-01-01T00:00:00.000Z",
        "updated_at": "2024-01-01T00:00:00.000Z",
    })
}

pub(crate) fn creator() -> Value {
    json!({
        "id": ADMIN_USER_ID,
        "name": ADMIN_USER_NAME,
        "entity_type": "User",
        "representative": representative(ADMIN_USER_NAME),
    })
}

pub(crate) fn about(config: &CheckedConfig) -> Value {
    json!({"version": config.platform_version, "dependencies": [], "memory": null, "debugStats": null})
}

pub(crate) fn settings() -> Value {
    json!({
        "id": "opencti-sim-settings",
        "standard_id": "settings--opencti-sim",
        "entity_type": "Settings",
        "parent_types": ["Basic-Object", "Internal-Object"],
        "representative": representative("OpenCTI simulator"),
        "platform_title": "OpenCTI simulator",
        "platform_type": "STANDARD",
        "platform_email_configurable": false,
        "platform_cluster": {"instances_number": 1},
        "platform_modules": [],
        "platform_feature_flags": [],
        "platform_trash_enabled": false,
        "platform_enterprise_edition": {
            "license_enterprise": false,
            "license_by_configuration": false,
            "license_customer": "",
            "license_validated": false,
            "license_valid_cert": false,
            "license_expired": false,
            "license_expiration_prevention": false,
            "license_start_date": "2024-01-01T00:00:00.000Z",
            "license_expiration_date": "2024-01-01T00:00:00.000Z",
            "license_platform": "",
            "license_type": "",
            "license_platform_match": false,
            "license_creator": "",
            "license_global": false,
            "license_extra_expiration": false,
        },
        "created_at": "2024-01-01T00:00:00.000Z",
        "updated_at": "2024-01-01T00:00:00.000Z",
        "playground_enabled": false,
        "request_access_enabled": false,
        "platform_ai_enabled": false,
    })
}

/// A connector; `connector_queue_details` and `works` are resolved on demand.
/// `jwks` is the simulator's public signing key set.
pub(crate) fn connector(record: &ConnectorRecord, config: &CheckedConfig, jwks: &str) -> Value {
    let names = &record.queues;
    let broker = &config.broker;
    let at = crate::model::now();
    json!({
        "id": record.id,
        "standard_id": format!("connector--{}", record.id),
        "entity_type": "Connector",
        "parent_types": ["Basic-Object", "Internal-Object"],
        "representative": representative(&record.name),
        "name": record.name,
        "title": record.name,
        "active": record.is_active(at),
        "last_seen_at": record.last_ping_at.map(iso),
        "auto": record.auto,
        "auto_update": record.auto_update,
        "enrichment_resolution": record.enrichment_resolution,
        "only_contextual": record.only_contextual,
        "playbook_compatible": record.playbook_compatible,
        "connector_trigger_filters": "",
        "connector_type": record.connector_type,
        "connector_scope": record.scope,
        "connector_state": record.state,
        "connector_state_reset": record.state_reset,
        "connector_state_timestamp": iso(record.state_timestamp),
        "connector_user_id": record.connector_user_id,
        "connector_user": user(),
        "connector_info": record.info,
        "connector_priority_group": "DEFAULT",
        "updated_at": iso(record.updated_at),
        "refreshed_at": iso(record.updated_at),
        "created_at": iso(record.created_at),
        "config": {
            "connection": {
                "host": broker.host,
                "vhost": broker.vhost,
                "use_ssl": broker.use_ssl,
                "port": broker.port,
                "user": broker.user,
                "pass": broker.pass.expose(),
            },
            "s3": {
                "endpoint": "127.0.0.1",
                "port": 9000,
                "use_ssl": false,
                "bucket_name": "opencti-bucket",
                "bucket_region": "us-east-1",
                "access_key": "",
                "secret_key": "",
            },
            "listen": names.listen,
            "listen_routing": names.listen_routing,
            "listen_exchange": names.listen_exchange,
            "listen_callback_uri": record.listen_callback_uri,
            "push": names.push,
            "push_routing": names.push_routing,
            "push_exchange": names.push_exchange,
            "dead_letter_routing": names.dead_letter_routing,
        },
        "is_managed": false,
        "built_in": false,
        "xtm_one_intent": record.xtm_one_intent,
        "version": record.version,
        "slug": record.slug,
        "jwks": jwks,
    })
}

fn work_messages(messages: &[WorkMessage]) -> Value {
    messages
        .iter()
        .map(|m| {
            json!({
                "timestamp": iso(m.timestamp),
                "message": m.message,
                "sequence": m.sequence,
                "source": m.source,
            })
        })
        .collect()
}

/// A work; `connector` is resolved on demand from `connector_id`.
pub(crate) fn work(record: &WorkRecord) -> Value {
    json!({
        "id": record.id,
        "name": record.name,
        "user": creator(),
        "connector_id": record.connector_id,
        "timestamp": iso(record.timestamp),
        "status": record.status.as_str(),
        "event_source_id": record.event_source_id,
        "received_time": record.received_time.map(iso),
        "processed_time": record.processed_time.map(iso),
        "completed_time": record.completed_time.map(iso),
        "completed_number": record.completed_number,
        "messages": work_messages(&record.messages),
        "errors": work_messages(&record.errors),
        "tracking": {
            "import_expected_number": record.expected,
            "import_processed_number": record.processed,
            "import_last_processed": record.last_processed.map(iso),
        },
        "draft_context": record.draft_context,
    })
}

/// A relay connection over works.
pub(crate) fn work_connection(works: &[&WorkRecord], total: usize) -> Value {
    let edges: Vec<Value> = works
        .iter()
        .map(|w| json!({"cursor": w.id, "node": work(w)}))
        .collect();
    json!({
        "pageInfo": {
            "startCursor": works.first().map_or("", |w| w.id.as_str()),
            "endCursor": works.last().map_or("", |w| w.id.as_str()),
            "hasNextPage": works.len() < total,
            "hasPreviousPage": false,
            "globalCount": total,
        },
        "edges": edges,
    })
}

pub(crate) fn stream_collection(collection: &StreamCollection) -> Value {
    json!({
        "id": collection.id,
        "name": collection.name,
        "description": collection.description,
        "filters": collection.entity_types.as_ref().map(|types| json!({
            "mode": "and",
            "filters": [{"key": ["entity_type"], "values": types, "operator": "eq", "mode": "or"}],
            "filterGroups": [],
        }).to_string()),
        "stream_live": collection.stream_live,
        "stream_public": collection.stream_public,
        "consumers": [],
    })
}

/// A stored file; `works` (the jobs opened on it) is resolved on demand.
pub(crate) fn file(file: &UploadedFile) -> Value {
    json!({
        "id": file.id,
        "entity_type": "File",
        "name": file.name,
        "size": file.bytes().len(),
        "lastModified": iso(file.uploaded_at),
        "lastModifiedSinceMin": 0,
        "uploadStatus": "complete",
        "metaData": {
            "mimetype": file.mime_type,
            "version": iso(file.uploaded_at),
            "messages": [],
            "errors": [],
            "file_markings": file.markings,
            "list_filters": file.list_filters,
            "entity_id": file.entity_id,
        },
        "objectMarking": [],
    })
}

/// An export in progress, as the platform lists it (`workToExportFile`):
/// the work under the name of the file it will produce.
pub(crate) fn export_file(work: &WorkRecord) -> Value {
    let since = crate::model::now()
        .signed_duration_since(work.updated_at)
        .num_minutes();
    let status = if since < 20 || work.status == crate::model::WorkStatus::Complete {
        work.status.as_str()
    } else {
        "timeout"
    };
    json!({
        "id": work.id,
        "entity_type": "File",
        "name": work.name.clone().unwrap_or_else(|| "Unknown".to_owned()),
        "size": 0,
        "lastModified": iso(work.updated_at),
        "lastModifiedSinceMin": since,
        "uploadStatus": status,
        "metaData": {
            "messages": work_messages(&work.messages),
            "errors": work_messages(&work.errors),
        },
        "objectMarking": [],
    })
}

pub(crate) fn draft(draft: &DraftRecord) -> Value {
    json!({
        "id": draft.id,
        "entity_type": "DraftWorkspace",
        "standard_id": format!("draftworkspace--{}", draft.id),
        "parent_types": ["Basic-Object", "Internal-Object"],
        "name": draft.name,
        "created_at": iso(draft.created_at),
        "creators": [creator()],
        "entity_id": draft.entity_id,
        "objectsCount": {
            "totalCount": 0,
            "entitiesCount": 0,
            "observablesCount": 0,
            "relationshipsCount": 0,
            "sightingsCount": 0,
            "containersCount": 0,
        },
    })
}

/// A relay connection over `nodes`, all on one page.
pub(crate) fn connection(nodes: Vec<Value>) -> Value {
    let total = nodes.len();
    let edges: Vec<Value> = nodes
        .into_iter()
        .enumerate()
        .map(|(index, node)| json!({"cursor": index.to_string(), "node": node}))
        .collect();
    json!({
        "edges": edges,
        "pageInfo": {"startCursor": "", "endCursor": "", "hasNextPage": false,
                     "hasPreviousPage": false, "globalCount": total},
    })
}

pub(crate) fn group(record: &GroupRecord) -> Value {
    json!({
        "id": record.id,
        "standard_id": format!("group--{}", record.id),
        "entity_type": "Group",
        "parent_types": ["Basic-Object", "Internal-Object"],
        "representative": representative(&record.name),
        "auto_integration_assignation": [],
        "name": record.name,
    })
}

/// What the platform shows of a token: never its plaintext.
fn api_token(token: &ApiTokenRecord) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "created_at": iso(token.created_at),
        "expires_at": crate::accounts::expires_at(&token.duration, token.created_at).map(iso),
        "masked_token": token.masked(),
    })
}

/// A user created through `userAdd` (or by a test).
pub(crate) fn platform_user(record: &UserRecord) -> Value {
    json!({
        "id": record.id,
        "standard_id": format!("user--{}", record.id),
        "entity_type": "User",
        "parent_types": ["Basic-Object", "Internal-Object"],
        "representative": representative(&record.name),
        "name": record.name,
        "user_email": record.user_email,
        "api_tokens": record.api_tokens.iter().map(api_token).collect::<Vec<_>>(),
        "account_status": "Active",
        "user_service_account": record.service_account,
        "external": false,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.created_at),
    })
}

/// `userAdminTokenAdd`'s answer: the only time the plaintext is shown.
pub(crate) fn token_generated(token: &ApiTokenRecord) -> Value {
    json!({
        "token_id": token.id,
        "plaintext_token": token.plaintext,
        "expires_at": crate::accounts::expires_at(&token.duration, token.created_at).map(iso),
        "masked_token": token.masked(),
    })
}
