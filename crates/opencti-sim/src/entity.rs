//! Stored objects as the platform's GraphQL entities: what pycti's readers
//! (`stixCyberObservable(id)`, `stixCoreObject(id)`) get when a listening
//! connector reads the entity of an enrichment or a playbook step.
//!
//! A view holds the STIX properties under their own names (most GraphQL
//! fields share them), the platform's renamed ones (`attribute_date`,
//! `hashes` as a list, ...), and the resolved references (author, markings,
//! labels, external references). `__typename` names the concrete GraphQL
//! type, which the executor needs for fields typed by an interface.

use serde_json::{Map, Value, json};

use crate::graphql::views::creator;
use crate::model::{StoredObject, iso};
use crate::objects::OCTI_EXTENSION;
use crate::store::State;

/// OpenCTI's extension for cyber observables (score, description, ...).
const SCO_EXTENSION: &str = "extension-definition--f93e2c80-4231-4f9a-af8b-95c9bd566a82";

/// STIX types that are not core objects (no `stixCoreObject` view).
const NOT_CORE: &[&str] = &[
    "relationship",
    "sighting",
    "marking-definition",
    "language-content",
    "extension-definition",
];

/// The platform's TLP marking definitions: id, name, colour, order
/// (TLP:CLEAR has TLP:WHITE's id).
fn tlp_table() -> [(&'static str, &'static str, &'static str, u8); 5] {
    use opencti_stix::marking::{TLP_AMBER, TLP_AMBER_STRICT, TLP_CLEAR, TLP_GREEN, TLP_RED};
    [
        (TLP_CLEAR.common.id.as_str(), "TLP:CLEAR", "#ffffff", 1),
        (TLP_GREEN.common.id.as_str(), "TLP:GREEN", "#2e7d32", 2),
        (TLP_AMBER.common.id.as_str(), "TLP:AMBER", "#d84315", 3),
        (
            TLP_AMBER_STRICT.common.id.as_str(),
            "TLP:AMBER+STRICT",
            "#d84315",
            4,
        ),
        (TLP_RED.common.id.as_str(), "TLP:RED", "#c62828", 5),
    ]
}

/// Whether objects of this STIX type are cyber observables (the two
/// without ids of their own included).
pub(crate) fn is_observable(stix_type: &str) -> bool {
    opencti_stix::id::is_observable_type(stix_type)
        || matches!(
            stix_type,
            "email-mime-part-type" | "windows-registry-value-type"
        )
}

/// Whether objects of this STIX type are core objects (SDOs and SCOs).
pub(crate) fn is_core(stix_type: &str) -> bool {
    !NOT_CORE.contains(&stix_type)
}

/// The GraphQL type of an entity type: `IPv4-Addr` -> `IPv4Addr`.
pub(crate) fn graphql_type(entity_type: &str) -> String {
    entity_type.replace('-', "")
}

/// The stored object a platform id designates: standard id, internal id,
/// or one of the object's other STIX ids.
pub(crate) fn find<'a>(state: &'a State, id: &str) -> Option<&'a StoredObject> {
    state.objects.get(id).or_else(|| {
        state.objects.values().find(|stored| {
            stored.internal_id == id
                || stored
                    .stix
                    .get("x_opencti_stix_ids")
                    .and_then(Value::as_array)
                    .is_some_and(|ids| ids.iter().any(|other| other == id))
        })
    })
}

/// The TLP level and order of a marking id, when it is a TLP marking.
pub(crate) fn tlp_order(marking_id: &str) -> Option<(&'static str, u8)> {
    tlp_table()
        .into_iter()
        .find(|(id, ..)| *id == marking_id)
        .map(|(_, name, _, order)| (name, order))
}

/// Ids of the TLP markings above `order`.
pub(crate) fn tlp_ids_above(order: u8) -> Vec<&'static str> {
    tlp_table()
        .into_iter()
        .filter(|(.., level)| *level > order)
        .map(|(id, ..)| id)
        .collect()
}

/// The value the platform shows for an observable.
pub(crate) fn observable_value(stix: &Value) -> String {
    let text = |key: &str| match stix.get(key) {
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    };
    const KEYS: &[&str] = &[
        "value",
        "name",
        "number",
        "path",
        "iban",
        "card_number",
        "account_login",
        "user_id",
        "key",
        "persona_name",
        "subject",
        "body",
        "url",
        "command_line",
        "pid",
        "fingerprint_sha256",
    ];
    KEYS.iter()
        .find_map(|key| text(key))
        .or_else(|| {
            let hashes = stix.get("hashes")?.as_object()?;
            ["SHA-256", "SHA-1", "MD5"]
                .iter()
                .find_map(|algorithm| hashes.get(*algorithm)?.as_str().map(str::to_owned))
                .or_else(|| hashes.values().find_map(|v| v.as_str().map(str::to_owned)))
        })
        .unwrap_or_else(|| "Unknown".to_owned())
}

/// The main text the platform represents an entity by.
pub(crate) fn representative(stored: &StoredObject) -> String {
    if is_observable(&stored.stix_type) {
        return observable_value(&stored.stix);
    }
    [
        "name",
        "value",
        "definition",
        "attribute_abstract",
        "content",
    ]
    .iter()
    .find_map(|key| stored.stix.get(*key).and_then(Value::as_str))
    .map_or_else(|| stored.id.clone(), str::to_owned)
}

pub(crate) fn parent_types(stored: &StoredObject) -> Vec<&'static str> {
    let mut parents = vec!["Basic-Object", "Stix-Object", "Stix-Core-Object"];
    if is_observable(&stored.stix_type) {
        parents.push("Stix-Cyber-Observable");
    } else {
        parents.push("Stix-Domain-Object");
        match stored.stix_type.as_str() {
            "identity" => parents.push("Identity"),
            "location" => parents.push("Location"),
            "report" | "note" | "opinion" | "observed-data" | "grouping" => {
                parents.push("Container");
            }
            _ => {}
        }
    }
    parents
}

/// An extension's property, or the top-level `x_opencti_` one.
fn opencti_property<'a>(stix: &'a Value, extension: &str, key: &str) -> Option<&'a Value> {
    stix.get("extensions")
        .and_then(|e| e.get(extension))
        .and_then(|e| e.get(key))
        .or_else(|| stix.get(format!("x_opencti_{key}")))
        .filter(|value| !value.is_null())
}

fn marking(state: &State, id: &str) -> Option<Value> {
    if let Some((name, color, order)) = tlp_table()
        .into_iter()
        .find(|(tlp_id, ..)| *tlp_id == id)
        .map(|(_, name, color, order)| (name, color, order))
    {
        return Some(json!({
            "id": id,
            "standard_id": id,
            "entity_type": "Marking-Definition",
            "definition_type": "TLP",
            "definition": name,
            "created": "2017-01-20T00:00:00.000Z",
            "modified": "2017-01-20T00:00:00.000Z",
            "x_opencti_order": order,
            "x_opencti_color": color,
        }));
    }
    let stored = state.objects.get(id)?;
    let stix = &stored.stix;
    let definition_type = stix
        .get("x_opencti_definition_type")
        .or_else(|| stix.get("definition_type"))
        .and_then(Value::as_str)
        .unwrap_or("statement");
    let definition = stix
        .get("x_opencti_definition")
        .or_else(|| stix.get("name"))
        .and_then(Value::as_str)
        .unwrap_or(id);
    Some(json!({
        "id": stored.internal_id,
        "standard_id": stored.id,
        "entity_type": "Marking-Definition",
        "definition_type": definition_type,
        "definition": definition,
        "created": stix.get("created").cloned().unwrap_or_else(|| json!(iso(stored.created_at))),
        "modified": stix.get("modified").cloned().unwrap_or_else(|| json!(iso(stored.updated_at))),
        "x_opencti_order": stix.get("x_opencti_order").cloned().unwrap_or(json!(0)),
        "x_opencti_color": stix.get("x_opencti_color").cloned().unwrap_or(json!("#ffffff")),
    }))
}

fn stable_id(namespace: &str, key: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{namespace}:{key}").as_bytes(),
    )
    .to_string()
}

fn labels(stix: &Value) -> Vec<Value> {
    let names = stix
        .get("labels")
        .or_else(|| opencti_property(stix, SCO_EXTENSION, "labels"))
        .and_then(Value::as_array);
    names
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|name| json!({"id": stable_id("label", name), "value": name, "color": "#ffffff"}))
        .collect()
}

fn external_references(stix: &Value) -> Value {
    let edges: Vec<Value> = stix
        .get("external_references")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|reference| {
            let field = |key: &str| reference.get(key).cloned().unwrap_or(Value::Null);
            let key = format!("{}{}", field("source_name"), field("url"));
            let id = stable_id("external-reference", &key);
            json!({"node": {
                "id": id,
                "standard_id": format!("external-reference--{id}"),
                "entity_type": "External-Reference",
                "source_name": field("source_name"),
                "description": field("description"),
                "url": field("url"),
                "hash": field("hash"),
                "external_id": field("external_id"),
                "created": null,
                "modified": null,
                "importFiles": {"edges": []},
            }})
        })
        .collect();
    json!({"edges": edges})
}

fn kill_chain_phases(stix: &Value) -> Vec<Value> {
    stix.get("kill_chain_phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|phase| {
            let name = phase.get("kill_chain_name").cloned().unwrap_or(Value::Null);
            let phase_name = phase.get("phase_name").cloned().unwrap_or(Value::Null);
            let id = stable_id("kill-chain-phase", &format!("{name}{phase_name}"));
            json!({
                "id": id,
                "standard_id": format!("kill-chain-phase--{id}"),
                "entity_type": "Kill-Chain-Phase",
                "kill_chain_name": name,
                "phase_name": phase_name,
                "x_opencti_order": 0,
                "created": null,
                "modified": null,
            })
        })
        .collect()
}

/// The author's view, when it is stored.
fn author(state: &State, stix: &Value) -> Value {
    let id = stix
        .get("created_by_ref")
        .or_else(|| stix.get("x_opencti_created_by_ref"))
        .or_else(|| opencti_property(stix, SCO_EXTENSION, "created_by_ref"))
        .and_then(Value::as_str);
    match id.and_then(|id| state.objects.get(id)) {
        Some(identity) => view(state, identity, false),
        None => Value::Null,
    }
}

/// The entity's GraphQL view. `resolve_refs` resolves the author (whose own
/// author is not resolved again).
pub(crate) fn view(state: &State, stored: &StoredObject, resolve_refs: bool) -> Value {
    let stix = &stored.stix;
    let mut map: Map<String, Value> = stix.as_object().cloned().unwrap_or_default();
    for renamed in ["date", "key", "abstract"] {
        if let Some(value) = map.remove(renamed) {
            map.insert(format!("attribute_{renamed}"), value);
        }
    }
    if let Some(Value::Object(hashes)) = map.remove("hashes") {
        let list: Vec<Value> = hashes
            .into_iter()
            .map(|(algorithm, hash)| json!({"algorithm": algorithm, "hash": hash}))
            .collect();
        map.insert("hashes".to_owned(), Value::Array(list));
    }
    let markings: Vec<Value> = stix
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|id| marking(state, id))
        .collect();
    let observable = is_observable(&stored.stix_type);
    let mut fields = json!({
        "__typename": graphql_type(&stored.entity_type),
        "id": stored.internal_id,
        "standard_id": stored.id,
        "entity_type": stored.entity_type,
        "parent_types": parent_types(stored),
        "spec_version": stix.get("spec_version").cloned().unwrap_or(json!("2.1")),
        "created_at": iso(stored.created_at),
        "updated_at": iso(stored.updated_at),
        "representative": {"main": representative(stored), "secondary": null},
        "is_inferred": stored.is_inferred,
        "x_opencti_stix_ids": stix.get("x_opencti_stix_ids").cloned().unwrap_or(json!([])),
        "createdBy": if resolve_refs { author(state, stix) } else { Value::Null },
        "creators": [creator()],
        "objectMarking": markings,
        "objectOrganization": [],
        "objectLabel": labels(stix),
        "externalReferences": external_references(stix),
        "killChainPhases": kill_chain_phases(stix),
        "importFiles": {"edges": []},
        "customFieldValues": [],
        "revoked": stix.get("revoked").cloned().unwrap_or(json!(false)),
    });
    if observable {
        fields["observable_value"] = json!(observable_value(stix));
        fields["indicators"] = json!({"edges": []});
        for key in ["score", "description"] {
            if let Some(value) = opencti_property(stix, SCO_EXTENSION, key) {
                fields[format!("x_opencti_{key}")] = value.clone();
            }
        }
    }
    match stored.stix_type.as_str() {
        // The platform keeps these as relationships the simulator does not
        // store: none.
        "malware" => fields["samples"] = json!([]),
        "indicator" => fields["observables"] = json!({"edges": []}),
        _ => {}
    }
    if resolve_refs && stix.get("object_refs").is_some() {
        fields["objects"] = crate::graphql::lists::contained(state, stix);
    }
    if stored.stix_type == "identity" {
        fields["identity_class"] = stix
            .get("identity_class")
            .cloned()
            .unwrap_or(json!("organization"));
    }
    if let Value::Object(fields) = fields {
        map.extend(fields);
    }
    Value::Object(map)
}

/// References that are not nested relationships on the platform (meta
/// references, relationship ends).
const META_REFS: &[&str] = &[
    "created_by_ref",
    "x_opencti_created_by_ref",
    "object_marking_refs",
    "object_refs",
    "granted_refs",
    "x_opencti_granted_refs",
    "source_ref",
    "target_ref",
    "sighting_of_ref",
    "where_sighted_refs",
    "observed_data_refs",
];

/// `stixNestedRefRelationships(fromId)`: the entity's nested references
/// (`resolves_to_refs`, `src_ref`, ...) to stored objects, as the platform
/// keeps them (relationship type `resolves-to`, ...).
pub(crate) fn nested_refs(state: &State, from: &StoredObject) -> Vec<Value> {
    let Some(map) = from.stix.as_object() else {
        return Vec::new();
    };
    let mut edges = Vec::new();
    for (key, value) in map {
        let Some(name) = key
            .strip_suffix("_refs")
            .or_else(|| key.strip_suffix("_ref"))
            .filter(|_| !META_REFS.contains(&key.as_str()))
        else {
            continue;
        };
        let relationship_type = name.replace('_', "-");
        let targets: Vec<&str> = match value {
            Value::String(id) => vec![id.as_str()],
            Value::Array(ids) => ids.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for target in targets.into_iter().filter_map(|id| state.objects.get(id)) {
            let key = format!("{}{relationship_type}{}", from.id, target.id);
            let id = stable_id("nested-ref", &key);
            edges.push(json!({"node": {
                "__typename": "StixRefRelationship",
                "id": id,
                "standard_id": format!("relationship-meta--{id}"),
                "entity_type": relationship_type,
                "parent_types": ["basic-relationship", "stix-relationship", "stix-ref-relationship"],
                "spec_version": "2.1",
                "created_at": iso(from.created_at),
                "updated_at": iso(from.updated_at),
                "relationship_type": relationship_type,
                "start_time": null,
                "stop_time": null,
                "from": view(state, from, false),
                "to": view(state, target, false),
            }}));
        }
    }
    edges
}

/// The STIX of an entity as the platform converts it (`convertStoreToStix`):
/// the object with OpenCTI's extension, as in the live stream.
pub(crate) fn stix(stored: &StoredObject) -> Value {
    let mut data = crate::objects::stream_data(stored);
    if let Some(octi) = data
        .get_mut("extensions")
        .and_then(|e| e.get_mut(OCTI_EXTENSION))
        .and_then(Value::as_object_mut)
    {
        octi.entry("creator_ids")
            .or_insert_with(|| json!([crate::model::ADMIN_USER_ID]));
    }
    data
}

/// The entity and what it references that is stored (author, markings,
/// other refs), as STIX objects: the content of a playbook bundle.
pub(crate) fn with_references(state: &State, stored: &StoredObject) -> Vec<Value> {
    let mut objects = vec![stix(stored)];
    let mut seen = vec![stored.id.clone()];
    let mut refs = Vec::new();
    if let Some(map) = stored.stix.as_object() {
        for (key, value) in map {
            if key.ends_with("_ref") {
                refs.extend(value.as_str().map(str::to_owned));
            } else if key.ends_with("_refs") {
                refs.extend(
                    value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_owned),
                );
            }
        }
    }
    for id in refs {
        if seen.contains(&id) {
            continue;
        }
        if let Some(referenced) = state.objects.get(&id) {
            objects.push(stix(referenced));
        }
        seen.push(id);
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(stix: Value) -> StoredObject {
        let map = stix.as_object().cloned().unwrap_or_default();
        let stix_type = stix["type"].as_str().unwrap_or_default().to_owned();
        StoredObject {
            id: stix["id"].as_str().unwrap_or_default().to_owned(),
            entity_type: crate::objects::entity_type(&stix_type, &map),
            stix_type,
            internal_id: "1b2c".to_owned(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
            is_inferred: false,
            work_id: None,
            applicant_id: None,
            stix,
        }
    }

    #[test]
    fn an_observable_reads_as_the_platform_shows_it() {
        let mut state = State::default();
        let ip = stored(json!({
            "type": "ipv4-addr",
            "id": "ipv4-addr--2f0c9a3e-6d43-5f63-a3d6-2ed5b1ad0ed6",
            "value": "198.51.100.7",
            "object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"],
            "x_opencti_score": 70,
            "labels": ["c2"],
        }));
        state.objects.insert(ip.id.clone(), ip.clone());
        let view = view(&state, &ip, true);
        assert_eq!(view["__typename"], "IPv4Addr");
        assert_eq!(view["entity_type"], "IPv4-Addr");
        assert_eq!(view["id"], "1b2c");
        assert_eq!(view["observable_value"], "198.51.100.7");
        assert_eq!(view["x_opencti_score"], 70);
        assert_eq!(view["objectMarking"][0]["definition"], "TLP:AMBER");
        assert_eq!(view["objectLabel"][0]["value"], "c2");
        assert!(find(&state, "1b2c").is_some());
        assert!(find(&state, "ipv4-addr--2f0c9a3e-6d43-5f63-a3d6-2ed5b1ad0ed6").is_some());
    }

    #[test]
    fn renamed_properties_and_hashes_follow_the_schema() {
        let file = stored(json!({
            "type": "file",
            "id": "file--5e1a4b3d-1c7b-5f3e-9d2f-7a9b0c1d2e3f",
            "hashes": {"MD5": "d41d8cd98f00b204e9800998ecf8427e"},
        }));
        let view = view(&State::default(), &file, true);
        assert_eq!(view["__typename"], "StixFile");
        assert_eq!(
            view["hashes"],
            json!([{"algorithm": "MD5", "hash": "d41d8cd98f00b204e9800998ecf8427e"}])
        );
        assert_eq!(view["observable_value"], "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn nested_references_to_stored_objects_are_listed() {
        let mut state = State::default();
        let domain = stored(json!({
            "type": "domain-name",
            "id": "domain-name--6a1d2b3c-4d5e-5f60-8172-839405a6b7c8",
            "value": "example.org",
            "resolves_to_refs": ["ipv4-addr--2f0c9a3e-6d43-5f63-a3d6-2ed5b1ad0ed6", "ipv4-addr--missing"],
            "object_marking_refs": ["marking-definition--x"],
        }));
        let ip = stored(json!({
            "type": "ipv4-addr",
            "id": "ipv4-addr--2f0c9a3e-6d43-5f63-a3d6-2ed5b1ad0ed6",
            "value": "198.51.100.7",
        }));
        state.objects.insert(ip.id.clone(), ip);
        let edges = nested_refs(&state, &domain);
        assert_eq!(edges.len(), 1, "{edges:?}");
        assert_eq!(edges[0]["node"]["relationship_type"], "resolves-to");
        assert_eq!(edges[0]["node"]["to"]["value"], "198.51.100.7");
    }

    #[test]
    fn tlp_levels_are_ordered_like_the_platform() {
        assert_eq!(
            tlp_order("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"),
            Some(("TLP:GREEN", 2))
        );
        assert_eq!(
            tlp_ids_above(4),
            ["marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"]
        );
    }
}
