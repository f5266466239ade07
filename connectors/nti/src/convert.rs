//! NTI feed records to STIX 2.1, object for object as the Python connector
//! builds them (same ids, same properties), apart from the fixes listed in
//! the README. Pure: no I/O.
//!
//! Records are JSON objects whose shapes are inferred from what the Python
//! connector reads, so they are read loosely, as `serde_json::Value`: a
//! missing optional key is skipped, a missing key the object needs is a
//! [`RecordError`] naming it.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use opencti_stix::builder::{BuildError, Builder, Observable, timestamp};
use opencti_stix::id::{self, IdError};
use opencti_stix::object::{
    AutonomousSystem, DomainName, EmailAddress, File, Identity, Indicator, Ipv4Address,
    Ipv6Address, Location, MarkingDefinition, Relationship, Url,
};
use opencti_stix::{Bundle, StixObject};
use serde_json::{Map, Value};

use crate::codes;

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
    pub fn iocs(&self, records: &[Value], now: DateTime<Utc>) -> Converted {
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
        record: &Value,
        observed: Option<&Observed>,
        now: DateTime<Utc>,
    ) -> Result<Indicator, RecordError> {
        let pattern = text(record, "pattern").ok_or(RecordError::Missing { field: "pattern" })?;
        let threat_types =
            record
                .get("threat_types")
                .and_then(Value::as_array)
                .ok_or(RecordError::Missing {
                    field: "threat_types",
                })?;
        let valid_from = optional_time(record, "modified")?.unwrap_or(now);
        let valid_until = optional_time(record, "valid_until")?;
        if valid_until.is_some_and(|until| until <= valid_from) {
            return Err(RecordError::invalid(
                "valid_until",
                "not after `modified` (valid_from)",
            ));
        }
        let confidence = match record.get("confidence").filter(|value| !value.is_null()) {
            Some(value) => Some(
                value
                    .as_u64()
                    .and_then(|confidence| u8::try_from(confidence).ok())
                    .filter(|confidence| *confidence <= 100)
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
            .score(score(record.get("threat_level"), record.get("confidence")))
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
        for name in threat_types.iter().filter_map(codes::threat_type) {
            builder = builder.indicator_type(name);
        }
        if let Some(until) = valid_until {
            builder = builder.valid_until(until);
        }
        if let Some(confidence) = confidence {
            builder = builder.confidence(confidence);
        }
        if record.get("revoked").is_some_and(truthy) {
            builder = builder.edit(|indicator| indicator.common.revoked = Some(true));
        }
        Ok(builder.build()?)
    }

    /// The observable `observed` in `record` (`Ok(None)` for types with
    /// no observable).
    fn observable_of(
        &self,
        record: &Value,
        observed: &Observed,
    ) -> Result<Option<StixObject>, RecordError> {
        let object: StixObject = match observed.stix_type.as_str() {
            "ipv4-addr" => self
                .observable(Ipv4Address::builder(observed.value()?))?
                .into(),
            "ipv6-addr" => self
                .observable(Ipv6Address::builder(observed.value()?))?
                .into(),
            "domain-name" => self
                .observable(DomainName::builder(observed.value()?))?
                .into(),
            "email-addr" => self
                .observable(EmailAddress::builder(observed.value()?))?
                .into(),
            "url" => {
                let labels = url_labels(record);
                let mut builder = Url::builder(observed.value()?);
                if !labels.is_empty() {
                    builder = builder.edit(|url| url.common.x_opencti_labels = Some(labels));
                }
                self.observable(builder)?.into()
            }
            "file" => self.file(record)?.into(),
            other => {
                tracing::warn!(
                    observable_type = other,
                    "NTI observable type without an OpenCTI observable; the indicator is imported alone"
                );
                return Ok(None);
            }
        };
        Ok(Some(object))
    }

    /// A `file` from a sample record (`metadata`) or a file IOC
    /// (`observables[0].hashes`).
    fn file(&self, record: &Value) -> Result<File, RecordError> {
        let metadata = record.get("metadata").filter(|metadata| truthy(metadata));
        let (hashes, size, mime_type) = match metadata {
            Some(metadata) => (
                metadata.get("hashes"),
                metadata.get("size").and_then(Value::as_i64),
                metadata.get("mime_type").and_then(Value::as_str),
            ),
            None => (
                first_observable(record).and_then(|observable| observable.get("hashes")),
                None,
                None,
            ),
        };
        let hashes = hashes
            .and_then(Value::as_object)
            .ok_or(RecordError::Missing { field: "hashes" })?;
        let mut builder = File::builder();
        let mut kept = 0;
        for (algorithm, value) in hashes {
            if algorithm == "1KHASH" {
                continue;
            }
            let Some(value) = value.as_str() else {
                continue;
            };
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
            .get("names")
            .and_then(Value::as_array)
            .and_then(|names| names.first())
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| preferred_hash(hashes).map(str::to_owned));
        if let Some(name) = name {
            builder = builder.name(name);
        }
        let modified = optional_time(record, "modified")?.map(timestamp);
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
    pub fn ip(&self, record: &Value, out: &mut Converted) -> Result<(), RecordError> {
        let address = self.object_observable(record)?;
        let address_id = address.id().unwrap_or_default().to_owned();
        out.entities.push(address);
        let modified = optional_time(record, "modified")?.map(timestamp);
        for location in array(record, "locations") {
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
        for autonomous_system in array(record, "ases") {
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
    fn object_observable(&self, record: &Value) -> Result<StixObject, RecordError> {
        let observed = object_observed(record).ok_or(RecordError::Missing {
            field: "object.type",
        })?;
        self.observable_of(record, &observed)?.ok_or_else(|| {
            RecordError::invalid(
                "object.type",
                format!("unsupported type {:?}", observed.stix_type),
            )
        })
    }

    /// A location named after its most precise part; `None` when it has no
    /// part at all.
    fn location(&self, location: &Value) -> Result<Option<Location>, RecordError> {
        let named = [
            ("street_address", "Position"),
            ("city", "City"),
            ("region", "Administrative-Area"),
            ("country", "Country"),
        ]
        .into_iter()
        .find_map(|(key, location_type)| text(location, key).map(|name| (name, location_type)));
        let Some((name, location_type)) = named else {
            return Ok(None);
        };
        // pycti identifies a position by its name here, not its coordinates.
        let id = id::location(name, Some(location_type), None, None)?;
        let coordinate = |key: &str| location.get(key).and_then(Value::as_f64);
        let part = |key: &str| text(location, key).map(str::to_owned);
        let built = Location::builder(name, location_type)
            .id(id)
            .created_by(self.author_id())
            .marking(self.marking_id())
            .edit(|object| {
                object.latitude = coordinate("latitude");
                object.longitude = coordinate("longitude");
                object.region = part("region");
                object.country = part("country");
                object.city = part("city");
                object.street_address = part("street_address");
                object.postal_code = location
                    .get("postal_code")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            })
            .build()?;
        Ok(Some(built))
    }

    /// An autonomous system and the start of the `belongs-to` relationship
    /// (its `first_seen`).
    fn autonomous_system(
        &self,
        system: &Value,
    ) -> Result<(AutonomousSystem, Option<String>), RecordError> {
        let number = match system.get("number") {
            Some(Value::String(text)) => text.replace("AS", "").trim().parse::<u32>().ok(),
            Some(Value::Number(number)) => number
                .as_u64()
                .and_then(|number| u32::try_from(number).ok()),
            _ => {
                return Err(RecordError::Missing {
                    field: "ases[].number",
                });
            }
        }
        .ok_or_else(|| {
            RecordError::invalid("ases[].number", "expected an AS number such as AS64500")
        })?;
        let mut parts = Vec::new();
        if let Some(code) = text(system, "country_code") {
            parts.push(format!("is registered with the code {code}"));
        }
        if let Some(registered) = system
            .get("registered")
            .and_then(Value::as_array)
            .and_then(|dates| dates.first())
        {
            parts.push(format!("is registered on {}", python_str(registered)));
        }
        if let Some(first_seen) = text(system, "first_seen") {
            parts.push(format!("first observed on {first_seen}"));
        }
        if let Some(last_seen) = text(system, "last_seen") {
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
                object.name = text(system, "name").map(str::to_owned);
                object.rir = text(system, "rir").map(str::to_owned);
            });
        if let Some(last_seen) = system.get("last_seen").filter(|value| !value.is_null()) {
            builder = builder.property("last_seen", last_seen.clone());
        }
        let first_seen = system
            .get("first_seen")
            .and_then(|value| parse_time(value).ok())
            .map(timestamp);
        Ok((self.observable(builder)?, first_seen))
    }

    /// A `domain-basic` record: the domain, the addresses it resolves to,
    /// `resolves-to`.
    pub fn domain(&self, record: &Value, out: &mut Converted) -> Result<(), RecordError> {
        let domain = self.object_observable(record)?;
        let domain_id = domain.id().unwrap_or_default().to_owned();
        out.entities.push(domain);
        for resolution in array(record, "ips") {
            let Some(address) = resolution
                .get("ips")
                .and_then(Value::as_array)
                .and_then(|addresses| addresses.first())
                .and_then(Value::as_str)
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
            let first_seen = text(resolution, "first_seen");
            if let Some(first_seen) = first_seen {
                description.push(format!("first observed on {first_seen}"));
            }
            if let Some(last_seen) = text(resolution, "last_seen") {
                description.push(format!("last seen on {last_seen}"));
            }
            let start = match resolution.get("first_seen").filter(|value| truthy(value)) {
                Some(value) => {
                    Some(timestamp(parse_time(value).map_err(|reason| {
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
    pub fn url(&self, record: &Value, out: &mut Converted) -> Result<(), RecordError> {
        out.entities.push(self.object_observable(record)?);
        Ok(())
    }

    /// A `sample` record: a file.
    pub fn sample(&self, record: &Value, out: &mut Converted) -> Result<(), RecordError> {
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
    merged: Map<String, Value>,
}

impl IocMerger {
    /// Adds a record.
    ///
    /// # Errors
    /// [`RecordError::Missing`] when the record names no observable value.
    pub fn push(&mut self, record: Value) -> Result<(), RecordError> {
        if !record.is_object() {
            return Err(RecordError::invalid("record", "expected a JSON object"));
        }
        let observed = observed(&record).ok_or(RecordError::Missing {
            field: "observables",
        })?;
        let key = observed.value()?.to_owned();
        let Some(first) = self.merged.get_mut(&key) else {
            self.merged.insert(key, record);
            return Ok(());
        };
        for list in ["threat_types", "tags"] {
            if let Some(Value::Array(more)) = record.get(list) {
                match first.get_mut(list) {
                    Some(Value::Array(items)) => items.extend(more.iter().cloned()),
                    _ => first[list] = Value::Array(more.clone()),
                }
            }
        }
        for number in ["threat_level", "confidence"] {
            let higher = match (
                first.get(number).and_then(Value::as_f64),
                record.get(number).and_then(Value::as_f64),
            ) {
                (Some(kept), Some(new)) => new > kept,
                (None, Some(_)) => true,
                _ => false,
            };
            if higher {
                first[number] = record[number].clone();
            }
        }
        Ok(())
    }

    /// The merged records.
    #[must_use]
    pub fn finish(self) -> Vec<Value> {
        self.merged.into_iter().map(|(_, record)| record).collect()
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

fn first_observable(record: &Value) -> Option<&Value> {
    record.get("observables")?.as_array()?.first()
}

fn observed(record: &Value) -> Option<Observed> {
    if let Some(observable) = first_observable(record) {
        if let Some(address) = observable.get("address").filter(|address| truthy(address)) {
            return Some(Observed {
                stix_type: text(address, "type")?.to_owned(),
                value: text(address, "value").map(str::to_owned),
                value_field: "observables[0].address.value",
            });
        }
        let stix_type = text(observable, "type")?;
        let value = if stix_type == "file" {
            observable
                .get("hashes")
                .and_then(Value::as_object)
                .and_then(preferred_hash)
        } else {
            text(observable, "value")
        };
        return Some(Observed {
            stix_type: stix_type.to_owned(),
            value: value.map(str::to_owned),
            value_field: "observables[0].value",
        });
    }
    if let Some(observed) = object_observed(record) {
        return Some(observed);
    }
    (text(record, "type") == Some("sample")).then(|| Observed {
        stix_type: "file".to_owned(),
        value: None,
        value_field: "metadata.hashes",
    })
}

/// The observable of a basic record's `object`.
fn object_observed(record: &Value) -> Option<Observed> {
    let object = record.get("object")?;
    Some(Observed {
        stix_type: text(object, "type")?.to_owned(),
        value: text(object, "value").map(str::to_owned),
        value_field: "object.value",
    })
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
fn preferred_hash(hashes: &Map<String, Value>) -> Option<&str> {
    ["MD5", "SHA1", "SHA256", "SHA3-256"]
        .into_iter()
        .find_map(|algorithm| hashes.get(algorithm).and_then(Value::as_str))
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
fn tag_labels(record: &Value) -> Vec<String> {
    let mut labels = Vec::new();
    for tag in array(record, "tags") {
        let (Some(tag_type), Some(values)) = (
            text(tag, "tag_type"),
            tag.get("tag_values")
                .and_then(Value::as_array)
                .filter(|values| !values.is_empty()),
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
fn url_labels(record: &Value) -> Vec<String> {
    let mut labels = Vec::new();
    for (key, table) in [
        ("contents", codes::CONTENT_TYPES),
        ("industries", codes::INDUSTRIES),
        ("businesses", codes::BUSINESS_TYPES),
    ] {
        for group in array(record, key) {
            for code in array(group, key) {
                if let Some(name) = code.as_i64().and_then(|code| codes::lookup(table, code)) {
                    labels.push(name.to_owned());
                }
            }
        }
    }
    labels
}

/// `x_opencti_score`: `threat_level * 20 * (confidence / 100)` truncated,
/// computed in floating point like Python; 50 when either is 0 or missing.
fn score(threat_level: Option<&Value>, confidence: Option<&Value>) -> u8 {
    let level = threat_level.and_then(Value::as_f64).unwrap_or(0.0);
    let confidence = confidence.and_then(Value::as_f64).unwrap_or(0.0);
    if level == 0.0 || confidence == 0.0 {
        return 50;
    }
    let score = (level * 20.0 * (confidence / 100.0)).trunc();
    // Within 0..=100 for NTI's levels (1-5); clamped so odd input stays valid.
    score.clamp(0.0, 100.0) as u8
}

/// A non-empty string at `key`.
fn text<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get(key)?.as_str().filter(|text| !text.is_empty())
}

fn array<'a>(object: &'a Value, key: &str) -> &'a [Value] {
    object
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Python's truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|number| number != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// Python's `str()` of a JSON scalar, as f-strings print it.
fn python_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The timestamp at `key` of `record`, `None` when absent or null.
fn optional_time(record: &Value, key: &'static str) -> Result<Option<DateTime<Utc>>, RecordError> {
    record
        .get(key)
        .filter(|value| !value.is_null())
        .map(|value| parse_time(value).map_err(|reason| RecordError::invalid(key, reason)))
        .transpose()
}

/// A timestamp as stix2 accepts it: RFC 3339, a naive date-time (UTC) or a
/// date.
///
/// # Errors
/// The reason when the value is not one of those.
pub fn parse_time(value: &Value) -> Result<DateTime<Utc>, String> {
    let text = value.as_str().ok_or("expected a timestamp string")?.trim();
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
    use serde_json::json;

    #[test]
    fn score_follows_python_float_arithmetic() {
        assert_eq!(score(Some(&json!(4)), Some(&json!(85))), 68);
        assert_eq!(score(Some(&json!(5)), Some(&json!(85))), 85);
        assert_eq!(score(Some(&json!(3)), Some(&json!(90))), 54);
        assert_eq!(score(Some(&json!(0)), Some(&json!(90))), 50);
        assert_eq!(score(None, Some(&json!(90))), 50);
        assert_eq!(score(Some(&json!(3)), None), 50);
        // 3 * 20 * 0.29 = 17.399999999999999: truncated, as int() does.
        assert_eq!(score(Some(&json!(3)), Some(&json!(29))), 17);
    }

    #[test]
    fn labels_from_tags() {
        let record = json!({"tags": [
            {"tag_type": "malware_family", "tag_values": ["Mirai", "Gafgyt"]},
            {"tag_type": "direction", "tag_values": ["in", "out"]},
            {"tag_type": "empty", "tag_values": []},
            {"tag_values": ["orphan"]},
        ]});
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
        let record = json!({"contents": [{"contents": [29, 999]}], "industries": [{"industries": [10]}],
            "businesses": [{"businesses": [0, 25]}]});
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
