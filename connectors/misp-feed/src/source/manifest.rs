//! `manifest.json`: the index of a MISP feed, one summary per event keyed by
//! the event UUID (also the event's file name).

use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

/// One event of the feed, as the manifest announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The manifest key: the event UUID, and the file name without `.json`.
    pub key: String,
    /// The event's last modification (epoch seconds).
    pub timestamp: i64,
    /// The event title (for logs only).
    pub info: String,
    /// The event date `YYYY-MM-DD` (for logs only).
    pub date: String,
}

/// A manifest entry that cannot be scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEntry {
    /// The manifest key.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A parsed manifest: usable entries sorted by timestamp (ties keep manifest
/// order), and the entries that had to be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Entries in processing order.
    pub entries: Vec<ManifestEntry>,
    /// Entries without a usable timestamp.
    pub rejected: Vec<RejectedEntry>,
}

/// The manifest is not a JSON object of event summaries.
#[derive(Debug, thiserror::Error)]
#[error("manifest.json is not a MISP feed manifest: {message}")]
#[non_exhaustive]
pub struct ManifestError {
    /// The parser's complaint.
    pub message: String,
}

impl Manifest {
    /// Parses and orders a manifest.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let mut manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|error| ManifestError {
                message: error.to_string(),
            })?;
        // Stable: events sharing a timestamp keep their manifest order.
        manifest.entries.sort_by_key(|entry| entry.timestamp);
        Ok(manifest)
    }
}

impl<'de> Deserialize<'de> for Manifest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ManifestVisitor;

        impl<'de> Visitor<'de> for ManifestVisitor {
            type Value = Manifest;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of event summaries keyed by event UUID")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Manifest, A::Error> {
                let mut manifest = Manifest::default();
                while let Some(key) = map.next_key::<String>()? {
                    // Entries are small; a per-entry `Value` lets one bad entry be
                    // rejected without failing the whole manifest.
                    let value: serde_json::Value = map.next_value()?;
                    if !value.is_object() {
                        manifest.rejected.push(RejectedEntry {
                            key,
                            reason: format!("expected an event summary object, found {value}"),
                        });
                        continue;
                    }
                    let timestamp = value.get("timestamp");
                    match timestamp.and_then(epoch_seconds) {
                        Some(timestamp) => manifest.entries.push(ManifestEntry {
                            key,
                            timestamp,
                            info: text(value.get("info")),
                            date: text(value.get("date")),
                        }),
                        None => manifest.rejected.push(RejectedEntry {
                            key,
                            reason: format!(
                                "timestamp {} is not a number of seconds",
                                timestamp.unwrap_or(&serde_json::Value::Null)
                            ),
                        }),
                    }
                }
                Ok(manifest)
            }
        }

        deserializer.deserialize_map(ManifestVisitor)
    }
}

/// An integer, a numeric string (feed generators stringify integers) or a
/// float with nothing after the point.
pub(crate) fn epoch_seconds(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|float| float.fract() == 0.0 && float.abs() < 1e15)
                .map(|float| float as i64)
        }),
        serde_json::Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: Option<&serde_json::Value>) -> String {
    match value {
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_sorted_by_timestamp_keeping_ties_in_manifest_order() {
        let manifest = Manifest::parse(
            br#"{
              "c": {"timestamp": "300", "info": "third", "date": "2024-01-03", "Tag": [{"name": "x"}]},
              "a": {"timestamp": 100, "info": "first", "date": "2024-01-01"},
              "b2": {"timestamp": "200", "info": "tie one"},
              "b1": {"timestamp": "200", "info": "tie two"}
            }"#,
        )
        .unwrap();
        let keys: Vec<&str> = manifest.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "b2", "b1", "c"]);
        assert_eq!(manifest.entries[0].info, "first");
        assert_eq!(manifest.entries[3].timestamp, 300);
        assert!(manifest.rejected.is_empty());
    }

    #[test]
    fn entries_without_a_usable_timestamp_are_rejected_not_fatal() {
        let manifest = Manifest::parse(
            br#"{"ok": {"timestamp": "5"}, "bad": {"timestamp": "yesterday"},
                 "missing": {"info": "x"}, "weird": 7}"#,
        )
        .unwrap();
        assert_eq!(manifest.entries.len(), 1);
        let rejected: Vec<&str> = manifest.rejected.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(rejected, ["bad", "missing", "weird"]);
        assert!(manifest.rejected[0].reason.contains("yesterday"));
    }

    #[test]
    fn a_manifest_that_is_not_an_object_is_an_error() {
        assert!(Manifest::parse(b"[1, 2]").is_err());
        assert!(
            Manifest::parse(br#"{"a": {"timestamp": 1}"#).is_err(),
            "truncated"
        );
        assert!(Manifest::parse(b"").is_err());
    }

    #[test]
    fn epoch_seconds_accepts_the_feed_encodings() {
        use serde_json::json;
        assert_eq!(epoch_seconds(&json!(1705312800)), Some(1705312800));
        assert_eq!(epoch_seconds(&json!("1705312800")), Some(1705312800));
        assert_eq!(epoch_seconds(&json!(1705312800.0)), Some(1705312800));
        assert_eq!(epoch_seconds(&json!(1.5)), None);
        assert_eq!(epoch_seconds(&json!("1.5")), None);
        assert_eq!(epoch_seconds(&json!(null)), None);
    }
}
