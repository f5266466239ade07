//! The platform's answers as STIX, the way pycti's export helpers build
//! them (`process_multiple_fields`, `generate_export` and the local steps
//! of `prepare_export`): pure functions over JSON objects whose key order
//! follows the answer, so the exported objects list their properties in
//! the order the Python connector writes them.

use serde_json::{Map, Value, json};

/// One JSON object of an answer or of the export.
pub type Object = Map<String, Value>;

/// STIX types of cyber observables (their author and labels go under
/// `x_opencti_created_by_ref` and `x_opencti_labels`).
const OBSERVABLE_STIX_TYPES: &[&str] = &[
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "email-mime-part-type",
    "artifact",
    "file",
    "x509-certificate",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "windows-registry-value-type",
    "hostname",
    "cryptographic-key",
    "cryptocurrency-wallet",
    "text",
    "user-agent",
    "bank-account",
    "phone-number",
    "credential",
    "tracking-number",
    "payment-card",
    "media-content",
    "simple-observable",
    "persona",
    "ssh-key",
    "ai-prompt",
    "imei",
    "iccid",
    "imsi",
];

const THREAT_ACTOR_TYPES: &[&str] = &["Threat-Actor-Group", "Threat-Actor-Individual"];

/// Nested reference types that hold several targets (`*_refs`).
const MULTIPLE_REF_TYPES: &[&str] = &[
    "operating-system",
    "sample",
    "contains",
    "obs_resolves-to",
    "obs_belongs-to",
    "to",
    "cc",
    "bcc",
    "encapsulates",
    "opened-connection",
    "child",
    "body-multipart",
    "values",
    "service-dll",
    "installed-software",
    "analysis-sco",
];

/// Container types whose `object_refs` are kept to what the bundle holds.
const CONTAINER_TYPES: &[&str] = &["report", "note", "opinion", "observed-data", "grouping"];

/// Whether a STIX type is a cyber observable's.
pub fn is_observable_stix_type(stix_type: &str) -> bool {
    OBSERVABLE_STIX_TYPES.contains(&stix_type)
}

pub use opencti_connector::listen::{abstract_entity_type, is_observable_entity_type};

/// Whether an entity type is an identity's.
pub fn is_identity_entity_type(entity_type: &str) -> bool {
    entity_type == "Identity" || abstract_entity_type(entity_type) == Some("Identity")
}

/// Whether an entity type is a location's (read as `Location`).
pub fn is_location_entity_type(entity_type: &str) -> bool {
    abstract_entity_type(entity_type) == Some("Location")
}

/// pycti's `not_empty`: `null`, `""`, `{}` and lists without a non-empty
/// string, list or object are empty; booleans and numbers never are.
pub fn not_empty(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(_) | Value::Number(_) => true,
        Value::String(text) => !text.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => items.iter().any(|item| match item {
            Value::String(text) => !text.is_empty(),
            Value::Array(inner) => !inner.is_empty(),
            Value::Object(map) => !map.is_empty(),
            _ => true,
        }),
    }
}

fn remove(object: &mut Object, key: &str) -> Option<Value> {
    object.shift_remove(key)
}

fn text<'a>(object: &'a Object, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn list(value: Option<&Value>) -> Vec<Value> {
    value.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// A connection (`{edges: [{node}]}`) or list as a list of objects, each
/// processed as pycti's `process_multiple` does.
fn multiple(value: Option<&Value>) -> Vec<Value> {
    let rows: Vec<Value> = match value {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(connection)) => list(connection.get("edges"))
            .into_iter()
            .filter_map(|edge| edge.get("node").cloned())
            .collect(),
        _ => Vec::new(),
    };
    rows.into_iter()
        .map(|row| match row {
            Value::Object(mut object) => {
                process_multiple_fields(&mut object);
                Value::Object(object)
            }
            other => other,
        })
        .collect()
}

fn ids(items: &[Value]) -> Value {
    Value::Array(
        items
            .iter()
            .filter_map(|item| item.get("id").cloned())
            .collect(),
    )
}

/// pycti's `process_multiple_fields`: connections become lists, each with
/// a sibling list of ids (`objectMarkingIds`, ...), and the author's id is
/// noted as `createdById`.
pub fn process_multiple_fields(data: &mut Object) {
    match data.get_mut("createdBy") {
        Some(Value::Object(author)) => {
            for key in ["objectMarking", "objectLabel"] {
                if author.contains_key(key) {
                    let items = multiple(author.get(key));
                    author.insert(format!("{key}Ids"), ids(&items));
                    author.insert(key.to_owned(), Value::Array(items));
                }
            }
            let id = author.get("id").cloned().unwrap_or(Value::Null);
            data.insert("createdById".to_owned(), id);
        }
        _ => {
            data.insert("createdById".to_owned(), Value::Null);
        }
    }
    for key in [
        "objectMarking",
        "objectLabel",
        "reports",
        "notes",
        "opinions",
        "observedData",
        "killChainPhases",
        "externalReferences",
        "objects",
        "observables",
        "stixCoreRelationships",
        "indicators",
        "importFiles",
    ] {
        if data.contains_key(key) {
            let items = multiple(data.get(key));
            data.insert(key.to_owned(), Value::Array(items.clone()));
            data.insert(format!("{key}Ids"), ids(&items));
        }
    }
    for (alias, name) in [("name_alt", "name"), ("content_alt", "content")] {
        if let Some(value) = remove(data, alias) {
            data.insert(name.to_owned(), value);
        }
    }
}

/// pycti's `generate_export`: an entity of the platform as a STIX object
/// (OpenCTI's own properties kept), empty properties left out.
pub fn generate_export(mut entity: Object) -> Object {
    let original_type = text(&entity, "entity_type").to_owned();
    let mut entity_type = original_type.clone();
    if abstract_entity_type(&entity_type) == Some("Identity") {
        entity_type = "Identity".to_owned();
    }
    if THREAT_ACTOR_TYPES.contains(&entity_type.as_str()) {
        entity.insert("x_opencti_type".to_owned(), json!(entity_type));
        if entity_type == "Threat-Actor-Group" {
            let name = entity.get("name").cloned().unwrap_or(Value::Null);
            entity.insert("threat_actor_group".to_owned(), name);
        }
        entity_type = "Threat-Actor".to_owned();
    }
    if abstract_entity_type(&entity_type) == Some("Location") {
        entity.insert("x_opencti_location_type".to_owned(), json!(entity_type));
        let name = entity.get("name").cloned().unwrap_or(Value::Null);
        match entity_type.as_str() {
            "City" => drop(entity.insert("city".to_owned(), name)),
            "Country" => drop(entity.insert("country".to_owned(), name)),
            "Region" => drop(entity.insert("region".to_owned(), name)),
            _ => {}
        }
        entity_type = "Location".to_owned();
    }
    if entity_type == "Malware" && !entity.get("is_family").is_some_and(Value::is_boolean) {
        entity.insert("is_family".to_owned(), json!(true));
    }
    if entity_type == "StixFile" {
        entity_type = "File".to_owned();
    }
    let prefix = match entity_type.as_str() {
        "Case-Incident" | "Case-Rfi" | "Case-Rft" | "Feedback" | "Task" => Some("x-opencti-"),
        "Data-Component" | "Data-Source" => Some("x-mitre-"),
        _ => None,
    };
    if let Some(prefix) = prefix {
        let standard_id = format!("{prefix}{}", text(&entity, "standard_id"));
        entity.insert("standard_id".to_owned(), json!(standard_id));
        if entity_type == "Data-Source" {
            for (from, to) in [
                ("platforms", "x_mitre_platforms"),
                ("collection_layers", "x_mitre_collection_layers"),
            ] {
                if entity.get(from).is_some_and(|v| !v.is_null())
                    && let Some(value) = remove(&mut entity, from)
                {
                    entity.insert(to.to_owned(), value);
                }
            }
        }
        entity_type = format!("{prefix}{entity_type}");
    }
    entity.insert("entity_type".to_owned(), json!(entity_type));
    push_valid_until(&mut entity);

    remove(&mut entity, "tasks");
    if let Some(status) = remove(&mut entity, "status")
        && !status.is_null()
    {
        let id = status.get("id").cloned().unwrap_or(Value::Null);
        entity.insert("x_opencti_workflow_id".to_owned(), id);
    }
    let labels = list(entity.get("objectLabel"));
    if !labels.is_empty() {
        let values: Vec<Value> = labels
            .iter()
            .map(|label| label.get("value").cloned().unwrap_or(Value::Null))
            .collect();
        entity.insert("labels".to_owned(), Value::Array(values));
    }
    if entity.contains_key("objectLabel") {
        remove(&mut entity, "objectLabel");
        remove(&mut entity, "objectLabelIds");
    }
    let phases = list(entity.get("killChainPhases"));
    if !phases.is_empty() {
        let phases: Vec<Value> = phases
            .iter()
            .map(|phase| {
                let field = |key: &str| phase.get(key).cloned().unwrap_or(Value::Null);
                json!({"kill_chain_name": field("kill_chain_name"),
                       "phase_name": field("phase_name"),
                       "x_opencti_order": field("x_opencti_order")})
            })
            .collect();
        entity.insert("kill_chain_phases".to_owned(), Value::Array(phases));
    }
    if entity.contains_key("killChainPhases") {
        remove(&mut entity, "killChainPhases");
        remove(&mut entity, "killChainPhasesIds");
    }
    let references = list(entity.get("externalReferences"));
    if !references.is_empty() {
        let references: Vec<Value> = references
            .iter()
            .map(|reference| {
                let mut kept = Object::new();
                for key in ["source_name", "description", "url", "hash", "external_id"] {
                    if let Some(value) = reference.get(key).filter(|v| not_empty(v)) {
                        kept.insert(key.to_owned(), value.clone());
                    }
                }
                Value::Object(kept)
            })
            .collect();
        entity.insert("external_references".to_owned(), Value::Array(references));
    }
    if entity.contains_key("externalReferences") {
        remove(&mut entity, "externalReferences");
        remove(&mut entity, "externalReferencesIds");
    }
    if entity.contains_key("indicators") {
        remove(&mut entity, "indicators");
        remove(&mut entity, "indicatorsIds");
    }
    if let Some(hashes) = entity.get("hashes").map(|h| list(Some(h))) {
        let mut by_algorithm = Object::new();
        for hash in hashes {
            if let Some(algorithm) = hash.get("algorithm").and_then(Value::as_str) {
                by_algorithm.insert(
                    algorithm.to_owned(),
                    hash.get("hash").cloned().unwrap_or(Value::Null),
                );
            }
        }
        entity.insert("hashes".to_owned(), Value::Object(by_algorithm));
    }
    flatten_custom_fields(&mut entity);

    let internal_id = entity.get("id").cloned().unwrap_or(Value::Null);
    entity.insert("x_opencti_id".to_owned(), internal_id);
    entity.insert("x_opencti_type".to_owned(), json!(original_type));
    let standard_id = entity.get("standard_id").cloned().unwrap_or(Value::Null);
    entity.insert("id".to_owned(), standard_id);
    entity.insert("type".to_owned(), json!(entity_type.to_lowercase()));
    for key in [
        "standard_id",
        "entity_type",
        "parent_types",
        "created_at",
        "updated_at",
    ] {
        remove(&mut entity, key);
    }
    entity.retain(|_, value| not_empty(value));
    entity
}

/// An indicator valid for an instant gets one second more (STIX wants
/// `valid_until` after `valid_from`).
fn push_valid_until(entity: &mut Object) {
    let (Some(from), Some(until)) = (entity.get("valid_from"), entity.get("valid_until")) else {
        return;
    };
    if from != until {
        return;
    }
    // Python's `%Y-%m-%dT%H:%M:%S.%fZ`, written back with six digits.
    let Some(Ok(parsed)) = until
        .as_str()
        .map(|until| chrono::NaiveDateTime::parse_from_str(until, "%Y-%m-%dT%H:%M:%S%.fZ"))
    else {
        return;
    };
    let later = parsed + chrono::Duration::seconds(1);
    let text = later.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    entity.insert("valid_until".to_owned(), json!(text));
}

/// Custom field values set on the entity under their names.
fn flatten_custom_fields(entity: &mut Object) {
    let Some(values) = remove(entity, "customFieldValues") else {
        return;
    };
    for value in list(Some(&values)) {
        let Some(name) = value.get("field_name").and_then(Value::as_str) else {
            continue;
        };
        let found = [
            "select_values",
            "int_value",
            "string_value",
            "boolean_value",
            "date_value",
            "select_value",
        ]
        .iter()
        .find_map(|key| value.get(*key).filter(|v| !v.is_null()).cloned());
        if let Some(found) = found {
            entity.insert(name.to_owned(), found);
        }
    }
}

/// A marking of the platform as a STIX marking definition.
pub fn marking_definition(marking: &Value) -> Object {
    let field = |key: &str| marking.get(key).and_then(Value::as_str).unwrap_or_default();
    let definition_type = field("definition_type");
    let created = if definition_type == "TLP" {
        json!("2017-01-20T00:00:00.000Z")
    } else {
        marking.get("created").cloned().unwrap_or(Value::Null)
    };
    let mut definition = Object::new();
    definition.insert(
        definition_type.to_lowercase(),
        json!(field("definition").to_lowercase().replace("tlp:", "")),
    );
    let mut object = Object::new();
    object.insert("type".to_owned(), json!("marking-definition"));
    object.insert("spec_version".to_owned(), json!("2.1"));
    object.insert(
        "id".to_owned(),
        marking.get("standard_id").cloned().unwrap_or(Value::Null),
    );
    object.insert("created".to_owned(), created);
    object.insert(
        "definition_type".to_owned(),
        json!(definition_type.to_lowercase()),
    );
    object.insert("name".to_owned(), json!(field("definition")));
    object.insert("definition".to_owned(), Value::Object(definition));
    object
}

/// Whether an author is the platform's placeholder for an identity the
/// user may not see.
fn is_restricted(author: &Value) -> bool {
    author.get("name").and_then(Value::as_str) == Some("Restricted")
        && author.get("identity_class").and_then(Value::as_str) == Some("Restricted")
}

/// The first local steps of pycti's `prepare_export`, up to the
/// relationship ends: the author, labels, granted organisations, markings
/// and container refs. Returns the objects to put before the entity (its
/// author and markings) and the objects of a container to fetch.
pub fn prepare_head(entity: &mut Object) -> (Vec<Object>, Vec<Value>) {
    let mut result = Vec::new();
    let mut objects_to_get = Vec::new();
    let observable = is_observable_stix_type(text(entity, "type"));
    if let Some(author) = entity
        .get("createdBy")
        .filter(|a| a.is_object() && !is_restricted(a))
    {
        let author = generate_export(author.as_object().cloned().unwrap_or_default());
        let key = if observable {
            "x_opencti_created_by_ref"
        } else {
            "created_by_ref"
        };
        entity.insert(
            key.to_owned(),
            author.get("id").cloned().unwrap_or(Value::Null),
        );
        result.push(author);
    }
    if observable && let Some(labels) = remove(entity, "labels") {
        entity.insert("x_opencti_labels".to_owned(), labels);
    }
    for (key, ids_key) in [
        ("createdBy", Some("createdById")),
        ("observables", Some("observablesIds")),
        ("creators", None),
        ("dataSource", Some("dataSourceId")),
    ] {
        if remove(entity, key).is_some()
            && let Some(ids_key) = ids_key
        {
            remove(entity, ids_key);
        }
    }
    for (key, prefix) in [
        ("first_seen", "1970"),
        ("start_time", "1970"),
        ("last_seen", "5138"),
        ("stop_time", "5138"),
    ] {
        if entity
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|date| date.starts_with(prefix))
        {
            remove(entity, key);
        }
    }
    let organizations = list(entity.get("objectOrganization"));
    if !organizations.is_empty() {
        let granted: Vec<Value> = organizations
            .iter()
            .map(|o| o.get("standard_id").cloned().unwrap_or(Value::Null))
            .collect();
        entity.insert("x_opencti_granted_refs".to_owned(), Value::Array(granted));
    }
    remove(entity, "objectOrganization");
    let markings = list(entity.get("objectMarking"));
    if !markings.is_empty() {
        let mut refs = Vec::new();
        for marking in &markings {
            let definition = marking_definition(marking);
            refs.push(definition.get("id").cloned().unwrap_or(Value::Null));
            result.push(definition);
        }
        entity.insert("object_marking_refs".to_owned(), Value::Array(refs));
    }
    if entity.contains_key("objectMarking") {
        remove(entity, "objectMarking");
        remove(entity, "objectMarkingIds");
    }
    let objects = list(entity.get("objects"));
    if !objects.is_empty() {
        let stix_type = text(entity, "type").to_owned();
        let refs: Vec<Value> = objects
            .iter()
            .filter(|object| container_holds(&stix_type, object))
            .map(|object| object.get("standard_id").cloned().unwrap_or(Value::Null))
            .collect();
        entity.insert("object_refs".to_owned(), Value::Array(refs));
        objects_to_get = objects;
    }
    if entity.contains_key("objects") {
        remove(entity, "objects");
        remove(entity, "objectsIds");
    }
    (result, objects_to_get)
}

/// Whether a container of `stix_type` lists `object` in its `object_refs`.
fn container_holds(stix_type: &str, object: &Value) -> bool {
    let entity_type = object
        .get("entity_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let is_ref_relationship = list(object.get("parent_types"))
        .iter()
        .any(|p| p == "stix-ref-relationship");
    if is_ref_relationship {
        return false;
    }
    match stix_type {
        "report" => !["Note", "Report", "Opinion"].contains(&entity_type),
        "note" => !["Note", "Opinion"].contains(&entity_type),
        "opinion" => entity_type != "Opinion",
        "observed-data"
        | "grouping"
        | "x-opencti-case-incident"
        | "x-opencti-feedback"
        | "x-opencti-case-rfi"
        | "x-opencti-case-rft"
        | "x-opencti-task" => true,
        _ => false,
    }
}

/// The renames after the relationship ends (`attribute_abstract` to
/// `abstract`, ...), and the observable value left out.
pub fn prepare_renames(entity: &mut Object) {
    for (from, to) in [("attribute_abstract", "abstract")] {
        if let Some(value) = remove(entity, from) {
            entity.insert(to.to_owned(), value);
        }
    }
    remove(entity, "observable_value");
    for (from, to) in [("attribute_key", "key"), ("attribute_date", "date")] {
        if let Some(value) = remove(entity, from) {
            entity.insert(to.to_owned(), value);
        }
    }
}

/// Sets a nested reference (`resolves_to_refs`, `src_ref`, ...) of the
/// entity from one of its nested relationships.
pub fn apply_nested_ref(entity: &mut Object, relationship_type: &str, target: &str) {
    let stix_type = text(entity, "type").to_owned();
    let single = !MULTIPLE_REF_TYPES.contains(&relationship_type)
        || (stix_type == "malware-analysis"
            && ["operating-system", "sample"].contains(&relationship_type));
    let name = relationship_type.replace("obs_", "").replace('-', "_");
    if single {
        entity.insert(format!("{name}_ref"), json!(target));
    } else {
        let key = format!("{name}_refs");
        match entity.get_mut(&key) {
            Some(Value::Array(targets)) => targets.push(json!(target)),
            _ => drop(entity.insert(key, json!([target]))),
        }
    }
}

/// The references of an exported object whose targets a full export adds:
/// `(id, reader type)` for every `*_ref` and `*_refs` value, in key order.
pub fn referenced_objects(entity: &Object) -> Vec<(String, &'static str)> {
    let reader = |id: &str| {
        if is_observable_stix_type(id.split("--").next().unwrap_or_default()) {
            "Stix-Cyber-Observable"
        } else {
            "Stix-Domain-Object"
        }
    };
    let mut found = Vec::new();
    for (key, value) in entity {
        if key.ends_with("_ref") {
            if let Some(id) = value.as_str() {
                found.push((id.to_owned(), reader(id)));
            }
        } else if key.ends_with("_refs") {
            for id in list(Some(value)).iter().filter_map(Value::as_str) {
                found.push((id.to_owned(), reader(id)));
            }
        }
    }
    found
}

/// Keeps the `object_refs` of containers to the objects of the bundle.
pub fn refilter_container_refs(result: &mut [Object], ids: &[String]) {
    for object in result {
        if CONTAINER_TYPES.contains(&text(object, "type"))
            && let Some(Value::Array(refs)) = object.get_mut("object_refs")
        {
            refs.retain(|r| r.as_str().is_some_and(|r| ids.iter().any(|id| id == r)));
        }
    }
}

/// The objects of `objects` whose id is not among `ids`.
pub fn filter_new(ids: &[String], objects: Vec<Object>) -> Vec<Object> {
    objects
        .into_iter()
        .filter(|object| {
            object
                .get("id")
                .is_some_and(|id| !ids.iter().any(|known| Some(known.as_str()) == id.as_str()))
        })
        .collect()
}

/// The bundle as pycti's `json.dumps(bundle, indent=4)` writes it: four
/// spaces, `", "`-free lines, non-ASCII characters as `\uXXXX` escapes.
pub fn to_python_json(bundle: &Value) -> String {
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    serde::Serialize::serialize(bundle, &mut serializer).expect("JSON values always serialise");
    let text = String::from_utf8(bytes).expect("serde_json writes UTF-8");
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch.is_ascii() {
            escaped.push(ch);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                escaped.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    escaped
}
