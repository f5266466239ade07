//! pycti's bundle splitter (`OpenCTIStix2Splitter.split_bundle_with_expectations`).
//!
//! Before a connector publishes a bundle, pycti cuts it into one bundle per
//! object, ordered so that an object comes after the objects it references,
//! and tells the platform how many messages to expect. The platform's workers
//! rely on that order and on the `x_opencti_seq` / `nb_deps` numbers, so this
//! is a faithful port, quirks included:
//!
//! * every object gets an `nb_deps` property: 1 + the `nb_deps` of every
//!   reference kept, counted once per path (not a set size);
//! * references to types OpenCTI does not support are removed even without
//!   cleanup; a removed `*_ref` becomes `null` (the key stays), a `*_refs`
//!   list keeps the surviving references, de-duplicated;
//! * with [`SplitOptions::cleanup_inconsistent_bundle`], references to
//!   objects absent from the bundle are removed as well;
//! * a reference back to an object already on the current path, to the
//!   object itself, or to an object that already references this one is
//!   dropped (that is how cycles are broken: the first direction visited wins);
//! * `external_references` are de-duplicated by their pycti id and entries
//!   with neither a `url` nor both `source_name` and `external_id` are
//!   dropped; `kill_chain_phases` are de-duplicated by their pycti id;
//! * a relationship without both ends, a sighting without `sighting_of_ref`
//!   or `where_sighted_refs`, and an object of an unsupported type are
//!   withheld ([`Split::incompatible_items`]);
//! * an object referenced through an internal id (`x_opencti_id` or the
//!   OpenCTI extension's `id`) before its own turn is emitted twice;
//! * duplicated ids: the last copy wins, placed at the first one's turn.
//!
//! ```
//! use opencti_stix::split::{split_bundle, SplitOptions};
//! use serde_json::json;
//!
//! let bundle = json!({
//!     "type": "bundle",
//!     "id": "bundle--7a0b0a5f-6e4c-4ed4-9c6a-2d6b2a4f1e01",
//!     "objects": [
//!         {"type": "malware", "id": "malware--1", "name": "Emotet",
//!          "created_by_ref": "identity--1"},
//!         {"type": "identity", "id": "identity--1", "name": "ACME"},
//!     ],
//! });
//! let split = split_bundle(bundle, &SplitOptions::default())?;
//! assert_eq!(split.expectations(), 2);
//! // The author comes first, then the malware that depends on it.
//! assert_eq!(split.bundles[0]["objects"][0]["id"], "identity--1");
//! assert_eq!(split.bundles[1]["x_opencti_seq"], 2);
//! assert_eq!(split.bundles[1]["objects"][0]["nb_deps"], 2);
//! # Ok::<(), opencti_stix::split::SplitError>(())
//! ```
//!
//! # Cost
//!
//! Linear in the size of the bundle: ids are interned once, membership tests
//! that pycti does on lists use sets, and the depth-first walk uses an
//! explicit stack, so a long reference chain cannot overflow the thread's
//! stack (pycti would hit Python's recursion limit instead). Objects are
//! moved from the input into the output bundles; only an object emitted
//! twice (the internal-id quirk) is cloned.
//!
//! Memory on top of the objects themselves: one copy of each distinct id or
//! reference string with about 50 bytes of bookkeeping, 8 bytes (plus hash-set
//! slack) per kept reference, and the envelope of each output bundle (a
//! five-entry map, a few hundred bytes). Splitting 100,000 objects takes
//! about as long as deep-cloning them (see `benches/split.rs`).
//!
//! # Deviations
//!
//! Where pycti would crash with a Python exception (an object without `id`
//! or `type`, a relationship without a `source_ref`/`target_ref` key, a
//! reference that is not a string, a null `where_sighted_refs` on a
//! sighting), this module returns a [`SplitError`] naming the object and the
//! field instead. Internal ids that are not strings are ignored. `nb_deps`
//! saturates at `u64::MAX` where Python's integers would keep growing.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::canonical::canonical_json;

/// The OpenCTI STIX extension, whose `id` is an object's internal id.
const OPENCTI_EXTENSION: &str = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";

/// Type prefixes the splitter lets through (pycti's `supported_types`),
/// sorted for binary search.
const SUPPORTED_TYPES: &[&str] = &[
    "ai-prompt",
    "artifact",
    "attack-pattern",
    "autonomous-system",
    "bank-account",
    "campaign",
    "capability",
    "case-incident",
    "case-rfi",
    "case-rft",
    "channel",
    "course-of-action",
    "credential",
    "cryptocurrency-wallet",
    "cryptographic-key",
    "data-component",
    "data-source",
    "deleteoperation",
    "directory",
    "domain-name",
    "draftworkspace",
    "email-addr",
    "email-message",
    "email-mime-part-type",
    "event",
    "external-reference",
    "feedback",
    "file",
    "group",
    "grouping",
    "hostname",
    "iccid",
    "identity",
    "imei",
    "imsi",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "ipv4-addr",
    "ipv6-addr",
    "kill-chain-phase",
    "label",
    "language",
    "location",
    "mac-addr",
    "malware",
    "malware-analysis",
    "marking-definition",
    "media-content",
    "mutex",
    "narrative",
    "network-traffic",
    "note",
    "notification",
    "observed-data",
    "opinion",
    "payment-card",
    "persona",
    "phone-number",
    "pir",
    "playbook",
    "process",
    "publicdashboard",
    "relationship",
    "report",
    "role",
    "security-coverage",
    "security-coverage-result",
    "settings",
    "sighting",
    "simple-observable",
    "software",
    "ssh-key",
    "task",
    "text",
    "threat-actor",
    "tool",
    "tracking-number",
    "trash",
    "url",
    "user",
    "user-account",
    "user-agent",
    "vocabulary",
    "vulnerability",
    "windows-registry-key",
    "windows-registry-value-type",
    "work",
    "workspace",
    "x-mitre-data-component",
    "x-mitre-data-source",
    "x-opencti-case-incident",
    "x-opencti-case-rfi",
    "x-opencti-case-rft",
    "x-opencti-feedback",
    "x-opencti-task",
    "x509-certificate",
];

/// Whether pycti lets an id (or any reference string) through: a STIX id
/// (`type--uuid`) must have a supported type, anything else passes.
#[must_use]
pub fn is_id_supported(id: &str) -> bool {
    match id.split_once("--") {
        Some((object_type, _)) => SUPPORTED_TYPES.binary_search(&object_type).is_ok(),
        None => true,
    }
}

/// How to split (pycti's `split_bundle_with_expectations` keyword arguments).
#[derive(Debug, Clone, Default)]
pub struct SplitOptions {
    /// Also drop references to objects that are not in the bundle.
    pub cleanup_inconsistent_bundle: bool,
    /// Written as `x_opencti_event_version` in every produced bundle.
    pub event_version: Option<String>,
}

/// The result of splitting one bundle.
#[derive(Debug)]
pub struct Split {
    /// The input bundle's id, or a fresh `bundle--<uuid4>` when it had none.
    pub bundle_id: String,
    /// One bundle per object, dependencies first:
    /// `{"type": "bundle", "id", "spec_version": "2.1", "x_opencti_seq": nb_deps,
    /// "objects": [object]}` (+ `x_opencti_event_version`).
    pub bundles: Vec<Value>,
    /// Objects withheld because OpenCTI cannot import them (pycti returns
    /// them and the connector helper drops them).
    pub incompatible_items: Vec<Value>,
}

impl Split {
    /// How many messages the platform must expect for this bundle.
    #[must_use]
    pub fn expectations(&self) -> usize {
        self.bundles.len()
    }
}

/// Why a bundle could not be split. The messages start like pycti's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// The text is not JSON.
    #[error("File data is not a valid JSON: {message}")]
    InvalidJson {
        /// The parser's description, with line and column.
        message: String,
    },
    /// The JSON is not a bundle (not an object, no `objects` list, ...).
    #[error("File data is not a valid bundle: {reason}")]
    InvalidBundle {
        /// What is wrong with it.
        reason: String,
    },
    /// One object of the bundle cannot be processed.
    #[error("File data is not a valid bundle: objects[{index}] ({}): `{field}` {problem}", id.as_deref().unwrap_or("no id"))]
    InvalidObject {
        /// Position of the object in `objects`.
        index: usize,
        /// The object's id, when it has a string one.
        id: Option<String>,
        /// The offending property.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Splits a bundle given as JSON text (pycti's `use_json=True`).
///
/// # Errors
///
/// [`SplitError::InvalidJson`] when the text does not parse; see
/// [`split_bundle`] for the rest.
pub fn split_bundle_str(json: &str, options: &SplitOptions) -> Result<Split, SplitError> {
    let bundle: Value = serde_json::from_str(json).map_err(|error| SplitError::InvalidJson {
        message: error.to_string(),
    })?;
    split_bundle(bundle, options)
}

/// Splits a bundle into one bundle per object, dependencies first.
///
/// The bundle is consumed: its objects move into the produced bundles.
///
/// # Errors
///
/// [`SplitError::InvalidBundle`] when the value is not an object with an
/// `objects` list (or has a non-string `id`), [`SplitError::InvalidObject`]
/// when an object is malformed in a way pycti would crash on.
pub fn split_bundle(bundle: Value, options: &SplitOptions) -> Result<Split, SplitError> {
    let Value::Object(mut bundle) = bundle else {
        return Err(invalid_bundle("the bundle is not a JSON object"));
    };
    let objects = match bundle.remove("objects") {
        Some(Value::Array(objects)) => objects,
        Some(_) => return Err(invalid_bundle("`objects` is not a list")),
        None => return Err(invalid_bundle("`objects` is missing")),
    };
    let bundle_id = match bundle.remove("id") {
        Some(Value::String(id)) => id,
        Some(_) => return Err(invalid_bundle("`id` is not a string")),
        None => format!("bundle--{}", Uuid::new_v4()),
    };

    let mut splitter = Splitter::new(objects, options.cleanup_inconsistent_bundle)?;
    for object in 0..splitter.objects.len() {
        let id = splitter.ids[object];
        splitter.enlist(id)?;
    }
    Ok(splitter.into_split(bundle_id, options.event_version.as_deref()))
}

fn invalid_bundle(reason: &str) -> SplitError {
    SplitError::InvalidBundle {
        reason: reason.to_owned(),
    }
}

/// An interned id or reference string.
type Sym = u32;

/// What is known about one interned string.
#[derive(Debug, Clone, Copy, Default)]
struct SymInfo {
    /// pycti's `is_id_supported`.
    supported: bool,
    /// The object this string names in the input (`raw_data`).
    object: Option<u32>,
    /// The object enlisted under this string (`cache_index`).
    cached: Option<u32>,
    /// On the reference path of the object being processed (`parent_acc`).
    on_path: bool,
}

/// Interned strings and what is known about each.
#[derive(Debug)]
struct Symbols {
    map: HashMap<String, Sym>,
    infos: Vec<SymInfo>,
}

impl Symbols {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            map: HashMap::with_capacity(capacity),
            infos: Vec::with_capacity(capacity),
        }
    }

    fn intern(&mut self, text: &str) -> Sym {
        if let Some(&sym) = self.map.get(text) {
            return sym;
        }
        let sym = Sym::try_from(self.infos.len()).expect("fewer than 2^32 distinct ids");
        self.map.insert(text.to_owned(), sym);
        self.infos.push(SymInfo {
            supported: is_id_supported(text),
            ..SymInfo::default()
        });
        sym
    }
}

/// One object being processed (a frame of pycti's recursive `enlist_element`).
#[derive(Debug)]
struct Frame {
    /// The string the object was enlisted under (its id or an internal id).
    item: Sym,
    object: u32,
    nb_deps: u64,
    /// How many keys the object had when processing started: pycti iterates
    /// a snapshot of the keys, and keys are only ever appended (`nb_deps`),
    /// so positions below this count are stable.
    key_count: usize,
    next_key: usize,
    refs: Option<RefsWalk>,
    /// The reference whose enlistment this frame waits for.
    awaiting: Option<Awaiting>,
    /// The next frame out processing the same object (re-entry through a cycle).
    outer_frame_of_object: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
enum Awaiting {
    /// An element of the `*_refs` list being walked.
    ListElement(Sym),
    /// The value of the `*_ref` key at `next_key`.
    Single(Sym),
}

/// What to do with one key of an object.
#[derive(Debug)]
enum KeyAction {
    Skip,
    /// Filter this `*_refs` list (taken out of the object meanwhile).
    WalkRefs(Vec<Value>),
    /// Enlist this `*_ref` target if it is kept, else null it.
    FollowRef(Sym),
    /// Null this `*_ref`.
    DropRef,
    Dedup(Embedded),
    Invalid(&'static str),
}

#[derive(Debug, Clone, Copy)]
enum Embedded {
    ExternalReferences,
    KillChainPhases,
}

/// A `*_refs` list being filtered. The list is out of the object while
/// walked; pycti's object then shows the original list before the first
/// element is done and the kept list after, which [`Splitter::materialize`]
/// recreates if the object is re-entered meanwhile.
#[derive(Debug)]
struct RefsWalk {
    /// Position of the key in the object.
    key_index: usize,
    list: Vec<Value>,
    position: usize,
    kept: Vec<Value>,
    kept_syms: SeenSet<Sym, SymHashing>,
}

#[derive(Debug)]
struct Splitter {
    cleanup: bool,
    objects: Vec<Map<String, Value>>,
    /// Each object's id.
    ids: Vec<Sym>,
    /// The last `nb_deps` computed for each object.
    nb_deps: Vec<u64>,
    /// The innermost frame processing each object, if any.
    active_frame: Vec<Option<usize>>,
    symbols: Symbols,
    /// `(referencing, referenced)` pairs kept so far (pycti's `cache_refs`).
    kept_refs: HashSet<(Sym, Sym), SymHashing>,
    elements: Vec<u32>,
    incompatible: Vec<u32>,
}

impl Splitter {
    fn new(values: Vec<Value>, cleanup: bool) -> Result<Self, SplitError> {
        let mut splitter = Self {
            cleanup,
            objects: Vec::with_capacity(values.len()),
            ids: Vec::with_capacity(values.len()),
            nb_deps: vec![0; values.len()],
            active_frame: vec![None; values.len()],
            symbols: Symbols::with_capacity(values.len() * 2),
            kept_refs: HashSet::default(),
            elements: Vec::with_capacity(values.len()),
            incompatible: Vec::new(),
        };
        for (index, value) in values.into_iter().enumerate() {
            let Value::Object(object) = value else {
                return Err(SplitError::InvalidObject {
                    index,
                    id: None,
                    field: String::new(),
                    problem: "is not a JSON object".to_owned(),
                });
            };
            let id = match object.get("id") {
                Some(Value::String(id)) => splitter.intern(id),
                Some(_) => return Err(object_error(index, None, "id", "is not a string")),
                None => return Err(object_error(index, None, "id", "is missing")),
            };
            let position =
                u32::try_from(index).map_err(|_| invalid_bundle("more than 4 billion objects"))?;
            // Later objects win, for ids and internal ids alike.
            splitter.info_mut(id).object = Some(position);
            for alias in internal_ids(&object) {
                let alias = splitter.intern(alias);
                splitter.info_mut(alias).object = Some(position);
            }
            splitter.objects.push(object);
            splitter.ids.push(id);
        }
        Ok(splitter)
    }

    fn intern(&mut self, text: &str) -> Sym {
        self.symbols.intern(text)
    }

    fn info(&self, sym: Sym) -> &SymInfo {
        &self.symbols.infos[sym as usize]
    }

    fn info_mut(&mut self, sym: Sym) -> &mut SymInfo {
        &mut self.symbols.infos[sym as usize]
    }

    /// pycti's test for keeping reference `target` of the object enlisted as `item`.
    fn keeps(&self, item: Sym, target: Sym) -> bool {
        let info = self.info(target);
        info.supported
            && !(self.cleanup && info.object.is_none())
            && !info.on_path
            && target != item
            && !self.kept_refs.contains(&(target, item))
    }

    /// `enlist_element(item, raw_data, cleanup, [])`, iteratively.
    fn enlist(&mut self, item: Sym) -> Result<(), SplitError> {
        let mut stack = Vec::new();
        if self.begin(item, &mut stack).is_some() {
            return Ok(());
        }
        while let Some(top) = stack.len().checked_sub(1) {
            match self.advance(&mut stack[top])? {
                Some(child) => {
                    self.info_mut(child).on_path = true;
                    if let Some(nb_deps) = self.begin(child, &mut stack) {
                        self.resume(&mut stack[top], nb_deps);
                    }
                }
                None => {
                    let frame = stack.pop().expect("the loop saw a frame");
                    let nb_deps = self.finish(&frame)?;
                    if let Some(parent) = stack.last_mut() {
                        self.resume(parent, nb_deps);
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts enlisting `item`: returns its count right away when it is
    /// absent or already enlisted, otherwise pushes a frame.
    fn begin(&mut self, item: Sym, stack: &mut Vec<Frame>) -> Option<u64> {
        let info = *self.info(item);
        let Some(object) = info.object else {
            return Some(0);
        };
        if let Some(cached) = info.cached {
            return Some(self.nb_deps[cached as usize]);
        }
        let outer = self.active_frame[object as usize];
        if let Some(outer) = outer {
            self.materialize(&stack[outer]);
        }
        self.active_frame[object as usize] = Some(stack.len());
        stack.push(Frame {
            item,
            object,
            nb_deps: 1,
            key_count: self.objects[object as usize].len(),
            next_key: 0,
            refs: None,
            awaiting: None,
            outer_frame_of_object: outer,
        });
        None
    }

    /// Puts back into the object the `*_refs` list its outer frame is
    /// walking, as pycti's re-entered object would show it.
    fn materialize(&mut self, outer: &Frame) {
        if let Some(walk) = &outer.refs {
            let visible = if walk.position == 0 {
                walk.list.clone()
            } else {
                walk.kept.clone()
            };
            self.set_value(outer.object, walk.key_index, Value::Array(visible));
        }
    }

    /// Processes keys until a reference must be enlisted (returned) or the
    /// object is done (`None`).
    fn advance(&mut self, frame: &mut Frame) -> Result<Option<Sym>, SplitError> {
        loop {
            if let Some(walk) = &mut frame.refs {
                while walk.position < walk.list.len() {
                    let Value::String(target) = &walk.list[walk.position] else {
                        return Err(self.key_error(
                            frame.object,
                            walk.key_index,
                            "holds a reference that is not a string",
                        ));
                    };
                    let target = self.intern(target);
                    if self.keeps(frame.item, target) {
                        self.kept_refs.insert((frame.item, target));
                        frame.awaiting = Some(Awaiting::ListElement(target));
                        return Ok(Some(target));
                    }
                    walk.position += 1;
                }
                let walk = frame.refs.take().expect("walk in progress");
                self.set_value(frame.object, walk.key_index, Value::Array(walk.kept));
                frame.next_key += 1;
                continue;
            }
            if frame.next_key >= frame.key_count {
                return Ok(None);
            }
            let key_index = frame.next_key;
            match self.classify(frame.object, key_index) {
                KeyAction::Skip => frame.next_key += 1,
                KeyAction::WalkRefs(list) => {
                    frame.refs = Some(RefsWalk {
                        key_index,
                        list,
                        position: 0,
                        kept: Vec::new(),
                        kept_syms: SeenSet::default(),
                    });
                }
                KeyAction::FollowRef(target) => {
                    if self.keeps(frame.item, target) {
                        self.kept_refs.insert((frame.item, target));
                        frame.awaiting = Some(Awaiting::Single(target));
                        return Ok(Some(target));
                    }
                    self.set_value(frame.object, key_index, Value::Null);
                    frame.next_key += 1;
                }
                KeyAction::DropRef => {
                    self.set_value(frame.object, key_index, Value::Null);
                    frame.next_key += 1;
                }
                KeyAction::Dedup(kind) => {
                    let (_, value) = entry_at(&mut self.objects[frame.object as usize], key_index);
                    let outcome = match kind {
                        Embedded::ExternalReferences => {
                            dedup_embedded(value, external_reference_key)
                        }
                        Embedded::KillChainPhases => dedup_embedded(value, kill_chain_phase_key),
                    };
                    if let Err(problem) = outcome {
                        return Err(self.key_error(frame.object, key_index, problem));
                    }
                    frame.next_key += 1;
                }
                KeyAction::Invalid(problem) => {
                    return Err(self.key_error(frame.object, key_index, problem));
                }
            }
        }
    }

    /// What pycti does with the key at `key_index` of an object, given its
    /// current value.
    fn classify(&mut self, object: u32, key_index: usize) -> KeyAction {
        let Self {
            cleanup,
            objects,
            symbols,
            ..
        } = self;
        let (key, value) = entry_at(&mut objects[object as usize], key_index);
        if key.ends_with("_refs") && !value.is_null() {
            // pycti iterates whatever it is given (a string's characters, an
            // object's keys); an empty value is neither iterated nor reassigned.
            let list: Vec<Value> = match value {
                Value::Array(list) => std::mem::take(list),
                Value::String(text) => text.chars().map(|c| Value::String(c.into())).collect(),
                Value::Object(map) => map.keys().map(|key| Value::String(key.clone())).collect(),
                _ => return KeyAction::Invalid("is not a list"),
            };
            if list.is_empty() {
                if value.is_array() {
                    *value = Value::Array(list);
                }
                return KeyAction::Skip;
            }
            KeyAction::WalkRefs(list)
        } else if key.ends_with("_ref") {
            match value {
                Value::Null => KeyAction::Skip,
                Value::String(target) => KeyAction::FollowRef(symbols.intern(target)),
                // A number names no object: cleanup removes it, pycti fails otherwise.
                Value::Number(_) | Value::Bool(_) if *cleanup => KeyAction::DropRef,
                _ => KeyAction::Invalid("is not a string reference"),
            }
        } else if key == "external_references" && !value.is_null() {
            KeyAction::Dedup(Embedded::ExternalReferences)
        } else if key == "kill_chain_phases" && !value.is_null() {
            KeyAction::Dedup(Embedded::KillChainPhases)
        } else {
            KeyAction::Skip
        }
    }

    /// Adds a child's count to the waiting frame and moves past the reference.
    fn resume(&mut self, frame: &mut Frame, nb_deps: u64) {
        frame.nb_deps = frame.nb_deps.saturating_add(nb_deps);
        match frame
            .awaiting
            .take()
            .expect("a frame resumes only after asking")
        {
            Awaiting::ListElement(target) => {
                self.info_mut(target).on_path = false;
                let walk = frame.refs.as_mut().expect("walking a list");
                if walk.kept_syms.insert(target) {
                    walk.kept
                        .push(std::mem::take(&mut walk.list[walk.position]));
                }
                walk.position += 1;
            }
            Awaiting::Single(target) => {
                self.info_mut(target).on_path = false;
                frame.next_key += 1;
            }
        }
    }

    /// The end of `enlist_element`: records the count and, the first time
    /// this string is enlisted, files the object as compatible or not.
    fn finish(&mut self, frame: &Frame) -> Result<u64, SplitError> {
        let object = frame.object as usize;
        self.nb_deps[object] = frame.nb_deps;
        self.active_frame[object] = frame.outer_frame_of_object;
        if self.info(frame.item).cached.is_none() {
            if self.is_compatible(frame)? {
                self.elements.push(frame.object);
            } else {
                self.incompatible.push(frame.object);
            }
            self.info_mut(frame.item).cached = Some(frame.object);
            let aliases: Vec<String> = internal_ids(&self.objects[object])
                .map(str::to_owned)
                .collect();
            for alias in aliases {
                let alias = self.intern(&alias);
                self.info_mut(alias).cached = Some(frame.object);
            }
        }
        Ok(frame.nb_deps)
    }

    fn is_compatible(&self, frame: &Frame) -> Result<bool, SplitError> {
        let object = &self.objects[frame.object as usize];
        let object_type = object
            .get("type")
            .ok_or_else(|| self.error(frame.object, "type", "is missing"))?;
        match object_type.as_str() {
            Some("relationship") => {
                let end = |field: &str| {
                    object
                        .get(field)
                        .map(|value| !value.is_null())
                        .ok_or_else(|| self.error(frame.object, field, "is missing"))
                };
                Ok(end("source_ref")? && end("target_ref")?)
            }
            Some("sighting") => {
                let sighted = !object
                    .get("sighting_of_ref")
                    .unwrap_or(&Value::Null)
                    .is_null();
                let where_sighted = match object.get("where_sighted_refs") {
                    None => 0,
                    Some(Value::Array(refs)) => refs.len(),
                    Some(Value::String(text)) => text.len(),
                    Some(Value::Object(map)) => map.len(),
                    Some(_) => {
                        return Err(self.error(
                            frame.object,
                            "where_sighted_refs",
                            "has no length",
                        ));
                    }
                };
                Ok(sighted && where_sighted > 0)
            }
            _ => Ok(self.info(frame.item).supported),
        }
    }

    fn set_value(&mut self, object: u32, key_index: usize, value: Value) {
        *entry_at(&mut self.objects[object as usize], key_index).1 = value;
    }

    fn key_error(&self, object: u32, key_index: usize, problem: &str) -> SplitError {
        let key = self.objects[object as usize]
            .keys()
            .nth(key_index)
            .map_or("", String::as_str);
        self.error(object, key, problem)
    }

    fn error(&self, object: u32, field: &str, problem: &str) -> SplitError {
        let id = self.objects[object as usize]
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        object_error(object as usize, id, field, problem)
    }

    fn into_split(self, bundle_id: String, event_version: Option<&str>) -> Split {
        let Self {
            mut objects,
            nb_deps,
            mut elements,
            incompatible,
            ..
        } = self;
        elements.sort_by_key(|&object| nb_deps[object as usize]);

        // An object listed twice is cloned for all but its last use.
        let mut remaining_uses = vec![0_u32; objects.len()];
        for &object in elements.iter().chain(&incompatible) {
            let object = object as usize;
            if remaining_uses[object] == 0 {
                objects[object].insert("nb_deps".to_owned(), Value::from(nb_deps[object]));
            }
            remaining_uses[object] += 1;
        }
        let mut take = |object: u32| {
            let object = object as usize;
            remaining_uses[object] -= 1;
            if remaining_uses[object] == 0 {
                Value::Object(std::mem::take(&mut objects[object]))
            } else {
                Value::Object(objects[object].clone())
            }
        };

        // Cloning a finished map copies its hash table: cheaper than hashing
        // the keys of every bundle again.
        let mut template = Map::with_capacity(6);
        template.insert("type".to_owned(), Value::from("bundle"));
        template.insert("id".to_owned(), Value::from(bundle_id.as_str()));
        template.insert("spec_version".to_owned(), Value::from("2.1"));
        template.insert("x_opencti_seq".to_owned(), Value::Null);
        template.insert("objects".to_owned(), Value::Null);
        if let Some(version) = event_version {
            template.insert("x_opencti_event_version".to_owned(), Value::from(version));
        }
        let bundles = elements
            .iter()
            .map(|&object| {
                let mut bundle = template.clone();
                let mut values = bundle.values_mut().skip(3);
                *values.next().expect("the template has x_opencti_seq") =
                    Value::from(nb_deps[object as usize]);
                *values.next().expect("the template has objects") =
                    Value::Array(vec![take(object)]);
                Value::Object(bundle)
            })
            .collect();
        let incompatible_items = incompatible.iter().map(|&object| take(object)).collect();
        Split {
            bundle_id,
            bundles,
            incompatible_items,
        }
    }
}

fn object_error(index: usize, id: Option<String>, field: &str, problem: &str) -> SplitError {
    SplitError::InvalidObject {
        index,
        id,
        field: field.to_owned(),
        problem: problem.to_owned(),
    }
}

/// The key and value at a position of an object (the object keeps its
/// keys in insertion order; its maps are small, so walking is cheap).
fn entry_at(object: &mut Map<String, Value>, index: usize) -> (&String, &mut Value) {
    object
        .iter_mut()
        .nth(index)
        .expect("keys are never removed")
}

/// An object's internal ids, as pycti's `get_internal_ids_in_extension`
/// finds them (empty strings do not count).
fn internal_ids(object: &Map<String, Value>) -> impl Iterator<Item = &str> {
    let direct = object.get("x_opencti_id").and_then(Value::as_str);
    let extension = object
        .get("extensions")
        .and_then(|extensions| extensions.get(OPENCTI_EXTENSION))
        .and_then(|extension| extension.get("id"))
        .and_then(Value::as_str);
    direct
        .into_iter()
        .chain(extension)
        .filter(|id| !id.is_empty())
}

/// De-duplicates an embedded list by a key, dropping entries without one.
fn dedup_embedded(
    value: &mut Value,
    key_of: impl for<'a> Fn(&'a Map<String, Value>) -> Option<EmbeddedKey<'a>>,
) -> Result<(), &'static str> {
    let entries = match std::mem::take(value) {
        Value::Array(entries) => entries,
        // An empty string or object iterates to nothing in pycti.
        Value::String(text) if text.is_empty() => Vec::new(),
        Value::Object(map) if map.is_empty() => Vec::new(),
        other => {
            *value = other;
            return Err("is not a list of objects");
        }
    };
    let keep: Option<Vec<bool>> = {
        let mut seen: SeenSet<EmbeddedKey<'_>, RandomState> = SeenSet::default();
        entries
            .iter()
            .map(|entry| {
                let map = entry.as_object()?;
                Some(key_of(map).is_some_and(|key| seen.insert(key)))
            })
            .collect()
    };
    let Some(keep) = keep else {
        *value = Value::Array(entries);
        return Err("holds an entry that is not an object");
    };
    let kept = entries
        .into_iter()
        .zip(keep)
        .filter_map(|(entry, keep)| keep.then_some(entry))
        .collect();
    *value = Value::Array(kept);
    Ok(())
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

/// A set that stays a short list while small (most reference lists hold a
/// few entries) and becomes a hash set when it grows.
#[derive(Debug)]
enum SeenSet<T, S> {
    Few(Vec<T>),
    Many(HashSet<T, S>),
}

impl<T, S> Default for SeenSet<T, S> {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

impl<T: Eq + Hash, S: BuildHasher + Default> SeenSet<T, S> {
    const FEW: usize = 16;

    /// Adds `item`; `false` when it was already there.
    fn insert(&mut self, item: T) -> bool {
        match self {
            Self::Few(items) if items.contains(&item) => false,
            Self::Few(items) if items.len() < Self::FEW => {
                items.push(item);
                true
            }
            Self::Few(items) => {
                let mut set: HashSet<T, S> = items.drain(..).collect();
                set.insert(item);
                *self = Self::Many(set);
                true
            }
            Self::Many(set) => set.insert(item),
        }
    }
}

/// Hashing for the splitter's own symbol numbers: they are assigned here,
/// not chosen by the input, so a fast multiplicative hash is safe.
type SymHashing = BuildHasherDefault<SymHasher>;

#[derive(Debug, Default, Clone, Copy)]
struct SymHasher(u64);

impl Hasher for SymHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u32(u32::from(byte));
        }
    }

    fn write_u32(&mut self, number: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(number)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn supported_types_are_sorted_for_binary_search() {
        assert!(SUPPORTED_TYPES.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn ids_without_a_type_prefix_are_supported() {
        assert!(is_id_supported("5f4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c"));
        assert!(is_id_supported("malware--x"));
        assert!(!is_id_supported("x-acme-widget--x"));
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let length = 200_000;
        let objects: Vec<Value> = (0..length)
            .map(|index| {
                let mut object = json!({"type": "note", "id": format!("note--{index}")});
                if index + 1 < length {
                    object["object_refs"] = json!([format!("note--{}", index + 1)]);
                }
                object
            })
            .collect();
        let split = split_bundle(
            json!({"id": "bundle--chain", "objects": objects}),
            &SplitOptions::default(),
        )
        .expect("valid bundle");
        assert_eq!(split.expectations(), length);
        assert_eq!(
            split.bundles[0]["objects"][0]["id"],
            format!("note--{}", length - 1)
        );
        assert_eq!(split.bundles[length - 1]["x_opencti_seq"], length);
    }

    #[test]
    fn non_string_references_are_errors_naming_the_object_and_field() {
        let bundle =
            json!({"objects": [{"type": "report", "id": "report--1", "object_refs": [1]}]});
        let error = split_bundle(bundle, &SplitOptions::default()).unwrap_err();
        assert_eq!(
            error,
            SplitError::InvalidObject {
                index: 0,
                id: Some("report--1".to_owned()),
                field: "object_refs".to_owned(),
                problem: "holds a reference that is not a string".to_owned(),
            }
        );
    }

    #[test]
    fn numeric_single_references_are_cleaned_in_cleanup_mode() {
        let bundle =
            || json!({"objects": [{"type": "malware", "id": "malware--1", "created_by_ref": 5}]});
        assert!(split_bundle(bundle(), &SplitOptions::default()).is_err());
        let options = SplitOptions {
            cleanup_inconsistent_bundle: true,
            event_version: None,
        };
        let split = split_bundle(bundle(), &options).expect("cleaned");
        assert_eq!(
            split.bundles[0]["objects"][0]["created_by_ref"],
            Value::Null
        );
    }

    #[test]
    fn event_version_is_written_in_every_bundle() {
        let options = SplitOptions {
            cleanup_inconsistent_bundle: false,
            event_version: Some("4".to_owned()),
        };
        let split = split_bundle_str(
            r#"{"objects": [{"type": "malware", "id": "malware--1"}]}"#,
            &options,
        )
        .expect("valid");
        assert_eq!(split.bundles[0]["x_opencti_event_version"], "4");
        assert!(split.bundle_id.starts_with("bundle--"));
        assert_eq!(split.bundles[0]["id"], split.bundle_id.as_str());
    }

    #[test]
    fn pycti_error_messages_prefix_the_errors() {
        let not_json = split_bundle_str("{", &SplitOptions::default()).unwrap_err();
        assert!(
            not_json
                .to_string()
                .starts_with("File data is not a valid JSON")
        );
        let not_bundle = split_bundle_str("{\"id\": \"x\"}", &SplitOptions::default()).unwrap_err();
        assert_eq!(
            not_bundle.to_string(),
            "File data is not a valid bundle: `objects` is missing"
        );
    }
}
