//! The (de)serialisation machinery shared by every model.
//!
//! Models are read from a JSON object by taking their known properties out
//! of it one by one; what is left (unknown properties, and `null`s given for
//! optional ones) becomes the model's `extra` map, in its original order.
//! This keeps every error tied to the property path that caused it, and
//! avoids serde's buffering of `#[serde(flatten)]`.

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

/// A property that could not be read, with its path inside the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// The id of the object being read, when known.
    pub(crate) id: Option<String>,
    /// `external_references[0].url`-style path; empty for the object itself.
    pub(crate) path: String,
    pub(crate) message: String,
}

impl FieldError {
    pub(crate) fn new(path: &str, message: impl Into<String>) -> Self {
        Self {
            id: None,
            path: path.to_owned(),
            message: message.into(),
        }
    }

    fn missing(key: &str) -> Self {
        Self::new(key, "required property is missing")
    }

    /// Prefixes the path with the property (or index) it was found under.
    fn within(mut self, segment: &str) -> Self {
        self.path = if self.path.is_empty() {
            segment.to_owned()
        } else if self.path.starts_with('[') {
            format!("{segment}{}", self.path)
        } else {
            format!("{segment}.{}", self.path)
        };
        self
    }

    /// Records the id of the enclosing object (the innermost one wins).
    pub(crate) fn with_id(mut self, id: Option<&str>) -> Self {
        if self.id.is_none() {
            self.id = id.map(str::to_owned);
        }
        self
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(id) = &self.id {
            write!(f, "object `{id}`: ")?;
        }
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

/// A model's typed part: read from, and written back to, a JSON object.
pub(crate) trait Model: Sized {
    /// Reads the model from `map` (the whole object).
    fn from_map(map: Map<String, Value>) -> Result<Self, FieldError>;
    /// Moves the model into a JSON object, without copying strings.
    fn into_map(self) -> Map<String, Value>;
}

/// A value a model property can hold.
pub(crate) trait FieldValue: Sized {
    fn from_json(value: Value) -> Result<Self, FieldError>;
    fn into_json(self) -> Value;
}

/// Scalars and plain JSON: read with serde, errors located by
/// serde_path_to_error.
macro_rules! serde_field_values {
    ($($ty:ty),*) => {$(
        impl FieldValue for $ty {
            fn from_json(value: Value) -> Result<Self, FieldError> {
                serde_path_to_error::deserialize(value).map_err(|error| {
                    let path = error.path().to_string();
                    let path = if path == "." { String::new() } else { path };
                    FieldError::new(&path, error.into_inner().to_string())
                })
            }

            fn into_json(self) -> Value {
                serde_json::to_value(self).unwrap_or(Value::Null)
            }
        }
    )*};
}

serde_field_values!(bool, i64, f64, super::Hashes);

impl FieldValue for String {
    fn from_json(value: Value) -> Result<Self, FieldError> {
        match value {
            Value::String(text) => Ok(text),
            other => Err(FieldError::new(
                "",
                format!("expected a string, found {}", kind(&other)),
            )),
        }
    }

    fn into_json(self) -> Value {
        Value::String(self)
    }
}

impl FieldValue for Value {
    fn from_json(value: Value) -> Result<Self, FieldError> {
        Ok(value)
    }

    fn into_json(self) -> Value {
        self
    }
}

impl<T: FieldValue> FieldValue for Vec<T> {
    fn from_json(value: Value) -> Result<Self, FieldError> {
        let Value::Array(items) = value else {
            return Err(FieldError::new(
                "",
                format!("expected a list, found {}", kind(&value)),
            ));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(index, item)| T::from_json(item).map_err(|e| e.within(&format!("[{index}]"))))
            .collect()
    }

    fn into_json(self) -> Value {
        Value::Array(self.into_iter().map(FieldValue::into_json).collect())
    }
}

/// How a JSON value is named in error messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Nested models (external references, kill chain phases...) are values too.
macro_rules! model_field_values {
    ($($ty:ty),*) => {$(
        impl $crate::object::fields::FieldValue for $ty {
            fn from_json(
                value: serde_json::Value,
            ) -> Result<Self, $crate::object::fields::FieldError> {
                match value {
                    serde_json::Value::Object(map) => <$ty as $crate::object::fields::Model>::from_map(map),
                    other => Err($crate::object::fields::FieldError::new(
                        "",
                        format!("expected an object, found {}", $crate::object::fields::kind(&other)),
                    )),
                }
            }

            fn into_json(self) -> serde_json::Value {
                serde_json::Value::Object(<$ty as $crate::object::fields::Model>::into_map(self))
            }
        }
    )*};
}

pub(crate) use model_field_values;

/// Takes a model's properties out of its JSON object.
pub(crate) struct Reader {
    map: Map<String, Value>,
}

impl Reader {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Self { map }
    }

    /// Checks (and consumes) the `type` property.
    pub(crate) fn expect_type(&mut self, expected: &str) -> Result<(), FieldError> {
        match self.map.shift_remove("type") {
            Some(Value::String(found)) if found == expected => Ok(()),
            Some(found) => Err(FieldError::new(
                "type",
                format!("expected \"{expected}\", found {found}"),
            )),
            None => Err(FieldError::missing("type")),
        }
    }

    pub(crate) fn required<T: FieldValue>(&mut self, key: &str) -> Result<T, FieldError> {
        let value = self
            .map
            .shift_remove(key)
            .ok_or_else(|| FieldError::missing(key))?;
        T::from_json(value).map_err(|error| error.within(key))
    }

    /// An absent property is `None`; a `null` one too, and it stays in the
    /// leftovers so that it is written back.
    pub(crate) fn optional<T: FieldValue>(&mut self, key: &str) -> Result<Option<T>, FieldError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.required(key).map(Some),
        }
    }

    /// The properties no typed field took.
    pub(crate) fn finish(self) -> Map<String, Value> {
        self.map
    }
}

/// Writes `extra` after the typed properties, except the keys a typed
/// property already wrote.
pub(crate) fn write_extra<M: SerializeMap>(
    map: &mut M,
    extra: &Map<String, Value>,
    is_written: impl Fn(&str) -> bool,
) -> Result<(), M::Error> {
    for (key, value) in extra {
        if !is_written(key) {
            map.serialize_entry(key, value)?;
        }
    }
    Ok(())
}

/// Adds `extra` to a map built from the typed properties (typed ones win).
pub(crate) fn merge_extra(out: &mut Map<String, Value>, extra: Map<String, Value>) {
    for (key, value) in extra {
        out.entry(key).or_insert(value);
    }
}

/// Serialises `value` as a map entry.
pub(crate) fn write_entry<M: SerializeMap, T: Serialize + ?Sized>(
    map: &mut M,
    key: &str,
    value: &T,
) -> Result<(), M::Error> {
    map.serialize_entry(key, value)
}

/// Declares a group of typed properties: a struct plus the code reading and
/// writing them. Property kinds: `req` (must be present) and `opt`.
macro_rules! properties {
    (
        @type req $ty:ty
    ) => { $ty };
    (
        @type opt $ty:ty
    ) => { Option<$ty> };
    (
        @read $reader:ident req $key:expr, $ty:ty
    ) => { $reader.required::<$ty>($key) };
    (
        @read $reader:ident opt $key:expr, $ty:ty
    ) => { $reader.optional::<$ty>($key) };
    (
        @write $map:ident req $key:expr, $value:expr
    ) => { $crate::object::fields::write_entry($map, $key, $value)?; };
    (
        @write $map:ident opt $key:expr, $value:expr
    ) => {
        if let Some(value) = $value {
            $crate::object::fields::write_entry($map, $key, value)?;
        }
    };
    (
        @insert $out:ident req $key:expr, $value:expr
    ) => {
        $out.insert($key.to_owned(), $crate::object::fields::FieldValue::into_json($value));
    };
    (
        @insert $out:ident opt $key:expr, $value:expr
    ) => {
        if let Some(value) = $value {
            $out.insert($key.to_owned(), $crate::object::fields::FieldValue::into_json(value));
        }
    };
    (
        @is_set req $value:expr
    ) => { { let _required_is_always_set = $value; true } };
    (
        @is_set opt $value:expr
    ) => { $value.is_some() };
    (
        @key $field:ident
    ) => { stringify!($field) };
    (
        @key $field:ident $key:literal
    ) => { $key };
}

pub(crate) use properties;

/// Declares a model: a struct with typed properties and the `extra` map.
/// Top-level objects name their fixed `type` and their group of common
/// properties: `pub struct Url("url", ObservableProperties) { ... }`.
macro_rules! model {
    (
        $(#[$meta:meta])*
        pub struct $name:ident $(($stix_type:literal, $common:ty))? {
            $(
                $(#[$field_meta:meta])*
                $kind:ident $field:ident $(as $key:literal)? : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $(
                /// Common properties.
                pub common: $common,
            )?
            $(
                $(#[$field_meta])*
                pub $field: $crate::object::fields::properties!(@type $kind $ty),
            )*
            /// Every other property (`x_opencti_*`, `extensions`, custom
            /// ones, and `null`s given for typed properties), in document
            /// order. Written back after the typed properties; a key a typed
            /// property sets is skipped.
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl $name {
            /// Whether a typed property writes `key` (so `extra` must not).
            fn writes_key(&self, key: &str) -> bool {
                // (`$stix_type` only marks the models that write a `type`.)
                $( if key == "type" { let _ = $stix_type; return true; } )?
                $( if <$common>::writes_key(&self.common, key) { return true; } )?
                $(
                    if key == $crate::object::fields::properties!(@key $field $($key)?) {
                        return $crate::object::fields::properties!(@is_set $kind &self.$field);
                    }
                )*
                false
            }
        }

        impl $crate::object::fields::Model for $name {
            fn from_map(
                map: serde_json::Map<String, serde_json::Value>,
            ) -> Result<Self, $crate::object::fields::FieldError> {
                #[allow(unused_mut)]
                let mut reader = $crate::object::fields::Reader::new(map);
                $( reader.expect_type($stix_type)?; )?
                $( let common = <$common>::read(&mut reader)?; )?
                #[allow(unused_variables)]
                let id: Option<&str> = None;
                $( let id = <$common>::object_id(&common); )?
                $(
                    let $field = $crate::object::fields::properties!(
                        @read reader $kind $crate::object::fields::properties!(@key $field $($key)?), $ty
                    ).map_err(|error| error.with_id(id))?;
                )*
                Ok(Self {
                    $( common: { let common: $common = common; common }, )?
                    $( $field, )*
                    extra: reader.finish(),
                })
            }

            fn into_map(self) -> serde_json::Map<String, serde_json::Value> {
                let mut out = serde_json::Map::new();
                $( out.insert("type".to_owned(), serde_json::Value::from($stix_type)); )?
                $( <$common>::insert_into(self.common, &mut out); )?
                $(
                    $crate::object::fields::properties!(
                        @insert out $kind $crate::object::fields::properties!(@key $field $($key)?), self.$field
                    );
                )*
                $crate::object::fields::merge_extra(&mut out, self.extra);
                out
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap as _;
                let mut map = serializer.serialize_map(None)?;
                let map_ref = &mut map;
                $( $crate::object::fields::write_entry(map_ref, "type", $stix_type)?; )?
                $( <$common>::write(&self.common, map_ref)?; )?
                $(
                    $crate::object::fields::properties!(
                        @write map_ref $kind $crate::object::fields::properties!(@key $field $($key)?), &self.$field
                    );
                )*
                $crate::object::fields::write_extra(map_ref, &self.extra, |key| self.writes_key(key))?;
                map.end()
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
                <Self as $crate::object::fields::Model>::from_map(map)
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use model;

/// Declares a group of properties shared by several models (no `type`, no
/// `extra`: the enclosing model holds those).
macro_rules! property_group {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $kind:ident $field:ident $(as $key:literal)? : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $crate::object::fields::properties!(@type $kind $ty),
            )*
        }

        impl $name {
            fn read(
                reader: &mut $crate::object::fields::Reader,
            ) -> Result<Self, $crate::object::fields::FieldError> {
                let mut group = Self::default();
                $(
                    group.$field = $crate::object::fields::properties!(
                        @read reader $kind $crate::object::fields::properties!(@key $field $($key)?), $ty
                    ).map_err(|error| error.with_id(group.object_id()))?;
                )*
                Ok(group)
            }

            fn write<M: serde::ser::SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
                $(
                    $crate::object::fields::properties!(
                        @write map $kind $crate::object::fields::properties!(@key $field $($key)?), &self.$field
                    );
                )*
                Ok(())
            }

            fn insert_into(self, out: &mut serde_json::Map<String, serde_json::Value>) {
                $(
                    $crate::object::fields::properties!(
                        @insert out $kind $crate::object::fields::properties!(@key $field $($key)?), self.$field
                    );
                )*
            }

            fn writes_key(&self, key: &str) -> bool {
                $(
                    if key == $crate::object::fields::properties!(@key $field $($key)?) {
                        return $crate::object::fields::properties!(@is_set $kind &self.$field);
                    }
                )*
                false
            }
        }
    };
}

pub(crate) use property_group;
