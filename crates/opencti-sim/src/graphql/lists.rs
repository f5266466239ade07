//! The platform's list queries an export connector makes: core objects,
//! observables, domain objects, objects-or-relationships, core and
//! sighting relationships, and the lists of one entity type (`reports`,
//! `malwares`, `identities`, ...), with the filters exports send (`ids`,
//! `objectMarking`, `entity_type`, nested groups), search, ordering and
//! cursor pagination; and the reads of one entity of a type by id
//! (`report(id)`, `stixCoreRelationship(id)`, ...).
//!
//! A filter key the simulator does not know is refused (the platform
//! would apply it; ignoring it would silently widen the answer).

use serde_json::{Value, json};

use crate::entity::{find, is_core, is_observable, parent_types, representative, view};
use crate::model::StoredObject;
use crate::store::State;

/// Largest page served (the platform's own limit is 5000; pycti asks 100
/// or 500).
const MAX_PAGE: usize = 5000;

/// The list queries served here.
pub(crate) const LIST_QUERIES: &[&str] = &[
    "stixCoreObjects",
    "stixDomainObjects",
    "stixCyberObservables",
    "stixObjectOrStixRelationships",
    "stixCoreRelationships",
    "stixSightingRelationships",
    "reports",
    "malwares",
    "indicators",
    "intrusionSets",
    "identities",
    "attackPatterns",
    "vulnerabilities",
    "tools",
    "campaigns",
    "threatActorsGroup",
    "threatActorsIndividuals",
    "coursesOfAction",
    "infrastructures",
    "locations",
    "notes",
    "opinions",
    "observedDatas",
    "groupings",
    "incidents",
];

/// The reads of one entity by id served here, with the entity type (or
/// parent type) each answers for.
pub(crate) const TYPED_READS: &[(&str, &str)] = &[
    ("report", "Report"),
    ("malware", "Malware"),
    ("indicator", "Indicator"),
    ("intrusionSet", "Intrusion-Set"),
    ("identity", "Identity"),
    ("attackPattern", "Attack-Pattern"),
    ("vulnerability", "Vulnerability"),
    ("tool", "Tool"),
    ("campaign", "Campaign"),
    ("threatActorGroup", "Threat-Actor-Group"),
    ("threatActorIndividual", "Threat-Actor-Individual"),
    ("courseOfAction", "Course-Of-Action"),
    ("infrastructure", "Infrastructure"),
    ("location", "Location"),
    ("note", "Note"),
    ("opinion", "Opinion"),
    ("observedData", "Observed-Data"),
    ("grouping", "Grouping"),
    ("incident", "Incident"),
    ("stixCoreRelationship", "stix-core-relationship"),
];

/// The entity type (or parent type) a typed list holds.
fn typed_list(query: &str) -> Option<&'static str> {
    match query {
        "reports" => Some("Report"),
        "malwares" => Some("Malware"),
        "indicators" => Some("Indicator"),
        "intrusionSets" => Some("Intrusion-Set"),
        "identities" => Some("Identity"),
        "attackPatterns" => Some("Attack-Pattern"),
        "vulnerabilities" => Some("Vulnerability"),
        "tools" => Some("Tool"),
        "campaigns" => Some("Campaign"),
        "threatActorsGroup" => Some("Threat-Actor-Group"),
        "threatActorsIndividuals" => Some("Threat-Actor-Individual"),
        "coursesOfAction" => Some("Course-Of-Action"),
        "infrastructures" => Some("Infrastructure"),
        "locations" => Some("Location"),
        "notes" => Some("Note"),
        "opinions" => Some("Opinion"),
        "observedDatas" => Some("Observed-Data"),
        "groupings" => Some("Grouping"),
        "incidents" => Some("Incident"),
        _ => None,
    }
}

/// Answers one of [`TYPED_READS`]: the entity `id` designates, when it is
/// of the read's type.
pub(crate) fn read(state: &State, query: &str, id: &str) -> Result<Value, String> {
    let Some((_, wanted)) = TYPED_READS.iter().find(|(name, _)| *name == query) else {
        return Err(format!("Query.{query} is not a read the simulator serves"));
    };
    Ok(find(state, id)
        .filter(|stored| Kind::of(stored) != Kind::Other && has_type(stored, wanted))
        .and_then(|stored| node(state, stored))
        .unwrap_or(Value::Null))
}

/// Answers one of [`LIST_QUERIES`] with its arguments, as a connection.
pub(crate) fn list(
    state: &State,
    query: &str,
    args: &serde_json::Map<String, Value>,
) -> Result<Value, String> {
    let filters = args.get("filters").filter(|f| !f.is_null());
    let types = strings(args.get("types"));
    let from_or_to = strings(args.get("fromOrToId"));
    let search = args
        .get("search")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase);
    let mut selected: Vec<&StoredObject> = Vec::new();
    for stored in state.objects.values() {
        let kind = Kind::of(stored);
        let wanted = match query {
            "stixCoreObjects" => kind == Kind::Core,
            "stixDomainObjects" => kind == Kind::Core && !is_observable(&stored.stix_type),
            "stixCyberObservables" => kind == Kind::Core && is_observable(&stored.stix_type),
            "stixObjectOrStixRelationships" => kind != Kind::Other,
            "stixCoreRelationships" => kind == Kind::Relationship,
            "stixSightingRelationships" => kind == Kind::Sighting,
            typed if typed_list(typed).is_some() => {
                kind == Kind::Core && typed_list(typed).is_some_and(|t| has_type(stored, t))
            }
            other => return Err(format!("Query.{other} is not a list the simulator serves")),
        };
        if !wanted
            || (!types.is_empty() && !types.iter().any(|t| has_type(stored, t)))
            || (!from_or_to.is_empty() && !touches(state, stored, &from_or_to))
            || search
                .as_ref()
                .is_some_and(|s| !representative(stored).to_lowercase().contains(s))
        {
            continue;
        }
        if let Some(group) = filters
            && !group_matches(stored, group)?
        {
            continue;
        }
        selected.push(stored);
    }
    sort(&mut selected, args);
    let nodes: Vec<Value> = selected
        .into_iter()
        .filter_map(|stored| node(state, stored))
        .collect();
    Ok(page(nodes, args))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Core,
    Relationship,
    Sighting,
    Other,
}

impl Kind {
    fn of(stored: &StoredObject) -> Self {
        match stored.stix_type.as_str() {
            "relationship" => Self::Relationship,
            "sighting" => Self::Sighting,
            t if is_core(t) => Self::Core,
            _ => Self::Other,
        }
    }
}

/// The platform's parent types of a relationship.
fn relationship_parents(kind: Kind) -> Vec<&'static str> {
    let mut parents = vec!["basic-relationship", "stix-relationship"];
    parents.push(if kind == Kind::Sighting {
        "stix-sighting-relationship"
    } else {
        "stix-core-relationship"
    });
    parents
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn has_type(stored: &StoredObject, wanted: &str) -> bool {
    type_values(stored)
        .iter()
        .any(|t| t.eq_ignore_ascii_case(wanted))
}

/// The entity type and parent types, as the `entity_type` filter sees them.
fn type_values(stored: &StoredObject) -> Vec<String> {
    let kind = Kind::of(stored);
    let mut values = vec![stored.entity_type.clone()];
    let parents: Vec<String> = match kind {
        Kind::Relationship | Kind::Sighting => relationship_parents(kind)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        _ => parent_types(stored)
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    values.extend(parents);
    values
}

/// The ids an `ids` filter (or a relationship end) matches an object by.
fn ids_of(stored: &StoredObject) -> Vec<String> {
    let mut ids = vec![stored.internal_id.clone(), stored.id.clone()];
    ids.extend(strings(stored.stix.get("x_opencti_stix_ids")));
    ids
}

/// The two ends of a relationship or sighting, as stored ids.
fn ends(stored: &StoredObject) -> (Option<&str>, Option<&str>) {
    let text = |key: &str| stored.stix.get(key).and_then(Value::as_str);
    match stored.stix_type.as_str() {
        "relationship" => (text("source_ref"), text("target_ref")),
        "sighting" => (
            text("sighting_of_ref"),
            stored
                .stix
                .get("where_sighted_refs")
                .and_then(Value::as_array)
                .and_then(|refs| refs.first())
                .and_then(Value::as_str),
        ),
        _ => (None, None),
    }
}

/// Whether a relationship has one of `ids` at either end.
fn touches(state: &State, stored: &StoredObject, ids: &[String]) -> bool {
    let (from, to) = ends(stored);
    [from, to]
        .into_iter()
        .flatten()
        .filter_map(|end| find(state, end))
        .any(|end| ids_of(end).iter().any(|id| ids.contains(id)))
}

fn group_matches(stored: &StoredObject, group: &Value) -> Result<bool, String> {
    let all = match group.get("mode").and_then(Value::as_str).unwrap_or("and") {
        "and" => true,
        "or" => false,
        other => return Err(format!("filter group mode `{other}` is not `and` or `or`")),
    };
    let mut results = Vec::new();
    for filter in group
        .get("filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        results.push(filter_matches(stored, filter)?);
    }
    for inner in group
        .get("filterGroups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        results.push(group_matches(stored, inner)?);
    }
    Ok(if all {
        results.iter().all(|r| *r)
    } else {
        results.is_empty() || results.iter().any(|r| *r)
    })
}

fn filter_matches(stored: &StoredObject, filter: &Value) -> Result<bool, String> {
    let keys = strings(filter.get("key"));
    let [key] = keys.as_slice() else {
        return Err(format!("filter key {keys:?} is not one key"));
    };
    let have: Vec<String> = match key.as_str() {
        "ids" => ids_of(stored),
        "objectMarking" => strings(stored.stix.get("object_marking_refs")),
        "entity_type" => type_values(stored),
        other => {
            return Err(format!(
                "filter key `{other}` is not served by the simulator"
            ));
        }
    };
    let values = strings(filter.get("values"));
    let present = |value: &String| have.iter().any(|h| h.eq_ignore_ascii_case(value));
    let all = filter.get("mode").and_then(Value::as_str) == Some("and");
    let operator = filter
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or("eq");
    Ok(match operator {
        "eq" if all => values.iter().all(present),
        "eq" => values.iter().any(present),
        "not_eq" if all => !values.iter().any(present),
        "not_eq" => values.is_empty() || values.iter().any(|v| !present(v)),
        "nil" => have.is_empty(),
        "not_nil" => !have.is_empty(),
        other => {
            return Err(format!(
                "filter operator `{other}` is not served by the simulator"
            ));
        }
    })
}

/// Orders by `orderBy` (a property; `created_at` when absent or `_score`),
/// then by internal id, ascending unless `orderMode` is `desc`.
fn sort(selected: &mut [&StoredObject], args: &serde_json::Map<String, Value>) {
    let order_by = args
        .get("orderBy")
        .and_then(Value::as_str)
        .filter(|o| *o != "_score")
        .unwrap_or("created_at");
    let descending = args.get("orderMode").and_then(Value::as_str) == Some("desc");
    let key = |stored: &StoredObject| -> String {
        match order_by {
            "created_at" => crate::model::iso(stored.created_at),
            "updated_at" => crate::model::iso(stored.updated_at),
            property => match stored.stix.get(property) {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => representative(stored),
            },
        }
    };
    selected.sort_by(|a, b| {
        let ordering = key(a)
            .cmp(&key(b))
            .then_with(|| a.internal_id.cmp(&b.internal_id));
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
}

/// The GraphQL view of a listed object (`None` for a relationship whose
/// ends are not stored).
fn node(state: &State, stored: &StoredObject) -> Option<Value> {
    let kind = Kind::of(stored);
    if kind == Kind::Core {
        return Some(view(state, stored, true));
    }
    let (from, to) = ends(stored);
    let from = find(state, from?)?;
    let to = find(state, to?)?;
    let mut node = view(state, stored, true);
    let sighting = kind == Kind::Sighting;
    node["__typename"] = json!(if sighting {
        "StixSightingRelationship"
    } else {
        "StixCoreRelationship"
    });
    node["entity_type"] = json!(if sighting {
        "stix-sighting-relationship"
    } else {
        stored.entity_type.as_str()
    });
    node["parent_types"] = json!(relationship_parents(kind));
    node["from"] = view(state, from, false);
    node["to"] = view(state, to, false);
    if sighting {
        node["attribute_count"] = stored.stix.get("count").cloned().unwrap_or(json!(1));
        // Non-null on the platform: false unless the sighting says otherwise.
        node["x_opencti_negative"] = stored
            .stix
            .get("x_opencti_negative")
            .cloned()
            .unwrap_or(json!(false));
    }
    Some(node)
}

/// A container's `objects`: the stored objects and relationships of its
/// `object_refs`, in their order, each without its own references resolved.
pub(crate) fn contained(state: &State, stix: &Value) -> Value {
    let nodes: Vec<Value> = strings(stix.get("object_refs"))
        .iter()
        .filter_map(|id| find(state, id))
        .filter_map(|stored| match Kind::of(stored) {
            Kind::Core => Some(view(state, stored, false)),
            Kind::Relationship | Kind::Sighting => node(state, stored),
            Kind::Other => None,
        })
        .collect();
    crate::graphql::views::connection(nodes)
}

/// A cursor connection over `nodes` (`first`, `after`: the index of the
/// last node of the previous page).
fn page(nodes: Vec<Value>, args: &serde_json::Map<String, Value>) -> Value {
    let total = nodes.len();
    let start = args
        .get("after")
        .and_then(Value::as_str)
        .and_then(|cursor| cursor.parse::<usize>().ok())
        .map_or(0, |index| index + 1);
    let first = args
        .get("first")
        .and_then(Value::as_u64)
        .map_or(MAX_PAGE, |n| usize::try_from(n).unwrap_or(MAX_PAGE))
        .min(MAX_PAGE);
    let edges: Vec<Value> = nodes
        .into_iter()
        .enumerate()
        .skip(start)
        .take(first)
        .map(|(index, node)| json!({"node": node, "cursor": index.to_string()}))
        .collect();
    let cursor = |edge: Option<&Value>| edge.map_or(json!(""), |e| e["cursor"].clone());
    let end = start + edges.len();
    json!({
        "edges": edges,
        "pageInfo": {
            "startCursor": cursor(edges.first()),
            "endCursor": cursor(edges.last()),
            "hasNextPage": end < total,
            "hasPreviousPage": start > 0,
            "globalCount": total,
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::objects::{EventInjection, EventKind, inject};

    const GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
    const AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";

    fn state() -> State {
        let mut state = State::default();
        for (n, value, marking) in [(1, "192.0.2.1", GREEN), (2, "192.0.2.2", AMBER)] {
            let ip = json!({"type": "ipv4-addr", "spec_version": "2.1",
                "id": format!("ipv4-addr--00000000-0000-4000-8000-00000000000{n}"),
                "value": value, "object_marking_refs": [marking]});
            inject(
                &mut state,
                EventInjection::new(EventKind::Create, ip),
                chrono::Utc::now(),
            )
            .expect("stored");
        }
        let relationship = json!({"type": "relationship", "spec_version": "2.1",
            "id": "relationship--00000000-0000-4000-8000-000000000003",
            "relationship_type": "related-to",
            "source_ref": "ipv4-addr--00000000-0000-4000-8000-000000000001",
            "target_ref": "ipv4-addr--00000000-0000-4000-8000-000000000002"});
        inject(
            &mut state,
            EventInjection::new(EventKind::Create, relationship),
            chrono::Utc::now(),
        )
        .expect("stored");
        state
    }

    fn values(answer: &Value) -> Vec<String> {
        answer["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e["node"]["value"]
                    .as_str()
                    .unwrap_or("relationship")
                    .to_owned()
            })
            .collect()
    }

    fn args(value: Value) -> serde_json::Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("arguments are an object, not {other}"),
        }
    }

    #[test]
    fn an_access_filter_leaves_out_objects_above_the_allowed_markings() {
        let state = state();
        let access = json!({"mode": "and", "filterGroups": [], "filters": [
            {"key": "objectMarking", "mode": "and", "operator": "not_eq", "values": [AMBER]}]});
        let answer = list(
            &state,
            "stixCyberObservables",
            &args(json!({"filters": access,
            "orderBy": "value", "orderMode": "asc"})),
        )
        .unwrap();
        assert_eq!(values(&answer), ["192.0.2.1"]);
        let everything = list(&state, "stixObjectOrStixRelationships", &args(json!({}))).unwrap();
        assert_eq!(everything["pageInfo"]["globalCount"], 3);
    }

    #[test]
    fn ids_in_a_nested_group_and_relationships_by_either_end() {
        let state = state();
        let by_id = json!({"mode": "and", "filters": [], "filterGroups": [
            {"mode": "or", "filters": [{"key": "ids", "values": ["ipv4-addr--00000000-0000-4000-8000-000000000002"]}], "filterGroups": []}]});
        let answer = list(&state, "stixCoreObjects", &args(json!({"filters": by_id}))).unwrap();
        assert_eq!(values(&answer), ["192.0.2.2"]);
        let relationships = list(
            &state,
            "stixCoreRelationships",
            &args(json!({
            "fromOrToId": "ipv4-addr--00000000-0000-4000-8000-000000000002"})),
        )
        .unwrap();
        let node = &relationships["edges"][0]["node"];
        assert_eq!(node["from"]["value"], "192.0.2.1");
        assert_eq!(node["parent_types"][2], "stix-core-relationship");
        let unknown = json!({"mode": "and", "filters": [{"key": "creator_id", "values": ["x"]}], "filterGroups": []});
        assert!(
            list(
                &state,
                "stixCoreObjects",
                &args(json!({"filters": unknown}))
            )
            .is_err()
        );
    }

    #[test]
    fn typed_reads_and_lists_answer_only_their_type_and_containers_list_their_objects() {
        let mut state = state();
        let report = json!({"type": "report", "spec_version": "2.1",
            "id": "report--00000000-0000-4000-8000-000000000004", "name": "R",
            "object_refs": ["ipv4-addr--00000000-0000-4000-8000-000000000001",
                            "relationship--00000000-0000-4000-8000-000000000003",
                            "malware--00000000-0000-4000-8000-00000000dead"]});
        inject(
            &mut state,
            EventInjection::new(EventKind::Create, report),
            chrono::Utc::now(),
        )
        .expect("stored");
        let id = "report--00000000-0000-4000-8000-000000000004";
        let report = read(&state, "report", id).unwrap();
        assert_eq!(report["name"], "R");
        let objects = &report["objects"]["edges"];
        assert_eq!(objects.as_array().map(Vec::len), Some(2), "{objects}");
        assert_eq!(objects[0]["node"]["value"], "192.0.2.1");
        assert_eq!(
            objects[1]["node"]["parent_types"][2],
            "stix-core-relationship"
        );
        assert_eq!(read(&state, "malware", id).unwrap(), Value::Null);
        let relationship = read(
            &state,
            "stixCoreRelationship",
            "relationship--00000000-0000-4000-8000-000000000003",
        )
        .unwrap();
        assert_eq!(relationship["from"]["value"], "192.0.2.1");
        let sighting = json!({"type": "sighting", "spec_version": "2.1",
            "id": "sighting--00000000-0000-4000-8000-000000000005",
            "sighting_of_ref": "ipv4-addr--00000000-0000-4000-8000-000000000001",
            "where_sighted_refs": ["report--00000000-0000-4000-8000-000000000004"]});
        inject(
            &mut state,
            EventInjection::new(EventKind::Create, sighting),
            chrono::Utc::now(),
        )
        .expect("stored");
        let sightings = list(&state, "stixSightingRelationships", &args(json!({}))).unwrap();
        assert_eq!(sightings["edges"][0]["node"]["x_opencti_negative"], false);
        let reports = list(&state, "reports", &args(json!({}))).unwrap();
        assert_eq!(reports["pageInfo"]["globalCount"], 1);
        let malwares = list(&state, "malwares", &args(json!({}))).unwrap();
        assert_eq!(malwares["pageInfo"]["globalCount"], 0);
    }

    #[test]
    fn reads_and_lists_of_the_other_domain_types_answer_their_type_or_parent() {
        let mut state = state();
        for stix in [
            json!({"type": "location", "spec_version": "2.1", "name": "Paris",
                   "id": "location--00000000-0000-4000-8000-000000000005",
                   "x_opencti_location_type": "City"}),
            json!({"type": "threat-actor", "spec_version": "2.1", "name": "TA",
                   "id": "threat-actor--00000000-0000-4000-8000-000000000006"}),
            json!({"type": "note", "spec_version": "2.1", "content": "N",
                   "id": "note--00000000-0000-4000-8000-000000000007",
                   "object_refs": ["ipv4-addr--00000000-0000-4000-8000-000000000001"]}),
        ] {
            inject(
                &mut state,
                EventInjection::new(EventKind::Create, stix),
                chrono::Utc::now(),
            )
            .expect("stored");
        }
        let city = "location--00000000-0000-4000-8000-000000000005";
        assert_eq!(
            read(&state, "location", city).unwrap()["entity_type"],
            "City"
        );
        assert_eq!(read(&state, "tool", city).unwrap(), Value::Null);
        let note = read(&state, "note", "note--00000000-0000-4000-8000-000000000007").unwrap();
        assert_eq!(note["objects"]["edges"][0]["node"]["value"], "192.0.2.1");
        let count = |query: &str| {
            list(&state, query, &args(json!({}))).unwrap()["pageInfo"]["globalCount"].clone()
        };
        assert_eq!(count("locations"), 1);
        assert_eq!(count("threatActorsGroup"), 1);
        assert_eq!(count("threatActorsIndividuals"), 0);
        assert_eq!(count("notes"), 1);
        assert_eq!(count("opinions"), 0);
    }

    #[test]
    fn pages_follow_the_cursor() {
        let state = state();
        let first = list(
            &state,
            "stixCyberObservables",
            &args(json!({"first": 1,
            "orderBy": "value", "orderMode": "desc"})),
        )
        .unwrap();
        assert_eq!(values(&first), ["192.0.2.2"]);
        assert_eq!(first["pageInfo"]["hasNextPage"], true);
        let next = list(
            &state,
            "stixCyberObservables",
            &args(json!({"first": 1,
            "after": first["pageInfo"]["endCursor"], "orderBy": "value", "orderMode": "desc"})),
        )
        .unwrap();
        assert_eq!(values(&next), ["192.0.2.1"]);
        assert_eq!(next["pageInfo"]["hasNextPage"], false);
    }
}
