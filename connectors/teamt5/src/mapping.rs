//! The STIX side, without I/O: listing items read into [`BundleRef`]s, the
//! author identity and TLP marking, the rewrite of TeamT5's objects and the
//! extra Report of a TeamT5 report.

use chrono::{DateTime, Utc};
use opencti_stix::StixObject;
use opencti_stix::builder::{timestamp, timestamp_millis};
use opencti_stix::id::{self, IdDate};
use serde_json::{Map, Value, json};

/// The two kinds of TeamT5 publications, in the order a run imports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `/api/v2/reports`.
    Report,
    /// `/api/v2/ioc_bundles`.
    IocBundle,
}

impl Kind {
    /// Both kinds, in run order.
    pub const ALL: [Self; 2] = [Self::Report, Self::IocBundle];

    /// The listing path under the API base URL.
    pub fn listing_path(self) -> &'static str {
        match self {
            Self::Report => "/api/v2/reports",
            Self::IocBundle => "/api/v2/ioc_bundles",
        }
    }

    /// The key of the listing page's array.
    pub fn response_key(self) -> &'static str {
        match self {
            Self::Report => "reports",
            Self::IocBundle => "ioc_bundles",
        }
    }

    /// The name the Python connector's messages use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Report => "Report",
            Self::IocBundle => "Indicator Bundle",
        }
    }
}

/// What a listing says about a TeamT5 report, for its Report object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportInfo {
    /// `title` (the Report's name); `None` when missing.
    pub title: Option<String>,
    /// `digest` (the Report's description).
    pub digest: String,
    /// `type_name`, when given and not empty.
    pub type_name: Option<String>,
    /// `pdf_url`, or the ThreatVision page of the alias, or empty.
    pub pdf_url: String,
}

/// One listed publication: where its STIX bundle is and what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleRef {
    /// Report or IoC bundle.
    pub kind: Kind,
    /// The report's alias or the IoC bundle's id (for messages).
    pub key: String,
    /// Publication time (report `date`, IoC bundle `created_at`).
    pub created_at: Option<i64>,
    /// The STIX bundle's URL; `None`: nothing to download (skipped).
    pub stix_url: Option<String>,
    /// Reports only.
    pub report: Option<ReportInfo>,
}

fn text(item: &Map<String, Value>, field: &str) -> Option<String> {
    match item.get(field)? {
        Value::String(text) => Some(text.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Unix seconds from an integer or a float (Python's `fromtimestamp`
/// accepts both); `None` for anything else.
fn unix_seconds(item: &Map<String, Value>, field: &str) -> Option<i64> {
    let value = item.get(field)?;
    #[allow(clippy::cast_possible_truncation)]
    value
        .as_i64()
        .or_else(|| value.as_f64().map(|seconds| seconds.floor() as i64))
}

/// Reads one listing item as the Python handlers do (every field optional);
/// `base` is the API base URL without trailing slash. `None` when the item
/// is not a JSON object.
pub fn bundle_ref(kind: Kind, item: &Value, base: &str) -> Option<BundleRef> {
    let item = item.as_object()?;
    Some(match kind {
        Kind::Report => {
            let alias = text(item, "alias").unwrap_or_default();
            let stix_url = text(item, "stix_url")
                .filter(|url| !url.is_empty())
                .or_else(|| {
                    (!alias.is_empty()).then(|| format!("{base}/api/v2/reports/{alias}.stix"))
                });
            let pdf_url = text(item, "pdf_url")
                .filter(|url| !url.is_empty())
                .unwrap_or_else(|| {
                    if alias.is_empty() {
                        String::new()
                    } else {
                        format!("https://threatvision.org/reports/detail?alias={alias}")
                    }
                });
            BundleRef {
                kind,
                created_at: unix_seconds(item, "date"),
                stix_url,
                report: Some(ReportInfo {
                    title: text(item, "title"),
                    digest: text(item, "digest").unwrap_or_default(),
                    type_name: text(item, "type_name").filter(|name| !name.is_empty()),
                    pdf_url,
                }),
                key: alias,
            }
        }
        Kind::IocBundle => BundleRef {
            kind,
            key: text(item, "id").unwrap_or_default(),
            created_at: unix_seconds(item, "created_at"),
            stix_url: text(item, "stix_url").filter(|url| !url.is_empty()),
            report: None,
        },
    })
}

/// Why a downloaded bundle cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// The bundle has no `objects` array, or an empty one.
    #[error("the STIX bundle has no objects")]
    NoObjects,
    /// An element of `objects` is unusable.
    #[error("objects[{index}]: {reason}")]
    InvalidObject {
        /// Position in `objects`.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A report's Report object cannot be built.
    #[error("report {field}: {reason}")]
    InvalidReport {
        /// The listing field at fault.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The observable types stix2 knows (their author goes in
/// `x_opencti_created_by_ref`, as the Python connector writes it).
pub const OBSERVABLE_TYPES: [&str; 18] = [
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// The author and marking every object of a run carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    /// The author identity object.
    pub author: Value,
    /// The TLP marking-definition object.
    pub tlp: Value,
}

impl Stamp {
    /// The organisation `author_name` and the marking of `tlp_level` (one
    /// of [`crate::config::TLP_LEVELS`]; anything else gives TLP:CLEAR, as
    /// the Python connector's fallback).
    pub fn new(author_name: &str, tlp_level: &str, now: DateTime<Utc>) -> Self {
        let created = timestamp_millis(now);
        let author = json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": id::identity(author_name, "organization"),
            "created": created,
            "modified": created,
            "name": author_name,
            "identity_class": "organization",
        });
        let marking = opencti_stix::marking::tlp(tlp_level).unwrap_or_else(|| {
            tracing::warn!("Invalid TLP Marking: {tlp_level} defaulting to TLP:CLEAR");
            &opencti_stix::marking::TLP_CLEAR
        });
        let tlp = StixObject::from(marking.clone()).into_value();
        Self { author, tlp }
    }

    /// The author's id.
    pub fn author_id(&self) -> &str {
        self.author["id"].as_str().unwrap_or_default()
    }

    /// The marking's id.
    pub fn tlp_id(&self) -> &str {
        self.tlp["id"].as_str().unwrap_or_default()
    }
}

/// Sets the author and appends the TLP marking on every object except
/// marking definitions; SCOs get the author in `x_opencti_created_by_ref`.
/// Unusable elements (not an object, no `type`, markings that are not a
/// list) are removed; the problems are returned, naming each element by its
/// position in the downloaded bundle.
pub fn stamp_objects(objects: &mut Vec<Value>, stamp: &Stamp) -> Vec<MappingError> {
    let author = Value::String(stamp.author_id().to_owned());
    let tlp = Value::String(stamp.tlp_id().to_owned());
    let mut problems = Vec::new();
    let mut index = 0;
    objects.retain_mut(|object| {
        let position = index;
        index += 1;
        match stamp_object(object, &author, &tlp) {
            Ok(()) => true,
            Err(reason) => {
                problems.push(MappingError::InvalidObject {
                    index: position,
                    reason: reason.to_owned(),
                });
                false
            }
        }
    });
    problems
}

fn stamp_object(object: &mut Value, author: &Value, tlp: &Value) -> Result<(), &'static str> {
    let object = object.as_object_mut().ok_or("not a JSON object")?;
    let object_type = match object.get("type") {
        Some(Value::String(object_type)) if !object_type.is_empty() => object_type.as_str(),
        _ => return Err("`type` is missing or not a string"),
    };
    if object_type == "marking-definition" {
        return Ok(());
    }
    let author_field = if OBSERVABLE_TYPES.contains(&object_type) {
        "x_opencti_created_by_ref"
    } else {
        "created_by_ref"
    };
    let markings = object
        .entry("object_marking_refs")
        .or_insert_with(|| Value::Array(Vec::new()));
    if markings.is_null() {
        *markings = Value::Array(Vec::new());
    }
    let markings = markings
        .as_array_mut()
        .ok_or("`object_marking_refs` is not an array")?;
    if !markings.contains(tlp) {
        markings.push(tlp.clone());
    }
    object.insert(author_field.to_owned(), author.clone());
    Ok(())
}

/// The objects of one publication, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    /// TeamT5's objects (stamped), the Report for a report, then the
    /// author and the marking.
    pub objects: Vec<Value>,
    /// Downloaded elements left out, and why.
    pub dropped: Vec<MappingError>,
}

/// The Report object of a TeamT5 report: listing title, digest, type and
/// PDF link, referring to every object of the bundle.
pub fn report_object(
    info: &ReportInfo,
    published: Option<i64>,
    objects: &[Value],
    stamp: &Stamp,
    now: DateTime<Utc>,
) -> Result<Value, MappingError> {
    let title = info
        .title
        .as_deref()
        .ok_or_else(|| MappingError::InvalidReport {
            field: "title",
            reason: "missing".to_owned(),
        })?;
    let published = published
        .and_then(|seconds| DateTime::<Utc>::from_timestamp(seconds, 0))
        .ok_or_else(|| MappingError::InvalidReport {
            field: "date",
            reason: "missing or not a Unix time".to_owned(),
        })?;
    let report_id = id::report(title, Some(IdDate::from(published))).map_err(|error| {
        MappingError::InvalidReport {
            field: "title",
            reason: error.to_string(),
        }
    })?;
    let object_refs: Vec<Value> = objects
        .iter()
        .filter_map(|object| object.get("id").filter(|id| id.is_string()).cloned())
        .collect();
    if object_refs.is_empty() {
        return Err(MappingError::InvalidReport {
            field: "stix_url",
            reason: "the bundle has no object with an id to refer to".to_owned(),
        });
    }
    let created = timestamp_millis(now);
    let mut report = json!({
        "type": "report",
        "spec_version": "2.1",
        "id": report_id,
        "created_by_ref": stamp.author_id(),
        "created": created,
        "modified": created,
        "name": title,
        "description": info.digest,
        "report_types": [info.type_name.as_deref().unwrap_or("report")],
        "published": timestamp(published),
        "object_refs": object_refs,
    });
    if !info.pdf_url.is_empty() {
        report["external_references"] = json!([{
            "source_name": "Team T5",
            "url": info.pdf_url,
            "description": "PDF report from Team T5",
        }]);
    }
    report["object_marking_refs"] = json!([stamp.tlp_id()]);
    Ok(report)
}

/// The [`Publication`] of one downloaded bundle. `Err` when nothing can be
/// sent: no (usable) objects, or a report whose Report cannot be built.
pub fn publication_objects(
    reference: &BundleRef,
    mut objects: Vec<Value>,
    stamp: &Stamp,
    now: DateTime<Utc>,
) -> Result<Publication, MappingError> {
    if objects.is_empty() {
        return Err(MappingError::NoObjects);
    }
    let dropped = stamp_objects(&mut objects, stamp);
    if objects.is_empty() {
        return Err(dropped
            .into_iter()
            .next()
            .unwrap_or(MappingError::NoObjects));
    }
    if let Some(info) = &reference.report {
        let report = report_object(info, reference.created_at, &objects, stamp, now)?;
        objects.push(report);
    }
    objects.push(stamp.author.clone());
    objects.push(stamp.tlp.clone());
    Ok(Publication { objects, dropped })
}

/// pycti's `stix2_create_bundle`: a bundle with a random id.
pub fn bundle(objects: Vec<Value>) -> Value {
    let mut bundle = Map::new();
    bundle.insert("type".to_owned(), Value::from("bundle"));
    bundle.insert(
        "id".to_owned(),
        Value::from(format!("bundle--{}", uuid::Uuid::new_v4())),
    );
    bundle.insert("objects".to_owned(), Value::Array(objects));
    Value::Object(bundle)
}
