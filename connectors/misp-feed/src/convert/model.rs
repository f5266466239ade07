//! The parts of a MISP feed event file the converter reads. Everything else
//! in the file is skipped by the parser without being stored.
//!
//! Feed generators write integers as strings (`"timestamp": "1705312800"`),
//! so numeric fields accept both; booleans accept `true`/`false` and 0/1.

use serde::{Deserialize, Deserializer};

/// A MISP event.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    /// Event UUID (used in logs and error reports).
    #[serde(default)]
    pub uuid: Option<String>,
    /// Title.
    #[serde(default)]
    pub info: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<String>,
    /// Last modification, epoch seconds.
    #[serde(default, deserialize_with = "loose_int")]
    pub timestamp: Option<i64>,
    /// `1` high .. `4` undefined.
    #[serde(default, deserialize_with = "loose_text")]
    pub threat_level_id: Option<String>,
    /// The creating organisation (the default author).
    #[serde(rename = "Orgc")]
    pub orgc: Organisation,
    /// Event tags; `None` when the key is absent (not the same as `[]`).
    #[serde(rename = "Tag", default)]
    pub tags: Option<Vec<Tag>>,
    /// Event galaxies.
    #[serde(rename = "Galaxy", default)]
    pub galaxies: Vec<Galaxy>,
    /// Event-level attributes.
    #[serde(rename = "Attribute", default)]
    pub attributes: Vec<Attribute>,
    /// MISP objects.
    #[serde(rename = "Object", default)]
    pub objects: Vec<MispObject>,
    /// Event reports (markdown notes).
    #[serde(rename = "EventReport", default)]
    pub event_reports: Vec<EventReport>,
}

/// An organisation reference.
#[derive(Debug, Clone, Deserialize)]
pub struct Organisation {
    /// Display name.
    pub name: String,
}

/// A tag.
#[derive(Debug, Clone, Deserialize)]
pub struct Tag {
    /// Full tag name, e.g. `tlp:green` or `misp-galaxy:threat-actor="APT 28"`.
    pub name: String,
}

/// A galaxy attached to an event or attribute.
#[derive(Debug, Clone, Deserialize)]
pub struct Galaxy {
    /// `misp`, `mitre-attack`, ...; galaxies without one are skipped.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Galaxy name (`Threat Actor`, `Sector`, ...).
    #[serde(default)]
    pub name: String,
    /// Clusters (the actual entries).
    #[serde(rename = "GalaxyCluster", default)]
    pub clusters: Vec<GalaxyCluster>,
}

/// A galaxy cluster.
#[derive(Debug, Clone, Deserialize)]
pub struct GalaxyCluster {
    /// Cluster value (the entity name, possibly with a ` - G0007` suffix).
    pub value: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Extra metadata.
    #[serde(default)]
    pub meta: Option<ClusterMeta>,
}

/// The cluster metadata the converter reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClusterMeta {
    /// Aliases.
    #[serde(default, deserialize_with = "loose_text_list")]
    pub synonyms: Option<Vec<String>>,
    /// External ids (the MITRE id first).
    #[serde(default, deserialize_with = "loose_text_list")]
    pub external_id: Option<Vec<String>>,
    /// ISO 3166 country code (country galaxy).
    #[serde(rename = "ISO", default, deserialize_with = "loose_text")]
    pub iso: Option<String>,
}

/// An attribute (an indicator value and its context).
#[derive(Debug, Clone, Deserialize)]
pub struct Attribute {
    /// Attribute UUID.
    #[serde(default)]
    pub uuid: String,
    /// MISP type (`ip-dst`, `filename|md5`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// MISP category (`Network activity`, `External analysis`, ...).
    #[serde(default)]
    pub category: String,
    /// The value (composite types join two values with `|`).
    #[serde(deserialize_with = "text_value")]
    pub value: String,
    /// Free-text comment.
    #[serde(default, deserialize_with = "loose_text")]
    pub comment: Option<String>,
    /// Whether the value is meant for detection.
    #[serde(default, deserialize_with = "loose_bool")]
    pub to_ids: bool,
    /// Last modification, epoch seconds.
    #[serde(default, deserialize_with = "loose_int")]
    pub timestamp: Option<i64>,
    /// Attribute tags; `None` when the key is absent.
    #[serde(rename = "Tag", default)]
    pub tags: Option<Vec<Tag>>,
    /// Attribute galaxies.
    #[serde(rename = "Galaxy", default)]
    pub galaxies: Vec<Galaxy>,
    /// Sightings.
    #[serde(rename = "Sighting", default)]
    pub sightings: Vec<Sighting>,
    /// Base64 payload of `attachment` / `malware-sample` attributes.
    #[serde(default)]
    pub data: Option<String>,
}

impl Attribute {
    /// The comment, empty when absent.
    pub fn comment(&self) -> &str {
        self.comment.as_deref().unwrap_or("")
    }
}

/// A sighting of an attribute.
#[derive(Debug, Clone, Deserialize)]
pub struct Sighting {
    /// Who saw it.
    #[serde(rename = "Organisation", default)]
    pub organisation: Option<Organisation>,
    /// When, epoch seconds.
    #[serde(default, deserialize_with = "loose_int")]
    pub date_sighting: Option<i64>,
}

/// A MISP object (a group of attributes).
#[derive(Debug, Clone, Deserialize)]
pub struct MispObject {
    /// Object UUID.
    #[serde(default)]
    pub uuid: Option<String>,
    /// Template name (`file`, `domain-ip`, ...).
    #[serde(default)]
    pub name: String,
    /// Template category.
    #[serde(rename = "meta-category", default)]
    pub meta_category: Option<String>,
    /// Template description.
    #[serde(default, deserialize_with = "loose_text")]
    pub description: Option<String>,
    /// The object's attributes.
    #[serde(rename = "Attribute", default)]
    pub attributes: Vec<Attribute>,
    /// Links to other objects or attributes.
    #[serde(rename = "ObjectReference", default)]
    pub references: Vec<ObjectReference>,
}

/// A typed link from a MISP object to another object or attribute.
#[derive(Debug, Clone, Deserialize)]
pub struct ObjectReference {
    /// Source UUID as MISP servers write it.
    #[serde(default)]
    pub source_uuid: Option<String>,
    /// Source UUID as PyMISP feeds write it.
    #[serde(default)]
    pub object_uuid: Option<String>,
    /// Target UUID (object or attribute).
    #[serde(default)]
    pub referenced_uuid: Option<String>,
    /// MISP relationship name (`communicates-with`, ...).
    #[serde(default)]
    pub relationship_type: String,
    /// Free-text comment.
    #[serde(default, deserialize_with = "loose_text")]
    pub comment: Option<String>,
}

/// A MISP event report.
#[derive(Debug, Clone, Deserialize)]
pub struct EventReport {
    /// Title.
    #[serde(default)]
    pub name: String,
    /// Markdown content.
    #[serde(default)]
    pub content: String,
    /// Last modification, epoch seconds.
    #[serde(default, deserialize_with = "loose_int")]
    pub timestamp: Option<i64>,
}

/// Integers, numeric strings, `null`.
fn loose_int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => crate::source::epoch_seconds(&value)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, found {value}"))),
    }
}

/// Strings, numbers (kept as their JSON text), `null`.
fn loose_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Ok(Some(text)),
        Some(value @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
            Ok(Some(value.to_string()))
        }
        Some(value) => Err(serde::de::Error::custom(format!(
            "expected a string, found {value}"
        ))),
    }
}

/// A required value: a string, or a number kept as its JSON text.
fn text_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    loose_text(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("expected a string, found null"))
}

/// A list of strings, or a single string taken as a one-item list.
fn loose_text_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Ok(Some(vec![text])),
        Some(serde_json::Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::String(text) => Ok(text),
                other => Err(serde::de::Error::custom(format!(
                    "expected a list of strings, found {other}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(value) => Err(serde::de::Error::custom(format!(
            "expected a list of strings, found {value}"
        ))),
    }
}

/// `true`/`false`, 0/1, and their string forms.
fn loose_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    match value {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(flag)) => Ok(flag),
        Some(serde_json::Value::Number(number)) if number.as_i64() == Some(0) => Ok(false),
        Some(serde_json::Value::Number(number)) if number.as_i64() == Some(1) => Ok(true),
        Some(serde_json::Value::String(text)) => match text.as_str() {
            "true" | "True" | "1" => Ok(true),
            "false" | "False" | "0" | "" => Ok(false),
            _ => Err(serde::de::Error::custom(format!(
                "expected a boolean, found {text:?}"
            ))),
        },
        Some(value) => Err(serde::de::Error::custom(format!(
            "expected a boolean, found {value}"
        ))),
    }
}
