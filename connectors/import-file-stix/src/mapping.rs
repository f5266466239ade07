//! What an import in the context of an entity does to the bundle (pure, no
//! I/O): the Python connector's `_update_container`, once the entity's STIX
//! representation is known.

use serde_json::{Value, json};

/// The STIX types the Python connector treats as containers.
pub const CONTAINER_TYPES: [&str; 8] = [
    "report",
    "grouping",
    "observed-data",
    "x-opencti-case-incident",
    "x-opencti-case-rfi",
    "x-opencti-case-rft",
    "x-opencti-task",
    "x-opencti-feedback",
];

/// Why the objects of a file cannot be put in a container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// An object of the file lacks a string `id`.
    #[error("object {index} of the bundle has no string `id` to add to the container")]
    MissingId {
        /// Its position in `objects`, from 0.
        index: usize,
    },
}

/// Whether an object of type `stix_type` is a container.
pub fn is_container(stix_type: &str) -> bool {
    CONTAINER_TYPES.contains(&stix_type)
}

fn type_of(object: &Value) -> &str {
    object.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Adds the file's `objects` to `container`, the STIX representation of
/// the entity the file was imported on, and appends the container to them.
///
/// When the file holds containers, the entity then refers to those and to
/// what they refer to (in order, repeats kept); otherwise to every object
/// of the file. The entity's own references are replaced, not extended, as
/// in the Python connector (the platform adds them to the existing ones).
/// An entity that is not a container leaves the objects unchanged.
pub fn add_to_container(
    objects: &mut Vec<Value>,
    mut container: Value,
) -> Result<(), ContainerError> {
    if !is_container(type_of(&container)) {
        return Ok(());
    }
    let refs: Vec<Value> = if objects.iter().any(|object| is_container(type_of(object))) {
        objects
            .iter()
            .filter(|object| is_container(type_of(object)))
            .flat_map(|object| {
                let own = object.get("id").cloned().into_iter();
                let inner = object
                    .get("object_refs")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                own.chain(inner)
            })
            .collect()
    } else {
        objects
            .iter()
            .enumerate()
            .map(|(index, object)| match object.get("id") {
                Some(id @ Value::String(_)) => Ok(id.clone()),
                _ => Err(ContainerError::MissingId { index }),
            })
            .collect::<Result<_, _>>()?
    };
    if let Some(fields) = container.as_object_mut() {
        fields.insert("object_refs".to_owned(), Value::Array(refs));
    }
    objects.push(container);
    Ok(())
}

/// A new bundle of `objects`, as pycti's `stix2_create_bundle` writes it
/// (a random id, `spec_version` 2.1).
pub fn new_bundle(objects: Vec<Value>) -> Value {
    let mut bundle = json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "spec_version": "2.1",
    });
    bundle["objects"] = Value::Array(objects);
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str, refs: &[&str]) -> Value {
        json!({"type": "report", "id": id, "object_refs": refs})
    }

    #[test]
    fn a_file_without_containers_fills_the_container_with_all_its_objects() {
        let mut objects = vec![
            json!({"type": "malware", "id": "malware--1"}),
            json!({"type": "relationship", "id": "relationship--2"}),
        ];
        add_to_container(&mut objects, report("report--c", &["indicator--old"])).unwrap();
        assert_eq!(
            objects[2],
            report("report--c", &["malware--1", "relationship--2"])
        );
    }

    #[test]
    fn a_file_with_containers_gives_those_and_their_references() {
        let mut objects = vec![
            json!({"type": "malware", "id": "malware--1"}),
            report("report--a", &["malware--1"]),
            json!({"type": "grouping", "id": "grouping--b", "object_refs": ["malware--1"]}),
        ];
        add_to_container(
            &mut objects,
            json!({"type": "x-opencti-case-incident", "id": "x-opencti-case-incident--c"}),
        )
        .unwrap();
        assert_eq!(
            objects[3]["object_refs"],
            json!(["report--a", "malware--1", "grouping--b", "malware--1"])
        );
    }

    #[test]
    fn an_entity_that_is_not_a_container_changes_nothing() {
        let mut objects = vec![json!({"type": "malware", "id": "malware--1"})];
        add_to_container(&mut objects, json!({"type": "malware", "id": "malware--2"})).unwrap();
        assert_eq!(objects.len(), 1);
    }

    #[test]
    fn an_object_without_id_is_named() {
        let mut objects = vec![
            json!({"type": "malware", "id": "malware--1"}),
            json!({"type": "note"}),
        ];
        assert_eq!(
            add_to_container(&mut objects, report("report--c", &[])),
            Err(ContainerError::MissingId { index: 1 })
        );
    }
}
