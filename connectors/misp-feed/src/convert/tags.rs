//! What tags mean: markings, labels and the author override.

use std::sync::Arc;

use serde_json::{Value, json};

use super::model::Tag;

/// A marking definition: its id and the STIX object to put in the bundle.
#[derive(Debug, Clone)]
pub(crate) struct Marking {
    pub(crate) id: Arc<str>,
    pub(crate) object: Arc<Value>,
}

/// The four TLP markings stix2 ships, with OpenCTI's fixed ids.
fn tlp(color: &str) -> Marking {
    let (id, name) = match color {
        "white" => (
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
            "TLP:WHITE",
        ),
        "green" => (
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            "TLP:GREEN",
        ),
        "amber" => (
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            "TLP:AMBER",
        ),
        _ => (
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
            "TLP:RED",
        ),
    };
    Marking {
        id: Arc::from(id),
        object: Arc::new(json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": id,
            "created": "2017-01-20T00:00:00.000Z",
            "definition_type": "tlp",
            "name": name,
            "definition": {"tlp": color},
        })),
    }
}

/// An OpenCTI statement marking (`x_opencti_definition_type` / `_definition`).
fn statement(definition_type: &str, definition: &str, created: &str) -> Marking {
    let id = opencti_stix::id::marking_definition(definition_type, definition);
    Marking {
        object: Arc::new(json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": id,
            "created": created,
            "definition_type": "statement",
            "definition": {"statement": "custom"},
            "x_opencti_definition": definition,
            "x_opencti_definition_type": definition_type,
        })),
        id: Arc::from(id),
    }
}

/// TLP:WHITE, the default marking.
pub(crate) fn tlp_white() -> Marking {
    tlp("white")
}

/// Markings named by `tags`; TLP:WHITE when none and `with_default`.
///
/// `marking:TYPE=NAME` tags become statement markings when
/// `markings_from_tags` is on. Several TLPs can coexist, as in the Python
/// connector.
pub(crate) fn markings(
    tags: &[Tag],
    with_default: bool,
    markings_from_tags: bool,
    now: &str,
) -> Vec<Marking> {
    let mut found = Vec::new();
    for tag in tags {
        let lower = tag.name.to_lowercase();
        if markings_from_tags
            && tag.name.contains(':')
            && tag.name.contains('=')
            && lower.starts_with("marking")
        {
            let parts: Vec<&str> = tag.name.split(':').collect();
            let definition = if parts.len() > 2 {
                format!("{}:{}", parts[1], parts[2])
            } else {
                parts[1].to_owned()
            };
            // `marking:PAP=PAP:RED` -> ("PAP", "PAP:RED"); a definition whose
            // `=` sat in the dropped third part has no name to give.
            let mut halves = definition.split('=');
            if let (Some(kind), Some(name)) = (halves.next(), halves.next()) {
                found.push(statement(kind, name, now));
            }
        }
        match lower.as_str() {
            "tlp:clear" | "tlp:white" => found.push(tlp("white")),
            "tlp:green" => found.push(tlp("green")),
            "tlp:amber" => found.push(tlp("amber")),
            "tlp:amber+strict" => found.push(statement("TLP", "TLP:AMBER+STRICT", now)),
            "tlp:red" => found.push(tlp("red")),
            _ => {}
        }
    }
    if found.is_empty() && with_default {
        found.push(tlp_white());
    }
    found
}

/// Tag prefixes that never become labels: they carry markings, threats,
/// authors or galaxies handled elsewhere.
const NOT_LABELS: &[&str] = &[
    "misp-galaxy:threat-actor",
    "misp-galaxy:mitre-threat-actor",
    "misp-galaxy:microsoft-activity-group",
    "misp-galaxy:mitre-enterprise-attack-threat-actor",
    "misp-galaxy:mitre-mobile-attack-intrusion-set",
    "misp-galaxy:mitre-intrusion-set",
    "misp-galaxy:mitre-enterprise-attack-intrusion-set",
    "misp-galaxy:mitre-malware",
    "misp-galaxy:mitre-enterprise-attack-malware",
    "misp-galaxy:mitre-attack-pattern",
    "misp-galaxy:mitre-enterprise-attack-attack-pattern",
    "misp-galaxy:mitre-tool",
    "misp-galaxy:tool",
    "misp-galaxy:ransomware",
    "misp-galaxy:malpedia",
    "misp-galaxy:sector",
    "misp-galaxy:country",
    "marking",
    "creator",
    "intrusion-set",
    "malware",
    "tool",
    "mitre",
];

/// Exact (case-sensitive) TLP tag names that never become labels.
const TLP_NAMES: &[&str] = &[
    "tlp:white",
    "tlp:green",
    "tlp:amber",
    "tlp:amber+strict",
    "tlp:red",
];

/// Labels for `tags` (the Python connector's `_resolve_tags`).
pub(crate) fn labels(tags: &[Tag]) -> Vec<String> {
    tags.iter()
        .map(|tag| tag.name.as_str())
        .filter(|name| {
            !TLP_NAMES.contains(name) && !NOT_LABELS.iter().any(|prefix| name.starts_with(prefix))
        })
        .map(label)
        .collect()
}

/// The text between the first and second `:` when it is not empty.
fn second_colon_part(name: &str) -> Option<&str> {
    name.split(':').nth(1).filter(|part| !part.is_empty())
}

fn label(name: &str) -> String {
    let mut value = name.to_owned();
    if name.contains("=\"") {
        if let Some(quoted) = name.split("=\"").nth(1).filter(|part| !part.is_empty()) {
            value = drop_last_char(quoted).trim().to_owned();
        }
    } else if name.contains(':')
        && let Some(part) = second_colon_part(name)
    {
        value = part.trim().to_owned();
    }
    if is_python_digit(&value) {
        if name.contains(':') {
            if let Some(part) = second_colon_part(name) {
                value = part.trim().to_owned();
            }
        } else {
            value = name.to_owned();
        }
    }
    if value.contains("=\"") {
        value = drop_last_char(&value.replace("=\"", "-")).to_owned();
    }
    value
}

/// Python's `str.isdigit()` for the ASCII range (empty is not digits).
fn is_python_digit(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_numeric())
}

/// Python's `text[:-1]`.
pub(crate) fn drop_last_char(text: &str) -> &str {
    match text.char_indices().next_back() {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

/// The author name from `creator=...` tags (lower-cased, quotes kept, last
/// match wins), when `author_from_tags` is on.
pub(crate) fn author_from_tags(tags: &[Tag]) -> Option<String> {
    let mut author = None;
    for tag in tags {
        let lower = tag.name.to_lowercase();
        if lower.starts_with("creator") && lower.contains('=') {
            author = lower.split('=').nth(1).map(str::to_owned);
        }
    }
    author
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<Tag> {
        names
            .iter()
            .map(|name| Tag {
                name: (*name).to_owned(),
            })
            .collect()
    }

    fn ids(markings: &[Marking]) -> Vec<&str> {
        markings.iter().map(|m| &*m.id).collect()
    }

    #[test]
    fn tlp_tags_map_to_fixed_markings_case_insensitively() {
        let found = markings(
            &tags(&["TLP:Green", "tlp:clear", "type:OSINT"]),
            true,
            false,
            "now",
        );
        assert_eq!(
            ids(&found),
            [
                "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
                "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
            ]
        );
        let strict = markings(&tags(&["tlp:amber+strict"]), true, false, "now");
        assert_eq!(
            ids(&strict),
            ["marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"]
        );
        assert_eq!(strict[0].object["x_opencti_definition"], "TLP:AMBER+STRICT");
    }

    #[test]
    fn default_marking_only_when_asked() {
        assert_eq!(markings(&tags(&["x"]), true, false, "now").len(), 1);
        assert!(markings(&tags(&["x"]), false, false, "now").is_empty());
    }

    #[test]
    fn custom_markings_from_tags_only_when_enabled() {
        let names = tags(&["marking:PAP=PAP:RED"]);
        assert_eq!(
            ids(&markings(&names, false, false, "now")),
            Vec::<&str>::new()
        );
        let custom = markings(&names, false, true, "now");
        assert_eq!(custom.len(), 1);
        assert_eq!(custom[0].object["x_opencti_definition_type"], "PAP");
        assert_eq!(custom[0].object["x_opencti_definition"], "PAP:RED");
        assert_eq!(
            &*custom[0].id,
            opencti_stix::id::marking_definition("PAP", "PAP:RED")
        );
    }

    #[test]
    fn labels_follow_the_python_rules() {
        let names = tags(&[
            "tlp:green",
            "TLP:AMBER",
            "tlp:clear",
            "type:OSINT",
            "osint:source-type=\"blog-post\"",
            "misp-galaxy:threat-actor=\"APT 28\"",
            "malware_classification:malware-category=\"Trojan\"",
            "plain",
            "ecsirt:12",
            "1234",
            "a:b:c",
        ]);
        assert_eq!(
            labels(&names),
            [
                "AMBER",
                "clear",
                "OSINT",
                "blog-post",
                "plain",
                "12",
                "1234",
                "b"
            ]
        );
    }

    #[test]
    fn author_tags_keep_quotes_and_lower_case() {
        assert_eq!(
            author_from_tags(&tags(&["creator=\"ACME\"", "x"])),
            Some("\"acme\"".to_owned())
        );
        assert_eq!(
            author_from_tags(&tags(&["creator=one", "Creator=Two"])),
            Some("two".to_owned())
        );
        assert_eq!(author_from_tags(&tags(&["creator"])), None);
    }
}
