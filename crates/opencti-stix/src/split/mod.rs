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
//! stack (pycti would hit Python's recursion limit instead).
//!
//! The bundle is held once, as a [`CompactBundle`]: each object's JSON
//! text, end to end, and beside it only what the walk reads (the object's
//! id and internal ids, its type, its `*_ref`/`*_refs` properties as
//! interned strings). [`CompactBundle::split`] walks that and gives a
//! [`SplitPlan`], which writes each part only when asked for it, by parsing
//! its object's text again and applying what the walk decided;
//! [`SplitPlan::part_view`] serialises a part straight from that text (no
//! JSON value in between), which is how the runtime writes its messages.
//! Holding a
//! bundle costs its JSON text plus about 100 to 200 bytes per object (one
//! copy of each distinct id with about 30 bytes of index, the references
//! as 4-byte numbers, 8 bytes plus hash-set slack per kept reference); a
//! part costs its own size while it is in use. [`split_bundle`] and
//! [`split_bundle_str`] give every part at once, for tests and tools.
//!
//! # Deviations
//!
//! Where pycti would crash with a Python exception (an object without `id`
//! or `type`, a relationship without a `source_ref`/`target_ref` key, a
//! reference that is not a string, a null `where_sighted_refs` on a
//! sighting), this module returns a [`SplitError`] naming the object and the
//! field instead. Internal ids that are not strings are ignored. `nb_deps`
//! saturates at `u64::MAX` where Python's integers would keep growing.

/// The four `Visitor` methods for booleans and numbers, all giving `$result`
/// (the splitter reads them only for their kind).
macro_rules! visit_numbers {
    ($this:ident => $result:expr) => {
        fn visit_bool<E: serde::de::Error>($this, _: bool) -> Result<Self::Value, E> {
            $result
        }

        fn visit_i64<E: serde::de::Error>($this, _: i64) -> Result<Self::Value, E> {
            $result
        }

        fn visit_u64<E: serde::de::Error>($this, _: u64) -> Result<Self::Value, E> {
            $result
        }

        fn visit_f64<E: serde::de::Error>($this, _: f64) -> Result<Self::Value, E> {
            $result
        }
    };
}

mod compact;
mod plan;
mod shape;
mod symbols;
mod walk;

use serde_json::Value;

pub use compact::CompactBundle;
pub use plan::{PartView, SplitPlan};

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
    Ok(CompactBundle::from_json(json)?.split(options)?.into_split())
}

/// Splits a bundle into one bundle per object, dependencies first.
///
/// # Errors
///
/// [`SplitError::InvalidBundle`] when the value is not an object with an
/// `objects` list (or has a non-string `id`), [`SplitError::InvalidObject`]
/// when an object is malformed in a way pycti would crash on.
pub fn split_bundle(bundle: Value, options: &SplitOptions) -> Result<Split, SplitError> {
    Ok(CompactBundle::from_value(bundle)?
        .split(options)?
        .into_split())
}

fn invalid_bundle(reason: &str) -> SplitError {
    SplitError::InvalidBundle {
        reason: reason.to_owned(),
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
