//! Deterministic STIX ids, identical to pycti's `generate_id` functions and
//! to the stix2 library's observable ids.
//!
//! Every id is `<type>--<uuid>` where the UUID is a version 5 UUID, in the
//! namespace `00abedb4-aa42-466c-9c01-fed23315a9b7`, of the
//! [canonical JSON](crate::canonical) of a few normalised properties. Which
//! properties, and how they are normalised, depends on the type: there is one
//! function per pycti rule below, and [`generate_id_from_data`] picks the
//! rule from a STIX object's `type`.
//!
//! The normalisations are pycti's, quirks included: names are lower-cased
//! and stripped of surrounding whitespace (Python's definition of it), most
//! other properties are hashed verbatim, and dates are never reparsed:
//! a string is hashed as written, a [`chrono`] datetime as Python's
//! `isoformat()` would write it (see [`IdDate`]).
//!
//! ```
//! use opencti_stix::id;
//! use serde_json::json;
//!
//! assert_eq!(id::malware("  APT28 "), "malware--f743ab1d-b2f2-58f8-975f-0993511c0b9d");
//! assert_eq!(
//!     id::generate_id_from_data(&json!({"type": "ipv4-addr", "value": "198.51.100.7"}))?,
//!     "ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db",
//! );
//! assert_eq!(
//!     id::report("Report", Some("2020-03-01T12:34:56.000Z".into()))?,
//!     "report--fcc69a59-bbb7-5aca-9370-ab7420addc96",
//! );
//! # Ok::<(), opencti_stix::id::IdError>(())
//! ```

mod observable;
mod python;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::canonical::canonical_json;

/// The UUIDv5 namespace of every id (the OASIS STIX observable namespace).
const NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// Why no id could be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The data given to [`generate_id_from_data`] is not a JSON object.
    #[error("the object to identify is not a JSON object")]
    NotAnObject,
    /// The object has no string `type` property.
    #[error("the object to identify has no string `type` property")]
    MissingType,
    /// No id rule is known for this type.
    #[error("no deterministic id rule for objects of type `{object_type}`")]
    UnsupportedType {
        /// The object's `type`.
        object_type: String,
    },
    /// A property the id is derived from is absent.
    #[error("`{object_type}` object: property `{field}` is required to derive its id")]
    MissingField {
        /// The object's `type`.
        object_type: String,
        /// The absent property.
        field: String,
    },
    /// A property the id is derived from has an unusable value.
    #[error("`{object_type}` object: property `{field}` is invalid: {reason}")]
    InvalidField {
        /// The object's `type`.
        object_type: String,
        /// The offending property.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// None of the properties a deterministic id is derived from is set:
    /// pycti gives no id (external references) and stix2 a random one
    /// (observables, always for `process`).
    #[error("`{object_type}` object: none of the properties its id is derived from is set")]
    NotDeterministic {
        /// The object's `type`.
        object_type: String,
    },
}

impl IdError {
    fn missing(object_type: &str, field: &str) -> Self {
        Self::MissingField {
            object_type: object_type.to_owned(),
            field: field.to_owned(),
        }
    }

    fn invalid(object_type: &str, field: &str, reason: &str) -> Self {
        Self::InvalidField {
            object_type: object_type.to_owned(),
            field: field.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

/// A date given to an id rule, with pycti's treatment of each Python type.
///
/// pycti hashes a *string* verbatim (`"2020-03-01T12:34:56.000Z"`,
/// `"2020-03-01T12:34:56Z"` and `"2020-03-01"` give three different ids)
/// but a Python `datetime` as its `isoformat()` text (`+00:00`, never `Z`;
/// six fraction digits only when there are microseconds). Pick the variant
/// matching what the Python connector being ported passes.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum IdDate<'a> {
    /// A string, hashed as written.
    Text(&'a str),
    /// Any JSON value, hashed as is (numbers and `null` included); this is
    /// what [`generate_id_from_data`] passes on.
    Json(&'a Value),
    /// An aware datetime, hashed as `isoformat()` writes it in its own
    /// offset (no conversion to UTC). Sub-microsecond digits are dropped.
    DateTime(DateTime<FixedOffset>),
    /// A naive datetime, hashed as `isoformat()` writes it (no offset).
    NaiveDateTime(NaiveDateTime),
    /// A bare date: pycti cannot hash one (it raises `TypeError`), so
    /// neither can this crate; kept so ported code fails the same way.
    Date(NaiveDate),
}

impl<'a> From<&'a str> for IdDate<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(text)
    }
}

impl<'a> From<&'a String> for IdDate<'a> {
    fn from(text: &'a String) -> Self {
        Self::Text(text)
    }
}

impl<'a> From<&'a Value> for IdDate<'a> {
    fn from(value: &'a Value) -> Self {
        Self::Json(value)
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for IdDate<'_> {
    fn from(moment: DateTime<Tz>) -> Self {
        Self::DateTime(moment.fixed_offset())
    }
}

impl From<NaiveDateTime> for IdDate<'_> {
    fn from(moment: NaiveDateTime) -> Self {
        Self::NaiveDateTime(moment)
    }
}

impl From<NaiveDate> for IdDate<'_> {
    fn from(date: NaiveDate) -> Self {
        Self::Date(date)
    }
}

impl IdDate<'_> {
    /// The value pycti hashes for this date (`dt()` in the rules).
    fn hashed(self, object_type: &str, field: &str) -> Result<Value, IdError> {
        match self {
            Self::Text(text) => Ok(Value::String(text.to_owned())),
            Self::Json(value) => Ok(value.clone()),
            Self::DateTime(moment) => Ok(Value::String(python::isoformat_aware(&moment))),
            Self::NaiveDateTime(moment) => Ok(Value::String(python::isoformat_naive(&moment))),
            Self::Date(_) => Err(IdError::invalid(
                object_type,
                field,
                "a date without a time cannot be hashed (pycti raises TypeError); pass a string or a datetime",
            )),
        }
    }

    /// The value hashed where pycti skips the `isoformat()` conversion, so
    /// that only strings (and other JSON values) can be hashed.
    fn hashed_verbatim(self, object_type: &str, field: &str) -> Result<Value, IdError> {
        match self {
            Self::Text(_) | Self::Json(_) => self.hashed(object_type, field),
            Self::DateTime(_) | Self::NaiveDateTime(_) | Self::Date(_) => Err(IdError::invalid(
                object_type,
                field,
                "pycti hashes this date without converting it, which fails for a datetime (TypeError); pass the string",
            )),
        }
    }
}

/// `<prefix>--uuid5(NAMESPACE, canonical_json(data))`.
fn hashed_id(prefix: &str, data: Map<String, Value>) -> String {
    let canonical = canonical_json(&Value::Object(data));
    let uuid = Uuid::new_v5(&NAMESPACE, canonical.as_bytes());
    let mut id = String::with_capacity(prefix.len() + 38);
    id.push_str(prefix);
    id.push_str("--");
    id.push_str(uuid.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    id
}

/// Builds the map to hash from `(key, value)` pairs.
fn hash_input<const N: usize>(entries: [(&str, Value); N]) -> Map<String, Value> {
    entries
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

fn name_id(prefix: &str, name: &str) -> String {
    hashed_id(
        prefix,
        hash_input([("name", Value::String(python::normalise(name)))]),
    )
}

macro_rules! name_rules {
    ($($doc:literal $function:ident $prefix:literal;)*) => {
        $(
            #[doc = concat!("Id of a `", $prefix, "`: ", $doc, "; from its normalised name.")]
            #[must_use]
            pub fn $function(name: &str) -> String {
                name_id($prefix, name)
            }
        )*
        /// Types whose id is derived from the normalised name alone.
        const NAME_ONLY_TYPES: &[&str] = &[$($prefix),*];
    };
}

name_rules! {
    "pycti `Malware.generate_id`" malware "malware";
    "pycti `IntrusionSet.generate_id`" intrusion_set "intrusion-set";
    "pycti `Campaign.generate_id`" campaign "campaign";
    "pycti `Tool.generate_id`" tool "tool";
    "pycti `Vulnerability.generate_id`" vulnerability "vulnerability";
    "pycti `Infrastructure.generate_id`" infrastructure "infrastructure";
    "pycti `Channel.generate_id`" channel "channel";
    "pycti `Narrative.generate_id`" narrative "narrative";
    "pycti `Event.generate_id`" event "event";
    "pycti `Language.generate_id`" language "language";
    "pycti `DataComponent.generate_id`" data_component "data-component";
    "pycti `DataSource.generate_id`" data_source "data-source";
    "pycti `Feedback.generate_id`" feedback "feedback";
}

/// OpenCTI's subtype of threat actors backed by a group (the default).
pub const THREAT_ACTOR_GROUP: &str = "Threat-Actor-Group";
/// OpenCTI's subtype of threat actors backed by an individual.
pub const THREAT_ACTOR_INDIVIDUAL: &str = "Threat-Actor-Individual";

/// Id of a `threat-actor` of OpenCTI subtype `opencti_type`
/// (`Threat-Actor-Group` or `Threat-Actor-Individual`, hashed verbatim).
#[must_use]
pub fn threat_actor(name: &str, opencti_type: &str) -> String {
    threat_actor_with(name, text(opencti_type))
}

/// Id of a `threat-actor` that OpenCTI files as a group
/// (pycti `ThreatActorGroup.generate_id`).
#[must_use]
pub fn threat_actor_group(name: &str) -> String {
    threat_actor(name, THREAT_ACTOR_GROUP)
}

/// Id of a `threat-actor` that OpenCTI files as an individual
/// (pycti `ThreatActorIndividual.generate_id`).
#[must_use]
pub fn threat_actor_individual(name: &str) -> String {
    threat_actor(name, THREAT_ACTOR_INDIVIDUAL)
}

fn threat_actor_with(name: &str, opencti_type: Value) -> String {
    hashed_id(
        "threat-actor",
        hash_input([
            ("name", Value::String(python::normalise(name))),
            ("opencti_type", opencti_type),
        ]),
    )
}

/// Id of an `indicator`: its pattern, stripped but case kept.
#[must_use]
pub fn indicator(pattern: &str) -> String {
    hashed_id(
        "indicator",
        hash_input([("pattern", text(python::strip(pattern)))]),
    )
}

/// Id of a `report`: normalised name and `published` (`None` is hashed as
/// `null`).
///
/// # Errors
/// [`IdError::InvalidField`] for an [`IdDate::Date`].
pub fn report(name: &str, published: Option<IdDate<'_>>) -> Result<String, IdError> {
    name_and_date("report", "published", name, published)
}

fn name_and_date(
    prefix: &str,
    date_field: &str,
    name: &str,
    date: Option<IdDate<'_>>,
) -> Result<String, IdError> {
    let date = match date {
        Some(date) => date.hashed(prefix, date_field)?,
        None => Value::Null,
    };
    Ok(hashed_id(
        prefix,
        hash_input([
            ("name", Value::String(python::normalise(name))),
            (date_field, date),
        ]),
    ))
}

macro_rules! created_rules {
    ($($class:literal $function:ident $prefix:literal;)*) => {$(
        #[doc = concat!("Id of a `", $prefix, "` (pycti `", $class, ".generate_id`): normalised name and `created` (`None` is hashed as `null`).")]
        ///
        /// # Errors
        /// [`IdError::InvalidField`] for an [`IdDate::Date`].
        pub fn $function(name: &str, created: Option<IdDate<'_>>) -> Result<String, IdError> {
            name_and_date($prefix, "created", name, created)
        }
    )*};
}

created_rules! {
    "Incident" incident "incident";
    "CaseIncident" case_incident "case-incident";
    "CaseRfi" case_rfi "case-rfi";
    "CaseRft" case_rft "case-rft";
    "Task" task "task";
}

/// Id of an `identity`: normalised name and `identity_class`, lower-cased
/// but *not* stripped (`organization`, `individual`, `class`, `system`...).
#[must_use]
pub fn identity(name: &str, identity_class: &str) -> String {
    hashed_id(
        "identity",
        hash_input([
            ("name", Value::String(python::normalise(name))),
            (
                "identity_class",
                Value::String(identity_class.to_lowercase()),
            ),
        ]),
    )
}

/// The normalised MITRE id, when it is not empty.
fn mitre_key(x_mitre_id: Option<&str>) -> Option<String> {
    x_mitre_id
        .map(python::normalise)
        .filter(|normalised| !normalised.is_empty())
}

fn mitre_id(prefix: &str, mitre: String) -> String {
    hashed_id(prefix, hash_input([("x_mitre_id", Value::String(mitre))]))
}

/// Id of an `attack-pattern`: the normalised `x_mitre_id` (e.g. `T1566`)
/// when it is not blank, the normalised name otherwise.
#[must_use]
pub fn attack_pattern(name: &str, x_mitre_id: Option<&str>) -> String {
    match mitre_key(x_mitre_id) {
        Some(mitre) => mitre_id("attack-pattern", mitre),
        None => name_id("attack-pattern", name),
    }
}

/// Id of a `course-of-action`: same rule as [`attack_pattern`].
#[must_use]
pub fn course_of_action(name: &str, x_mitre_id: Option<&str>) -> String {
    match mitre_key(x_mitre_id) {
        Some(mitre) => mitre_id("course-of-action", mitre),
        None => name_id("course-of-action", name),
    }
}

/// OpenCTI's location type whose id comes from its coordinates.
const POSITION: &str = "Position";

/// Id of a `location`.
///
/// `location_type` is OpenCTI's `x_opencti_location_type` (`Region`,
/// `Country`, `Administrative-Area`, `City`, `Position`; case-sensitive). A
/// `Position` is identified by whichever coordinates are given, or by its
/// name alone when there are none; any other type by name and type.
///
/// # Errors
/// [`IdError::InvalidField`] when a coordinate used is not finite.
pub fn location(
    name: &str,
    location_type: Option<&str>,
    latitude: Option<f64>,
    longitude: Option<f64>,
) -> Result<String, IdError> {
    let coordinate = |field: &str, value: Option<f64>| match value {
        None => Ok(None),
        Some(value) => serde_json::Number::from_f64(value)
            .map(|number| Some(Value::Number(number)))
            .ok_or_else(|| IdError::invalid("location", field, "coordinates must be finite")),
    };
    let location_type = location_type.map(text);
    if location_type.as_ref().and_then(Value::as_str) == Some(POSITION) {
        let latitude = coordinate("latitude", latitude)?;
        let longitude = coordinate("longitude", longitude)?;
        return location_with(|| Ok(name), location_type.as_ref(), latitude, longitude);
    }
    location_with(|| Ok(name), location_type.as_ref(), None, None)
}

fn location_with<'a>(
    name: impl FnOnce() -> Result<&'a str, IdError>,
    location_type: Option<&Value>,
    latitude: Option<Value>,
    longitude: Option<Value>,
) -> Result<String, IdError> {
    if location_type.and_then(Value::as_str) == Some(POSITION) {
        let mut coordinates = Map::new();
        if let Some(latitude) = latitude {
            coordinates.insert("latitude".to_owned(), latitude);
        }
        if let Some(longitude) = longitude {
            coordinates.insert("longitude".to_owned(), longitude);
        }
        if !coordinates.is_empty() {
            return Ok(hashed_id("location", coordinates));
        }
        return Ok(name_id("location", name()?));
    }
    Ok(hashed_id(
        "location",
        hash_input([
            ("name", Value::String(python::normalise(name()?))),
            (
                "x_opencti_location_type",
                location_type.cloned().unwrap_or(Value::Null),
            ),
        ]),
    ))
}

/// OpenCTI's fixed ids of the TLP 2.0 markings, by `definition`.
const STATIC_TLP_IDS: &[(&str, &str)] = &[
    (
        "TLP:CLEAR",
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    ),
    (
        "TLP:WHITE",
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    ),
    (
        "TLP:GREEN",
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    ),
    (
        "TLP:AMBER",
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    ),
    (
        "TLP:AMBER+STRICT",
        "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
    ),
    (
        "TLP:RED",
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    ),
];

/// Id of a `marking-definition`.
///
/// `("TLP", "TLP:CLEAR" | "TLP:WHITE" | "TLP:GREEN" | "TLP:AMBER" |
/// "TLP:AMBER+STRICT" | "TLP:RED")`, spelled exactly so, have OpenCTI's
/// fixed ids; every other pair (PAP, statements, other spellings) is hashed
/// verbatim.
#[must_use]
pub fn marking_definition(definition_type: &str, definition: &str) -> String {
    marking_with(&text(definition_type), &text(definition))
}

fn marking_with(definition_type: &Value, definition: &Value) -> String {
    if definition_type.as_str() == Some("TLP")
        && let Some(definition) = definition.as_str()
        && let Some((_, id)) = STATIC_TLP_IDS.iter().find(|(tlp, _)| *tlp == definition)
    {
        return (*id).to_owned();
    }
    hashed_id(
        "marking-definition",
        hash_input([
            ("definition_type", definition_type.clone()),
            ("definition", definition.clone()),
        ]),
    )
}

/// Id of a kill chain phase (both names verbatim).
#[must_use]
pub fn kill_chain_phase(phase_name: &str, kill_chain_name: &str) -> String {
    kill_chain_phase_with(text(phase_name), text(kill_chain_name))
}

fn kill_chain_phase_with(phase_name: Value, kill_chain_name: Value) -> String {
    hashed_id(
        "kill-chain-phase",
        hash_input([
            ("phase_name", phase_name),
            ("kill_chain_name", kill_chain_name),
        ]),
    )
}

/// Id of an external reference: its `url` when present (even empty), else
/// `source_name` with `external_id`; `None` when neither is available (the
/// pycti splitter drops such references).
#[must_use]
pub fn external_reference(
    url: Option<&str>,
    source_name: Option<&str>,
    external_id: Option<&str>,
) -> Option<String> {
    external_reference_with(url.map(text), source_name.map(text), external_id.map(text))
}

fn external_reference_with(
    url: Option<Value>,
    source_name: Option<Value>,
    external_id: Option<Value>,
) -> Option<String> {
    let data = match (url, source_name, external_id) {
        (Some(url), _, _) => hash_input([("url", url)]),
        (None, Some(source_name), Some(external_id)) => {
            hash_input([("source_name", source_name), ("external_id", external_id)])
        }
        _ => return None,
    };
    Some(hashed_id("external-reference", data))
}

/// Id of a label (value verbatim: no case folding, no trimming).
#[must_use]
pub fn label(value: &str) -> String {
    label_with(text(value))
}

fn label_with(value: Value) -> String {
    hashed_id("label", hash_input([("value", value)]))
}

/// Id of a `note`: stripped content, `created` when given, and the stripped
/// abstract when it is not blank.
///
/// # Errors
/// [`IdError::InvalidField`] for an [`IdDate::Date`].
pub fn note(
    created: Option<IdDate<'_>>,
    content: &str,
    abstract_: Option<&str>,
) -> Result<String, IdError> {
    let mut data = hash_input([("content", text(python::strip(content)))]);
    if let Some(created) = created {
        insert_date(&mut data, "note", "created", created)?;
    }
    if let Some(abstract_) = abstract_.map(python::strip).filter(|a| !a.is_empty()) {
        data.insert("attribute_abstract".to_owned(), text(abstract_));
    }
    Ok(hashed_id("note", data))
}

/// Adds `field: dt(date)` unless the date is JSON `null` (pycti's `None`).
fn insert_date(
    data: &mut Map<String, Value>,
    object_type: &str,
    field: &str,
    date: IdDate<'_>,
) -> Result<(), IdError> {
    let value = date.hashed(object_type, field)?;
    if !value.is_null() {
        data.insert(field.to_owned(), value);
    }
    Ok(())
}

/// Id of an `opinion`: the stripped opinion and `created` when given.
///
/// # Errors
/// [`IdError::InvalidField`] for an [`IdDate::Date`].
pub fn opinion(created: Option<IdDate<'_>>, opinion: &str) -> Result<String, IdError> {
    let mut data = hash_input([("opinion", text(python::strip(opinion)))]);
    if let Some(created) = created {
        insert_date(&mut data, "opinion", "created", created)?;
    }
    Ok(hashed_id("opinion", data))
}

/// Id of an `observed-data`: its object ids, order and duplicates kept.
#[must_use]
pub fn observed_data<S: AsRef<str>>(object_ids: &[S]) -> String {
    observed_data_with(string_list(object_ids))
}

fn string_list<S: AsRef<str>>(items: &[S]) -> Value {
    Value::Array(items.iter().map(|item| text(item.as_ref())).collect())
}

fn observed_data_with(object_ids: Value) -> String {
    hashed_id("observed-data", hash_input([("objects", object_ids)]))
}

/// Id of a `grouping`: normalised name and context, `created` when given.
///
/// # Errors
/// [`IdError::InvalidField`] for an [`IdDate::Date`].
pub fn grouping(name: &str, context: &str, created: Option<IdDate<'_>>) -> Result<String, IdError> {
    let mut data = hash_input([
        ("name", Value::String(python::normalise(name))),
        ("context", Value::String(python::normalise(context))),
    ]);
    if let Some(created) = created {
        insert_date(&mut data, "grouping", "created", created)?;
    }
    Ok(hashed_id("grouping", data))
}

/// Id of a `malware-analysis`: normalised result name, product verbatim
/// (`None` hashed as `null`) and `submitted` when given.
///
/// # Errors
/// pycti hashes `submitted` without converting datetimes, so only
/// [`IdDate::Text`] and [`IdDate::Json`] are accepted
/// ([`IdError::InvalidField`] otherwise).
pub fn malware_analysis(
    result_name: &str,
    product: Option<&str>,
    submitted: Option<IdDate<'_>>,
) -> Result<String, IdError> {
    malware_analysis_with(result_name, product.map_or(Value::Null, text), submitted)
}

fn malware_analysis_with(
    result_name: &str,
    product: Value,
    submitted: Option<IdDate<'_>>,
) -> Result<String, IdError> {
    let mut data = hash_input([
        ("result_name", Value::String(python::normalise(result_name))),
        ("product", product),
    ]);
    if let Some(submitted) = submitted {
        let value = submitted.hashed_verbatim("malware-analysis", "submitted")?;
        if !value.is_null() {
            data.insert("submitted".to_owned(), value);
        }
    }
    Ok(hashed_id("malware-analysis", data))
}

/// Id of a vocabulary entry: normalised name, category verbatim.
#[must_use]
pub fn vocabulary(name: &str, category: &str) -> String {
    vocabulary_with(name, text(category))
}

fn vocabulary_with(name: &str, category: Value) -> String {
    hashed_id(
        "vocabulary",
        hash_input([
            ("name", Value::String(python::normalise(name))),
            ("category", category),
        ]),
    )
}

/// Id of a `relationship`: type and both refs verbatim, `start_time` when
/// given, and `stop_time` only together with `start_time` (pycti ignores a
/// lone stop time).
///
/// # Errors
/// [`IdError::InvalidField`] for an [`IdDate::Date`].
pub fn relationship(
    relationship_type: &str,
    source_ref: &str,
    target_ref: &str,
    start_time: Option<IdDate<'_>>,
    stop_time: Option<IdDate<'_>>,
) -> Result<String, IdError> {
    relationship_with(
        text(relationship_type),
        text(source_ref),
        text(target_ref),
        start_time,
        stop_time,
    )
}

fn relationship_with(
    relationship_type: Value,
    source_ref: Value,
    target_ref: Value,
    start_time: Option<IdDate<'_>>,
    stop_time: Option<IdDate<'_>>,
) -> Result<String, IdError> {
    let mut data = hash_input([
        ("relationship_type", relationship_type),
        ("source_ref", source_ref),
        ("target_ref", target_ref),
    ]);
    insert_period(
        &mut data,
        "relationship",
        ("start_time", start_time),
        ("stop_time", stop_time),
    )?;
    Ok(hashed_id("relationship", data))
}

/// Adds a start date, and the end date only when the start is set.
fn insert_period(
    data: &mut Map<String, Value>,
    object_type: &str,
    (start_field, start): (&str, Option<IdDate<'_>>),
    (stop_field, stop): (&str, Option<IdDate<'_>>),
) -> Result<(), IdError> {
    let Some(start) = start
        .map(|date| date.hashed(object_type, start_field))
        .transpose()?
    else {
        return Ok(());
    };
    if start.is_null() {
        return Ok(());
    }
    data.insert(start_field.to_owned(), start);
    if let Some(stop) = stop {
        insert_date(data, object_type, stop_field, stop)?;
    }
    Ok(())
}

/// Id of a `sighting`: sighted object, places (order kept), `first_seen`
/// when given and `last_seen` only together with `first_seen`.
///
/// # Errors
/// [`IdError::InvalidField`] for an [`IdDate::Date`].
pub fn sighting<S: AsRef<str>>(
    sighting_of_ref: &str,
    where_sighted_refs: &[S],
    first_seen: Option<IdDate<'_>>,
    last_seen: Option<IdDate<'_>>,
) -> Result<String, IdError> {
    sighting_with(
        text(sighting_of_ref),
        string_list(where_sighted_refs),
        first_seen,
        last_seen,
    )
}

fn sighting_with(
    sighting_of_ref: Value,
    where_sighted_refs: Value,
    first_seen: Option<IdDate<'_>>,
    last_seen: Option<IdDate<'_>>,
) -> Result<String, IdError> {
    let mut data = hash_input([
        ("type", text("sighting")),
        ("sighting_of_ref", sighting_of_ref),
        ("where_sighted_refs", where_sighted_refs),
    ]);
    insert_period(
        &mut data,
        "sighting",
        ("first_seen", first_seen),
        ("last_seen", last_seen),
    )?;
    Ok(hashed_id("sighting", data))
}

/// Id of a `security-coverage`: its normalised covered ref.
#[must_use]
pub fn security_coverage(covered_ref: &str) -> String {
    hashed_id(
        "security-coverage",
        hash_input([("covered_ref", Value::String(python::normalise(covered_ref)))]),
    )
}

/// Id of a `security-coverage-result`: stripped result ref, normalised name
/// and stripped external URI when given.
#[must_use]
pub fn security_coverage_result(
    name: Option<&str>,
    external_uri: Option<&str>,
    result_of_ref: &str,
) -> String {
    let mut data = hash_input([("result_of_ref", text(python::strip(result_of_ref)))]);
    if let Some(name) = name {
        data.insert("name".to_owned(), Value::String(python::normalise(name)));
    }
    if let Some(external_uri) = external_uri {
        data.insert("external_uri".to_owned(), text(python::strip(external_uri)));
    }
    hashed_id("security-coverage-result", data)
}

/// The rule type of legacy and MITRE spellings OpenCTI still accepts.
fn rule_type(object_type: &str) -> &str {
    match object_type {
        "x-mitre-data-component" => "data-component",
        "x-mitre-data-source" => "data-source",
        "x-opencti-feedback" => "feedback",
        "x-opencti-case-incident" => "case-incident",
        "x-opencti-case-rfi" => "case-rfi",
        "x-opencti-case-rft" => "case-rft",
        "x-opencti-task" => "task",
        other => other,
    }
}

/// The OpenCTI extension carrying platform properties of exported objects.
const OPENCTI_EXTENSION: &str = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";

/// The id OpenCTI gives a STIX object, derived from its properties the way
/// pycti's `generate_id_from_data` helpers (and stix2, for observables) do.
///
/// The rule is chosen by `data["type"]`: every SDO, SRO and meta object
/// pycti knows (legacy `x-opencti-*`/`x-mitre-*` spellings included; the id
/// then carries the current type), `label`, `kill-chain-phase`,
/// `external-reference`, and every observable type stix2 and pycti define.
/// An `id` already present in `data` is ignored. A threat actor's OpenCTI
/// subtype comes from `x_opencti_type`, else from the OpenCTI extension's
/// `type`, else defaults to `Threat-Actor-Group`.
///
/// ```
/// use serde_json::json;
/// let relationship = json!({
///     "type": "relationship",
///     "relationship_type": "uses",
///     "source_ref": "intrusion-set--8a3f2b1e-6f4e-5c77-9e57-1f1d8d4d5e11",
///     "target_ref": "malware--4a5e9f3c-2b1d-5e6f-8a7b-9c0d1e2f3a4b",
/// });
/// let id = opencti_stix::id::generate_id_from_data(&relationship)?;
/// assert!(id.starts_with("relationship--"));
/// # Ok::<(), opencti_stix::id::IdError>(())
/// ```
///
/// # Errors
/// [`IdError::NotAnObject`] and [`IdError::MissingType`] for data that is not
/// a typed object, [`IdError::UnsupportedType`] for types without a rule
/// (custom objects), [`IdError::MissingField`] / [`IdError::InvalidField`]
/// naming the property at fault, and [`IdError::NotDeterministic`] when the
/// rule has nothing to hash (pycti or stix2 would give no id or a random one).
pub fn generate_id_from_data(data: &Value) -> Result<String, IdError> {
    let map = data.as_object().ok_or(IdError::NotAnObject)?;
    let object_type = map
        .get("type")
        .and_then(Value::as_str)
        .ok_or(IdError::MissingType)?;
    let fields = Fields { object_type, map };
    let rule = rule_type(object_type);
    if NAME_ONLY_TYPES.contains(&rule) {
        return Ok(name_id(rule, fields.required_text("name")?));
    }
    match rule {
        "threat-actor" => {
            let from_extension = map
                .get("extensions")
                .and_then(|extensions| extensions.get(OPENCTI_EXTENSION))
                .and_then(|extension| extension.get("type"));
            let opencti_type = [map.get("x_opencti_type"), from_extension]
                .into_iter()
                .flatten()
                .find(|value| python::is_truthy(value))
                .cloned()
                .unwrap_or_else(|| text(THREAT_ACTOR_GROUP));
            Ok(threat_actor_with(
                fields.required_text("name")?,
                opencti_type,
            ))
        }
        "indicator" => Ok(indicator(fields.required_text("pattern")?)),
        "report" => name_and_date(
            rule,
            "published",
            fields.required_text("name")?,
            Some(IdDate::Json(fields.required("published")?)),
        ),
        "incident" | "case-incident" | "case-rfi" | "case-rft" | "task" => name_and_date(
            rule,
            "created",
            fields.required_text("name")?,
            Some(IdDate::Json(fields.required("created")?)),
        ),
        "identity" => Ok(identity(
            fields.required_text("name")?,
            fields.required_text("identity_class")?,
        )),
        "attack-pattern" | "course-of-action" => {
            // pycti: `data.get("x_mitre_id") or data.get("x_opencti_external_id")`
            // for attack patterns, `data.get("x_mitre_id")` for courses of action.
            let mut mitre_field = "x_mitre_id";
            if rule == "attack-pattern"
                && !fields.optional(mitre_field).is_some_and(python::is_truthy)
            {
                mitre_field = "x_opencti_external_id";
            }
            let mitre = fields.optional_text(mitre_field)?;
            match mitre_key(mitre) {
                Some(mitre) => Ok(mitre_id(rule, mitre)),
                None => Ok(name_id(rule, fields.required_text("name")?)),
            }
        }
        "location" => location_with(
            || fields.required_text("name"),
            fields.optional("x_opencti_location_type"),
            fields.optional("latitude").cloned(),
            fields.optional("longitude").cloned(),
        ),
        "marking-definition" => Ok(marking_with(
            fields.required("definition_type")?,
            fields.required("definition")?,
        )),
        "kill-chain-phase" => Ok(kill_chain_phase_with(
            fields.required("phase_name")?.clone(),
            fields.required("kill_chain_name")?.clone(),
        )),
        "external-reference" => external_reference_with(
            fields.optional("url").cloned(),
            fields.optional("source_name").cloned(),
            fields.optional("external_id").cloned(),
        )
        .ok_or_else(|| IdError::NotDeterministic {
            object_type: object_type.to_owned(),
        }),
        "label" => Ok(label_with(fields.required("value")?.clone())),
        "note" => note(
            fields.optional("created").map(IdDate::Json),
            fields.required_text("content")?,
            fields.optional_text("attribute_abstract")?,
        ),
        "opinion" => opinion(
            fields.optional("created").map(IdDate::Json),
            fields.required_text("opinion")?,
        ),
        "observed-data" => Ok(observed_data_with(fields.required("object_refs")?.clone())),
        "grouping" => grouping(
            fields.required_text("name")?,
            fields.required_text("context")?,
            fields.optional("created").map(IdDate::Json),
        ),
        "malware-analysis" => malware_analysis_with(
            fields.required_text("result_name")?,
            fields.required("product")?.clone(),
            fields.optional("submitted").map(IdDate::Json),
        ),
        "vocabulary" => Ok(vocabulary_with(
            fields.required_text("name")?,
            fields.required("category")?.clone(),
        )),
        "relationship" => relationship_with(
            fields.required("relationship_type")?.clone(),
            fields.required("source_ref")?.clone(),
            fields.required("target_ref")?.clone(),
            fields.optional("start_time").map(IdDate::Json),
            fields.optional("stop_time").map(IdDate::Json),
        ),
        "sighting" => sighting_with(
            fields.required("sighting_of_ref")?.clone(),
            fields.required("where_sighted_refs")?.clone(),
            fields.optional("first_seen").map(IdDate::Json),
            fields.optional("last_seen").map(IdDate::Json),
        ),
        "security-coverage" => Ok(security_coverage(fields.required_text("covered_ref")?)),
        "security-coverage-result" => Ok(security_coverage_result(
            fields.optional_text("name")?,
            fields.optional_text("external_uri")?,
            fields.required_text("result_of_ref")?,
        )),
        _ => match observable::id_data(object_type, map) {
            Some(data) => Ok(hashed_id(object_type, data?)),
            None => Err(IdError::UnsupportedType {
                object_type: object_type.to_owned(),
            }),
        },
    }
}

/// Whether `object_type` is an observable (SCO) type with a stix2 id rule,
/// OpenCTI's custom observables included.
#[must_use]
pub fn is_observable_type(object_type: &str) -> bool {
    observable::is_observable(object_type)
}

/// Reads the properties of the object being identified, with the error
/// pycti's `data["field"]` / `data.get("field")` would turn into.
struct Fields<'a> {
    object_type: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// `data["field"]`: must be present (it may be `null`).
    fn required(&self, field: &str) -> Result<&'a Value, IdError> {
        self.map
            .get(field)
            .ok_or_else(|| IdError::missing(self.object_type, field))
    }

    /// `data["field"]` used as a string.
    fn required_text(&self, field: &str) -> Result<&'a str, IdError> {
        self.required(field)?
            .as_str()
            .ok_or_else(|| IdError::invalid(self.object_type, field, "expected a string"))
    }

    /// `data.get("field")`: absent and `null` are both `None`.
    fn optional(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|value| !value.is_null())
    }

    /// `data.get("field")` used as a string.
    fn optional_text(&self, field: &str) -> Result<Option<&'a str>, IdError> {
        self.optional(field)
            .map(|value| {
                value
                    .as_str()
                    .ok_or_else(|| IdError::invalid(self.object_type, field, "expected a string"))
            })
            .transpose()
    }
}
