//! STIX bundles: the envelope connectors send objects in.

use serde::ser::SerializeMap as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::StixError;
use crate::object::StixObject;

/// A `bundle` of STIX objects.
///
/// Serialised as `{"type": "bundle", "id": ..., "spec_version": "2.1",
/// <extra>..., "objects": [...]}`. The `spec_version` follows OpenCTI and
/// pycti's splitter; the stix2 library writes 2.1 bundles without it (set
/// it to `None` to match).
///
/// Serialising streams the objects one after the other: nothing is copied,
/// and the memory cost is that of the objects themselves (see
/// [`crate::object`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bundle {
    /// `bundle--<uuid>`; pycti accepts (and the splitter completes) bundles
    /// without one.
    pub id: Option<String>,
    /// `2.1`.
    pub spec_version: Option<String>,
    /// The objects, in order.
    pub objects: Vec<StixObject>,
    /// Other properties (`x_opencti_seq`...), in document order.
    pub extra: Map<String, Value>,
}

impl Bundle {
    /// A bundle of `objects` with a fresh random id (`bundle--<uuid4>`) and
    /// `spec_version` 2.1.
    #[must_use]
    pub fn new(objects: Vec<StixObject>) -> Self {
        Self {
            id: Some(format!("bundle--{}", Uuid::new_v4())),
            spec_version: Some("2.1".to_owned()),
            objects,
            extra: Map::new(),
        }
    }

    /// Appends an object.
    pub fn push(&mut self, object: impl Into<StixObject>) {
        self.objects.push(object.into());
    }

    /// Reads a bundle from JSON text.
    ///
    /// # Errors
    /// [`StixError::Json`] for text that is not JSON,
    /// [`StixError::InvalidBundle`] when the envelope is wrong and
    /// [`StixError::InvalidObject`] (with the object's position, id and the
    /// path of the property at fault) when an object is malformed.
    pub fn from_json(text: &str) -> Result<Self, StixError> {
        let value: Value = serde_json::from_str(text).map_err(|error| StixError::json(&error))?;
        Self::from_value(value)
    }

    /// Reads a bundle from a JSON value, moving its contents.
    ///
    /// # Errors
    /// As [`Bundle::from_json`].
    pub fn from_value(value: Value) -> Result<Self, StixError> {
        let Value::Object(mut map) = value else {
            return Err(invalid("", "a bundle is a JSON object"));
        };
        match map.shift_remove("type") {
            Some(Value::String(object_type)) if object_type == "bundle" => {}
            _ => return Err(invalid("type", "expected \"bundle\"")),
        }
        let id = optional_string(&mut map, "id")?;
        let spec_version = optional_string(&mut map, "spec_version")?;
        let Some(Value::Array(items)) = map.shift_remove("objects") else {
            return Err(invalid("objects", "expected a list of objects"));
        };
        let objects = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| StixObject::from_bundle_item(index, item))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            id,
            spec_version,
            objects,
            extra: map,
        })
    }

    /// The bundle as compact JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serialising models and JSON maps cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Moves the bundle into a JSON value (strings are moved, not copied).
    #[must_use]
    pub fn into_value(self) -> Value {
        let mut out = Map::new();
        out.insert("type".to_owned(), Value::from("bundle"));
        if let Some(id) = self.id {
            out.insert("id".to_owned(), Value::String(id));
        }
        if let Some(spec_version) = self.spec_version {
            out.insert("spec_version".to_owned(), Value::String(spec_version));
        }
        for (key, value) in self.extra {
            out.entry(key).or_insert(value);
        }
        let objects = self
            .objects
            .into_iter()
            .map(StixObject::into_value)
            .collect();
        out.insert("objects".to_owned(), Value::Array(objects));
        Value::Object(out)
    }
}

fn invalid(field: &str, message: &str) -> StixError {
    StixError::InvalidBundle {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// A string property; a `null` one stays in `map` so it is written back.
fn optional_string(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, StixError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(_)) => match map.shift_remove(key) {
            Some(Value::String(text)) => Ok(Some(text)),
            _ => Ok(None),
        },
        Some(_) => Err(invalid(key, "expected a string")),
    }
}

impl Serialize for Bundle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const TYPED: [&str; 4] = ["type", "id", "spec_version", "objects"];
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", "bundle")?;
        if let Some(id) = &self.id {
            map.serialize_entry("id", id)?;
        }
        if let Some(spec_version) = &self.spec_version {
            map.serialize_entry("spec_version", spec_version)?;
        }
        for (key, value) in &self.extra {
            let written = match key.as_str() {
                "id" => self.id.is_some(),
                "spec_version" => self.spec_version.is_some(),
                other => TYPED.contains(&other),
            };
            if !written {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("objects", &self.objects)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Bundle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(value).map_err(serde::de::Error::custom)
    }
}
