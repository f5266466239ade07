//! Small helpers to build STIX objects the way the stix2 library serialises
//! them: `None` and empty lists are left out, empty strings are kept,
//! `created`/`modified` carry milliseconds.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

/// `2024-01-15T10:00:00.000Z`, stix2's form of `created`/`modified`.
pub(crate) fn millis(moment: &DateTime<Utc>) -> String {
    moment.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `2024-01-15T10:00:00Z`, the form the connector formats itself.
pub(crate) fn seconds(moment: &DateTime<Utc>) -> String {
    moment.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An epoch timestamp as a UTC datetime (`None` when out of range).
pub(crate) fn from_epoch(epoch: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(epoch, 0).single()
}

/// `type`, `spec_version`, `id` of any object.
pub(crate) fn header(object_type: &str, id: &str) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("type".to_owned(), Value::from(object_type));
    object.insert("spec_version".to_owned(), Value::from("2.1"));
    object.insert("id".to_owned(), Value::from(id));
    object
}

/// A domain object with an author, `created`/`modified` and a name.
pub(crate) fn common_sdo(
    object_type: &str,
    id: &str,
    author_id: &str,
    created: &str,
    name: &str,
) -> Map<String, Value> {
    let mut object = header(object_type, id);
    object.insert("created_by_ref".to_owned(), Value::from(author_id));
    object.insert("created".to_owned(), Value::from(created));
    object.insert("modified".to_owned(), Value::from(created));
    object.insert("name".to_owned(), Value::from(name));
    object
}

/// Sets `key` unless `value` is `None`.
pub(crate) fn put_text(object: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(value) = value {
        object.insert(key.to_owned(), Value::String(value));
    }
}

/// Sets `key` to a list of strings unless it is empty.
pub(crate) fn put_list<S: AsRef<str>>(object: &mut Map<String, Value>, key: &str, items: &[S]) {
    if !items.is_empty() {
        object.insert(
            key.to_owned(),
            Value::Array(
                items
                    .iter()
                    .map(|item| Value::from(item.as_ref()))
                    .collect(),
            ),
        );
    }
}

/// Sets `key` to a list of JSON values unless it is empty.
pub(crate) fn put_values(object: &mut Map<String, Value>, key: &str, items: &[Value]) {
    if !items.is_empty() {
        object.insert(key.to_owned(), Value::Array(items.to_vec()));
    }
}

/// An organisation identity (authors and sighting sources).
pub(crate) fn organization(name: &str, created: &str) -> Map<String, Value> {
    let id = opencti_stix::id::identity(name, "organization");
    let mut object = header("identity", &id);
    object.insert("created".to_owned(), Value::from(created));
    object.insert("modified".to_owned(), Value::from(created));
    object.insert("name".to_owned(), Value::from(name));
    object.insert("identity_class".to_owned(), Value::from("organization"));
    object
}

/// An `External analysis` link as an external reference.
pub(crate) fn external_reference(source_name: &str, url: &str, external_id: &str) -> Value {
    let mut reference = Map::new();
    reference.insert("source_name".to_owned(), Value::from(source_name));
    reference.insert("url".to_owned(), Value::from(url));
    reference.insert("external_id".to_owned(), Value::from(external_id));
    Value::Object(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_forms() {
        let moment = from_epoch(1_705_312_800).unwrap();
        assert_eq!(millis(&moment), "2024-01-15T10:00:00.000Z");
        assert_eq!(seconds(&moment), "2024-01-15T10:00:00Z");
        assert!(from_epoch(i64::MAX).is_none());
    }

    #[test]
    fn empty_lists_and_none_are_omitted_but_empty_strings_kept() {
        let mut object = Map::new();
        put_list::<&str>(&mut object, "labels", &[]);
        put_text(&mut object, "description", None);
        put_text(&mut object, "comment", Some(String::new()));
        assert_eq!(Value::Object(object), serde_json::json!({"comment": ""}));
    }
}
