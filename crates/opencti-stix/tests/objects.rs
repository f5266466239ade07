//! Typed models: JSON round trips on the golden bundles, error reporting.

use std::collections::BTreeSet;
use std::path::Path;

use opencti_stix::object::{Indicator, Malware};
use opencti_stix::{Bundle, StixError, StixObject};
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Types the fixtures use that have no typed model (kept as generic objects).
const GENERIC_TYPES: [&str; 13] = [
    "case-incident",
    "extension-definition",
    "incident",
    "kill-chain-phase",
    "label",
    "opinion",
    "task",
    "x-acme-widget",
    "x-misp-object",
    "x-mitre-data-component",
    "x-mitre-data-source",
    "x-opencti-case-incident",
    "x-opencti-task",
];

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_files(directory: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(format!("{FIXTURES}/{directory}"))
        .expect("fixture directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// Parses `bundle`, checks both serialisations give it back, and returns
/// the types that ended up as generic objects.
fn assert_round_trip(bundle: &Value, origin: &str) -> BTreeSet<String> {
    let parsed = Bundle::from_value(bundle.clone()).unwrap_or_else(|e| panic!("{origin}: {e}"));
    let generic = parsed
        .objects
        .iter()
        .filter(|object| matches!(object, StixObject::Other(_)))
        .map(|object| object.object_type().to_owned())
        .collect();
    assert_eq!(
        &serde_json::to_value(&parsed).unwrap(),
        bundle,
        "{origin}: serialise"
    );
    let text = parsed.to_json();
    assert_eq!(
        &serde_json::from_str::<Value>(&text).unwrap(),
        bundle,
        "{origin}: to_json"
    );
    assert_eq!(&parsed.into_value(), bundle, "{origin}: into_value");
    generic
}

#[test]
fn golden_bundles_round_trip() {
    let mut bundles = Vec::new();
    for path in json_files("pycti/split") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let document = read_json(&path);
        if name.ends_with(".input.json") {
            bundles.push((name, document));
        } else {
            for (index, bundle) in document["bundles"]
                .as_array()
                .expect("bundles")
                .iter()
                .enumerate()
            {
                bundles.push((format!("{name} bundle {index}"), bundle.clone()));
            }
        }
    }
    for path in json_files("golden/misp-feed") {
        bundles.push((
            path.display().to_string(),
            read_json(&path)["bundle"].clone(),
        ));
    }
    for path in json_files("golden/nti") {
        let document = read_json(&path);
        // The NTI connector sends plain lists of objects.
        let lists = document["bundles_in_send_order"]
            .as_array()
            .expect("bundles");
        for (index, objects) in lists.iter().enumerate() {
            let bundle = json!({"type": "bundle", "objects": objects});
            bundles.push((format!("{} list {index}", path.display()), bundle));
        }
    }
    assert!(bundles.len() > 300, "all fixture bundles are walked");
    let mut generic = BTreeSet::new();
    for (origin, bundle) in &bundles {
        generic.extend(assert_round_trip(bundle, origin));
    }
    let expected: BTreeSet<String> = GENERIC_TYPES.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(generic, expected, "every other type gets its typed model");
}

#[test]
fn incompatible_split_items_round_trip_or_name_the_nulled_ref() {
    let mut checked = 0;
    for path in json_files("pycti/split") {
        let document = read_json(&path);
        let Some(items) = document.get("incompatible_items").and_then(Value::as_array) else {
            continue;
        };
        for item in items {
            checked += 1;
            match opencti_stix::from_value(item.clone()) {
                Ok(object) => assert_eq!(&object.into_value(), item, "{}", path.display()),
                Err(StixError::InvalidObject {
                    id, path: field, ..
                }) => {
                    assert_eq!(id.as_deref(), item["id"].as_str());
                    assert!(item[&field].is_null(), "{field} of {item}");
                }
                Err(other) => panic!("{}: {other}", path.display()),
            }
        }
    }
    assert!(checked > 0);
}

#[test]
fn malformed_objects_name_their_id_and_the_property_path() {
    let indicator = json!({
        "type": "indicator",
        "id": "indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968",
        "pattern": "[ipv4-addr:value = '198.51.100.7']",
        "pattern_type": "stix",
        "valid_from": "2024-01-02T03:04:05.000Z",
        "external_references": [{"source_name": "a"}, {"source_name": "b", "url": 5}],
    });
    let error = opencti_stix::from_value(indicator).unwrap_err();
    assert_eq!(
        error,
        StixError::InvalidObject {
            index: None,
            id: Some("indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968".to_owned()),
            path: "external_references[1].url".to_owned(),
            message: "expected a string, found a number".to_owned(),
        }
    );
    assert_eq!(
        error.to_string(),
        "invalid STIX object `indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968` at \
         `external_references[1].url`: expected a string, found a number"
    );

    let bundle = json!({"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "x-custom", "id": "x-custom--1"},
        {"type": "relationship", "id": "relationship--2", "relationship_type": "uses", "target_ref": "malware--3"},
    ]});
    let error = Bundle::from_json(&bundle.to_string()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid STIX object #1 `relationship--2` at `source_ref`: required property is missing"
    );

    let confidence =
        json!({"type": "malware", "id": "malware--1", "name": "x", "confidence": "high"});
    match opencti_stix::from_value(confidence).unwrap_err() {
        StixError::InvalidObject { path, message, .. } => {
            assert_eq!(path, "confidence");
            assert!(message.contains("invalid type"), "{message}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn documents_that_are_not_bundles_are_rejected() {
    assert!(matches!(
        Bundle::from_json("{"),
        Err(StixError::Json { line: 1, .. })
    ));
    assert!(matches!(
        Bundle::from_json(r#"{"type": "report", "objects": []}"#),
        Err(StixError::InvalidBundle { ref field, .. }) if field == "type"
    ));
    assert!(matches!(
        Bundle::from_json(r#"{"type": "bundle"}"#),
        Err(StixError::InvalidBundle { ref field, .. }) if field == "objects"
    ));
    assert!(matches!(
        opencti_stix::from_value(json!({"id": "x--1"})),
        Err(StixError::InvalidObject { ref path, .. }) if path == "type"
    ));
}

#[test]
fn typed_fields_win_over_extra_nulls() {
    let value = json!({"type": "malware", "id": "malware--1", "name": "x", "created_by_ref": null, "x_custom": [1]});
    let StixObject::Malware(mut malware) = opencti_stix::from_value(value.clone()).unwrap() else {
        panic!("a malware");
    };
    assert_eq!(malware.common.created_by_ref, None);
    assert_eq!(
        serde_json::to_value(&malware).unwrap(),
        value,
        "the null is written back"
    );

    malware.common.created_by_ref = Some("identity--2".to_owned());
    let text = serde_json::to_string(&malware).unwrap();
    assert_eq!(text.matches("created_by_ref").count(), 1, "{text}");
    let written: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(written["created_by_ref"], "identity--2");
    assert_eq!(StixObject::from(*malware).into_value(), written);
}

#[test]
fn models_deserialise_with_serde_too() {
    let indicator: Indicator = serde_json::from_value(json!({
        "type": "indicator", "id": "indicator--1", "pattern": "[x:y = 'z']",
        "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z", "x_opencti_score": 80,
    }))
    .unwrap();
    assert_eq!(indicator.x_opencti_score, Some(80));
    let error =
        serde_json::from_value::<Malware>(json!({"type": "tool", "id": "tool--1", "name": "x"}))
            .unwrap_err();
    assert!(
        error.to_string().contains("`type`: expected \"malware\""),
        "{error}"
    );
}
