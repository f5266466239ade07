//! What the splitter needs to know of one object, read from its JSON text
//! without building the object: its id and internal ids, its type, and the
//! properties pycti's splitter acts on (`*_ref`, `*_refs`,
//! `external_references`, `kill_chain_phases`), in document order. The rest
//! of the object stays text until its message is written.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::OPENCTI_EXTENSION;
use super::symbols::{Sym, Symbols};

/// What an object's `type` tells the splitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Missing,
    Relationship,
    Sighting,
    Other,
}

/// An embedded list pycti de-duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Embedded {
    ExternalReferences,
    KillChainPhases,
}

/// A `*_refs` list as strings, interned; `broken` when a non-string element
/// follows them (the walk fails when it gets there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RefList {
    pub(super) refs: Vec<Sym>,
    pub(super) broken: bool,
}

impl RefList {
    /// Whether pycti walks it (an empty list is left alone).
    pub(super) fn is_walked(&self) -> bool {
        !self.refs.is_empty() || self.broken
    }
}

/// The current value of a property the splitter acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Slot {
    /// `null`.
    Null,
    /// A `*_refs` value to walk (a list, or the characters of a string, or
    /// the keys of an object, which is what pycti iterates).
    List(RefList),
    /// A `*_refs` value pycti neither walks nor rewrites: an empty string
    /// or object (an empty list is a `List`).
    Empty,
    /// A `*_ref` naming something.
    Single(Sym),
    /// A `*_ref` holding a number or a boolean: dropped by cleanup, an
    /// error otherwise.
    Scalar,
    /// A value of the wrong kind: the walk fails on it.
    Invalid(&'static str),
    /// `external_references` or `kill_chain_phases`, with why they cannot
    /// be de-duplicated, if they cannot.
    Embedded(Embedded, Option<&'static str>),
}

/// A property the splitter acts on.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) key: Sym,
    pub(super) slot: Slot,
}

/// What the splitter knows of one object.
#[derive(Debug, Clone)]
pub(super) struct Shape {
    pub(super) kind: Kind,
    pub(super) entries: Vec<Entry>,
}

/// The identity of an object: its id and internal ids.
#[derive(Debug, Default)]
pub(super) struct Names {
    pub(super) id: IdField,
    pub(super) x_opencti_id: Option<String>,
    pub(super) extension_id: Option<String>,
}

impl Names {
    /// pycti's `get_internal_ids_in_extension` (empty strings do not count).
    pub(super) fn internal_ids(&self) -> impl Iterator<Item = &str> {
        self.x_opencti_id
            .as_deref()
            .into_iter()
            .chain(self.extension_id.as_deref())
            .filter(|id| !id.is_empty())
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) enum IdField {
    #[default]
    Missing,
    NotAString,
    Id(String),
}

/// Reads the shape of the object whose JSON is `text`. `Ok(None)` when the
/// text is JSON but not an object; `Err` when it is not JSON.
pub(super) fn read(
    text: &[u8],
    symbols: &mut Symbols,
) -> Result<Option<(Shape, Names)>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let shape = ObjectSeed { symbols }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(shape)
}

struct ObjectSeed<'s> {
    symbols: &'s mut Symbols,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = Option<(Shape, Names)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_> {
    type Value = Option<(Shape, Names)>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a STIX object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut shape = Shape {
            kind: Kind::Missing,
            entries: Vec::new(),
        };
        let mut names = Names::default();
        while let Some(key) = map.next_key::<Key<'de>>()?.map(|key| key.0) {
            let slot = match key.as_ref() {
                "id" => {
                    names.id = map.next_value::<Scalar<'_>>()?.into_id();
                    continue;
                }
                "type" => {
                    shape.kind = match map.next_value::<Scalar<'_>>()? {
                        Scalar::Text(text) if text == "relationship" => Kind::Relationship,
                        Scalar::Text(text) if text == "sighting" => Kind::Sighting,
                        _ => Kind::Other,
                    };
                    continue;
                }
                "x_opencti_id" => {
                    names.x_opencti_id = map.next_value::<Scalar<'_>>()?.into_text();
                    continue;
                }
                "extensions" => {
                    names.extension_id = map.next_value::<ExtensionId>()?.0;
                    continue;
                }
                key if key.ends_with("_refs") => map.next_value_seed(RefsSeed {
                    symbols: self.symbols,
                })?,
                key if key.ends_with("_ref") => match map.next_value::<Scalar<'_>>()? {
                    Scalar::Null => Slot::Null,
                    Scalar::Text(target) => Slot::Single(self.symbols.intern(&target)),
                    Scalar::Number => Slot::Scalar,
                    Scalar::List | Scalar::Object => Slot::Invalid("is not a string reference"),
                },
                "external_references" => {
                    embedded_slot(Embedded::ExternalReferences, map.next_value()?)
                }
                "kill_chain_phases" => embedded_slot(Embedded::KillChainPhases, map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let key = self.symbols.intern(&key);
            // A repeated key keeps its first place and its last value, as in
            // a parsed object.
            match shape.entries.iter_mut().find(|entry| entry.key == key) {
                Some(entry) => entry.slot = slot,
                None => shape.entries.push(Entry { key, slot }),
            }
        }
        // Held for the whole send: without the room a growing list keeps.
        shape.entries.shrink_to_fit();
        Ok(Some((shape, names)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    visit_numbers!(self => Ok(None));

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A value read for its kind, keeping only text (borrowed from the input
/// when it has no escapes).
enum Scalar<'de> {
    Null,
    Text(Cow<'de, str>),
    /// A number or a boolean.
    Number,
    List,
    Object,
}

impl Scalar<'_> {
    fn into_id(self) -> IdField {
        match self {
            Self::Text(text) => IdField::Id(text.into_owned()),
            Self::Null | Self::Number | Self::List | Self::Object => IdField::NotAString,
        }
    }

    fn into_text(self) -> Option<String> {
        match self {
            Self::Text(text) => Some(text.into_owned()),
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(text)))
    }

    visit_numbers!(self => Ok(Scalar::Number));

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::List)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

/// A `*_refs` value as the walk sees it.
struct RefsSeed<'s> {
    symbols: &'s mut Symbols,
}

impl<'de> DeserializeSeed<'de> for RefsSeed<'_> {
    type Value = Slot;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Slot, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RefsSeed<'_> {
    type Value = Slot;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a list of references")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Slot, E> {
        Ok(Slot::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slot, A::Error> {
        let mut list = RefList::default();
        while let Some(element) = seq.next_element::<Scalar<'_>>()? {
            match element {
                Scalar::Text(target) if !list.broken => {
                    list.refs.push(self.symbols.intern(&target));
                }
                _ => list.broken = true,
            }
        }
        list.refs.shrink_to_fit();
        Ok(Slot::List(list))
    }

    // pycti iterates a string's characters and an object's keys.
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Slot, E> {
        if text.is_empty() {
            return Ok(Slot::Empty);
        }
        let mut buffer = [0; 4];
        let refs = text
            .chars()
            .map(|character| self.symbols.intern(character.encode_utf8(&mut buffer)))
            .collect();
        Ok(Slot::List(RefList {
            refs,
            broken: false,
        }))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Slot, A::Error> {
        let mut refs = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()?.map(|key| key.0) {
            map.next_value::<IgnoredAny>()?;
            let key = self.symbols.intern(&key);
            // A repeated key counts once, as in a parsed object.
            if !refs.contains(&key) {
                refs.push(key);
            }
        }
        if refs.is_empty() {
            return Ok(Slot::Empty);
        }
        Ok(Slot::List(RefList {
            refs,
            broken: false,
        }))
    }

    visit_numbers!(self => Ok(Slot::Invalid("is not a list")));
}

/// What de-duplicating an embedded list would meet, read without keeping it.
#[derive(Clone, Copy)]
enum EmbeddedValue {
    Null,
    /// A list; `false` when an entry is not an object.
    List(bool),
    /// An empty string or object (pycti iterates it to nothing).
    Empty,
    Other,
}

fn embedded_slot(kind: Embedded, value: EmbeddedValue) -> Slot {
    match value {
        EmbeddedValue::Null => Slot::Null,
        EmbeddedValue::List(true) | EmbeddedValue::Empty => Slot::Embedded(kind, None),
        EmbeddedValue::List(false) => {
            Slot::Embedded(kind, Some("holds an entry that is not an object"))
        }
        EmbeddedValue::Other => Slot::Embedded(kind, Some("is not a list of objects")),
    }
}

impl<'de> serde::Deserialize<'de> for EmbeddedValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EmbeddedVisitor)
    }
}

struct EmbeddedVisitor;

impl<'de> Visitor<'de> for EmbeddedVisitor {
    type Value = EmbeddedValue;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a list of objects")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<EmbeddedValue, E> {
        Ok(EmbeddedValue::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EmbeddedValue, A::Error> {
        let mut all_objects = true;
        while let Some(entry) = seq.next_element::<Scalar<'_>>()? {
            all_objects &= matches!(entry, Scalar::Object);
        }
        Ok(EmbeddedValue::List(all_objects))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<EmbeddedValue, E> {
        Ok(if text.is_empty() {
            EmbeddedValue::Empty
        } else {
            EmbeddedValue::Other
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EmbeddedValue, A::Error> {
        let mut empty = true;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
            empty = false;
        }
        Ok(if empty {
            EmbeddedValue::Empty
        } else {
            EmbeddedValue::Other
        })
    }

    visit_numbers!(self => Ok(EmbeddedValue::Other));
}

/// The OpenCTI extension's `id` inside `extensions`, when it is a string.
struct ExtensionId(Option<String>);

impl<'de> serde::Deserialize<'de> for ExtensionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ExtensionsVisitor { depth: 0 })
    }
}

/// Depth 0: `extensions`; depth 1: the OpenCTI extension.
struct ExtensionsVisitor {
    depth: u8,
}

impl<'de> DeserializeSeed<'de> for ExtensionsVisitor {
    type Value = ExtensionId;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ExtensionId, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ExtensionsVisitor {
    type Value = ExtensionId;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("STIX extensions")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtensionId, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Key<'de>>()?.map(|key| key.0) {
            match (self.depth, key.as_ref()) {
                (0, OPENCTI_EXTENSION) => {
                    found = map.next_value_seed(Self { depth: 1 })?.0;
                }
                (1, "id") => found = map.next_value::<Scalar<'_>>()?.into_text(),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ExtensionId(found))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ExtensionId, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ExtensionId(None))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<ExtensionId, E> {
        Ok(ExtensionId(None))
    }

    visit_numbers!(self => Ok(ExtensionId(None)));

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<ExtensionId, E> {
        Ok(ExtensionId(None))
    }
}

/// A key, borrowed from the text unless it has escapes.
pub(super) struct Key<'de>(pub(super) Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shape_holds_its_entries_and_references_and_no_more() {
        let mut symbols = Symbols::default();
        let text = br#"{"type": "indicator", "id": "indicator--1", "created_by_ref": "identity--1",
            "object_marking_refs": ["marking-definition--1"], "name": "x"}"#;
        let (shape, _) = read(text, &mut symbols).unwrap().unwrap();
        assert_eq!(shape.entries.len(), 2);
        assert_eq!(shape.entries.capacity(), 2, "held for the whole send");
        let Slot::List(list) = &shape.entries[1].slot else {
            panic!("a list of references");
        };
        assert_eq!((list.refs.len(), list.refs.capacity()), (1, 1));
    }
}
