//! Marking definitions: TLP 2.0 with OpenCTI's fixed ids, PAP and other
//! OpenCTI statement markings.
//!
//! The TLP markings are full objects, ready to put in a bundle and to
//! reference from `object_marking_refs`:
//!
//! * [`TLP_WHITE`], [`TLP_GREEN`], [`TLP_AMBER`] and [`TLP_RED`] are the
//!   STIX 2.1 standard markings, exactly as the stix2 library (hence every
//!   pycti connector) writes them;
//! * [`TLP_CLEAR`] and [`TLP_AMBER_STRICT`] are OpenCTI's: statement
//!   markings carrying `x_opencti_definition_type: "TLP"` and
//!   `x_opencti_definition`, under the ids OpenCTI reserves for them
//!   (TLP:CLEAR shares TLP:WHITE's id).
//!
//! ```
//! use opencti_stix::marking::{self, TLP_AMBER};
//!
//! assert_eq!(TLP_AMBER.common.id, "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82");
//! assert_eq!(marking::tlp("amber+strict").unwrap().x_opencti_definition.as_deref(), Some("TLP:AMBER+STRICT"));
//! ```

use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::builder::Builder;
use crate::id;
use crate::object::{CommonProperties, MarkingDefinition};

/// When the STIX 2.1 specification created its TLP markings.
const STIX_TLP_CREATED: &str = "2017-01-20T00:00:00.000Z";

/// Fixed `created` of OpenCTI's own TLP markings here (pycti stamps them
/// with the current time; OpenCTI matches markings by id, so any value does).
const OPENCTI_TLP_CREATED: &str = "2022-10-01T00:00:00.000Z";

/// TLP:WHITE, as the STIX 2.1 specification (and stix2) defines it.
pub static TLP_WHITE: LazyLock<MarkingDefinition> =
    LazyLock::new(|| stix_tlp("white", "TLP:WHITE"));
/// TLP:GREEN, as the STIX 2.1 specification (and stix2) defines it.
pub static TLP_GREEN: LazyLock<MarkingDefinition> =
    LazyLock::new(|| stix_tlp("green", "TLP:GREEN"));
/// TLP:AMBER, as the STIX 2.1 specification (and stix2) defines it.
pub static TLP_AMBER: LazyLock<MarkingDefinition> =
    LazyLock::new(|| stix_tlp("amber", "TLP:AMBER"));
/// TLP:RED, as the STIX 2.1 specification (and stix2) defines it.
pub static TLP_RED: LazyLock<MarkingDefinition> = LazyLock::new(|| stix_tlp("red", "TLP:RED"));
/// TLP:CLEAR, OpenCTI's statement marking (same id as TLP:WHITE).
pub static TLP_CLEAR: LazyLock<MarkingDefinition> = LazyLock::new(|| opencti_tlp("TLP:CLEAR"));
/// TLP:AMBER+STRICT, OpenCTI's statement marking.
pub static TLP_AMBER_STRICT: LazyLock<MarkingDefinition> =
    LazyLock::new(|| opencti_tlp("TLP:AMBER+STRICT"));

fn stix_tlp(color: &str, name: &str) -> MarkingDefinition {
    MarkingDefinition {
        common: CommonProperties {
            id: id::marking_definition("TLP", name),
            spec_version: Some("2.1".to_owned()),
            created: Some(STIX_TLP_CREATED.to_owned()),
            ..CommonProperties::default()
        },
        name: Some(name.to_owned()),
        definition_type: Some("tlp".to_owned()),
        definition: Some(json!({ "tlp": color })),
        ..MarkingDefinition::default()
    }
}

fn opencti_tlp(name: &str) -> MarkingDefinition {
    let mut marking = statement_marking("TLP", name);
    marking.common.created = Some(OPENCTI_TLP_CREATED.to_owned());
    marking
}

/// An OpenCTI statement marking (without `created`).
fn statement_marking(definition_type: &str, definition: &str) -> MarkingDefinition {
    MarkingDefinition {
        common: CommonProperties {
            id: id::marking_definition(definition_type, definition),
            spec_version: Some("2.1".to_owned()),
            ..CommonProperties::default()
        },
        definition_type: Some("statement".to_owned()),
        definition: Some(json!({ "statement": "custom" })),
        x_opencti_definition_type: Some(definition_type.to_owned()),
        x_opencti_definition: Some(definition.to_owned()),
        ..MarkingDefinition::default()
    }
}

/// The TLP marking of a level name: `clear`, `white`, `green`, `amber`,
/// `amber+strict` or `red`, in any case, with or without a `tlp:` prefix.
///
/// `clear` gives OpenCTI's [`TLP_CLEAR`]; connectors that map it to
/// [`TLP_WHITE`] (as several pycti ones do) should ask for `white`.
#[must_use]
pub fn tlp(level: &str) -> Option<&'static MarkingDefinition> {
    let level = level.trim().to_ascii_lowercase();
    let level = level.strip_prefix("tlp:").unwrap_or(&level);
    let marking = match level {
        "clear" => &TLP_CLEAR,
        "white" => &TLP_WHITE,
        "green" => &TLP_GREEN,
        "amber" => &TLP_AMBER,
        "amber+strict" => &TLP_AMBER_STRICT,
        "red" => &TLP_RED,
        _ => return None,
    };
    Some(LazyLock::force(marking))
}

impl MarkingDefinition {
    /// A builder of an OpenCTI statement marking such as `("PAP",
    /// "PAP:RED")`: `definition_type: "statement"`, `definition:
    /// {"statement": "custom"}`, the type and name in
    /// `x_opencti_definition_type` / `x_opencti_definition`, and the id
    /// pycti derives from them. `created` defaults to the build time.
    pub fn statement(definition_type: &str, definition: &str) -> Builder<Self> {
        Builder::new(statement_marking(definition_type, definition))
    }

    /// The definition's TLP colour for STIX-form TLP markings
    /// (`{"tlp": "green"}` gives `green`).
    #[must_use]
    pub fn tlp_color(&self) -> Option<&str> {
        self.definition.as_ref()?.get("tlp").and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlp_markings_have_opencti_ids() {
        let expected = [
            (
                "white",
                "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
            ),
            (
                "clear",
                "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
            ),
            (
                "TLP:GREEN",
                "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            ),
            (
                "amber",
                "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            ),
            (
                "Amber+Strict",
                "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
            ),
            (
                "red",
                "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
            ),
        ];
        for (level, id) in expected {
            assert_eq!(
                tlp(level).map(|m| m.common.id.as_str()),
                Some(id),
                "{level}"
            );
        }
        assert_eq!(tlp("amber+"), None);
        assert_eq!(TLP_GREEN.tlp_color(), Some("green"));
        assert_eq!(TLP_CLEAR.tlp_color(), None);
    }
}
