//! Storing STIX objects and turning every change into a live-stream event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::SimError;
use crate::model::{ADMIN_USER_ID, StoredObject, StreamEvent, iso};
use crate::store::State;

/// Key of OpenCTI's own STIX extension.
pub(crate) const OCTI_EXTENSION: &str =
    "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";

/// Kind of a live-stream event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum EventKind {
    /// An object appeared.
    Create,
    /// An object changed (revocations are updates setting `revoked`).
    Update,
    /// An object was deleted.
    Delete,
    /// Objects were merged into `data`.
    Merge,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Merge => "merge",
        }
    }
}

/// A stream event to inject (HTTP `POST /sim/api/stream-events`, `--events`
/// JSONL lines, or [`crate::SimHandle::inject_event`]). The object store is
/// changed accordingly, so later recoveries and dependencies see it.
///
/// JSON form: `{"type": "update", "data": {<STIX>}, "context": {"patch": [...]}}`;
/// a full version-4 payload as the platform streams it is accepted too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventInjection {
    /// Event kind.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The STIX object (after the change). Optional for deletes by `id`.
    #[serde(default)]
    pub data: Option<Value>,
    /// Id of the object to delete when `data` is absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Event context; for updates without one the patch is computed against
    /// the stored object, for merges it is built from `sources`.
    #[serde(default)]
    pub context: Option<Value>,
    /// Human-readable message (generated when absent).
    #[serde(default)]
    pub message: Option<String>,
    /// Origin (defaults to the admin user).
    #[serde(default)]
    pub origin: Option<Value>,
    /// Merge sources: STIX objects or ids of stored objects.
    #[serde(default)]
    pub sources: Vec<Value>,
}

impl EventInjection {
    /// An event of `kind` carrying `data`.
    pub fn new(kind: EventKind, data: Value) -> Self {
        Self {
            kind,
            data: Some(data),
            id: None,
            context: None,
            message: None,
            origin: None,
            sources: Vec::new(),
        }
    }

    /// A delete of the stored object with this id.
    pub fn delete_id(id: impl Into<String>) -> Self {
        Self {
            kind: EventKind::Delete,
            data: None,
            id: Some(id.into()),
            context: None,
            message: None,
            origin: None,
            sources: Vec::new(),
        }
    }

    /// Sets an explicit context (e.g. `{"patch": [...], "reverse_patch": [...]}`).
    pub fn with_context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }

    /// Sets merge sources (objects or ids).
    pub fn with_sources(mut self, sources: Vec<Value>) -> Self {
        self.sources = sources;
        self
    }
}

/// What a worker upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upsert {
    Created,
    Updated,
    Unchanged,
}

/// Checks what the import would refuse; the message goes on the work.
pub(crate) fn validate(object: &Value) -> Result<(String, String), String> {
    let Some(map) = object.as_object() else {
        return Err("Invalid element in bundle: not a JSON object".to_owned());
    };
    let Some(stix_type) = map
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return Err("Invalid element in bundle: missing `type`".to_owned());
    };
    let Some(id) = map
        .get("id")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())
    else {
        return Err(format!(
            "Invalid element in bundle: {stix_type} without `id`"
        ));
    };
    let well_formed = id
        .split_once("--")
        .is_some_and(|(prefix, uuid)| prefix == stix_type && uuid::Uuid::parse_str(uuid).is_ok());
    if !well_formed {
        return Err(format!(
            "Invalid element in bundle: id `{id}` is not `{stix_type}--<uuid>`"
        ));
    }
    let required: &[&str] = match stix_type {
        "indicator" => &["pattern", "pattern_type"],
        "relationship" => &["relationship_type", "source_ref", "target_ref"],
        "sighting" => &["sighting_of_ref"],
        "attack-pattern" | "campaign" | "course-of-action" | "grouping" | "identity"
        | "infrastructure" | "intrusion-set" | "malware" | "threat-actor" | "tool"
        | "vulnerability" | "report" => &["name"],
        "marking-definition" => &["definition_type"],
        _ => &[],
    };
    for field in required {
        if map.get(*field).is_none_or(Value::is_null) {
            return Err(format!(
                "Missing mandatory attribute `{field}` for {stix_type} {id}"
            ));
        }
    }
    Ok((stix_type.to_owned(), id.to_owned()))
}

/// Stores (or merges into) an object received by the worker, and streams
/// a create or update event when something changed. A refused object comes
/// back with the reason.
pub(crate) fn upsert_from_worker(
    state: &mut State,
    object: Value,
    work_id: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Upsert, (String, Value)> {
    let (stix_type, id) = match validate(&object) {
        Ok(valid) => valid,
        Err(message) => return Err((message, object)),
    };
    let Value::Object(mut incoming) = object else {
        unreachable!("validate accepts JSON objects only");
    };
    // Bookkeeping added by the splitter, not part of the object.
    incoming.shift_remove("nb_deps");
    let origin = json!({"user_id": ADMIN_USER_ID, "referer": "worker", "socket": "query"});
    let (kind, payload) = match state.objects.get_mut(&id) {
        None => {
            let stored = StoredObject {
                entity_type: entity_type(&stix_type, &incoming),
                internal_id: internal_id_of(&incoming),
                is_inferred: is_inferred(&incoming),
                id: id.clone(),
                stix_type,
                created_at: at,
                updated_at: at,
                work_id: work_id.map(str::to_owned),
                applicant_id: None,
                stix: Value::Object(incoming),
            };
            let payload = payload(EventKind::Create, &stored, None, &origin, None);
            state.objects.insert(id, stored);
            (Upsert::Created, payload)
        }
        Some(stored) => {
            let before = stored.stix.as_object().cloned().unwrap_or_default();
            let mut merged = before.clone();
            for (key, value) in incoming {
                merged.insert(key, value);
            }
            if merged == before {
                return Ok(Upsert::Unchanged);
            }
            let context =
                json!({"patch": patch(&before, &merged), "reverse_patch": patch(&merged, &before)});
            stored.stix = Value::Object(merged);
            stored.updated_at = at;
            stored.work_id = work_id.map(str::to_owned);
            let changed = changed_keys(&context);
            (
                Upsert::Updated,
                payload(
                    EventKind::Update,
                    stored,
                    Some(changed),
                    &origin,
                    Some(context),
                ),
            )
        }
    };
    let event_kind = match kind {
        Upsert::Created => EventKind::Create,
        _ => EventKind::Update,
    };
    push(state, event_kind, payload, at);
    Ok(kind)
}

/// Applies an injected event to the store and appends it to the stream.
pub(crate) fn inject(
    state: &mut State,
    injection: EventInjection,
    at: DateTime<Utc>,
) -> Result<StreamEvent, SimError> {
    let invalid = |reason: String| SimError::InvalidEvent { reason };
    let origin = injection
        .origin
        .clone()
        .unwrap_or_else(|| json!({"user_id": ADMIN_USER_ID, "referer": "sim"}));
    let data = match (injection.data, &injection.id) {
        (Some(data), _) => data,
        (None, Some(id)) if injection.kind == EventKind::Delete => state
            .objects
            .get(id)
            .map(|stored| stored.stix.clone())
            .ok_or_else(|| invalid(format!("delete of `{id}`: no such stored object")))?,
        _ => return Err(invalid("`data` (the STIX object) is required".to_owned())),
    };
    let (stix_type, id) = validate(&data).map_err(invalid)?;
    let Value::Object(new_map) = data else {
        return Err(invalid("`data` must be a JSON object".to_owned()));
    };
    let previous = state.objects.get(&id).cloned();
    let stored = StoredObject {
        entity_type: entity_type(&stix_type, &new_map),
        internal_id: previous
            .as_ref()
            .map_or_else(|| internal_id_of(&new_map), |p| p.internal_id.clone()),
        is_inferred: is_inferred(&new_map),
        created_at: previous.as_ref().map_or(at, |p| p.created_at),
        updated_at: at,
        work_id: None,
        applicant_id: None,
        id: id.clone(),
        stix_type,
        stix: Value::Object(new_map.clone()),
    };
    let context = match injection.kind {
        EventKind::Create | EventKind::Delete => injection.context,
        EventKind::Update => Some(injection.context.unwrap_or_else(|| {
            let before = previous
                .as_ref()
                .and_then(|p| p.stix.as_object().cloned())
                .unwrap_or_default();
            json!({"patch": patch(&before, &new_map), "reverse_patch": patch(&new_map, &before)})
        })),
        EventKind::Merge => {
            let mut sources = Vec::new();
            for source in &injection.sources {
                let source_object = match source {
                    Value::String(source_id) => state
                        .objects
                        .get(source_id)
                        .map(|s| s.stix.clone())
                        .ok_or_else(|| {
                            invalid(format!("merge source `{source_id}`: no such stored object"))
                        })?,
                    other => other.clone(),
                };
                sources.push(source_object);
            }
            for source in &sources {
                if let Some(source_id) = source.get("id").and_then(Value::as_str)
                    && source_id != id
                {
                    state.objects.remove(source_id);
                }
            }
            Some(injection.context.unwrap_or_else(|| {
                let before = previous
                    .as_ref()
                    .and_then(|p| p.stix.as_object().cloned())
                    .unwrap_or_default();
                json!({
                    "patch": patch(&before, &new_map),
                    "reverse_patch": patch(&new_map, &before),
                    "sources": sources,
                })
            }))
        }
    };
    let message = injection.message.or_else(|| match injection.kind {
        EventKind::Update => context.as_ref().map(changed_keys),
        _ => None,
    });
    let payload = payload_with_message(injection.kind, &stored, message, &origin, context);
    match injection.kind {
        EventKind::Delete => {
            state.objects.remove(&id);
        }
        _ => {
            state.objects.insert(id, stored);
        }
    }
    Ok(push(state, injection.kind, payload, at))
}

fn push(state: &mut State, kind: EventKind, payload: Value, at: DateTime<Utc>) -> StreamEvent {
    let now_ms = u64::try_from(at.timestamp_millis()).unwrap_or_default();
    state.push_event(kind.as_str().to_owned(), payload, now_ms)
}

/// The object as streamed: STIX plus OpenCTI's extension.
pub(crate) fn stream_data(stored: &StoredObject) -> Value {
    let mut data = stored.stix.as_object().cloned().unwrap_or_default();
    let extensions = data
        .entry("extensions")
        .or_insert_with(|| Value::Object(Map::new()));
    if !extensions.is_object() {
        *extensions = Value::Object(Map::new());
    }
    if let Some(extensions) = extensions.as_object_mut() {
        let octi = extensions
            .entry(OCTI_EXTENSION)
            .or_insert_with(|| Value::Object(Map::new()));
        if !octi.is_object() {
            *octi = Value::Object(Map::new());
        }
        if let Some(octi) = octi.as_object_mut() {
            octi.entry("extension_type")
                .or_insert_with(|| json!("property-extension"));
            octi.entry("id")
                .or_insert_with(|| json!(stored.internal_id));
            octi.entry("type")
                .or_insert_with(|| json!(stored.entity_type));
            octi.insert("created_at".to_owned(), json!(iso(stored.created_at)));
            octi.insert("updated_at".to_owned(), json!(iso(stored.updated_at)));
            octi.entry("is_inferred")
                .or_insert_with(|| json!(stored.is_inferred));
        }
    }
    Value::Object(data)
}

/// The version-4 payload of an event about `stored`.
pub(crate) fn payload(
    kind: EventKind,
    stored: &StoredObject,
    changed: Option<String>,
    origin: &Value,
    context: Option<Value>,
) -> Value {
    payload_with_message(kind, stored, changed, origin, context)
}

fn payload_with_message(
    kind: EventKind,
    stored: &StoredObject,
    message: Option<String>,
    origin: &Value,
    context: Option<Value>,
) -> Value {
    let label = label(&stored.stix);
    let message = match (kind, message) {
        (EventKind::Update, Some(changes)) if !changes.contains(' ') => {
            format!("updates `{changes}` for {} `{label}`", stored.entity_type)
        }
        (_, Some(message)) => message,
        (EventKind::Create, None) => format!("creates a {} `{label}`", stored.entity_type),
        (EventKind::Update, None) => format!("updates a {} `{label}`", stored.entity_type),
        (EventKind::Delete, None) => format!("deletes a {} `{label}`", stored.entity_type),
        (EventKind::Merge, None) => format!("merges into {} `{label}`", stored.entity_type),
    };
    let mut payload = json!({
        "version": "4",
        "type": kind.as_str(),
        "scope": "external",
        "message": message,
        "origin": origin,
        "data": stream_data(stored),
    });
    if let (Some(context), Some(map)) = (context, payload.as_object_mut()) {
        map.insert("context".to_owned(), context);
    }
    payload
}

/// Comma-joined top-level keys a context's patch touches (for messages).
fn changed_keys(context: &Value) -> String {
    let keys: Vec<&str> = context
        .get("patch")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|op| op.get("path").and_then(Value::as_str))
        .filter_map(|path| path.trim_start_matches('/').split('/').next())
        .collect();
    keys.join(",")
}

/// RFC 6902 operations turning `from` into `to`, at the top level.
pub(crate) fn patch(from: &Map<String, Value>, to: &Map<String, Value>) -> Vec<Value> {
    let pointer = |key: &str| format!("/{}", key.replace('~', "~0").replace('/', "~1"));
    let mut operations = Vec::new();
    for (key, value) in to {
        match from.get(key) {
            None => operations.push(json!({"op": "add", "path": pointer(key), "value": value})),
            Some(old) if old != value => {
                operations.push(json!({"op": "replace", "path": pointer(key), "value": value}));
            }
            Some(_) => {}
        }
    }
    for key in from.keys().filter(|key| !to.contains_key(*key)) {
        operations.push(json!({"op": "remove", "path": pointer(key)}));
    }
    operations
}

/// What the platform shows as the object's name in messages.
fn label(stix: &Value) -> String {
    ["name", "value", "pattern", "relationship_type", "id"]
        .iter()
        .find_map(|key| stix.get(*key).and_then(Value::as_str))
        .unwrap_or("")
        .to_owned()
}

fn is_inferred(map: &Map<String, Value>) -> bool {
    map.get("extensions")
        .and_then(|e| e.get(OCTI_EXTENSION))
        .and_then(|o| o.get("is_inferred"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Keeps the platform id when the object carries one (OpenCTI exports do).
fn internal_id_of(map: &Map<String, Value>) -> String {
    map.get("extensions")
        .and_then(|e| e.get(OCTI_EXTENSION))
        .and_then(|o| o.get("id"))
        .or_else(|| map.get("x_opencti_id"))
        .and_then(Value::as_str)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// The platform's entity type for a STIX object.
pub(crate) fn entity_type(stix_type: &str, map: &Map<String, Value>) -> String {
    let field = |key: &str| map.get(key).and_then(Value::as_str);
    // Objects exported by a platform say their type in OpenCTI's extension.
    if let Some(octi_type) = map
        .get("extensions")
        .and_then(|e| e.get(OCTI_EXTENSION))
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
    {
        return octi_type.to_owned();
    }
    match stix_type {
        "file" => "StixFile".to_owned(),
        "ssh-key" => "SSH-Key".to_owned(),
        "ai-prompt" => "AI-Prompt".to_owned(),
        "imei" | "iccid" | "imsi" => stix_type.to_ascii_uppercase(),
        "threat-actor" => "Threat-Actor-Group".to_owned(),
        "relationship" => field("relationship_type")
            .unwrap_or("stix-core-relationship")
            .to_owned(),
        "sighting" => "stix-sighting-relationship".to_owned(),
        "ipv4-addr" => "IPv4-Addr".to_owned(),
        "ipv6-addr" => "IPv6-Addr".to_owned(),
        "identity" => match field("identity_class") {
            Some("organization") => "Organization".to_owned(),
            Some("individual") => "Individual".to_owned(),
            Some("class") => "Sector".to_owned(),
            Some("system") => "System".to_owned(),
            _ => "Identity".to_owned(),
        },
        "location" => field("x_opencti_location_type")
            .unwrap_or("Location")
            .to_owned(),
        other => other
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_uppercase().chain(chars).collect()
                })
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 15, 10, 30, second)
            .single()
            .expect("valid")
    }

    fn indicator(name: &str) -> Value {
        json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "name": name,
            "pattern": "[ipv4-addr:value = '1.2.3.4']",
            "pattern_type": "stix",
            "nb_deps": 1
        })
    }

    #[test]
    fn validation_names_what_is_wrong() {
        assert!(validate(&indicator("a")).is_ok());
        assert!(
            validate(&json!("x"))
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(
            validate(&json!({"id": "x"}))
                .unwrap_err()
                .contains("missing `type`")
        );
        assert!(
            validate(
                &json!({"type": "malware", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"})
            )
            .unwrap_err()
            .contains("is not `malware--<uuid>`")
        );
        let mut no_pattern = indicator("a");
        no_pattern
            .as_object_mut()
            .expect("object")
            .remove("pattern");
        assert!(validate(&no_pattern).unwrap_err().contains("`pattern`"));
    }

    #[test]
    fn worker_upserts_create_then_update_then_nothing() {
        let mut state = State::default();
        assert_eq!(
            upsert_from_worker(&mut state, indicator("a"), Some("w"), at(0)),
            Ok(Upsert::Created)
        );
        assert_eq!(
            upsert_from_worker(&mut state, indicator("a"), Some("w"), at(1)),
            Ok(Upsert::Unchanged)
        );
        assert_eq!(
            upsert_from_worker(&mut state, indicator("b"), Some("w"), at(2)),
            Ok(Upsert::Updated)
        );
        assert_eq!(state.events.len(), 2);
        let stored = &state.objects["indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"];
        assert!(stored.stix.get("nb_deps").is_none(), "splitter key removed");
        assert_eq!(stored.entity_type, "Indicator");
        assert_eq!((stored.created_at, stored.updated_at), (at(0), at(2)));

        let create = &state.events[0].to_stream_event();
        assert_eq!(create.event, "create");
        assert_eq!(create.data["version"], "4");
        assert_eq!(create.data["type"], "create");
        let octi = &create.data["data"]["extensions"][OCTI_EXTENSION];
        assert_eq!(octi["id"], json!(stored.internal_id));
        assert_eq!(octi["type"], "Indicator");

        let update = &state.events[1].to_stream_event();
        assert_eq!(
            update.data["context"]["patch"],
            json!([{"op": "replace", "path": "/name", "value": "b"}])
        );
        assert_eq!(
            update.data["context"]["reverse_patch"],
            json!([{"op": "replace", "path": "/name", "value": "a"}])
        );
        let (create_id, update_id): (crate::store::EventId, crate::store::EventId) = (
            create.id.parse().expect("id"),
            update.id.parse().expect("id"),
        );
        assert!(update_id > create_id);
    }

    #[test]
    fn injected_revocation_delete_and_merge_change_the_store() {
        let mut state = State::default();
        inject(
            &mut state,
            EventInjection::new(EventKind::Create, indicator("a")),
            at(0),
        )
        .expect("create");
        let mut revoked = indicator("a");
        revoked["revoked"] = json!(true);
        let update = inject(
            &mut state,
            EventInjection::new(EventKind::Update, revoked),
            at(1),
        )
        .expect("update");
        assert_eq!(
            update.data["context"]["patch"],
            json!([{"op": "add", "path": "/revoked", "value": true}])
        );
        assert_eq!(
            update.data["context"]["reverse_patch"],
            json!([{"op": "remove", "path": "/revoked"}])
        );
        assert_eq!(state.objects.len(), 1);

        let delete = inject(
            &mut state,
            EventInjection::delete_id("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
            at(2),
        )
        .expect("delete");
        assert_eq!(delete.event, "delete");
        assert_eq!(delete.data["data"]["revoked"], true);
        assert!(state.objects.is_empty());
        assert!(
            inject(
                &mut state,
                EventInjection::delete_id("indicator--missing"),
                at(3)
            )
            .is_err()
        );

        let source = json!({"type": "malware", "id": "malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5", "name": "old"});
        let target = json!({"type": "malware", "id": "malware--1c6e1f7a-3a4b-4fd6-8f1f-1a4b1c2d3e4f", "name": "new"});
        inject(
            &mut state,
            EventInjection::new(EventKind::Create, source),
            at(4),
        )
        .expect("source");
        let merge = inject(
            &mut state,
            EventInjection::new(EventKind::Merge, target)
                .with_sources(vec![json!("malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5")]),
            at(5),
        )
        .expect("merge");
        assert_eq!(merge.data["context"]["sources"][0]["name"], "old");
        assert_eq!(
            state.objects.keys().collect::<Vec<_>>(),
            vec!["malware--1c6e1f7a-3a4b-4fd6-8f1f-1a4b1c2d3e4f"]
        );
    }

    #[test]
    fn entity_types_follow_platform_naming() {
        let empty = Map::new();
        assert_eq!(entity_type("intrusion-set", &empty), "Intrusion-Set");
        assert_eq!(entity_type("ipv4-addr", &empty), "IPv4-Addr");
        assert_eq!(entity_type("domain-name", &empty), "Domain-Name");
        assert_eq!(
            entity_type("sighting", &empty),
            "stix-sighting-relationship"
        );
        let relationship = json!({"relationship_type": "indicates"});
        assert_eq!(
            entity_type("relationship", relationship.as_object().expect("object")),
            "indicates"
        );
        let org = json!({"identity_class": "organization"});
        assert_eq!(
            entity_type("identity", org.as_object().expect("object")),
            "Organization"
        );
    }

    #[test]
    fn patches_escape_pointers_and_list_removals() {
        let from = json!({"a/b": 1, "gone": true});
        let to = json!({"a/b": 2, "new~": "x"});
        let ops = patch(
            from.as_object().expect("object"),
            to.as_object().expect("object"),
        );
        assert_eq!(
            ops,
            vec![
                json!({"op": "replace", "path": "/a~1b", "value": 2}),
                json!({"op": "add", "path": "/new~0", "value": "x"}),
                json!({"op": "remove", "path": "/gone"}),
            ]
        );
    }
}
