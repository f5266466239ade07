//! NTI feed records to STIX 2.1, object for object as the Python connector
//! builds them (same ids, same properties), apart from the fixes listed in
//! the README. Pure: no I/O.
//!
//! Records arrive typed ([`Record`], keys of the wrong type already refused
//! by the parser): a missing optional key is skipped, a missing key the
//! object needs is a [`RecordError`] naming it.

use crate::codes;
use crate::record::{
    AsNumber, Hashes, IocObservable, ObjectType, Record, RecordAs, RecordLocation,
};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use opencti_stix::builder::{BuildError, Builder, Observable, timestamp};
use opencti_stix::id::{self, IdError};
use opencti_stix::object::{
    AutonomousSystem, DomainName, EmailAddress, File, Identity, Indicator, Ipv4Address,
    Ipv6Address, Location, MarkingDefinition, Relationship, Url,
};
use opencti_stix::{Bundle, StixObject};

/// The description of the NTI author identity, as the Python connector
/// writes it.
const AUTHOR_DESCRIPTION: &str = "NSFOCUS Threat Intelligence (NTI) is a specialized threat intelligence cloud platform established by NSFOCUS Technology to promote the construction of a cybersecurity ecosystem and the application of threat intelligence, enhancing customers' offensive and defensive capabilities. Leveraging the company\u{2019}s professional security team and strong research capabilities, NTI continuously observes and analyzes global cybersecurity threats and trends. With a focus on the production, operation, and application of threat intelligence, as well as key technologies, NTI provides users with enterprise-level services such as basic intelligence queries, advanced intelligence queries, intelligence subscriptions, and visual correlation analysis, helping users better understand and respond to various cyber threats.";

const BASED_ON: &str = "This relationship demonstrates an indicator based on this observable.";
const LOCATED_AT: &str =
    "This relationship illustrates an ipv4 address is located at this location.";
const BELONGS_TO: &str =
    "This relationship illustrates an ipv4 address belongs to an autonomous system.";
const RESOLVES_TO: &str = "This relationship illustrates a domain name resolves to this ip address";

/// Why a record (or a part of it) produced nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A key the object needs is absent or empty.
    #[error("`{field}` is missing")]
    Missing {
        /// Path of the key (`object.value`).
        field: &'static str,
    },
    /// A key holds a value that cannot be used.
    #[error("`{field}` is invalid: {reason}")]
    Invalid {
        /// Path of the key.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl RecordError {
    fn invalid(field: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field,
            reason: reason.to_string(),
        }
    }
}

impl From<BuildError> for RecordError {
    fn from(error: BuildError) -> Self {
        Self::invalid("record", error)
    }
}

impl From<IdError> for RecordError {
    fn from(error: IdError) -> Self {
        Self::invalid("record", error)
    }
}

/// What records converted to: objects, the relationships between them
/// (sent after them), and the parts left out, with why.
#[derive(Debug, Default)]
pub struct Converted {
    /// Observables, indicators, locations.
    pub entities: Vec<StixObject>,
    /// Relationships between them.
    pub relationships: Vec<StixObject>,
    /// Parts of records that produced nothing.
    pub skipped: Vec<RecordError>,
}

impl Converted {
    /// Whether nothing was produced.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty() && self.relationships.is_empty()
    }
}

/// Converts records; holds the author identity and the marking every
/// object carries.
#[derive(Debug, Clone)]
pub struct Converter {
    author: Identity,
    marking: MarkingDefinition,
}

impl Converter {
    /// A converter marking everything with `marking`.
    ///
    /// # Panics
    /// Never: the author's properties are constants.
    #[must_use]
    pub fn new(marking: MarkingDefinition) -> Self {
        let author = Identity::organization("NTI")
            .description(AUTHOR_DESCRIPTION)
            .contact_information("nti-services@nsfocus.com")
            .property("x_opencti_organization_type", "vendor")
            .property("x_opencti_reliability", "A - Completely reliable")
            .build()
            .expect("the NTI identity has constant, valid properties");
        Self { author, marking }
    }

    /// A bundle of `objects` followed by the author and the marking, as the
    /// Python connector appends them to each bundle.
    #[must_use]
    pub fn bundle(&self, objects: Vec<StixObject>) -> Bundle {
        let mut bundle = Bundle::new(objects);
        bundle.push(self.author.clone());
        bundle.push(self.marking.clone());
        bundle
    }

    fn marking_id(&self) -> &str {
        &self.marking.common.id
    }

    fn author_id(&self) -> &str {
        &self.author.common.id
    }

    /// An observable with the marking and the author as OpenCTI's custom
    /// `x_opencti_created_by_ref`.
    fn observable<T: Observable>(&self, builder: Builder<T>) -> Result<T, RecordError> {
        let author = self.author_id().to_owned();
        Ok(builder
            .marking(self.marking_id())
            .edit(|object| object.common_mut().x_opencti_created_by_ref = Some(author))
            .build()?)
    }

    /// A relationship whose id, as pycti derives it here, ignores the times.
    fn relationship(
        &self,
        relationship_type: &str,
        source: &str,
        target: &str,
        start_time: Option<String>,
        description: String,
    ) -> Result<StixObject, RecordError> {
        let id = id::relationship(relationship_type, source, target, None, None)?;
        let relationship = Relationship::builder(relationship_type, source, target)
            .id(id)
            .description(description)
            .created_by(self.author_id())
            .marking(self.marking_id())
            .edit(|object| object.start_time = start_time)
            .build()?;
        Ok(relationship.into())
    }

    /// Converts the (merged, see [`IocMerger`]) records of an IOC file:
    /// an indicator per record, its observable, and `based-on` between them.
    /// `now` stamps the indicators (`created`, `modified`).
    #[must_use]
    pub fn iocs(&self, records: &[Record], now: DateTime<Utc>) -> Converted {
        let mut out = Converted::default();
        for record in records {
            let observed = observed(record);
            let indicator = match self.indicator(record, observed.as_ref(), now) {
                Ok(indicator) => indicator,
                Err(error) => {
                    out.skipped.push(error);
                    continue;
                }
            };
            let indicator_id = indicator.common.id.clone();
            let modified = indicator.common.modified.clone();
            out.entities.push(indicator.into());
            let observable = match &observed {
                Some(observed) => self.observable_of(record, observed),
                None => Err(RecordError::Missing {
                    field: "observables",
                }),
            };
            match observable {
                Ok(Some(observable)) => {
                    let target = observable.id().unwrap_or_default().to_owned();
                    out.entities.push(observable);
                    match self.relationship(
                        "based-on",
                        &indicator_id,
                        &target,
                        modified,
                        BASED_ON.to_owned(),
                    ) {
                        Ok(relationship) => out.relationships.push(relationship),
                        Err(error) => out.skipped.push(error),
                    }
                }
                Ok(None) => {}
                Err(error) => out.skipped.push(error),
            }
        }
        out
    }

    fn indicator(
        &self,
        record: &Record,
        observed: Option<&Observed>,
        now: DateTime<Utc>,
    ) -> Result<Indicator, RecordError> {
        let pattern = non_empty(record.pattern.as_deref())
            .ok_or(RecordError::Missing { field: "pattern" })?;
        let threat_types = record.threat_types.as_deref().ok_or(RecordError::Missing {
            field: "threat_types",
        })?;
        let valid_from = optional_time(record.modified.as_deref(), "modified")?.unwrap_or(now);
        let valid_until = optional_time(record.valid_until.as_deref(), "valid_until")?;
        if valid_until.is_some_and(|until| until <= valid_from) {
            return Err(RecordError::invalid(
                "valid_until",
                "not after `modified` (valid_from)",
            ));
        }
        let confidence = match record.confidence {
            Some(value) => Some(
                (value.fract() == 0.0 && (0.0..=100.0).contains(&value))
                    // Exact: a whole number from 0 to 100.
                    .then_some(value as u8)
                    .ok_or_else(|| {
                        RecordError::invalid("confidence", "expected an integer from 0 to 100")
                    })?,
            ),
            None => None,
        };
        let mut builder = Indicator::builder(pattern, "stix", valid_from)
            .pattern_version("2.1")
            .created(now)
            .modified(now)
            .created_by(self.author_id())
            .marking(self.marking_id())
            .labels(tag_labels(record))
            .score(score(record.threat_level, record.confidence))
            .detection(true);
        if let Some(observed) = observed {
            if let Some(value) = &observed.value {
                builder = builder.name(value.clone());
            }
            if let Some(opencti_type) = opencti_type(&observed.stix_type) {
                builder = builder.main_observable_type(opencti_type);
            }
        }
        // Unknown codes are left out (Python wrote the text "None").
        for name in threat_types.iter().filter_map(|code| code.name()) {
            builder = builder.indicator_type(name);
        }
        if let Some(until) = valid_until {
            builder = builder.valid_until(until);
        }
        if let Some(confidence) = confidence {
            builder = builder.confidence(confidence);
        }
        if record.revoked == Some(true) {
            builder = builder.edit(|indicator| indicator.common.revoked = Some(true));
        }
        Ok(builder.build()?)
    }

    /// The observable `observed` in `record` (`Ok(None)` for types with
    /// no observable).
    fn observable_of(
        &self,
        record: &Record,
        observed: &Observed,
    ) -> Result<Option<StixObject>, RecordError> {
        let Some(object_type) = ObjectType::from_stix_name(&observed.stix_type) else {
            tracing::warn!(
                observable_type = observed.stix_type,
                "NTI observable type without an OpenCTI observable; the indicator is imported alone"
            );
            return Ok(None);
        };
        self.typed_observable(record, object_type, observed)
            .map(Some)
    }

    /// The observable `observed`, of type `object_type`, in `record`.
    fn typed_observable(
        &self,
        record: &Record,
        object_type: ObjectType,
        observed: &Observed,
    ) -> Result<StixObject, RecordError> {
        Ok(match object_type {
            ObjectType::Ipv4Addr => self
                .observable(Ipv4Address::builder(observed.value()?))?
                .into(),
            ObjectType::Ipv6Addr => self
                .observable(Ipv6Address::builder(observed.value()?))?
                .into(),
            ObjectType::DomainName => self
                .observable(DomainName::builder(observed.value()?))?
                .into(),
            ObjectType::EmailAddr => self
                .observable(EmailAddress::builder(observed.value()?))?
                .into(),
            ObjectType::Url => {
                let labels = url_labels(record);
                let mut builder = Url::builder(observed.value()?);
                if !labels.is_empty() {
                    builder = builder.edit(|url| url.common.x_opencti_labels = Some(labels));
                }
                self.observable(builder)?.into()
            }
            ObjectType::File => self.file(record)?.into(),
        })
    }

    /// A `file` from a sample record (`metadata`) or a file IOC
    /// (`observables[0].hashes`).
    fn file(&self, record: &Record) -> Result<File, RecordError> {
        let metadata = record
            .metadata
            .as_ref()
            .filter(|metadata| !metadata.is_empty());
        let (hashes, size, mime_type) = match metadata {
            Some(metadata) => (
                metadata.hashes.as_ref(),
                metadata.size,
                metadata.mime_type.as_deref(),
            ),
            None => (
                first_observable(record).and_then(|observable| observable.hashes.as_ref()),
                None,
                None,
            ),
        };
        let hashes = hashes.ok_or(RecordError::Missing { field: "hashes" })?;
        let mut builder = File::builder();
        let mut kept = 0;
        for (algorithm, value) in &hashes.0 {
            if algorithm == "1KHASH" {
                continue;
            }
            let algorithm = stix_hash_name(algorithm);
            if !hash_is_valid(&algorithm, value) {
                tracing::warn!(algorithm, value, "invalid file hash left out");
                continue;
            }
            builder = builder.hash(algorithm, value);
            kept += 1;
        }
        if kept == 0 {
            return Err(RecordError::invalid("hashes", "no usable hash"));
        }
        let name = record
            .names
            .as_ref()
            .and_then(|names| names.first())
            .cloned()
            .or_else(|| preferred_hash(hashes).map(str::to_owned));
        if let Some(name) = name {
            builder = builder.name(name);
        }
        let modified = optional_time(record.modified.as_deref(), "modified")?.map(timestamp);
        let builder = builder.edit(|file| {
            file.ctime.clone_from(&modified);
            file.mtime = modified;
            file.size = size;
            file.mime_type = mime_type.map(str::to_owned);
        });
        self.observable(builder)
    }

    /// An `ip-basic` record: the address, its locations and autonomous
    /// systems, `located-at` and `belongs-to`.
    pub fn ip(&self, record: &Record, out: &mut Converted) -> Result<(), RecordError> {
        let address = self.object_observable(record)?;
        let address_id = address.id().unwrap_or_default().to_owned();
        out.entities.push(address);
        let modified = optional_time(record.modified.as_deref(), "modified")?.map(timestamp);
        for location in list(record.locations.as_ref()) {
            let Some(location) = self.location(location)? else {
                continue;
            };
            let location_id = location.common.id.clone();
            out.entities.push(location.into());
            out.relationships.push(self.relationship(
                "located-at",
                &address_id,
                &location_id,
                modified.clone(),
                LOCATED_AT.to_owned(),
            )?);
        }
        for autonomous_system in list(record.ases.as_ref()) {
            match self.autonomous_system(autonomous_system) {
                Ok((system, first_seen)) => {
                    let system_id = system.common.id.clone();
                    out.entities.push(system.into());
                    out.relationships.push(self.relationship(
                        "belongs-to",
                        &address_id,
                        &system_id,
                        first_seen,
                        BELONGS_TO.to_owned(),
                    )?);
                }
                Err(error) => out.skipped.push(error),
            }
        }
        Ok(())
    }

    /// The observable of a basic record's `object` (`{type, value}`).
    fn object_observable(&self, record: &Record) -> Result<StixObject, RecordError> {
        let (object_type, observed) = object_observed(record).ok_or(RecordError::Missing {
            field: "object.type",
        })?;
        self.typed_observable(record, object_type, &observed)
    }

    /// A location named after its most precise part; `None` when it has no
    /// part at all.
    fn location(&self, location: &RecordLocation) -> Result<Option<Location>, RecordError> {
        let named = [
            (&location.street_address, "Position"),
            (&location.city, "City"),
            (&location.region, "Administrative-Area"),
            (&location.country, "Country"),
        ]
        .into_iter()
        .find_map(|(part, location_type)| {
            non_empty(part.as_deref()).map(|name| (name, location_type))
        });
        let Some((name, location_type)) = named else {
            return Ok(None);
        };
        // pycti identifies a position by its name here, not its coordinates.
        let id = id::location(name, Some(location_type), None, None)?;
        let part = |part: &Option<String>| non_empty(part.as_deref()).map(str::to_owned);
        let built = Location::builder(name, location_type)
            .id(id)
            .created_by(self.author_id())
            .marking(self.marking_id())
            .edit(|object| {
                object.latitude = location.latitude;
                object.longitude = location.longitude;
                object.region = part(&location.region);
                object.country = part(&location.country);
                object.city = part(&location.city);
                object.street_address = part(&location.street_address);
                object.postal_code.clone_from(&location.postal_code);
            })
            .build()?;
        Ok(Some(built))
    }

    /// An autonomous system and the start of the `belongs-to` relationship
    /// (its `first_seen`).
    fn autonomous_system(
        &self,
        system: &RecordAs,
    ) -> Result<(AutonomousSystem, Option<String>), RecordError> {
        let number = match &system.number {
            Some(AsNumber::Text(text)) => text.replace("AS", "").trim().parse::<u32>().ok(),
            Some(AsNumber::Number(number)) => number
                .as_u64()
                .and_then(|number| u32::try_from(number).ok()),
            None => {
                return Err(RecordError::Missing {
                    field: "ases[].number",
                });
            }
        }
        .ok_or_else(|| {
            RecordError::invalid("ases[].number", "expected an AS number such as AS64500")
        })?;
        let mut parts = Vec::new();
        if let Some(code) = non_empty(system.country_code.as_deref()) {
            parts.push(format!("is registered with the code {code}"));
        }
        if let Some(registered) = system.registered.as_ref().and_then(|dates| dates.first()) {
            parts.push(format!("is registered on {}", python_str(registered)));
        }
        if let Some(first_seen) = non_empty(system.first_seen.as_deref()) {
            parts.push(format!("first observed on {first_seen}"));
        }
        if let Some(last_seen) = non_empty(system.last_seen.as_deref()) {
            parts.push(format!("last seen on {last_seen}"));
        }
        let description = if parts.is_empty() {
            "No detailed information available for this Autonomous System.".to_owned()
        } else {
            format!("This Autonomous System {}.", parts.join(", "))
        };
        let mut builder = AutonomousSystem::builder(number)
            .description(description)
            .edit(|object| {
                object.name = non_empty(system.name.as_deref()).map(str::to_owned);
                object.rir = non_empty(system.rir.as_deref()).map(str::to_owned);
            });
        if let Some(last_seen) = &system.last_seen {
            builder = builder.property("last_seen", last_seen.clone());
        }
        let first_seen = system
            .first_seen
            .as_deref()
            .and_then(|text| parse_time(text).ok())
            .map(timestamp);
        Ok((self.observable(builder)?, first_seen))
    }

    /// A `domain-basic` record: the domain, the addresses it resolves to,
    /// `resolves-to`.
    pub fn domain(&self, record: &Record, out: &mut Converted) -> Result<(), RecordError> {
        let domain = self.object_observable(record)?;
        let domain_id = domain.id().unwrap_or_default().to_owned();
        out.entities.push(domain);
        for resolution in list(record.ips.as_ref()) {
            let Some(address) = resolution
                .ips
                .as_ref()
                .and_then(|addresses| addresses.first())
                .filter(|address| !address.is_empty())
            else {
                out.skipped
                    .push(RecordError::Missing { field: "ips[].ips" });
                continue;
            };
            let address: StixObject = if address.parse::<std::net::Ipv6Addr>().is_ok() {
                self.observable(Ipv6Address::builder(address))?.into()
            } else {
                self.observable(Ipv4Address::builder(address))?.into()
            };
            let address_id = address.id().unwrap_or_default().to_owned();
            out.entities.push(address);
            let mut description = vec![RESOLVES_TO.to_owned()];
            let first_seen = non_empty(resolution.first_seen.as_deref());
            if let Some(first_seen) = first_seen {
                description.push(format!("first observed on {first_seen}"));
            }
            if let Some(last_seen) = non_empty(resolution.last_seen.as_deref()) {
                description.push(format!("last seen on {last_seen}"));
            }
            let start = match first_seen {
                Some(text) => {
                    Some(timestamp(parse_time(text).map_err(|reason| {
                        RecordError::invalid("ips[].first_seen", reason)
                    })?))
                }
                None => None,
            };
            out.relationships.push(self.relationship(
                "resolves-to",
                &domain_id,
                &address_id,
                start,
                format!("{}.", description.join(", ")),
            )?);
        }
        Ok(())
    }

    /// A `url-basic` record: the URL labelled with its categories.
    pub fn url(&self, record: &Record, out: &mut Converted) -> Result<(), RecordError> {
        out.entities.push(self.object_observable(record)?);
        Ok(())
    }

    /// A `sample` record: a file.
    pub fn sample(&self, record: &Record, out: &mut Converted) -> Result<(), RecordError> {
        out.entities.push(self.file(record)?.into());
        Ok(())
    }
}

/// Merges the IOC records of a file that describe the same observable
/// value, as the Python connector does before converting: threat types and
/// tags are concatenated, the highest threat level and confidence kept, the
/// rest taken from the first record. Order of first appearance is kept.
#[derive(Debug, Default)]
pub struct IocMerger {
    /// By observable value, in order of first appearance.
    merged: Vec<Record>,
    positions: std::collections::HashMap<String, usize>,
}

impl IocMerger {
    /// Adds a record.
    ///
    /// # Errors
    /// [`RecordError::Missing`] when the record names no observable value.
    pub fn push(&mut self, record: Record) -> Result<(), RecordError> {
        let observed = observed(&record).ok_or(RecordError::Missing {
            field: "observables",
        })?;
        let key = observed.value()?.to_owned();
        let Some(&position) = self.positions.get(&key) else {
            self.positions.insert(key, self.merged.len());
            self.merged.push(record);
            return Ok(());
        };
        let first = &mut self.merged[position];
        concatenate(&mut first.threat_types, record.threat_types);
        concatenate(&mut first.tags, record.tags);
        keep_highest(&mut first.threat_level, record.threat_level);
        keep_highest(&mut first.confidence, record.confidence);
        Ok(())
    }

    /// The merged records.
    #[must_use]
    pub fn finish(self) -> Vec<Record> {
        self.merged
    }
}

fn concatenate<T>(kept: &mut Option<Vec<T>>, more: Option<Vec<T>>) {
    match (kept.as_mut(), more) {
        (Some(items), Some(more)) => items.extend(more),
        (None, Some(more)) => *kept = Some(more),
        (_, None) => {}
    }
}

fn keep_highest(kept: &mut Option<f64>, new: Option<f64>) {
    if let Some(new) = new
        && kept.is_none_or(|kept| new > kept)
    {
        *kept = Some(new);
    }
}

/// The observable a record describes: its STIX type and, when it has one,
/// its value (for files, the preferred hash).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    stix_type: String,
    value: Option<String>,
    /// Where the value is (or should be), for errors.
    value_field: &'static str,
}

impl Observed {
    /// The value, or the field it is missing from.
    fn value(&self) -> Result<&str, RecordError> {
        self.value.as_deref().ok_or(RecordError::Missing {
            field: self.value_field,
        })
    }
}

fn first_observable(record: &Record) -> Option<&IocObservable> {
    record.observables.as_ref()?.first()
}

fn observed(record: &Record) -> Option<Observed> {
    if let Some(observable) = first_observable(record) {
        if let Some(address) = observable
            .address
            .as_ref()
            .filter(|address| !address.is_empty())
        {
            return Some(Observed {
                stix_type: non_empty(address.address_type.as_deref())?.to_owned(),
                value: non_empty(address.value.as_deref()).map(str::to_owned),
                value_field: "observables[0].address.value",
            });
        }
        let stix_type = non_empty(observable.observable_type.as_deref())?;
        let value = if stix_type == "file" {
            observable.hashes.as_ref().and_then(preferred_hash)
        } else {
            non_empty(observable.value.as_deref())
        };
        return Some(Observed {
            stix_type: stix_type.to_owned(),
            value: value.map(str::to_owned),
            value_field: "observables[0].value",
        });
    }
    if let Some((_, observed)) = object_observed(record) {
        return Some(observed);
    }
    (record.record_type.as_deref() == Some("sample")).then(|| Observed {
        stix_type: "file".to_owned(),
        value: None,
        value_field: "metadata.hashes",
    })
}

/// The observable of a basic record's `object`.
fn object_observed(record: &Record) -> Option<(ObjectType, Observed)> {
    let object = record.object.as_ref()?;
    let object_type = object.object_type?;
    Some((
        object_type,
        Observed {
            stix_type: object_type.stix_name().to_owned(),
            value: non_empty(object.value.as_deref()).map(str::to_owned),
            value_field: "object.value",
        },
    ))
}

/// OpenCTI's name of a STIX observable type.
fn opencti_type(stix_type: &str) -> Option<&'static str> {
    Some(match stix_type {
        "ipv4-addr" => "IPv4-Addr",
        "ipv6-addr" => "IPv6-Addr",
        "domain-name" => "Domain-Name",
        "url" => "Url",
        "email-addr" => "Email-Addr",
        "file" => "File",
        _ => return None,
    })
}

/// The hash naming a file when it has no name: MD5, else SHA1, SHA256,
/// SHA3-256 (NTI's spellings).
fn preferred_hash(hashes: &Hashes) -> Option<&str> {
    ["MD5", "SHA1", "SHA256", "SHA3-256"]
        .into_iter()
        .find_map(|algorithm| hashes.get(algorithm))
}

/// stix2's spelling of a hash algorithm.
fn stix_hash_name(algorithm: &str) -> String {
    match algorithm.to_ascii_uppercase().replace('_', "-").as_str() {
        "MD5" => "MD5".to_owned(),
        "SHA1" | "SHA-1" => "SHA-1".to_owned(),
        "SHA256" | "SHA-256" => "SHA-256".to_owned(),
        "SHA512" | "SHA-512" => "SHA-512".to_owned(),
        "SHA3256" | "SHA3-256" => "SHA3-256".to_owned(),
        "SHA3512" | "SHA3-512" => "SHA3-512".to_owned(),
        _ => algorithm.to_owned(),
    }
}

/// Whether a hash has the length and digits stix2 requires of its algorithm.
fn hash_is_valid(algorithm: &str, value: &str) -> bool {
    let length = match algorithm {
        "MD5" => 32,
        "SHA-1" => 40,
        "SHA-256" | "SHA3-256" => 64,
        "SHA-512" | "SHA3-512" => 128,
        _ => return !value.is_empty(),
    };
    value.len() == length && value.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Labels from `tags`: `direction` gives one label per value, other types
/// one label listing the values.
fn tag_labels(record: &Record) -> Vec<String> {
    let mut labels = Vec::new();
    for tag in list(record.tags.as_ref()) {
        let (Some(tag_type), Some(values)) = (
            non_empty(tag.tag_type.as_deref()),
            tag.tag_values.as_ref().filter(|values| !values.is_empty()),
        ) else {
            continue;
        };
        let values: Vec<String> = values.iter().map(python_str).collect();
        if tag_type == "direction" {
            labels.extend(values.iter().map(|value| format!("{tag_type}: {value}")));
        } else {
            labels.push(format!("{tag_type}: {}", values.join(", ")));
        }
    }
    labels
}

/// The URL's category names; unknown codes are left out (Python wrote
/// `null`).
fn url_labels(record: &Record) -> Vec<String> {
    let mut labels = Vec::new();
    let groups = [
        (&record.contents, codes::CONTENT_TYPES),
        (&record.industries, codes::INDUSTRIES),
        (&record.businesses, codes::BUSINESS_TYPES),
    ];
    for (index, (groups, table)) in groups.into_iter().enumerate() {
        for group in list(groups.as_ref()) {
            // The group repeats its list's key (`contents: [{contents: [29]}]`).
            let group_codes = [&group.contents, &group.industries, &group.businesses][index];
            for &code in group_codes {
                if let Some(name) = codes::lookup(table, code) {
                    labels.push(name.to_owned());
                }
            }
        }
    }
    labels
}

/// `x_opencti_score`: `threat_level * 20 * (confidence / 100)` truncated,
/// computed in floating point like Python; 50 when either is 0 or missing.
fn score(threat_level: Option<f64>, confidence: Option<f64>) -> u8 {
    let level = threat_level.unwrap_or(0.0);
    let confidence = confidence.unwrap_or(0.0);
    if level == 0.0 || confidence == 0.0 {
        return 50;
    }
    let score = (level * 20.0 * (confidence / 100.0)).trunc();
    // Within 0..=100 for NTI's levels (1-5); clamped so odd input stays valid.
    score.clamp(0.0, 100.0) as u8
}

/// The text unless empty (Python's truthiness of a string).
fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|text| !text.is_empty())
}

/// The items of an optional list.
fn list<T>(items: Option<&Vec<T>>) -> &[T] {
    items.map_or(&[], Vec::as_slice)
}

/// Python's `str()` of a JSON scalar, as f-strings print it.
fn python_str(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The timestamp `text` of the key `key`, `None` when absent or null.
fn optional_time(
    text: Option<&str>,
    key: &'static str,
) -> Result<Option<DateTime<Utc>>, RecordError> {
    text.map(|text| parse_time(text).map_err(|reason| RecordError::invalid(key, reason)))
        .transpose()
}

/// A timestamp as stix2 accepts it: RFC 3339, a naive date-time (UTC) or a
/// date.
///
/// # Errors
/// The reason when the value is not one of those.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(moment) = DateTime::parse_from_rfc3339(text) {
        return Ok(moment.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(moment) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(moment.and_utc());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(moment) = date.and_hms_opt(0, 0, 0)
    {
        return Ok(moment.and_utc());
    }
    Err(format!("{text:?} is not a timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::parse_line;

    #[test]
    fn score_follows_python_float_arithmetic() {
        assert_eq!(score(Some(4.0), Some(85.0)), 68);
        assert_eq!(score(Some(5.0), Some(85.0)), 85);
        assert_eq!(score(Some(3.0), Some(90.0)), 54);
        assert_eq!(score(Some(0.0), Some(90.0)), 50);
        assert_eq!(score(None, Some(90.0)), 50);
        assert_eq!(score(Some(3.0), None), 50);
        // 3 * 20 * 0.29 = 17.399999999999999: truncated, as int() does.
        assert_eq!(score(Some(3.0), Some(29.0)), 17);
    }

    #[test]
    fn labels_from_tags() {
        let record = parse_line(
            br#"{"tags": [
            {"tag_type": "malware_family", "tag_values": ["Mirai", "Gafgyt"]},
            {"tag_type": "direction", "tag_values": ["in", "out"]},
            {"tag_type": "empty", "tag_values": []},
            {"tag_values": ["orphan"]}
        ]}"#,
        )
        .unwrap();
        assert_eq!(
            tag_labels(&record),
            [
                "malware_family: Mirai, Gafgyt",
                "direction: in",
                "direction: out"
            ]
        );
    }

    #[test]
    fn unknown_url_categories_are_left_out() {
        let record = parse_line(
            br#"{"contents": [{"contents": [29, 999]}], "industries": [{"industries": [10]}],
            "businesses": [{"businesses": [0, 25]}]}"#,
        )
        .unwrap();
        assert_eq!(
            url_labels(&record),
            ["Phishing and fraud", "Finance", "Proxy"]
        );
    }

    #[test]
    fn hash_names_and_checks() {
        assert_eq!(stix_hash_name("SHA1"), "SHA-1");
        assert_eq!(stix_hash_name("SHA256"), "SHA-256");
        assert_eq!(stix_hash_name("SHA3-256"), "SHA3-256");
        assert!(hash_is_valid("MD5", "44d88612fea8a8f36de82e1278abb02f"));
        assert!(!hash_is_valid("MD5", "44d88612"));
        assert!(!hash_is_valid(
            "SHA-1",
            "zz95856ce81f2b7382dee72602f798b642f14140"
        ));
    }
}
