//! A bundle held once, compactly: each object's JSON text end to end in a
//! few large buffers, and beside it only what the splitter needs (ids,
//! references, interned once). The objects are parsed again one at a time
//! when their messages are written.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap as _, SerializeSeq as _};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::shape::{self, IdField, Names, Shape};
use super::symbols::{Sym, Symbols};
use super::{SplitError, invalid_bundle, object_error};
use crate::{Bundle, StixObject};

/// The first buffer's size; each next one doubles, up to [`LARGEST_CHUNK`].
const FIRST_CHUNK: usize = 16 * 1024;
const LARGEST_CHUNK: usize = 1024 * 1024;

/// Where an object's text is.
#[derive(Debug, Clone, Copy)]
struct Span {
    chunk: u32,
    start: u32,
    end: u32,
}

/// A STIX bundle held for splitting: the objects' JSON text, once, and the
/// references the splitter follows. About the size of the bundle's JSON
/// text plus 100 to 200 bytes per object, where a parsed
/// [`serde_json::Value`] takes several times the text.
///
/// Build it from JSON text (kept as it is: no copy), a [`Value`] or a typed
/// [`Bundle`] (each object is written as text and its tree dropped as the
/// bundle is read), or object by object; then split it with
/// [`CompactBundle::split`], which gives the parts one at a time.
///
/// ```
/// use opencti_stix::split::{CompactBundle, SplitOptions};
///
/// let text = r#"{"type": "bundle", "id": "bundle--1", "objects": [
///     {"type": "malware", "id": "malware--1", "name": "Emotet", "created_by_ref": "identity--1"},
///     {"type": "identity", "id": "identity--1", "name": "ACME"}]}"#;
/// let bundle = CompactBundle::from_json(text.to_owned())?;
/// let plan = bundle.split(&SplitOptions::default())?;
/// assert_eq!(plan.expectations(), 2);
/// let first = plan.part(0);
/// assert_eq!(first["objects"][0]["id"], "identity--1");
/// # Ok::<(), opencti_stix::split::SplitError>(())
/// ```
#[derive(Debug)]
pub struct CompactBundle {
    /// The bundle's properties in document order, `objects` standing in
    /// for the list.
    pub(super) head: Map<String, Value>,
    chunks: Vec<Vec<u8>>,
    spans: Vec<Span>,
    pub(super) shapes: Vec<Shape>,
    /// Each object's id.
    pub(super) ids: Vec<Sym>,
    /// The internal ids of the objects that have some.
    pub(super) aliases: Vec<(u32, Vec<Sym>)>,
    pub(super) symbols: Symbols,
    /// Reused to write one object at a time.
    scratch: Vec<u8>,
}

impl Default for CompactBundle {
    fn default() -> Self {
        Self::with_head(bundle_head(None))
    }
}

impl CompactBundle {
    /// An empty bundle without an id (splitting gives it a random one).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty bundle with `id`.
    #[must_use]
    pub fn with_id(id: impl Into<String>) -> Self {
        Self::with_head(bundle_head(Some(id.into())))
    }

    fn with_head(head: Map<String, Value>) -> Self {
        Self {
            head,
            chunks: Vec::new(),
            spans: Vec::new(),
            shapes: Vec::new(),
            ids: Vec::new(),
            aliases: Vec::new(),
            symbols: Symbols::default(),
            scratch: Vec::new(),
        }
    }

    /// Reads a bundle from its JSON text, which it keeps as it is.
    ///
    /// # Errors
    ///
    /// [`SplitError::InvalidJson`] when the text does not parse,
    /// [`SplitError::InvalidBundle`] when it is not a bundle (not an
    /// object, no `objects` list, an `id` that is not a string),
    /// [`SplitError::InvalidObject`] for the first object that is not an
    /// object or has no string `id`.
    pub fn from_json(text: impl Into<String>) -> Result<Self, SplitError> {
        let text: String = text.into();
        let mut reader = TextReader {
            bundle: Self::with_head(Map::new()),
            base: text.as_ptr() as usize,
            problems: Problems::default(),
        };
        let mut deserializer = serde_json::Deserializer::from_str(&text);
        let parsed = (&mut reader)
            .deserialize(&mut deserializer)
            .and_then(|()| deserializer.end());
        if let Err(error) = parsed {
            return Err(SplitError::InvalidJson {
                message: error.to_string(),
            });
        }
        let TextReader {
            mut bundle,
            problems,
            ..
        } = reader;
        problems.check(&bundle)?;
        // Kept as it is: shrinking it could copy it.
        bundle.chunks.push(text.into_bytes());
        bundle.scratch = Vec::new();
        Ok(bundle)
    }

    /// Reads a bundle from a JSON value; each object is written as text
    /// and its tree dropped as it goes.
    ///
    /// # Errors
    ///
    /// As [`CompactBundle::from_json`], but for the JSON syntax.
    pub fn from_value(bundle: Value) -> Result<Self, SplitError> {
        let Value::Object(mut map) = bundle else {
            return Err(invalid_bundle("the bundle is not a JSON object"));
        };
        let objects = match map.get_mut("objects").map(Value::take) {
            Some(Value::Array(objects)) => objects,
            Some(_) => return Err(invalid_bundle("`objects` is not a list")),
            None => return Err(invalid_bundle("`objects` is missing")),
        };
        let mut bundle = Self::with_head(map);
        bundle.check_id()?;
        bundle.reserve(objects.len());
        // Each object's tree is dropped once written.
        for object in objects {
            bundle.push_value(&object)?;
        }
        bundle.freeze_text();
        Ok(bundle)
    }

    /// Takes a typed bundle; each object is written as text and dropped as
    /// it goes.
    ///
    /// # Errors
    ///
    /// [`SplitError::InvalidObject`] for an object without an id (typed
    /// objects normally have one).
    pub fn from_bundle(bundle: Bundle) -> Result<Self, SplitError> {
        let Bundle {
            id,
            spec_version,
            objects,
            extra,
        } = bundle;
        let mut head = Map::new();
        head.insert("type".to_owned(), Value::from("bundle"));
        if let Some(id) = id {
            head.insert("id".to_owned(), Value::String(id));
        }
        if let Some(spec_version) = spec_version {
            head.insert("spec_version".to_owned(), Value::String(spec_version));
        }
        for (key, value) in extra {
            if key != "objects" {
                head.entry(key).or_insert(value);
            }
        }
        head.insert("objects".to_owned(), Value::Null);
        let mut bundle = Self::with_head(head);
        bundle.check_id()?;
        bundle.reserve(objects.len());
        for object in objects {
            bundle.push_object(&object)?;
        }
        bundle.freeze_text();
        Ok(bundle)
    }

    /// Appends a typed object.
    ///
    /// # Errors
    ///
    /// [`SplitError::InvalidObject`] when it has no string `id`.
    pub fn push_object(&mut self, object: &StixObject) -> Result<(), SplitError> {
        self.push_serialized(object)
    }

    /// Appends an object given as a JSON value.
    ///
    /// # Errors
    ///
    /// [`SplitError::InvalidObject`] when it is not an object or has no
    /// string `id`.
    pub fn push_value(&mut self, object: &Value) -> Result<(), SplitError> {
        self.push_serialized(object)
    }

    /// Appends an object given as JSON text.
    ///
    /// # Errors
    ///
    /// [`SplitError::InvalidJson`] when it does not parse, otherwise as
    /// [`CompactBundle::push_value`].
    pub fn push_json(&mut self, object: &str) -> Result<(), SplitError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(object.as_bytes());
        let pushed = self.push_text(&scratch);
        self.scratch = scratch;
        pushed
    }

    fn push_serialized(&mut self, object: &impl Serialize) -> Result<(), SplitError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        // Writing models and JSON values into memory cannot fail.
        let _ = serde_json::to_writer(&mut scratch, object);
        let pushed = self.push_text(&scratch);
        self.scratch = scratch;
        pushed
    }

    /// Reads the shape of one object's text and files the text.
    fn push_text(&mut self, text: &[u8]) -> Result<(), SplitError> {
        let index = self.spans.len();
        let (shape, names) = self.read_shape(index, text)?;
        self.file(index, shape, &names)?;
        let span = self.store(text);
        self.spans.push(span);
        Ok(())
    }

    fn read_shape(&mut self, index: usize, text: &[u8]) -> Result<(Shape, Names), SplitError> {
        match shape::read(text, &mut self.symbols) {
            Ok(Some(read)) => Ok(read),
            Ok(None) => Err(SplitError::InvalidObject {
                index,
                id: None,
                field: String::new(),
                problem: "is not a JSON object".to_owned(),
            }),
            Err(error) => Err(SplitError::InvalidJson {
                message: error.to_string(),
            }),
        }
    }

    /// Records an object's shape and names.
    fn file(&mut self, index: usize, shape: Shape, names: &Names) -> Result<(), SplitError> {
        let id = match &names.id {
            IdField::Id(id) => self.symbols.intern(id),
            IdField::NotAString => return Err(object_error(index, None, "id", "is not a string")),
            IdField::Missing => return Err(object_error(index, None, "id", "is missing")),
        };
        let position =
            u32::try_from(index).map_err(|_| invalid_bundle("more than 4 billion objects"))?;
        // Later objects win, for ids and internal ids alike.
        self.symbols.info_mut(id).object = Some(position);
        let aliases: Vec<Sym> = names
            .internal_ids()
            .map(|alias| self.symbols.intern(alias))
            .collect();
        for &alias in &aliases {
            self.symbols.info_mut(alias).object = Some(position);
        }
        if !aliases.is_empty() {
            self.aliases.push((position, aliases));
        }
        self.shapes.push(shape);
        self.ids.push(id);
        Ok(())
    }

    /// Copies `text` into the buffers.
    fn store(&mut self, text: &[u8]) -> Span {
        let fits = self
            .chunks
            .last()
            .is_some_and(|chunk| chunk.capacity() - chunk.len() >= text.len());
        if !fits {
            let next = self.chunks.last().map_or(FIRST_CHUNK, |chunk| {
                (chunk.capacity() * 2).min(LARGEST_CHUNK)
            });
            self.chunks.push(Vec::with_capacity(next.max(text.len())));
        }
        let chunk_index = self.chunks.len() - 1;
        let chunk = &mut self.chunks[chunk_index];
        let start = chunk.len();
        chunk.extend_from_slice(text);
        span(chunk_index, start, chunk.len())
    }

    fn reserve(&mut self, objects: usize) {
        self.spans.reserve_exact(objects);
        self.shapes.reserve_exact(objects);
        self.ids.reserve_exact(objects);
    }

    /// Gives back the room kept for more objects.
    fn freeze_text(&mut self) {
        self.scratch = Vec::new();
        if let Some(last) = self.chunks.last_mut() {
            last.shrink_to_fit();
        }
    }

    fn check_id(&self) -> Result<(), SplitError> {
        match self.head.get("id") {
            None | Some(Value::String(_)) => Ok(()),
            Some(_) => Err(invalid_bundle("`id` is not a string")),
        }
    }

    /// The bundle's id, if it has one.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.head.get("id").and_then(Value::as_str)
    }

    /// How many objects it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether it holds no object.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The JSON text of object `index`, as given or as written.
    ///
    /// # Panics
    ///
    /// When `index` is out of range.
    #[must_use]
    pub fn object_text(&self, index: usize) -> &str {
        let Span { chunk, start, end } = self.spans[index];
        let bytes = &self.chunks[chunk as usize][start as usize..end as usize];
        // Every span was read as JSON text, which is UTF-8.
        std::str::from_utf8(bytes).expect("objects are stored as UTF-8 JSON")
    }

    /// Object `index` parsed.
    pub(super) fn object(&self, index: usize) -> Map<String, Value> {
        serde_json::from_str(self.object_text(index)).expect("objects were read as JSON objects")
    }

    /// The whole bundle as a JSON value (for tests and small bundles: this
    /// is the large form the compact one avoids).
    #[must_use]
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a bundle of JSON objects converts to a value")
    }
}

fn span(chunk: usize, start: usize, end: usize) -> Span {
    let narrow = |number: usize| u32::try_from(number).expect("buffers stay below 4 GiB");
    Span {
        chunk: narrow(chunk),
        start: narrow(start),
        end: narrow(end),
    }
}

fn bundle_head(id: Option<String>) -> Map<String, Value> {
    let mut head = Map::new();
    head.insert("type".to_owned(), Value::from("bundle"));
    if let Some(id) = id {
        head.insert("id".to_owned(), Value::String(id));
    }
    head.insert("objects".to_owned(), Value::Null);
    head
}

/// Serialises the whole bundle, its properties in their order, each object
/// parsed from its text in turn.
impl Serialize for CompactBundle {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.head.len()))?;
        for (key, value) in &self.head {
            if key == "objects" {
                map.serialize_entry(key, &Objects(self))?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

struct Objects<'b>(&'b CompactBundle);

impl Serialize for Objects<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for index in 0..self.0.len() {
            seq.serialize_element(&self.0.object(index))?;
        }
        seq.end()
    }
}

/// Reads a bundle's text: the properties as values, the objects as spans.
struct TextReader {
    bundle: CompactBundle,
    /// Address of the text, to turn borrowed slices into offsets.
    base: usize,
    problems: Problems,
}

/// What is wrong with a bundle read from text, reported once the whole
/// text is known to be JSON and in the order a parsed bundle is checked.
#[derive(Default)]
struct Problems {
    not_an_object: bool,
    objects: ObjectsList,
    first_object_error: Option<SplitError>,
}

#[derive(Default, PartialEq, Eq)]
enum ObjectsList {
    #[default]
    Missing,
    Read,
    NotAList,
    Twice,
}

impl Problems {
    fn check(self, bundle: &CompactBundle) -> Result<(), SplitError> {
        if self.not_an_object {
            return Err(invalid_bundle("the bundle is not a JSON object"));
        }
        match self.objects {
            ObjectsList::Read => {}
            ObjectsList::Missing => return Err(invalid_bundle("`objects` is missing")),
            ObjectsList::NotAList => return Err(invalid_bundle("`objects` is not a list")),
            ObjectsList::Twice => return Err(invalid_bundle("`objects` is given twice")),
        }
        bundle.check_id()?;
        self.first_object_error.map_or(Ok(()), Err)
    }
}

impl TextReader {
    fn read_object(&mut self, raw: &RawValue) {
        if self.problems.first_object_error.is_some() {
            return;
        }
        let text = raw.get();
        let index = self.bundle.spans.len();
        let filed = self
            .bundle
            .read_shape(index, text.as_bytes())
            .and_then(|(shape, names)| self.bundle.file(index, shape, &names));
        match filed {
            Ok(()) => {
                let start = text.as_ptr() as usize - self.base;
                self.bundle.spans.push(span(0, start, start + text.len()));
            }
            Err(error) => self.problems.first_object_error = Some(error),
        }
    }
}

impl<'de> DeserializeSeed<'de> for &mut TextReader {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut TextReader {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a STIX bundle")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "objects" {
                self.problems.objects = match self.problems.objects {
                    ObjectsList::Missing => ObjectsList::Read,
                    _ => ObjectsList::Twice,
                };
                map.next_value_seed(ObjectsReader(&mut *self))?;
                self.bundle.head.insert(key, Value::Null);
            } else {
                let value: Value = map.next_value()?;
                self.bundle.head.insert(key, value);
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.visit_unit()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.problems.not_an_object = true;
        Ok(())
    }

    visit_numbers!(self => self.visit_unit());

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.visit_unit()
    }
}

/// The `objects` list of a bundle's text.
struct ObjectsReader<'r>(&'r mut TextReader);

impl<'de> DeserializeSeed<'de> for ObjectsReader<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectsReader<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a list of STIX objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            self.0.read_object(raw);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.visit_unit()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        if self.0.problems.objects == ObjectsList::Read {
            self.0.problems.objects = ObjectsList::NotAList;
        }
        Ok(())
    }

    visit_numbers!(self => self.visit_unit());

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.visit_unit()
    }
}
