//! From live-stream events to changes of PT NAD reputation lists.
//!
//! Only indicators with a STIX pattern matter. Every plain equality of the
//! pattern on a supported observable becomes a value of one list:
//!
//! | Pattern comparison                          | List  |
//! |---------------------------------------------|-------|
//! | `ipv4-addr:value = '…'`                     | `ip`  |
//! | `domain-name:value = '…'`                   | `dn`  |
//! | `url:value = '…'`                           | `uri` |
//! | `file:hashes.MD5 = '…'` (any key spelling)  | `md5` |
//!
//! A live indicator's values are added; a revoked or deleted one's are
//! removed, and an update that changes the pattern also removes the values
//! that disappeared (the previous pattern comes from the event's reverse
//! patch). A [`Plan`] coalesces the changes of a batch of events into one
//! final action per value, so the order of changes to a value is kept while
//! the batch costs one bulk call per list and action.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use opencti_connector::stream::{EventKind, StreamEvent};
use opencti_stix::pattern::Pattern;
use serde_json::{Map, Value};

use crate::client::ListType;

/// The list types the connector manages (`CONNECTOR_SCOPE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(BTreeSet<ListType>);

impl Scope {
    /// A scope of the given list types.
    pub fn new(types: impl IntoIterator<Item = ListType>) -> Self {
        Self(types.into_iter().collect())
    }

    /// Whether values of this type are managed.
    pub fn contains(&self, list_type: ListType) -> bool {
        self.0.contains(&list_type)
    }

    /// The managed types, in [`ListType`] order.
    pub fn types(&self) -> impl Iterator<Item = ListType> + '_ {
        self.0.iter().copied()
    }
}

/// What to do with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Put it in the list.
    Add,
    /// Take it out of the list.
    Remove,
}

/// One value to add to or remove from one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The list.
    pub list: ListType,
    /// The value (IP, domain, URL or MD5), as written in the pattern.
    pub value: String,
    /// Add or remove.
    pub action: Action,
}

/// An indicator whose pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// The STIX pattern does not parse.
    #[error("indicator {id}: invalid STIX pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The indicator's STIX id.
        id: String,
        /// The pattern.
        pattern: String,
        /// The parser's explanation.
        reason: String,
    },
}

/// The list changes one event calls for, in the order they must happen.
///
/// Objects other than indicators, non-STIX patterns and comparisons on
/// observables PT NAD does not hold (or outside `scope`) give no change.
pub fn changes(event: &StreamEvent, scope: &Scope) -> Result<Vec<Change>, MappingError> {
    let object = event.object.as_map();
    let mut out = Vec::new();
    match event.kind {
        EventKind::Create if !is_revoked(object.get("revoked")) => {
            push_all(&mut out, values(object, scope)?, Action::Add);
        }
        EventKind::Delete => push_all(&mut out, values(object, scope)?, Action::Remove),
        EventKind::Update | EventKind::Merge => changed(&mut out, event, scope)?,
        _ => {}
    }
    Ok(out)
}

/// An update or merge: add the current values of a live indicator, remove
/// those that disappeared (from the previous pattern and merged sources),
/// or remove everything if it is now revoked.
fn changed(out: &mut Vec<Change>, event: &StreamEvent, scope: &Scope) -> Result<(), MappingError> {
    let object = event.object.as_map();
    let current = values(object, scope)?;
    let mut former: Vec<(ListType, String)> = Vec::new();
    if let Some(previous) = event.previous_fields(&PATTERN_FIELDS) {
        former.extend(values_or_log(&previous, scope));
    }
    for source in event.merged_sources() {
        former.extend(values_or_log(source.as_map(), scope));
    }
    if is_revoked(object.get("revoked")) {
        let mut gone = current;
        for value in former {
            if !gone.contains(&value) {
                gone.push(value);
            }
        }
        push_all(out, gone, Action::Remove);
    } else {
        let mut gone: Vec<(ListType, String)> = Vec::new();
        for value in former {
            if !current.contains(&value) && !gone.contains(&value) {
                gone.push(value);
            }
        }
        push_all(out, gone, Action::Remove);
        push_all(out, current, Action::Add);
    }
    Ok(())
}

fn push_all(out: &mut Vec<Change>, values: Vec<(ListType, String)>, action: Action) {
    out.extend(values.into_iter().map(|(list, value)| Change {
        list,
        value,
        action,
    }));
}

/// Previous versions of an object only matter for their values: a broken
/// former pattern is logged and contributes nothing.
fn values_or_log(object: &Map<String, Value>, scope: &Scope) -> Vec<(ListType, String)> {
    values(object, scope).unwrap_or_else(|error| {
        tracing::debug!(%error, "ignoring the unusable former pattern");
        Vec::new()
    })
}

/// OpenCTI writes `revoked` as a boolean; anything else means not revoked.
fn is_revoked(value: Option<&Value>) -> bool {
    value.and_then(Value::as_bool).unwrap_or(false)
}

/// The top-level fields whose change matters: an update touching none of
/// them leaves the lists alone.
const PATTERN_FIELDS: [&str; 4] = ["type", "pattern", "pattern_type", "revoked"];

/// The in-scope list values of an indicator's pattern, without duplicates,
/// in pattern order.
fn values(
    object: &Map<String, Value>,
    scope: &Scope,
) -> Result<Vec<(ListType, String)>, MappingError> {
    let id = object.get("id").and_then(Value::as_str).unwrap_or_default();
    let object_type = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if object_type != "indicator" {
        tracing::trace!(id, object_type, "not an indicator, ignored");
        return Ok(Vec::new());
    }
    let pattern_type = object
        .get("pattern_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !pattern_type.eq_ignore_ascii_case("stix") {
        tracing::debug!(id, pattern_type, "indicator pattern is not STIX, ignored");
        return Ok(Vec::new());
    }
    let Some(pattern) = object.get("pattern").and_then(Value::as_str) else {
        tracing::debug!(id, "indicator without a pattern, ignored");
        return Ok(Vec::new());
    };
    let equalities = plain_equalities(pattern).map_err(|reason| MappingError::InvalidPattern {
        id: id.to_owned(),
        pattern: pattern.to_owned(),
        reason,
    })?;
    let mut found: Vec<(ListType, String)> = Vec::new();
    for (object_type, path, value) in equalities {
        let Some(list) = list_for(&object_type, &path) else {
            tracing::debug!(
                id,
                object_type,
                path,
                "observable kind not held by PT NAD, ignored"
            );
            continue;
        };
        if !scope.contains(list) {
            tracing::debug!(id, %list, "list type outside CONNECTOR_SCOPE, ignored");
            continue;
        }
        let entry = (list, value);
        if !found.contains(&entry) {
            found.push(entry);
        }
    }
    Ok(found)
}

/// Every `(object type, property path, string value)` compared with `=` in
/// the pattern (numbers and booleans name nothing PT NAD holds).
fn plain_equalities(pattern: &str) -> Result<Vec<(String, String, String)>, String> {
    let parsed = Pattern::parse(pattern).map_err(|error| error.to_string())?;
    Ok(parsed
        .equalities()
        .into_iter()
        .filter_map(|equality| match equality.value {
            Value::String(value) => Some((equality.object_type, equality.path, value)),
            _ => None,
        })
        .collect())
}

/// The list holding values compared on `object_type:path`, if any.
fn list_for(object_type: &str, path: &str) -> Option<ListType> {
    match (object_type, path) {
        ("ipv4-addr", "value") => Some(ListType::Ip),
        ("domain-name", "value") => Some(ListType::Dn),
        ("url", "value") => Some(ListType::Uri),
        ("file", path) => {
            let key = path.strip_prefix("hashes.")?;
            let key = key.trim_matches(|c| c == '\'' || c == '"');
            key.eq_ignore_ascii_case("md5").then_some(ListType::Md5)
        }
        _ => None,
    }
}

/// One bulk call to make: all the values of one list getting the same action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOperation {
    /// The list.
    pub list: ListType,
    /// Add or remove.
    pub action: Action,
    /// The values, in the order they first appeared in the batch.
    pub values: Vec<String>,
}

#[derive(Debug)]
struct Planned {
    list: ListType,
    value: String,
    action: Action,
    events: Vec<usize>,
}

/// The changes of a batch of events, coalesced per value: only the last
/// action on a value counts, which is what applying them one by one would
/// leave behind.
#[derive(Debug, Default)]
pub struct Plan {
    planned: Vec<Planned>,
    index: HashMap<(ListType, String), usize>,
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a change asked for by event number `event` of the batch.
    /// Changes must be recorded in stream order.
    pub fn record(&mut self, event: usize, change: Change) {
        let key = (change.list, change.value);
        match self.index.get(&key) {
            Some(&position) => {
                let planned = &mut self.planned[position];
                planned.action = change.action;
                if !planned.events.contains(&event) {
                    planned.events.push(event);
                }
            }
            None => {
                self.index.insert(key.clone(), self.planned.len());
                self.planned.push(Planned {
                    list: key.0,
                    value: key.1,
                    action: change.action,
                    events: vec![event],
                });
            }
        }
    }

    /// Whether nothing is to be done.
    pub fn is_empty(&self) -> bool {
        self.planned.is_empty()
    }

    /// The bulk calls, removals first, then additions, each in [`ListType`]
    /// order. Every value appears once, so the calls commute.
    pub fn operations(&self) -> Vec<BulkOperation> {
        let mut grouped: BTreeMap<(Action, ListType), Vec<String>> = BTreeMap::new();
        for planned in &self.planned {
            grouped
                .entry((planned.action, planned.list))
                .or_default()
                .push(planned.value.clone());
        }
        let order = |action: &Action| match action {
            Action::Remove => 0,
            Action::Add => 1,
        };
        let mut operations: Vec<BulkOperation> = grouped
            .into_iter()
            .map(|((action, list), values)| BulkOperation {
                list,
                action,
                values,
            })
            .collect();
        operations.sort_by_key(|operation| (order(&operation.action), operation.list));
        operations
    }

    /// The batch positions of the events that touched `value` in `list`.
    pub fn events_of(&self, list: ListType, value: &str) -> &[usize] {
        self.index
            .get(&(list, value.to_owned()))
            .map_or(&[], |&position| self.planned[position].events.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope_all() -> Scope {
        Scope::new(ListType::ALL)
    }

    fn indicator(pattern: &str, revoked: bool) -> Map<String, Value> {
        let Value::Object(object) = json!({
            "id": "indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968",
            "type": "indicator",
            "spec_version": "2.1",
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": "2025-11-24T10:00:00.000Z",
            "revoked": revoked,
        }) else {
            unreachable!("a JSON object literal")
        };
        object
    }

    fn change(list: ListType, value: &str, action: Action) -> Change {
        Change {
            list,
            value: value.to_owned(),
            action,
        }
    }

    fn add(list: ListType, value: &str) -> Change {
        change(list, value, Action::Add)
    }

    fn remove(list: ListType, value: &str) -> Change {
        change(list, value, Action::Remove)
    }

    /// An event of `kind` on `object`, with the platform's `context`.
    fn event(kind: EventKind, object: &Map<String, Value>, context: Option<Value>) -> StreamEvent {
        StreamEvent::for_test("1-0", kind, Value::Object(object.clone()), context)
    }

    fn created(pattern: &str) -> Vec<Change> {
        changes(
            &event(EventKind::Create, &indicator(pattern, false), None),
            &scope_all(),
        )
        .unwrap()
    }

    #[test]
    fn each_supported_kind_goes_to_its_list() {
        let cases = [
            (
                "[ipv4-addr:value = '198.51.100.7']",
                add(ListType::Ip, "198.51.100.7"),
            ),
            (
                "[domain-name:value = 'evil.example']",
                add(ListType::Dn, "evil.example"),
            ),
            (
                "[url:value = 'http://evil.example/a/b?x=1']",
                add(ListType::Uri, "http://evil.example/a/b?x=1"),
            ),
            (
                "[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f']",
                add(ListType::Md5, "44d88612fea8a8f36de82e1278abb02f"),
            ),
        ];
        for (pattern, expected) in cases {
            assert_eq!(created(pattern), vec![expected], "{pattern}");
        }
    }

    #[test]
    fn any_spelling_of_the_md5_key_is_recognised() {
        let value = "44d88612fea8a8f36de82e1278abb02f";
        for key in ["MD5", "'MD5'", "md5", "'md5'", "Md5"] {
            let pattern = format!("[file:hashes.{key} = '{value}']");
            assert_eq!(
                created(&pattern),
                vec![add(ListType::Md5, value)],
                "{pattern}"
            );
        }
    }

    #[test]
    fn compound_patterns_give_every_supported_value() {
        // The Python connector took the first quoted string of the whole pattern.
        assert_eq!(
            created(
                "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
                 OR file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"
            ),
            vec![add(ListType::Md5, "d41d8cd98f00b204e9800998ecf8427e")]
        );
        assert_eq!(
            created("[domain-name:value = 'a.example'] AND [ipv4-addr:value = '1.2.3.4']"),
            vec![add(ListType::Dn, "a.example"), add(ListType::Ip, "1.2.3.4")]
        );
        assert_eq!(
            created(
                "([ipv4-addr:value = '192.0.2.1'] FOLLOWEDBY [url:value = 'http://x.example/']) \
                 WITHIN 600 SECONDS"
            ),
            vec![
                add(ListType::Ip, "192.0.2.1"),
                add(ListType::Uri, "http://x.example/")
            ]
        );
    }

    #[test]
    fn escaped_quotes_are_kept_whole() {
        assert_eq!(
            created(r"[url:value = 'http://x.example/it\'s']"),
            vec![add(ListType::Uri, "http://x.example/it's")]
        );
    }

    #[test]
    fn repeated_values_are_sent_once() {
        assert_eq!(
            created("[ipv4-addr:value = '192.0.2.1' OR ipv4-addr:value = '192.0.2.1']"),
            vec![add(ListType::Ip, "192.0.2.1")]
        );
    }

    #[test]
    fn unsupported_kinds_and_comparisons_are_ignored() {
        for pattern in [
            "[ipv6-addr:value = '2001:db8::1']",
            "[email-addr:value = 'a@b.example']",
            "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
            "[file:name = 'invoice.exe']",
            "[domain-name:value != 'a.example']",
            "[domain-name:value LIKE '%.example']",
        ] {
            assert_eq!(created(pattern), vec![], "{pattern}");
        }
    }

    #[test]
    fn kinds_outside_the_scope_are_ignored() {
        let scope = Scope::new([ListType::Md5]);
        let object = indicator(
            "[ipv4-addr:value = '1.2.3.4' OR file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            false,
        );
        assert_eq!(
            changes(&event(EventKind::Create, &object, None), &scope).unwrap(),
            vec![add(ListType::Md5, "d41d8cd98f00b204e9800998ecf8427e")]
        );
    }

    #[test]
    fn only_stix_indicators_count() {
        let mut yara = indicator(
            "rule x { strings: $a = \"url:value\" condition: $a }",
            false,
        );
        yara.insert("pattern_type".to_owned(), json!("yara"));
        assert_eq!(
            changes(&event(EventKind::Create, &yara, None), &scope_all()).unwrap(),
            vec![]
        );

        let Value::Object(observable) =
            json!({"type": "ipv4-addr", "id": "ipv4-addr--x", "value": "1.2.3.4"})
        else {
            unreachable!()
        };
        assert_eq!(
            changes(&event(EventKind::Create, &observable, None), &scope_all()).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_broken_pattern_is_an_error_naming_the_indicator() {
        let object = indicator("[ipv4-addr:value = '1.2.3.4'", false);
        let error = changes(&event(EventKind::Create, &object, None), &scope_all()).unwrap_err();
        let MappingError::InvalidPattern { id, pattern, .. } = &error;
        assert_eq!(id, "indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968");
        assert_eq!(pattern, "[ipv4-addr:value = '1.2.3.4'");
    }

    #[test]
    fn create_delete_and_revocation() {
        let pattern = "[ipv4-addr:value = '1.2.3.4']";
        let live = indicator(pattern, false);
        let revoked = indicator(pattern, true);
        let scope = scope_all();
        assert_eq!(
            changes(&event(EventKind::Create, &revoked, None), &scope).unwrap(),
            vec![]
        );
        assert_eq!(
            changes(&event(EventKind::Delete, &live, None), &scope).unwrap(),
            vec![remove(ListType::Ip, "1.2.3.4")]
        );
        assert_eq!(
            changes(&event(EventKind::Delete, &revoked, None), &scope).unwrap(),
            vec![remove(ListType::Ip, "1.2.3.4")]
        );
        let revoke_patch = [json!({"op": "replace", "path": "/revoked", "value": false})];
        assert_eq!(
            changes(
                &event(
                    EventKind::Update,
                    &revoked,
                    Some(json!({ "reverse_patch": revoke_patch }))
                ),
                &scope
            )
            .unwrap(),
            vec![remove(ListType::Ip, "1.2.3.4")]
        );
        let unrelated_patch = [json!({"op": "replace", "path": "/name", "value": "old"})];
        assert_eq!(
            changes(
                &event(
                    EventKind::Update,
                    &live,
                    Some(json!({ "reverse_patch": unrelated_patch }))
                ),
                &scope
            )
            .unwrap(),
            vec![add(ListType::Ip, "1.2.3.4")]
        );
    }

    #[test]
    fn a_changed_pattern_removes_the_values_that_disappeared() {
        let object = indicator(
            "[ipv4-addr:value = '192.0.2.2' OR ipv4-addr:value = '192.0.2.3']",
            false,
        );
        let reverse_patch = [json!({
            "op": "replace",
            "path": "/pattern",
            "value": "[ipv4-addr:value = '192.0.2.1' OR ipv4-addr:value = '192.0.2.2']"
        })];
        assert_eq!(
            changes(
                &event(
                    EventKind::Update,
                    &object,
                    Some(json!({ "reverse_patch": reverse_patch }))
                ),
                &scope_all()
            )
            .unwrap(),
            vec![
                remove(ListType::Ip, "192.0.2.1"),
                add(ListType::Ip, "192.0.2.2"),
                add(ListType::Ip, "192.0.2.3"),
            ]
        );
    }

    #[test]
    fn revoking_while_changing_the_pattern_removes_old_and_new_values() {
        let object = indicator("[domain-name:value = 'new.example']", true);
        let reverse_patch = [
            json!({"op": "replace", "path": "/pattern", "value": "[domain-name:value = 'old.example']"}),
            json!({"op": "replace", "path": "/revoked", "value": false}),
        ];
        assert_eq!(
            changes(
                &event(
                    EventKind::Update,
                    &object,
                    Some(json!({ "reverse_patch": reverse_patch }))
                ),
                &scope_all()
            )
            .unwrap(),
            vec![
                remove(ListType::Dn, "new.example"),
                remove(ListType::Dn, "old.example")
            ]
        );
    }

    #[test]
    fn an_indicator_that_stops_being_stix_is_removed() {
        let mut object = indicator("[domain-name:value = 'a.example']", false);
        object.insert("pattern_type".to_owned(), json!("sigma"));
        let reverse_patch = [json!({"op": "replace", "path": "/pattern_type", "value": "stix"})];
        assert_eq!(
            changes(
                &event(
                    EventKind::Update,
                    &object,
                    Some(json!({ "reverse_patch": reverse_patch }))
                ),
                &scope_all()
            )
            .unwrap(),
            vec![remove(ListType::Dn, "a.example")]
        );
    }

    #[test]
    fn a_merge_removes_the_values_of_the_sources() {
        let target = indicator("[ipv4-addr:value = '192.0.2.1']", false);
        let source_a = indicator("[ipv4-addr:value = '192.0.2.1']", false);
        let source_b = indicator("[ipv4-addr:value = '192.0.2.9']", false);
        let context = json!({ "reverse_patch": [], "sources": [source_a, source_b] });
        assert_eq!(
            changes(
                &event(EventKind::Merge, &target, Some(context)),
                &scope_all()
            )
            .unwrap(),
            vec![
                remove(ListType::Ip, "192.0.2.9"),
                add(ListType::Ip, "192.0.2.1")
            ]
        );
    }

    #[test]
    fn a_plan_keeps_the_last_action_per_value() {
        let mut plan = Plan::new();
        plan.record(0, add(ListType::Ip, "192.0.2.1"));
        plan.record(0, add(ListType::Dn, "a.example"));
        plan.record(1, remove(ListType::Ip, "192.0.2.1"));
        plan.record(2, remove(ListType::Dn, "b.example"));
        plan.record(3, add(ListType::Dn, "b.example"));
        plan.record(4, add(ListType::Ip, "192.0.2.2"));
        assert_eq!(
            plan.operations(),
            vec![
                BulkOperation {
                    list: ListType::Ip,
                    action: Action::Remove,
                    values: vec!["192.0.2.1".to_owned()]
                },
                BulkOperation {
                    list: ListType::Ip,
                    action: Action::Add,
                    values: vec!["192.0.2.2".to_owned()]
                },
                BulkOperation {
                    list: ListType::Dn,
                    action: Action::Add,
                    values: vec!["a.example".to_owned(), "b.example".to_owned()]
                },
            ]
        );
        assert_eq!(plan.events_of(ListType::Ip, "192.0.2.1"), &[0, 1]);
        assert_eq!(plan.events_of(ListType::Dn, "b.example"), &[2, 3]);
        assert_eq!(plan.events_of(ListType::Md5, "absent"), &[] as &[usize]);
    }

    #[test]
    fn the_same_value_in_two_lists_is_two_entries() {
        let mut plan = Plan::new();
        plan.record(0, add(ListType::Dn, "x"));
        plan.record(1, remove(ListType::Uri, "x"));
        assert_eq!(plan.operations().len(), 2);
        assert!(!plan.is_empty());
        assert!(Plan::new().is_empty());
    }
}
