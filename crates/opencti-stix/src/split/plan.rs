//! The parts of a split bundle, written one at a time.

use std::borrow::Cow;
use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{Error as _, Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::compact::CompactBundle;
use super::shape::{Embedded, Key, RefList, Slot};
use super::walk::{SeenSet, Walked};
use super::{Split, SplitError, SplitOptions};
use crate::canonical::canonical_json;

/// A split bundle whose parts are written on demand: the compact bundle,
/// the order of its parts, and the references each object keeps. Memory
/// stays that of the compact bundle; a part costs its own size while it is
/// in use.
///
/// Part `i` is what pycti's splitter puts at position `i`:
/// `{"type": "bundle", "id", "spec_version": "2.1", "x_opencti_seq":
/// nb_deps, "objects": [object]}` (+ `x_opencti_event_version`).
#[derive(Debug)]
pub struct SplitPlan {
    bundle: CompactBundle,
    bundle_id: String,
    nb_deps: Vec<u64>,
    /// Objects in publishing order.
    order: Vec<u32>,
    incompatible: Vec<u32>,
    /// The wrapper every part shares.
    template: Map<String, Value>,
}

impl CompactBundle {
    /// Splits the bundle as pycti does: decides the order of the parts and
    /// the references each object keeps, without writing any part.
    ///
    /// # Errors
    ///
    /// [`SplitError::InvalidObject`] when an object is malformed in a way
    /// pycti would crash on.
    pub fn split(mut self, options: &SplitOptions) -> Result<SplitPlan, SplitError> {
        let Walked {
            nb_deps,
            mut elements,
            incompatible,
        } = super::walk::walk(&mut self, options.cleanup_inconsistent_bundle)?;
        self.symbols.freeze();
        elements.sort_by_key(|&object| nb_deps[object as usize]);
        let bundle_id = match self.id() {
            Some(id) => id.to_owned(),
            None => format!("bundle--{}", Uuid::new_v4()),
        };
        // Cloning a finished map copies its hash table: cheaper than hashing
        // the keys of every part again.
        let mut template = Map::with_capacity(6);
        template.insert("type".to_owned(), Value::from("bundle"));
        template.insert("id".to_owned(), Value::from(bundle_id.as_str()));
        template.insert("spec_version".to_owned(), Value::from("2.1"));
        template.insert("x_opencti_seq".to_owned(), Value::Null);
        template.insert("objects".to_owned(), Value::Null);
        if let Some(version) = &options.event_version {
            template.insert(
                "x_opencti_event_version".to_owned(),
                Value::from(version.as_str()),
            );
        }
        Ok(SplitPlan {
            bundle: self,
            bundle_id,
            nb_deps,
            order: elements,
            incompatible,
            template,
        })
    }
}

impl SplitPlan {
    /// The input bundle's id, or a fresh `bundle--<uuid4>` when it had none.
    #[must_use]
    pub fn bundle_id(&self) -> &str {
        &self.bundle_id
    }

    /// How many parts (messages) the platform must expect.
    #[must_use]
    pub fn expectations(&self) -> usize {
        self.order.len()
    }

    /// How many objects are withheld because OpenCTI cannot import them.
    #[must_use]
    pub fn incompatible(&self) -> usize {
        self.incompatible.len()
    }

    /// Part `index` (`0..expectations()`).
    ///
    /// # Panics
    ///
    /// When `index` is out of range.
    #[must_use]
    pub fn part(&self, index: usize) -> Value {
        let object = self.order[index];
        let mut part = self.template.clone();
        let mut values = part.values_mut().skip(3);
        *values.next().expect("the template has x_opencti_seq") =
            Value::from(self.nb_deps[object as usize]);
        *values.next().expect("the template has objects") =
            Value::Array(vec![Value::Object(self.object(object))]);
        Value::Object(part)
    }

    /// Part `index`, serialised from its object's text when it is
    /// serialised: the same output as [`SplitPlan::part`]'s, without the
    /// JSON value.
    ///
    /// # Panics
    ///
    /// When `index` is out of range.
    #[must_use]
    pub fn part_view(&self, index: usize) -> PartView<'_> {
        PartView {
            plan: self,
            object: self.order[index],
        }
    }

    /// Every part, in order, each written when asked for.
    pub fn parts(&self) -> impl ExactSizeIterator<Item = Value> + '_ {
        (0..self.expectations()).map(|index| self.part(index))
    }

    /// The withheld objects, as pycti returns them.
    pub fn incompatible_items(&self) -> impl ExactSizeIterator<Item = Value> + '_ {
        self.incompatible
            .iter()
            .map(|&object| Value::Object(self.object(object)))
    }

    /// Every part and withheld object at once, as [`super::split_bundle`] gives them.
    #[must_use]
    pub fn into_split(self) -> Split {
        Split {
            bundles: self.parts().collect(),
            incompatible_items: self.incompatible_items().collect(),
            bundle_id: self.bundle_id,
        }
    }

    /// An object as it leaves the splitter: its text with the references it
    /// keeps, its embedded lists de-duplicated and its `nb_deps`.
    fn object(&self, object: u32) -> Map<String, Value> {
        let index = object as usize;
        let mut map = self.bundle.object(index);
        let symbols = &self.bundle.symbols;
        for entry in &self.bundle.shapes[index].entries {
            let Some(value) = map.get_mut(symbols.text(entry.key)) else {
                continue;
            };
            match Rewrite::of(&entry.slot) {
                Some(Rewrite::Refs(list)) => {
                    *value = Value::Array(
                        list.refs
                            .iter()
                            .map(|&target| Value::from(symbols.text(target)))
                            .collect(),
                    );
                }
                Some(Rewrite::Null) => *value = Value::Null,
                Some(Rewrite::Dedup(embedded)) => dedup(embedded, value),
                None => {}
            }
        }
        map.insert("nb_deps".to_owned(), Value::from(self.nb_deps[index]));
        map
    }
}

/// What a part writes instead of a property as given, as the walk decided;
/// the value and text writers of a part share these rules.
enum Rewrite<'p> {
    /// The references kept, in order.
    Refs(&'p RefList),
    /// A reference removed.
    Null,
    /// The list de-duplicated by pycti's id of each entry.
    Dedup(Embedded),
}

impl<'p> Rewrite<'p> {
    /// `None`: kept as written (a walked object has no invalid property).
    fn of(slot: &'p Slot) -> Option<Self> {
        match slot {
            Slot::List(list) => Some(Self::Refs(list)),
            Slot::Null => Some(Self::Null),
            Slot::Embedded(embedded, None) => Some(Self::Dedup(*embedded)),
            Slot::Single(_)
            | Slot::Empty
            | Slot::Scalar
            | Slot::Invalid(_)
            | Slot::Embedded(_, Some(_)) => None,
        }
    }
}

/// De-duplicates an `external_references` or `kill_chain_phases` list.
fn dedup(embedded: Embedded, value: &mut Value) {
    match embedded {
        Embedded::ExternalReferences => dedup_embedded(value, external_reference_key),
        Embedded::KillChainPhases => dedup_embedded(value, kill_chain_phase_key),
    }
}

/// Part `index` of a [`SplitPlan`], serialised straight from its object's
/// text: what [`SplitPlan::part`] gives, serialised the same, without
/// building it as a JSON value first (which costs several times the text,
/// and an allocation per key and string).
#[derive(Debug, Clone, Copy)]
pub struct PartView<'p> {
    plan: &'p SplitPlan,
    object: u32,
}

impl Serialize for PartView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let template = &self.plan.template;
        let mut map = serializer.serialize_map(Some(template.len()))?;
        for (position, (key, value)) in template.iter().enumerate() {
            match position {
                3 => map.serialize_entry(key, &self.plan.nb_deps[self.object as usize])?,
                4 => map.serialize_entry(key, &[ObjectView(*self)])?,
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

/// The object of a [`PartView`], as [`SplitPlan::object`] gives it.
struct ObjectView<'p>(PartView<'p>);

impl Serialize for ObjectView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let PartView { plan, object } = self.0;
        let index = object as usize;
        let text = plan.bundle.object_text(index);
        let properties = members(text).map_err(S::Error::custom)?;
        if has_repeated_keys(&properties) {
            // A parsed object keeps one of them: let the parser decide which.
            return plan.object(object).serialize(serializer);
        }
        let nb_deps = plan.nb_deps[index];
        let has_nb_deps = properties.iter().any(|(key, _)| key == "nb_deps");
        let symbols = &plan.bundle.symbols;
        let entries = &plan.bundle.shapes[index].entries;
        let mut map =
            serializer.serialize_map(Some(properties.len() + usize::from(!has_nb_deps)))?;
        for (key, value) in &properties {
            if key == "nb_deps" {
                map.serialize_entry(key, &nb_deps)?;
                continue;
            }
            let slot = entries
                .iter()
                .find(|entry| symbols.text(entry.key) == key)
                .and_then(|entry| Rewrite::of(&entry.slot));
            match slot {
                Some(Rewrite::Refs(list)) => {
                    let refs = list.refs.iter().map(|&target| symbols.text(target));
                    map.serialize_entry(key, &Refs(refs))?;
                }
                Some(Rewrite::Null) => map.serialize_entry(key, &())?,
                Some(Rewrite::Dedup(embedded)) => {
                    let mut list: Value =
                        serde_json::from_str(value.get()).map_err(S::Error::custom)?;
                    dedup(embedded, &mut list);
                    map.serialize_entry(key, &list)?;
                }
                None => map.serialize_entry(key, &Transcoded(value))?,
            }
        }
        if !has_nb_deps {
            map.serialize_entry("nb_deps", &nb_deps)?;
        }
        map.end()
    }
}

/// Reference ids, serialised as a list.
struct Refs<I>(I);

impl<'a, I: Iterator<Item = &'a str> + Clone> Serialize for Refs<I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.clone())
    }
}

/// A JSON value's text, serialised as its parsed value would be.
struct Transcoded<'t>(&'t RawValue);

impl Serialize for Transcoded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.0.get();
        match text.as_bytes().first() {
            Some(b'{') => {
                let properties = members(text).map_err(S::Error::custom)?;
                if has_repeated_keys(&properties) {
                    let value: Value = serde_json::from_str(text).map_err(S::Error::custom)?;
                    return value.serialize(serializer);
                }
                let mut map = serializer.serialize_map(Some(properties.len()))?;
                for (key, value) in &properties {
                    map.serialize_entry(key, &Transcoded(value))?;
                }
                map.end()
            }
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(text).map_err(S::Error::custom)?;
                serializer.collect_seq(items.into_iter().map(Transcoded))
            }
            Some(b'"') => match serde_json::from_str::<&str>(text) {
                Ok(unescaped) => serializer.serialize_str(unescaped),
                // Escapes: unescaped into a copy.
                Err(_) => {
                    let unescaped: String = serde_json::from_str(text).map_err(S::Error::custom)?;
                    serializer.serialize_str(&unescaped)
                }
            },
            // Numbers, booleans and null: small, and parsed exactly as a
            // parsed object's would be.
            _ => serde_json::from_str::<Value>(text)
                .map_err(S::Error::custom)?
                .serialize(serializer),
        }
    }
}

/// An object's members, in order, values as text (keys without escapes
/// are borrowed).
fn members(text: &str) -> Result<Vec<(Cow<'_, str>, &RawValue)>, serde_json::Error> {
    struct Members;

    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut members = Vec::with_capacity(access.size_hint().unwrap_or(16));
            while let Some((key, value)) = access.next_entry::<Key<'de>, &'de RawValue>()? {
                members.push((key.0, value));
            }
            Ok(members)
        }
    }

    serde_json::Deserializer::from_str(text.trim_start()).deserialize_map(Members)
}

/// Whether a key appears twice (parsing keeps only one of them).
fn has_repeated_keys(members: &[(Cow<'_, str>, &RawValue)]) -> bool {
    if members.len() <= 32 {
        return members
            .iter()
            .enumerate()
            .any(|(at, (key, _))| members[..at].iter().any(|(earlier, _)| earlier == key));
    }
    let mut seen = HashSet::with_capacity(members.len());
    !members.iter().all(|(key, _)| seen.insert(key))
}

/// De-duplicates an embedded list by a key, dropping entries without one
/// (the walk checked that it is a list of objects, or empty).
fn dedup_embedded(
    value: &mut Value,
    key_of: impl for<'a> Fn(&'a Map<String, Value>) -> Option<EmbeddedKey<'a>>,
) {
    let entries = match std::mem::take(value) {
        Value::Array(entries) => entries,
        // An empty string or object iterates to nothing in pycti.
        _ => Vec::new(),
    };
    let keep: Vec<bool> = {
        let mut seen: SeenSet<EmbeddedKey<'_>, RandomState> = SeenSet::default();
        entries
            .iter()
            .map(|entry| {
                entry
                    .as_object()
                    .and_then(&key_of)
                    .is_some_and(|key| seen.insert(key))
            })
            .collect()
    };
    let kept = entries
        .into_iter()
        .zip(keep)
        .filter_map(|(entry, keep)| keep.then_some(entry))
        .collect();
    *value = Value::Array(kept);
}

/// What pycti hashes into an embedded entry's id, up to equality: two
/// entries get the same id exactly when their keys are equal.
type EmbeddedKey<'a> = (IdData, IdPart<'a>, Option<IdPart<'a>>);

/// Which properties an embedded entry's id is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IdData {
    Url,
    SourceAndExternalId,
    KillChainAndPhase,
}

/// One hashed property: strings compare as they are (their canonical JSON
/// is injective), anything else by its canonical JSON.
#[derive(Debug, PartialEq, Eq, Hash)]
enum IdPart<'a> {
    Text(&'a str),
    Json(String),
}

fn id_part(value: &Value) -> IdPart<'_> {
    match value {
        Value::String(text) => IdPart::Text(text),
        other => IdPart::Json(canonical_json(other)),
    }
}

/// pycti's `external_reference_generate_id` data: the `url`, else the
/// `source_name` and `external_id`, else nothing (the entry is dropped).
fn external_reference_key(reference: &Map<String, Value>) -> Option<EmbeddedKey<'_>> {
    let present = |field| reference.get(field).filter(|value| !value.is_null());
    if let Some(url) = present("url") {
        Some((IdData::Url, id_part(url), None))
    } else if let (Some(source_name), Some(external_id)) =
        (present("source_name"), present("external_id"))
    {
        Some((
            IdData::SourceAndExternalId,
            id_part(source_name),
            Some(id_part(external_id)),
        ))
    } else {
        None
    }
}

/// pycti's `kill_chain_phase_generate_id` data (missing fields are null).
fn kill_chain_phase_key(phase: &Map<String, Value>) -> Option<EmbeddedKey<'_>> {
    let field = |name| id_part(phase.get(name).unwrap_or(&Value::Null));
    Some((
        IdData::KillChainAndPhase,
        field("kill_chain_name"),
        Some(field("phase_name")),
    ))
}
