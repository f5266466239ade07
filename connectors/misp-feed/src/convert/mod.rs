//! MISP event -> STIX 2.1 bundle, object for object like the Python
//! connector (same ids, same properties), except for the deliberate fixes
//! listed in the crate README (composite attributes give both values,
//! object references give relationships, a few crashes become skips).
//!
//! The bundle is written as JSON text while the event is walked, so memory
//! grows with the output once, not with several copies of it.

mod attribute;
mod bundle;
mod elements;
pub mod model;
mod note;
mod resolve;
mod stix;
mod tags;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

pub use elements::{KnownThreat, ThreatGuesses};
use model::Event;

use attribute::{AttributeResult, EventScope, ObjectScope, Relationship};
use bundle::BundleWriter;
pub use bundle::Piece;
use elements::{ElementContext, Elements};
use stix::{external_reference, header, millis, put_list, put_text, put_values, seconds};
use tags::Marking;

/// Report id placeholder the Python connector points empty reports at.
const EMPTY_REPORT_REF: &str = "intrusion-set--fc5ee88d-7987-4c00-991e-a863e9aa8a0e";

/// Events (or objects) with this many attributes get no relationships.
const RELATIONSHIP_LIMIT: usize = 10_000;

/// The conversion switches (`MISP_FEED_*` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertOptions {
    /// A report per event, with notes and attachments.
    pub create_reports: bool,
    /// The report's `report_types` value.
    pub report_type: String,
    /// Indicators (and sightings, `indicates`, `based-on`).
    pub create_indicators: bool,
    /// Observables (and `related-to` threats, `based-on`).
    pub create_observables: bool,
    /// A text observable per MISP object, linked to its attributes.
    pub create_object_observables: bool,
    /// Tags become labels.
    pub create_tags_as_labels: bool,
    /// Tags are looked up in the platform as threats.
    pub guess_threats_from_tags: bool,
    /// `marking:TYPE=NAME` tags become markings.
    pub markings_from_tags: bool,
    /// `creator=NAME` tags set the author.
    pub author_from_tags: bool,
    /// Score of attributes with `to_ids = false`.
    pub import_to_ids_no_score: Option<i64>,
    /// Unknown attribute types become text observables.
    pub import_unsupported_observables_as_text: bool,
    /// Object text observables take the first attribute's value.
    pub import_unsupported_observables_as_text_transparent: bool,
    /// PDF attachments are attached to the report.
    pub import_with_attachments: bool,
}

impl Default for ConvertOptions {
    /// The Python connector's defaults.
    fn default() -> Self {
        Self {
            create_reports: true,
            report_type: "misp-event".to_owned(),
            create_indicators: false,
            create_observables: false,
            create_object_observables: false,
            create_tags_as_labels: true,
            guess_threats_from_tags: false,
            markings_from_tags: false,
            author_from_tags: false,
            import_to_ids_no_score: None,
            import_unsupported_observables_as_text: false,
            import_unsupported_observables_as_text_transparent: true,
            import_with_attachments: false,
        }
    }
}

/// A converted event.
#[derive(Debug, Clone)]
pub struct ConvertedEvent {
    /// The bundle, serialised (handed to the runtime's send path as it is).
    pub bundle: String,
    /// Objects in the bundle.
    pub object_count: usize,
    /// The report's id, when one was made.
    pub report_id: Option<String>,
}

/// The event file is not a MISP event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Not JSON, or JSON of the wrong shape; `path` locates the problem
    /// (`Event.Attribute[3].value`).
    #[error("not a MISP event: {path}: {message}")]
    Shape {
        /// Where in the document.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A list form (`[{"Event": ...}]`) that does not hold exactly one event.
    #[error("an event file holds a list of {count} events; exactly one is expected")]
    ListLength {
        /// How many.
        count: usize,
    },
    /// A field the conversion needs is missing or malformed.
    #[error("event field {field}: {reason}")]
    Field {
        /// The field (`Event.date`, ...).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

#[derive(serde::Deserialize)]
struct EventFile {
    #[serde(rename = "Event")]
    event: Event,
}

/// Parses an event file: `{"Event": {...}}`, or a one-item list of those
/// (what S3 drops sometimes hold).
pub fn parse_event(bytes: &[u8]) -> Result<Event, EventError> {
    let shape = |error: serde_path_to_error::Error<serde_json::Error>| EventError::Shape {
        path: error.path().to_string(),
        message: error.inner().to_string(),
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let mut files: Vec<EventFile> =
            serde_path_to_error::deserialize(&mut deserializer).map_err(shape)?;
        deserializer.end().map_err(|error| EventError::Shape {
            path: ".".to_owned(),
            message: error.to_string(),
        })?;
        if files.len() != 1 {
            return Err(EventError::ListLength { count: files.len() });
        }
        return Ok(files.remove(0).event);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let file: EventFile = serde_path_to_error::deserialize(&mut deserializer).map_err(shape)?;
    deserializer.end().map_err(|error| EventError::Shape {
        path: ".".to_owned(),
        message: error.to_string(),
    })?;
    Ok(file.event)
}

/// The distinct tag values `guess_threats_from_tags` asks the platform about.
pub fn guess_keys(event: &Event) -> Vec<String> {
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    let event_tags = event.tags.iter().flatten();
    let attribute_tags = event
        .attributes
        .iter()
        .chain(event.objects.iter().flat_map(|object| &object.attributes))
        .flat_map(|attribute| attribute.tags.iter().flatten());
    for tag in event_tags.chain(attribute_tags) {
        let key = elements::guess_key(&tag.name);
        if seen.insert(key.clone()) {
            keys.push(key);
        }
    }
    keys
}

/// Converts events with fixed options.
#[derive(Debug, Clone, Default)]
pub struct Converter {
    options: ConvertOptions,
}

impl Converter {
    /// A converter with these switches.
    pub fn new(options: ConvertOptions) -> Self {
        Self { options }
    }

    /// The switches.
    pub fn options(&self) -> &ConvertOptions {
        &self.options
    }

    /// Converts one event. `guesses` holds the platform's answers for
    /// [`guess_keys`] when `guess_threats_from_tags` is on; `now` stamps the
    /// objects stix2 would stamp with the current time.
    ///
    /// The event is consumed: each attribute is dropped once converted, so
    /// the input shrinks while the bundle grows.
    pub fn convert(
        &self,
        event: Event,
        guesses: Option<&ThreatGuesses>,
        now: DateTime<Utc>,
    ) -> Result<ConvertedEvent, EventError> {
        let bundle_id = format!("bundle--{}", uuid::Uuid::new_v4());
        let (object_count, report_id, bundle) =
            self.convert_into(event, guesses, now, BundleWriter::new(&bundle_id))?;
        Ok(ConvertedEvent {
            bundle,
            object_count,
            report_id,
        })
    }

    /// [`Converter::convert`] for events too large to hold as one bundle:
    /// hands `sink` the bundle in pieces of about `piece_bytes` of text,
    /// each a complete bundle (same id), in the order of the whole bundle,
    /// as they are written. The event is checked before anything is
    /// handed on: an `Err` means no piece was. `sink` answers `false` once
    /// it takes no more (the rest of the event is then dropped unwritten).
    pub fn convert_in_pieces<'s>(
        &self,
        event: Event,
        guesses: Option<&ThreatGuesses>,
        now: DateTime<Utc>,
        piece_bytes: usize,
        sink: impl FnMut(Piece) -> bool + 's,
    ) -> Result<ConvertedPieces, EventError> {
        let bundle_id = format!("bundle--{}", uuid::Uuid::new_v4());
        let lookups = !event.event_reports.is_empty()
            || event
                .objects
                .iter()
                .any(|object| !object.references.is_empty());
        let out = BundleWriter::in_pieces(&bundle_id, piece_bytes, lookups, Box::new(sink));
        let (object_count, report_id, _) = self.convert_into(event, guesses, now, out)?;
        Ok(ConvertedPieces {
            object_count,
            report_id,
        })
    }

    /// Converts into `out`: objects written, the report id, the bundle text.
    fn convert_into<'a>(
        &'a self,
        mut event: Event,
        guesses: Option<&'a ThreatGuesses>,
        now: DateTime<Utc>,
        out: BundleWriter<'a>,
    ) -> Result<(usize, Option<String>, String), EventError> {
        // Checked first, so that nothing is written of an event that fails.
        let report = if self.options.create_reports {
            Some(ReportHead::of(&event)?)
        } else {
            None
        };
        let attributes = std::mem::take(&mut event.attributes);
        let objects = std::mem::take(&mut event.objects);
        let has_references = objects.iter().any(|object| !object.references.is_empty());
        let mut run = Run::new(
            &self.options,
            &event,
            guesses,
            millis(&now),
            out,
            has_references,
        );
        run.attributes(attributes, objects);
        Ok(run.finish(report))
    }
}

/// What [`Converter::convert_in_pieces`] wrote.
#[derive(Debug)]
pub struct ConvertedPieces {
    /// Objects in all the pieces.
    pub object_count: usize,
    /// The report's id, when one was made.
    pub report_id: Option<String>,
}

/// The report's identity, read from the event before converting it.
struct ReportHead {
    id: String,
    info: String,
    midnight: DateTime<Utc>,
    modified: DateTime<Utc>,
}

impl ReportHead {
    fn of(event: &Event) -> Result<Self, EventError> {
        let field = |field: &'static str, reason: &str| EventError::Field {
            field,
            reason: reason.to_owned(),
        };
        let info = event
            .info
            .as_deref()
            .ok_or_else(|| field("Event.info", "missing"))?;
        let date = event
            .date
            .as_deref()
            .ok_or_else(|| field("Event.date", "missing"))?;
        let midnight = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
            .map_err(|error| field("Event.date", &format!("{date:?}: {error}")))?
            .and_hms_opt(0, 0, 0)
            .map(|moment| moment.and_utc())
            .ok_or_else(|| field("Event.date", "out of range"))?;
        let modified = event
            .timestamp
            .and_then(stix::from_epoch)
            .ok_or_else(|| field("Event.timestamp", "missing or out of range"))?;
        let id = opencti_stix::id::report(info, Some(midnight.into()))
            .map_err(|error| field("Event.info", &error.to_string()))?;
        Ok(Self {
            id,
            info: info.to_owned(),
            midnight,
            modified,
        })
    }
}

/// A report serialised with its `object_refs` taken from a list of ids.
#[derive(serde::Serialize)]
struct ReportWithRefs<'a> {
    #[serde(flatten)]
    report: &'a Map<String, Value>,
    #[serde(serialize_with = "id_list")]
    object_refs: &'a [Arc<str>],
}

fn id_list<S: serde::Serializer>(ids: &&[Arc<str>], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(ids.iter().map(|id| &**id))
}

/// What is already in the bundle and in the report's references (the
/// Python connector keeps several de-duplication lists; same here).
#[derive(Default)]
struct Added {
    markings: HashSet<Arc<str>>,
    entities: HashSet<Arc<str>>,
    sightings: HashSet<Arc<str>>,
    observables: HashSet<Arc<str>>,
    object_refs: HashSet<Arc<str>>,
}

/// Everything built for the event before and while its attributes are walked.
struct Run<'a> {
    options: &'a ConvertOptions,
    event: &'a Event,
    now: String,
    author_id: Arc<str>,
    author_name: String,
    event_markings: Vec<Marking>,
    event_marking_ids: Arc<[Arc<str>]>,
    event_labels: Arc<[String]>,
    event_elements: Elements,
    guesses: Option<&'a ThreatGuesses>,
    score: i64,
    out: BundleWriter<'a>,
    added: Added,
    /// The report's references.
    object_refs: Vec<Arc<str>>,
    relationships: Vec<Relationship>,
    object_observables: Vec<(Arc<str>, Value)>,
    external_references: Vec<Value>,
    files: Vec<Value>,
    /// MISP uuid -> the entity standing for it (object reference fix);
    /// only filled when the event has object references.
    representatives: Option<HashMap<String, Arc<str>>>,
    /// Object references, by object uuid, kept for the end of the bundle.
    references: Vec<(Option<String>, Vec<model::ObjectReference>)>,
}

impl<'a> Run<'a> {
    fn new(
        options: &'a ConvertOptions,
        event: &'a Event,
        guesses: Option<&'a ThreatGuesses>,
        now: String,
        out: BundleWriter<'a>,
        has_references: bool,
    ) -> Self {
        let author_name = options
            .author_from_tags
            .then(|| event.tags.as_deref().and_then(tags::author_from_tags))
            .flatten()
            .unwrap_or_else(|| event.orgc.name.clone());
        let author = stix::organization(&author_name, &now);
        let author_id: Arc<str> = Arc::from(author["id"].as_str().unwrap_or_default());
        let event_markings = match &event.tags {
            Some(tags) => tags::markings(tags, true, options.markings_from_tags, &now),
            None => vec![tags::tlp_white()],
        };
        let event_marking_ids: Arc<[Arc<str>]> =
            event_markings.iter().map(|m| Arc::clone(&m.id)).collect();
        let event_labels: Arc<[String]> = match (&event.tags, options.create_tags_as_labels) {
            (Some(tags), true) => tags::labels(tags).into(),
            _ => Arc::from([]),
        };
        let event_elements = elements::prepare(
            &event.galaxies,
            event.tags.as_deref().unwrap_or_default(),
            &ElementContext {
                author_id: &author_id,
                markings: &event_marking_ids,
                now: &now,
                guesses: guesses.filter(|_| options.guess_threats_from_tags),
            },
        );
        let mut run = Self {
            options,
            event,
            score: attribute::threat_level_score(event.threat_level_id.as_deref()),
            author_id,
            author_name,
            event_marking_ids,
            event_labels,
            event_elements,
            guesses: guesses.filter(|_| options.guess_threats_from_tags),
            out,
            added: Added::default(),
            object_refs: Vec::new(),
            relationships: Vec::new(),
            object_observables: Vec::new(),
            external_references: Vec::new(),
            files: Vec::new(),
            representatives: has_references.then(HashMap::new),
            references: Vec::new(),
            event_markings,
            now,
        };
        run.out.push(&Value::Object(author));
        for marking in run.event_markings.clone() {
            run.add_marking(&marking);
        }
        let elements = std::mem::take(&mut run.event_elements);
        for element in elements.all() {
            run.add_entity(&element.id, &element.object, true);
        }
        run.event_elements = elements;
        run
    }

    fn add_marking(&mut self, marking: &Marking) {
        if self.added.markings.insert(Arc::clone(&marking.id)) {
            self.out.push(&*marking.object);
        }
    }

    fn add_object_ref(&mut self, id: &Arc<str>) {
        if self.added.object_refs.insert(Arc::clone(id)) {
            self.object_refs.push(Arc::clone(id));
        }
    }

    fn add_entity(&mut self, id: &Arc<str>, object: &Value, referenced: bool) {
        if referenced {
            self.add_object_ref(id);
        }
        if self.added.entities.insert(Arc::clone(id)) {
            self.out.push(object);
        }
    }

    fn scope(&self) -> EventScope<'_> {
        EventScope {
            options: self.options,
            author_id: &self.author_id,
            author_name: &self.author_name,
            now: &self.now,
            markings: &self.event_markings,
            marking_ids: &self.event_marking_ids,
            labels: &self.event_labels,
            elements: &self.event_elements,
            guesses: self.guesses,
            score: self.score,
        }
    }

    /// Event attributes, then object attributes, in file order; each is
    /// dropped once converted.
    fn attributes(&mut self, attributes: Vec<model::Attribute>, objects: Vec<model::MispObject>) {
        let create_relationships = attributes.len() < RELATIONSHIP_LIMIT;
        for misp_attribute in attributes {
            let results =
                attribute::process(&self.scope(), &misp_attribute, None, create_relationships);
            self.remember(&misp_attribute.uuid, &results);
            self.compose(results);
            if attribute::is_external_link(&misp_attribute) {
                self.external_references.push(external_reference(
                    &misp_attribute.category,
                    &misp_attribute.value,
                    &misp_attribute.uuid,
                ));
            }
            self.attachment(&misp_attribute);
        }
        for mut object in objects {
            if !object.references.is_empty() {
                self.references
                    .push((object.uuid.clone(), std::mem::take(&mut object.references)));
            }
            let mut references = Vec::new();
            for misp_attribute in &object.attributes {
                if attribute::is_external_link(misp_attribute) {
                    references.push(external_reference(
                        &misp_attribute.category,
                        &misp_attribute.value,
                        &misp_attribute.uuid,
                    ));
                }
                self.attachment(misp_attribute);
            }
            let object_observable = self.object_observable(&object, &references);
            let create_relationships = object.attributes.len() < RELATIONSHIP_LIMIT;
            let scope = ObjectScope {
                observable_id: object_observable.clone(),
                external_references: &references,
            };
            let mut first_representative = None;
            for misp_attribute in std::mem::take(&mut object.attributes) {
                let results = attribute::process(
                    &self.scope(),
                    &misp_attribute,
                    Some(&scope),
                    create_relationships,
                );
                if first_representative.is_none() {
                    first_representative = results.iter().find_map(AttributeResult::representative);
                }
                self.remember(&misp_attribute.uuid, &results);
                self.compose(results);
            }
            if let (Some(map), Some(uuid)) = (self.representatives.as_mut(), &object.uuid)
                && let Some(id) = object_observable.or(first_representative)
            {
                map.entry(uuid.clone()).or_insert(id);
            }
        }
    }

    /// Records which entity stands for a MISP attribute (for object references).
    fn remember(&mut self, uuid: &str, results: &[AttributeResult]) {
        if let Some(map) = self.representatives.as_mut()
            && let Some(id) = results.iter().find_map(AttributeResult::representative)
        {
            map.entry(uuid.to_owned()).or_insert(id);
        }
    }

    /// Writes an attribute's objects in the Python connector's order;
    /// relationships wait until every entity is in.
    fn compose(&mut self, results: Vec<AttributeResult>) {
        for result in results {
            if let Some((id, object)) = &result.indicator {
                self.add_entity(id, object, true);
            }
            if let Some((id, object)) = &result.observable {
                self.add_entity(id, object, true);
            }
            for marking in &result.markings {
                self.add_marking(marking);
            }
            for (id, object) in &result.identities {
                self.add_entity(id, object, false);
            }
            for (id, object) in &result.sightings {
                if self.added.sightings.insert(Arc::clone(id)) {
                    self.out.push(object);
                }
            }
            for element in result.elements.all() {
                self.add_entity(&element.id, &element.object, true);
            }
            self.relationships.extend(result.relationships);
        }
    }

    fn attachment(&mut self, misp_attribute: &model::Attribute) {
        if self.options.import_with_attachments
            && let Some(file) = attribute::pdf_attachment(misp_attribute)
        {
            self.files.push(file);
        }
    }

    /// The text observable standing for a MISP object, kept for the end of
    /// the bundle; returns its id.
    fn object_observable(
        &mut self,
        object: &model::MispObject,
        references: &[Value],
    ) -> Option<Arc<str>> {
        if !self.options.create_object_observables {
            return None;
        }
        let first = object.attributes.first();
        let value = if self
            .options
            .import_unsupported_observables_as_text_transparent
        {
            first?.value.clone()
        } else {
            match first {
                Some(first) => format!("{} ({}={})", object.name, first.kind, first.value),
                None => object.name.clone(),
            }
        };
        let mut base = Map::new();
        base.insert("type".to_owned(), Value::from("text"));
        base.insert("value".to_owned(), Value::from(value.as_str()));
        let id = opencti_stix::id::generate_id_from_data(&Value::Object(base)).ok()?;
        let mut observable = header("text", &id);
        observable.insert("value".to_owned(), Value::from(value));
        put_list(
            &mut observable,
            "object_marking_refs",
            &self.event_marking_ids,
        );
        observable.insert("created_by_ref".to_owned(), Value::from(&*self.author_id));
        put_text(&mut observable, "description", object.description.clone());
        put_values(&mut observable, "external_references", references);
        put_list(&mut observable, "labels", &self.event_labels);
        observable.insert("x_opencti_score".to_owned(), Value::from(self.score));
        let id: Arc<str> = Arc::from(id);
        self.object_observables
            .push((Arc::clone(&id), Value::Object(observable)));
        Some(id)
    }

    /// `related-to` links for MISP object references whose two ends were
    /// converted (the Python connector practically never finds them).
    fn object_reference_relationships(&mut self) {
        let Some(representatives) = self.representatives.take() else {
            return;
        };
        for (object_uuid, references) in std::mem::take(&mut self.references) {
            for reference in &references {
                let source = reference
                    .source_uuid
                    .as_ref()
                    .or(reference.object_uuid.as_ref())
                    .or(object_uuid.as_ref());
                let (Some(source), Some(target)) = (source, reference.referenced_uuid.as_ref())
                else {
                    continue;
                };
                let resolve = |uuid: &str| {
                    representatives.get(uuid).cloned().or_else(|| {
                        let found = self.out.find_by_uuid(uuid)?;
                        Some(Arc::from(found["id"].as_str()?))
                    })
                };
                let (Some(source), Some(target)) = (resolve(source), resolve(target)) else {
                    continue;
                };
                let description = format!(
                    "Original Relationship: {}  \nComment: {}",
                    reference.relationship_type,
                    reference.comment.as_deref().unwrap_or("")
                );
                self.relationships.push(Relationship::new(
                    "related-to",
                    source,
                    target,
                    Some(Arc::from(description)),
                    None,
                ));
            }
        }
    }

    /// The end of the bundle: objects written, the report id, the bundle text.
    fn finish(mut self, report: Option<ReportHead>) -> (usize, Option<String>, String) {
        for (id, observable) in std::mem::take(&mut self.object_observables) {
            self.add_object_ref(&id);
            if self.added.observables.insert(Arc::clone(&id)) {
                self.out.push(&observable);
            }
        }
        // Every entity is in: the look-up tables of a huge event go before
        // its relationships and report are written.
        self.added = Added::default();
        self.object_reference_relationships();
        // One relationship per (source, target) pair, first type wins, in the
        // bundle and in the report alike. (The Python connector keys on the
        // two ids written end to end; for ids of the form `type--uuid`, as
        // these are, that is the same test.)
        let relationships = std::mem::take(&mut self.relationships);
        let mut added_pairs = HashSet::with_capacity(relationships.len());
        for relationship in relationships {
            if added_pairs.insert((
                Arc::clone(&relationship.source),
                Arc::clone(&relationship.target),
            )) {
                let id = relationship.id();
                self.out
                    .push(&relationship.to_value(&id, &self.author_id, &self.now));
                self.object_refs.push(Arc::from(id));
            }
        }
        drop(added_pairs);
        let report_id = report.map(|head| self.report(head));
        let object_count = self.out.len();
        (object_count, report_id, self.out.finish())
    }

    /// The report and its notes; returns the report id.
    fn report(&mut self, head: ReportHead) -> String {
        let event = self.event;
        let ReportHead {
            id,
            info,
            midnight,
            modified,
        } = head;
        let info = info.as_str();
        let mut report = stix::common_sdo("report", &id, &self.author_id, &millis(&midnight), info);
        report.insert("modified".to_owned(), Value::from(millis(&modified)));
        report.insert("description".to_owned(), Value::from(info));
        put_list(
            &mut report,
            "report_types",
            std::slice::from_ref(&self.options.report_type),
        );
        report.insert("published".to_owned(), Value::from(seconds(&midnight)));
        put_list(&mut report, "labels", &self.event_labels);
        put_values(
            &mut report,
            "external_references",
            &self.external_references,
        );
        put_list(&mut report, "object_marking_refs", &self.event_marking_ids);
        put_values(&mut report, "x_opencti_files", &self.files);
        if self.object_refs.is_empty() {
            self.object_refs.push(Arc::from(EMPTY_REPORT_REF));
        }
        // The reference list can hold every object of a huge event: it is
        // written from the ids as they are, not copied into a JSON tree.
        self.out.push(&ReportWithRefs {
            report: &report,
            object_refs: &self.object_refs,
        });
        for event_report in &event.event_reports {
            let Some(created) = event_report.timestamp.and_then(stix::from_epoch) else {
                tracing::warn!(target: "misp_feed::convert", note = %event_report.name, "event report without a usable timestamp skipped");
                continue;
            };
            let content = note::rewrite(&event_report.content, |uuid| self.out.find_by_uuid(uuid));
            let created_text = seconds(&created);
            let Ok(note_id) =
                opencti_stix::id::note(Some(created_text.as_str().into()), &content, None)
            else {
                continue;
            };
            let mut note = header("note", &note_id);
            note.insert("created_by_ref".to_owned(), Value::from(&*self.author_id));
            note.insert("created".to_owned(), Value::from(millis(&created)));
            note.insert("modified".to_owned(), Value::from(millis(&created)));
            note.insert(
                "abstract".to_owned(),
                Value::from(event_report.name.as_str()),
            );
            note.insert("content".to_owned(), Value::from(content));
            put_list(&mut note, "object_refs", std::slice::from_ref(&id));
            put_list(&mut note, "object_marking_refs", &self.event_marking_ids);
            self.out.push(&Value::Object(note));
        }
        id
    }
}
