//! Builders that make the common objects hard to get wrong.
//!
//! Each model has a constructor taking its required properties
//! (`Indicator::builder(pattern, pattern_type, valid_from)`,
//! `Relationship::builder(type, source, target)`, `Ipv4Address::builder(value)`,
//! ...) and returning a [`Builder`]. [`Builder::build`] then fills what
//! pycti / stix2 would: `spec_version` 2.1, `created` (now, unless given) and
//! `modified` (= `created`) for domain objects, and the deterministic id
//! pycti derives from the properties ([`StixModel::derive_id`]).
//!
//! Timestamps are written the way stix2 writes them: `created` and
//! `modified` always with milliseconds (`2024-01-02T03:04:05.000Z`, see
//! [`timestamp_millis`]), the others with their fraction only when it is
//! not zero (`2024-01-02T03:04:05Z`, see [`timestamp`]).
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use opencti_stix::builder::{DomainObject as _, StixModel as _};
//! use opencti_stix::marking::TLP_GREEN;
//! use opencti_stix::object::{Identity, Indicator, Ipv4Address, Relationship};
//! use opencti_stix::{Bundle, StixObject};
//!
//! let at = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
//! let author = Identity::organization("ACME CERT").created(at).build()?;
//! let indicator = Indicator::builder("[ipv4-addr:value = '198.51.100.7']", "stix", at)
//!     .name("198.51.100.7")
//!     .score(80)
//!     .main_observable_type("IPv4-Addr")
//!     .created_by(author.id())
//!     .marking(TLP_GREEN.id())
//!     .label("c2")
//!     .created(at)
//!     .build()?;
//! let observable = Ipv4Address::builder("198.51.100.7")
//!     .score(80)
//!     .created_by(author.id())
//!     .marking(TLP_GREEN.id())
//!     .build()?;
//! let based_on = Relationship::builder("based-on", indicator.id(), observable.id())
//!     .created_by(author.id())
//!     .created(at)
//!     .build()?;
//!
//! assert_eq!(indicator.common.id, "indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968");
//! assert_eq!(indicator.common.created.as_deref(), Some("2024-01-02T03:04:05.000Z"));
//! assert_eq!(indicator.valid_from, "2024-01-02T03:04:05Z");
//! assert_eq!(observable.common.id, "ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db");
//!
//! let objects: Vec<StixObject> = vec![
//!     author.into(),
//!     TLP_GREEN.clone().into(),
//!     indicator.into(),
//!     observable.into(),
//!     based_on.into(),
//! ];
//! let json = Bundle::new(objects).to_json();
//! assert!(json.starts_with(r#"{"type":"bundle","id":"bundle--"#));
//! # Ok::<(), opencti_stix::builder::BuildError>(())
//! ```

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::id::{self, IdDate, IdError};
use crate::object::*;

/// A timestamp as stix2 writes `created` and `modified`: UTC, always with
/// milliseconds (`2024-01-02T03:04:05.000Z`); finer digits are dropped.
#[must_use]
pub fn timestamp_millis(moment: DateTime<Utc>) -> String {
    moment.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A timestamp as stix2 writes the others (`valid_from`, `published`,
/// `first_seen`...): UTC, the fraction only when it is not zero, without
/// trailing zeros (`2024-01-02T03:04:05Z`, `2024-01-02T03:04:05.5Z`).
#[must_use]
pub fn timestamp(moment: DateTime<Utc>) -> String {
    let micros = moment.nanosecond() % 1_000_000_000 / 1_000;
    let mut out = moment.format("%Y-%m-%dT%H:%M:%S").to_string();
    if micros != 0 {
        let fraction = format!("{micros:06}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Why an object could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The deterministic id could not be derived (a property it needs is
    /// missing or unusable).
    #[error("cannot derive the object's id: {0}")]
    Id(#[from] IdError),
    /// A 0–100 property (`confidence`, `x_opencti_score`) is out of range.
    #[error("`{field}` must be between 0 and 100, got {value}")]
    OutOfRange {
        /// The property.
        field: &'static str,
        /// The value given.
        value: i64,
    },
}

mod sealed {
    pub trait Sealed {}
}

/// A typed STIX model (sealed: implemented by this crate's models).
pub trait StixModel: sealed::Sealed + Into<StixObject> {
    /// The object's `id`.
    fn id(&self) -> &str;
    /// Replaces the object's `id`.
    fn set_id(&mut self, id: String);
    /// The id pycti gives an object with these properties (stix2's, for
    /// observables). Dates are hashed verbatim, as pycti does when handed
    /// the object's own strings. Marking definitions are identified by
    /// their OpenCTI type and name when they have them.
    ///
    /// # Errors
    /// [`IdError`] when a property the id needs is missing or unusable.
    fn derive_id(&self) -> Result<String, IdError>;
    /// Properties without a typed field.
    fn extra_mut(&mut self) -> &mut Map<String, Value>;
    /// The author (`created_by_ref`).
    fn created_by_ref_mut(&mut self) -> &mut Option<String>;
    /// The markings (`object_marking_refs`).
    fn object_marking_refs_mut(&mut self) -> &mut Option<Vec<String>>;
    /// The labels.
    fn labels_mut(&mut self) -> &mut Option<Vec<String>>;
    /// The external references (`x_opencti_external_references` on
    /// observables).
    fn external_references_mut(&mut self) -> &mut Option<Vec<ExternalReference>>;
    /// Fills what stix2 fills when an object is created: `spec_version`,
    /// and for domain objects `created` (`now`) and `modified` (= `created`).
    fn fill_defaults(&mut self, now: DateTime<Utc>);
    /// Checks the 0–100 ranges.
    ///
    /// # Errors
    /// [`BuildError::OutOfRange`].
    fn check_ranges(&self) -> Result<(), BuildError>;
}

/// A domain object, relationship or marking definition.
pub trait DomainObject: StixModel {
    /// The common properties.
    fn common(&self) -> &CommonProperties;
    /// The common properties, mutably.
    fn common_mut(&mut self) -> &mut CommonProperties;
}

/// An observable.
pub trait Observable: StixModel {
    /// The common properties.
    fn common(&self) -> &ObservableProperties;
    /// The common properties, mutably.
    fn common_mut(&mut self) -> &mut ObservableProperties;
}

fn check_range(field: &'static str, value: Option<i64>) -> Result<(), BuildError> {
    match value {
        Some(value) if !(0..=100).contains(&value) => Err(BuildError::OutOfRange { field, value }),
        _ => Ok(()),
    }
}

fn date(value: Option<&String>) -> Option<IdDate<'_>> {
    value.map(|text| IdDate::Text(text.as_str()))
}

fn required<'a>(
    object_type: &str,
    field: &str,
    value: Option<&'a String>,
) -> Result<&'a str, IdError> {
    value
        .map(String::as_str)
        .ok_or_else(|| IdError::MissingField {
            object_type: object_type.to_owned(),
            field: field.to_owned(),
        })
}

macro_rules! domain_models {
    ($($model:ident $(+ $score:ident)? => |$object:ident| $derive:expr;)*) => {$(
        impl sealed::Sealed for $model {}

        impl StixModel for $model {
            fn id(&self) -> &str {
                &self.common.id
            }

            fn set_id(&mut self, id: String) {
                self.common.id = id;
            }

            fn derive_id(&self) -> Result<String, IdError> {
                let $object = self;
                $derive
            }

            fn extra_mut(&mut self) -> &mut Map<String, Value> {
                &mut self.extra
            }

            fn created_by_ref_mut(&mut self) -> &mut Option<String> {
                &mut self.common.created_by_ref
            }

            fn object_marking_refs_mut(&mut self) -> &mut Option<Vec<String>> {
                &mut self.common.object_marking_refs
            }

            fn labels_mut(&mut self) -> &mut Option<Vec<String>> {
                &mut self.common.labels
            }

            fn external_references_mut(&mut self) -> &mut Option<Vec<ExternalReference>> {
                &mut self.common.external_references
            }

            fn fill_defaults(&mut self, now: DateTime<Utc>) {
                let common = &mut self.common;
                common.spec_version.get_or_insert_with(|| "2.1".to_owned());
                let created = common.created.get_or_insert_with(|| timestamp_millis(now)).clone();
                // STIX 2.1 marking definitions have no `modified`.
                if stringify!($model) != "MarkingDefinition" {
                    common.modified.get_or_insert(created);
                }
            }

            fn check_ranges(&self) -> Result<(), BuildError> {
                check_range("confidence", self.common.confidence)?;
                $( check_range(stringify!($score), self.$score)?; )?
                Ok(())
            }
        }

        impl DomainObject for $model {
            fn common(&self) -> &CommonProperties {
                &self.common
            }

            fn common_mut(&mut self) -> &mut CommonProperties {
                &mut self.common
            }
        }
    )*};
}

domain_models! {
    AttackPattern => |o| Ok(id::attack_pattern(&o.name, o.x_mitre_id.as_deref()));
    Campaign => |o| Ok(id::campaign(&o.name));
    CourseOfAction => |o| Ok(id::course_of_action(&o.name, o.x_mitre_id.as_deref()));
    Grouping => |o| id::grouping(
        required("grouping", "name", o.name.as_ref())?,
        &o.context,
        date(o.common.created.as_ref()),
    );
    Identity => |o| Ok(id::identity(
        &o.name,
        required("identity", "identity_class", o.identity_class.as_ref())?,
    ));
    Indicator + x_opencti_score => |o| Ok(id::indicator(&o.pattern));
    Infrastructure => |o| Ok(id::infrastructure(&o.name));
    IntrusionSet => |o| Ok(id::intrusion_set(&o.name));
    Location => |o| {
        let is_position = o.x_opencti_location_type.as_deref() == Some("Position")
            && (o.latitude.is_some() || o.longitude.is_some());
        // A located position is identified by its coordinates alone.
        let name = if is_position { "" } else { required("location", "name", o.name.as_ref())? };
        id::location(name, o.x_opencti_location_type.as_deref(), o.latitude, o.longitude)
    };
    Malware => |o| Ok(id::malware(&o.name));
    Note => |o| id::note(date(o.common.created.as_ref()), &o.content, o.abstract_.as_deref());
    ObservedData => |o| Ok(id::observed_data(
        o.object_refs.as_deref().ok_or_else(|| IdError::MissingField {
            object_type: "observed-data".to_owned(),
            field: "object_refs".to_owned(),
        })?,
    ));
    Report => |o| id::report(&o.name, Some(IdDate::Text(&o.published)));
    ThreatActor => |o| {
        let mut data = json!({"type": "threat-actor", "name": o.name});
        for key in ["x_opencti_type", "extensions"] {
            if let Some(value) = o.extra.get(key) {
                data[key] = value.clone();
            }
        }
        id::generate_id_from_data(&data)
    };
    Tool => |o| Ok(id::tool(&o.name));
    Vulnerability => |o| Ok(id::vulnerability(&o.name));
    Relationship => |o| id::relationship(
        &o.relationship_type,
        &o.source_ref,
        &o.target_ref,
        date(o.start_time.as_ref()),
        date(o.stop_time.as_ref()),
    );
    Sighting => |o| id::sighting(
        &o.sighting_of_ref,
        o.where_sighted_refs.as_deref().ok_or_else(|| IdError::MissingField {
            object_type: "sighting".to_owned(),
            field: "where_sighted_refs".to_owned(),
        })?,
        date(o.first_seen.as_ref()),
        date(o.last_seen.as_ref()),
    );
    MarkingDefinition => |o| match (&o.x_opencti_definition_type, &o.x_opencti_definition) {
        (Some(definition_type), Some(definition)) => {
            Ok(id::marking_definition(definition_type, definition))
        }
        _ => id::generate_id_from_data(&json!({
            "type": "marking-definition",
            "definition_type": o.definition_type,
            "definition": o.definition,
        })),
    };
}

macro_rules! observable_models {
    ($($model:ident)*) => {$(
        impl sealed::Sealed for $model {}

        impl StixModel for $model {
            fn id(&self) -> &str {
                &self.common.id
            }

            fn set_id(&mut self, id: String) {
                self.common.id = id;
            }

            fn derive_id(&self) -> Result<String, IdError> {
                // The stix2 rules read the id-contributing properties from
                // the object's JSON form.
                let value = serde_json::to_value(self).unwrap_or(Value::Null);
                id::generate_id_from_data(&value)
            }

            fn extra_mut(&mut self) -> &mut Map<String, Value> {
                &mut self.extra
            }

            fn created_by_ref_mut(&mut self) -> &mut Option<String> {
                &mut self.common.created_by_ref
            }

            fn object_marking_refs_mut(&mut self) -> &mut Option<Vec<String>> {
                &mut self.common.object_marking_refs
            }

            fn labels_mut(&mut self) -> &mut Option<Vec<String>> {
                &mut self.common.labels
            }

            fn external_references_mut(&mut self) -> &mut Option<Vec<ExternalReference>> {
                &mut self.common.x_opencti_external_references
            }

            fn fill_defaults(&mut self, _now: DateTime<Utc>) {
                self.common.spec_version.get_or_insert_with(|| "2.1".to_owned());
            }

            fn check_ranges(&self) -> Result<(), BuildError> {
                check_range("x_opencti_score", self.common.x_opencti_score)
            }
        }

        impl Observable for $model {
            fn common(&self) -> &ObservableProperties {
                &self.common
            }

            fn common_mut(&mut self) -> &mut ObservableProperties {
                &mut self.common
            }
        }
    )*};
}

observable_models! {
    Artifact AutonomousSystem Directory DomainName EmailAddress EmailMessage File
    Ipv4Address Ipv6Address MacAddress Mutex NetworkTraffic Process Software Url
    UserAccount WindowsRegistryKey X509Certificate Hostname CryptocurrencyWallet Text
    UserAgent PhoneNumber Credential TrackingNumber CryptographicKey SshKey AiPrompt
    Imei Iccid Imsi BankAccount PaymentCard MediaContent Persona
}

/// Builds a STIX object: required properties come from the model's
/// constructor, optional ones from the setters, and [`Builder::build`]
/// completes the object (defaults and deterministic id).
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a builder does nothing until built"]
pub struct Builder<T> {
    object: T,
    id: Option<String>,
}

impl<T: StixModel> Builder<T> {
    /// Starts from `object` as it is.
    pub fn new(object: T) -> Self {
        Self { object, id: None }
    }

    /// Changes anything on the object being built (for the properties
    /// without a dedicated setter).
    pub fn edit(mut self, change: impl FnOnce(&mut T)) -> Self {
        change(&mut self.object);
        self
    }

    /// Sets a property without a typed field (`x_opencti_*`, custom ones).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.object.extra_mut().insert(key.into(), value.into());
        self
    }

    /// Uses `id` instead of the derived one (for ids a Python connector
    /// derived differently, e.g. from a date it formatted its own way).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the author (`created_by_ref`), typically an organization
    /// [`Identity`]'s id.
    pub fn created_by(mut self, author_id: impl Into<String>) -> Self {
        *self.object.created_by_ref_mut() = Some(author_id.into());
        self
    }

    /// Adds a marking (`object_marking_refs`), e.g. `TLP_GREEN.id()`.
    pub fn marking(mut self, marking_id: impl Into<String>) -> Self {
        push(self.object.object_marking_refs_mut(), marking_id.into());
        self
    }

    /// Adds several markings.
    pub fn markings<I: IntoIterator<Item = S>, S: Into<String>>(mut self, marking_ids: I) -> Self {
        for marking_id in marking_ids {
            push(self.object.object_marking_refs_mut(), marking_id.into());
        }
        self
    }

    /// Adds a label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        push(self.object.labels_mut(), label.into());
        self
    }

    /// Adds several labels.
    pub fn labels<I: IntoIterator<Item = S>, S: Into<String>>(mut self, labels: I) -> Self {
        for label in labels {
            push(self.object.labels_mut(), label.into());
        }
        self
    }

    /// Adds an external reference.
    pub fn external_reference(mut self, reference: ExternalReference) -> Self {
        push(self.object.external_references_mut(), reference);
        self
    }

    /// Completes the object: defaults, range checks and id.
    ///
    /// # Errors
    /// [`BuildError::OutOfRange`] for a confidence or score above 100, and
    /// [`BuildError::Id`] when the id cannot be derived.
    pub fn build(mut self) -> Result<T, BuildError> {
        self.object.fill_defaults(Utc::now());
        self.object.check_ranges()?;
        let id = match self.id {
            Some(id) => id,
            None => match self.object.derive_id() {
                Ok(id) => id,
                // stix2 gives such observables (processes, empty files) a
                // random id.
                Err(IdError::NotDeterministic { object_type }) => {
                    format!("{object_type}--{}", Uuid::new_v4())
                }
                Err(error) => return Err(error.into()),
            },
        };
        self.object.set_id(id);
        Ok(self.object)
    }
}

fn push<T>(list: &mut Option<Vec<T>>, item: T) {
    list.get_or_insert_with(Vec::new).push(item);
}

impl<T: DomainObject> Builder<T> {
    /// Sets `created` (written with milliseconds); `modified` follows it
    /// unless set too.
    pub fn created(mut self, at: DateTime<Utc>) -> Self {
        self.object.common_mut().created = Some(timestamp_millis(at));
        self
    }

    /// Sets `modified` (written with milliseconds).
    pub fn modified(mut self, at: DateTime<Utc>) -> Self {
        self.object.common_mut().modified = Some(timestamp_millis(at));
        self
    }

    /// Sets the confidence (0–100).
    pub fn confidence(mut self, confidence: u8) -> Self {
        self.object.common_mut().confidence = Some(i64::from(confidence));
        self
    }
}

impl<T: Observable> Builder<T> {
    /// Sets OpenCTI's score (`x_opencti_score`, 0–100).
    pub fn score(mut self, score: u8) -> Self {
        self.object.common_mut().x_opencti_score = Some(i64::from(score));
        self
    }

    /// Sets OpenCTI's description (`x_opencti_description`).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.object.common_mut().x_opencti_description = Some(description.into());
        self
    }
}

impl ExternalReference {
    /// A reference to `source_name`; chain [`Self::with_url`],
    /// [`Self::with_external_id`], [`Self::with_description`].
    #[must_use]
    pub fn new(source_name: impl Into<String>) -> Self {
        Self {
            source_name: Some(source_name.into()),
            ..Self::default()
        }
    }

    /// Sets the URL.
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Sets the identifier within the source.
    #[must_use]
    pub fn with_external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

impl KillChainPhase {
    /// A phase of a kill chain (`("mitre-attack", "execution")`).
    #[must_use]
    pub fn new(kill_chain_name: impl Into<String>, phase_name: impl Into<String>) -> Self {
        Self {
            kill_chain_name: Some(kill_chain_name.into()),
            phase_name: Some(phase_name.into()),
            extra: Map::new(),
        }
    }
}

macro_rules! named_builders {
    ($($model:ident),*) => {$(
        impl $model {
            #[doc = concat!("A builder of a `", stringify!($model), "` named `name` (its id derives from the name).")]
            pub fn builder(name: impl Into<String>) -> Builder<Self> {
                Builder::new(Self {
                    name: name.into(),
                    ..Self::default()
                })
            }
        }

        impl Builder<$model> {
            /// Sets the description.
            pub fn description(mut self, description: impl Into<String>) -> Self {
                self.object.description = Some(description.into());
                self
            }
        }
    )*};
}

named_builders!(
    AttackPattern,
    Campaign,
    CourseOfAction,
    Infrastructure,
    IntrusionSet,
    Malware,
    ThreatActor,
    Tool,
    Vulnerability
);

macro_rules! alias_setters {
    ($($model:ident),*) => {$(
        impl Builder<$model> {
            /// Adds another name.
            pub fn alias(mut self, alias: impl Into<String>) -> Self {
                push(&mut self.object.aliases, alias.into());
                self
            }
        }
    )*};
}

alias_setters!(
    AttackPattern,
    Campaign,
    Infrastructure,
    IntrusionSet,
    Malware,
    ThreatActor,
    Tool
);

macro_rules! kill_chain_setters {
    ($($model:ident),*) => {$(
        impl Builder<$model> {
            /// Adds a kill chain phase.
            pub fn kill_chain_phase(mut self, phase: KillChainPhase) -> Self {
                push(&mut self.object.kill_chain_phases, phase);
                self
            }
        }
    )*};
}

kill_chain_setters!(AttackPattern, Indicator, Infrastructure, Malware, Tool);

impl Builder<AttackPattern> {
    /// Sets the MITRE ATT&CK id (`T1566`), which then makes the id.
    pub fn x_mitre_id(mut self, x_mitre_id: impl Into<String>) -> Self {
        self.object.x_mitre_id = Some(x_mitre_id.into());
        self
    }
}

impl Builder<Malware> {
    /// Sets whether this is a malware family.
    pub fn is_family(mut self, is_family: bool) -> Self {
        self.object.is_family = Some(is_family);
        self
    }

    /// Adds a malware type (`ransomware`, `trojan`...).
    pub fn malware_type(mut self, malware_type: impl Into<String>) -> Self {
        push(&mut self.object.malware_types, malware_type.into());
        self
    }
}

impl Builder<ThreatActor> {
    /// Files the threat actor as an individual in OpenCTI (the default is
    /// a group); this changes its id.
    pub fn individual(self) -> Self {
        self.property("x_opencti_type", id::THREAT_ACTOR_INDIVIDUAL)
    }
}

impl Identity {
    /// A builder of an identity of class `identity_class` (`organization`,
    /// `individual`, `class` for sectors, `system`...).
    pub fn builder(name: impl Into<String>, identity_class: impl Into<String>) -> Builder<Self> {
        Builder::new(Self {
            name: name.into(),
            identity_class: Some(identity_class.into()),
            ..Self::default()
        })
    }

    /// A builder of an organization, the usual author of a connector's
    /// objects.
    pub fn organization(name: impl Into<String>) -> Builder<Self> {
        Self::builder(name, "organization")
    }
}

impl Builder<Identity> {
    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.object.description = Some(description.into());
        self
    }

    /// Sets the contact information.
    pub fn contact_information(mut self, contact: impl Into<String>) -> Self {
        self.object.contact_information = Some(contact.into());
        self
    }
}

impl Indicator {
    /// A builder of an indicator (its id derives from the pattern).
    /// `valid_from` is written as stix2 does (no fraction when zero).
    pub fn builder(
        pattern: impl Into<String>,
        pattern_type: impl Into<String>,
        valid_from: DateTime<Utc>,
    ) -> Builder<Self> {
        Builder::new(Self {
            pattern: pattern.into(),
            pattern_type: pattern_type.into(),
            valid_from: timestamp(valid_from),
            ..Self::default()
        })
    }
}

impl Builder<Indicator> {
    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.object.name = Some(name.into());
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.object.description = Some(description.into());
        self
    }

    /// Adds an indicator type (`malicious-activity`...).
    pub fn indicator_type(mut self, indicator_type: impl Into<String>) -> Self {
        push(&mut self.object.indicator_types, indicator_type.into());
        self
    }

    /// Sets the pattern language version (`2.1`).
    pub fn pattern_version(mut self, version: impl Into<String>) -> Self {
        self.object.pattern_version = Some(version.into());
        self
    }

    /// Sets the end of validity.
    pub fn valid_until(mut self, valid_until: DateTime<Utc>) -> Self {
        self.object.valid_until = Some(timestamp(valid_until));
        self
    }

    /// Sets OpenCTI's score (`x_opencti_score`, 0–100).
    pub fn score(mut self, score: u8) -> Self {
        self.object.x_opencti_score = Some(i64::from(score));
        self
    }

    /// Sets OpenCTI's detection flag.
    pub fn detection(mut self, detection: bool) -> Self {
        self.object.x_opencti_detection = Some(detection);
        self
    }

    /// Sets the OpenCTI type of the observable the pattern describes
    /// (`IPv4-Addr`, `Domain-Name`, `StixFile`...).
    pub fn main_observable_type(mut self, observable_type: impl Into<String>) -> Self {
        self.object.x_opencti_main_observable_type = Some(observable_type.into());
        self
    }
}

impl Location {
    /// A builder of a location of OpenCTI type `location_type` (`Region`,
    /// `Country`, `Administrative-Area`, `City`; use
    /// [`Location::position`] for coordinates).
    pub fn builder(name: impl Into<String>, location_type: impl Into<String>) -> Builder<Self> {
        Builder::new(Self {
            name: Some(name.into()),
            x_opencti_location_type: Some(location_type.into()),
            ..Self::default()
        })
    }

    /// A builder of a `Position` (identified by its coordinates).
    pub fn position(name: impl Into<String>, latitude: f64, longitude: f64) -> Builder<Self> {
        Builder::new(Self {
            name: Some(name.into()),
            latitude: Some(latitude),
            longitude: Some(longitude),
            x_opencti_location_type: Some("Position".to_owned()),
            ..Self::default()
        })
    }
}

impl Note {
    /// A builder of a note about `object_refs`.
    pub fn builder<I: IntoIterator<Item = S>, S: Into<String>>(
        content: impl Into<String>,
        object_refs: I,
    ) -> Builder<Self> {
        Builder::new(Self {
            content: content.into(),
            object_refs: object_refs.into_iter().map(Into::into).collect(),
            ..Self::default()
        })
    }
}

impl Builder<Note> {
    /// Sets the summary (`abstract`).
    pub fn abstract_(mut self, summary: impl Into<String>) -> Self {
        self.object.abstract_ = Some(summary.into());
        self
    }
}

impl ObservedData {
    /// A builder of observed data: `number_observed` sightings of
    /// `object_refs` between `first_observed` and `last_observed`.
    pub fn builder<I: IntoIterator<Item = S>, S: Into<String>>(
        first_observed: DateTime<Utc>,
        last_observed: DateTime<Utc>,
        number_observed: u32,
        object_refs: I,
    ) -> Builder<Self> {
        Builder::new(Self {
            first_observed: timestamp(first_observed),
            last_observed: timestamp(last_observed),
            number_observed: i64::from(number_observed),
            object_refs: Some(object_refs.into_iter().map(Into::into).collect()),
            ..Self::default()
        })
    }
}

impl Grouping {
    /// A builder of a grouping of `object_refs` in `context`
    /// (`suspicious-activity`, `malware-analysis`, `unspecified`).
    pub fn builder<I: IntoIterator<Item = S>, S: Into<String>>(
        name: impl Into<String>,
        context: impl Into<String>,
        object_refs: I,
    ) -> Builder<Self> {
        Builder::new(Self {
            name: Some(name.into()),
            context: context.into(),
            object_refs: object_refs.into_iter().map(Into::into).collect(),
            ..Self::default()
        })
    }
}

impl Report {
    /// A builder of a report published at `published` (written as stix2
    /// does) containing `object_refs`; its id derives from the name and
    /// that `published` text.
    pub fn builder<I: IntoIterator<Item = S>, S: Into<String>>(
        name: impl Into<String>,
        published: DateTime<Utc>,
        object_refs: I,
    ) -> Builder<Self> {
        Builder::new(Self {
            name: name.into(),
            published: timestamp(published),
            object_refs: object_refs.into_iter().map(Into::into).collect(),
            ..Self::default()
        })
    }
}

impl Builder<Report> {
    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.object.description = Some(description.into());
        self
    }

    /// Adds a report type (`threat-report`, `misp-event`...).
    pub fn report_type(mut self, report_type: impl Into<String>) -> Self {
        push(&mut self.object.report_types, report_type.into());
        self
    }

    /// Adds an object to the report.
    pub fn object_ref(mut self, object_id: impl Into<String>) -> Self {
        self.object.object_refs.push(object_id.into());
        self
    }
}

impl Relationship {
    /// A builder of a `relationship_type` relationship (`uses`,
    /// `indicates`, `based-on`, `related-to`...) from `source_ref` to
    /// `target_ref`.
    pub fn builder(
        relationship_type: impl Into<String>,
        source_ref: impl Into<String>,
        target_ref: impl Into<String>,
    ) -> Builder<Self> {
        Builder::new(Self {
            relationship_type: relationship_type.into(),
            source_ref: source_ref.into(),
            target_ref: target_ref.into(),
            ..Self::default()
        })
    }
}

impl Builder<Relationship> {
    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.object.description = Some(description.into());
        self
    }

    /// Sets the start (part of the id).
    pub fn start_time(mut self, start: DateTime<Utc>) -> Self {
        self.object.start_time = Some(timestamp(start));
        self
    }

    /// Sets the end (part of the id when the start is set).
    pub fn stop_time(mut self, stop: DateTime<Utc>) -> Self {
        self.object.stop_time = Some(timestamp(stop));
        self
    }
}

impl Sighting {
    /// A builder of a sighting of `sighting_of_ref` at
    /// `where_sighted_refs` (identities or locations).
    pub fn builder<I: IntoIterator<Item = S>, S: Into<String>>(
        sighting_of_ref: impl Into<String>,
        where_sighted_refs: I,
    ) -> Builder<Self> {
        Builder::new(Self {
            sighting_of_ref: sighting_of_ref.into(),
            where_sighted_refs: Some(where_sighted_refs.into_iter().map(Into::into).collect()),
            ..Self::default()
        })
    }
}

impl Builder<Sighting> {
    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.object.description = Some(description.into());
        self
    }

    /// Sets the first sighting (part of the id).
    pub fn first_seen(mut self, first_seen: DateTime<Utc>) -> Self {
        self.object.first_seen = Some(timestamp(first_seen));
        self
    }

    /// Sets the last sighting (part of the id when the first is set).
    pub fn last_seen(mut self, last_seen: DateTime<Utc>) -> Self {
        self.object.last_seen = Some(timestamp(last_seen));
        self
    }

    /// Sets the number of sightings.
    pub fn count(mut self, count: u32) -> Self {
        self.object.count = Some(i64::from(count));
        self
    }
}

/// Observables identified by a single `value`.
macro_rules! value_builders {
    ($($model:ident),*) => {$(
        impl $model {
            #[doc = concat!("A builder of a `", stringify!($model), "` (its id derives from `value`).")]
            pub fn builder(value: impl Into<String>) -> Builder<Self> {
                Builder::new(Self { value: value.into(), ..Self::default() })
            }
        }
    )*};
}

value_builders!(
    DomainName,
    EmailAddress,
    Ipv4Address,
    Ipv6Address,
    MacAddress,
    Url,
    Hostname,
    CryptocurrencyWallet,
    Text,
    UserAgent,
    PhoneNumber,
    Credential,
    TrackingNumber,
    CryptographicKey,
    SshKey,
    AiPrompt,
    Imei,
    Iccid,
    Imsi
);

/// Observables with no required property (fill them with the setters or
/// [`Builder::edit`]).
macro_rules! empty_builders {
    ($($model:ident),*) => {$(
        impl $model {
            #[doc = concat!("A builder of a `", stringify!($model), "`.")]
            pub fn builder() -> Builder<Self> {
                Builder::new(Self::default())
            }
        }
    )*};
}

empty_builders!(
    Artifact,
    EmailMessage,
    File,
    NetworkTraffic,
    Process,
    UserAccount,
    WindowsRegistryKey,
    X509Certificate
);

macro_rules! hash_setters {
    ($($model:ident),*) => {$(
        impl Builder<$model> {
            /// Adds a hash (`("SHA-256", "e3b0...")`).
            pub fn hash(mut self, algorithm: impl Into<String>, value: impl Into<String>) -> Self {
                self.object.hashes.get_or_insert_with(Hashes::new).insert(algorithm, value);
                self
            }
        }
    )*};
}

hash_setters!(Artifact, File, X509Certificate);

impl Builder<File> {
    /// Sets the file name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.object.name = Some(name.into());
        self
    }
}

impl AutonomousSystem {
    /// A builder of an autonomous system (its id derives from the number).
    pub fn builder(number: u32) -> Builder<Self> {
        Builder::new(Self {
            number: i64::from(number),
            ..Self::default()
        })
    }
}

impl Directory {
    /// A builder of a directory (its id derives from the path).
    pub fn builder(path: impl Into<String>) -> Builder<Self> {
        Builder::new(Self {
            path: path.into(),
            ..Self::default()
        })
    }
}

impl Mutex {
    /// A builder of a mutex (its id derives from the name).
    pub fn builder(name: impl Into<String>) -> Builder<Self> {
        Builder::new(Self {
            name: name.into(),
            ..Self::default()
        })
    }
}

impl Software {
    /// A builder of a software product (its id derives from the name, CPE,
    /// SWID, vendor and version).
    pub fn builder(name: impl Into<String>) -> Builder<Self> {
        Builder::new(Self {
            name: name.into(),
            ..Self::default()
        })
    }
}

impl BankAccount {
    /// A builder of a bank account (its id derives from the IBAN).
    pub fn builder(iban: impl Into<String>) -> Builder<Self> {
        Builder::new(Self {
            iban: Some(iban.into()),
            ..Self::default()
        })
    }
}

impl PaymentCard {
    /// A builder of a payment card (its id derives from the number).
    pub fn builder(card_number: impl Into<String>) -> Builder<Self> {
        Builder::new(Self {
            card_number: card_number.into(),
            ..Self::default()
        })
    }
}

impl MediaContent {
    /// A builder of a media content (its id derives from the URL).
    pub fn builder(url: impl Into<String>) -> Builder<Self> {
        Builder::new(Self {
            url: url.into(),
            ..Self::default()
        })
    }
}

impl Persona {
    /// A builder of a persona (its id derives from name and type).
    pub fn builder(
        persona_name: impl Into<String>,
        persona_type: impl Into<String>,
    ) -> Builder<Self> {
        Builder::new(Self {
            persona_name: persona_name.into(),
            persona_type: persona_type.into(),
            ..Self::default()
        })
    }
}
