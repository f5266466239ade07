//! The parts of a split bundle, written one at a time.

use std::collections::hash_map::RandomState;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::compact::CompactBundle;
use super::shape::{Embedded, Slot};
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
            match &entry.slot {
                Slot::List(list) => {
                    *value = Value::Array(
                        list.refs
                            .iter()
                            .map(|&target| Value::from(symbols.text(target)))
                            .collect(),
                    );
                }
                Slot::Null => *value = Value::Null,
                Slot::Embedded(Embedded::ExternalReferences, None) => {
                    dedup_embedded(value, external_reference_key);
                }
                Slot::Embedded(Embedded::KillChainPhases, None) => {
                    dedup_embedded(value, kill_chain_phase_key);
                }
                // Kept as written (a walked object has no invalid property).
                Slot::Single(_)
                | Slot::Empty
                | Slot::Scalar
                | Slot::Invalid(_)
                | Slot::Embedded(_, Some(_)) => {}
            }
        }
        map.insert("nb_deps".to_owned(), Value::from(self.nb_deps[index]));
        map
    }
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
