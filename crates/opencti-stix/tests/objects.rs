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

mod builders {
    use chrono::{DateTime, TimeZone, Utc};
    use opencti_stix::builder::{BuildError, Builder, StixModel, timestamp, timestamp_millis};
    use opencti_stix::id::{self, IdError};
    use opencti_stix::marking::{self, TLP_AMBER, TLP_GREEN, TLP_WHITE};
    use opencti_stix::object::{
        File, Grouping, Identity, Indicator, Ipv4Address, MarkingDefinition, Process, Relationship,
        Sighting, ThreatActor,
    };
    use opencti_stix::{Bundle, StixObject};
    use serde_json::{Value, json};

    use super::{FIXTURES, read_json};

    const AUTHOR: &str = "identity--4f347cc9-4658-59ee-9707-134f434f9d1c";

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 15, hour, 0, 0).unwrap()
    }

    /// The object of the MISP golden bundle with this id, its `<now>`
    /// timestamps replaced by `now`.
    fn golden(id: &str, now: &str) -> Value {
        let path = std::path::Path::new(FIXTURES).join("golden/misp-feed/event1.expected.json");
        let bundle = read_json(&path);
        let mut object = bundle["bundle"]["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|object| object["id"] == id)
            .unwrap_or_else(|| panic!("{id} in the golden bundle"))
            .clone();
        for key in ["created", "modified"] {
            if object.get(key).is_some_and(|value| value == "<now>") {
                object[key] = json!(now);
            }
        }
        object
    }

    fn value_of(object: impl serde::Serialize) -> Value {
        serde_json::to_value(object).unwrap()
    }

    #[test]
    fn built_objects_equal_what_the_python_connector_emits() {
        let indicator = Indicator::builder("[ipv4-addr:value = '198.51.100.7']", "stix", at(10))
            .name("198.51.100.7")
            .description("C2 server")
            .pattern_version("2.1")
            .created_by(AUTHOR)
            .created(at(10))
            .label("OSINT")
            .marking(TLP_GREEN.id())
            .detection(true)
            .main_observable_type("IPv4-Addr")
            .score(60)
            .build()
            .unwrap();
        assert_eq!(value_of(&indicator), golden(indicator.id(), ""));

        let observable = Ipv4Address::builder("198.51.100.7")
            .marking(TLP_GREEN.id())
            .created_by(AUTHOR)
            .label("OSINT")
            .description("C2 server")
            .score(60)
            .build()
            .unwrap();
        assert_eq!(value_of(&observable), golden(observable.id(), ""));

        let file = File::builder()
            .hash("MD5", "44d88612fea8a8f36de82e1278abb02f")
            .marking(TLP_GREEN.id())
            .created_by(AUTHOR)
            .label("OSINT")
            .description("")
            .score(60)
            .build()
            .unwrap();
        assert_eq!(value_of(&file), golden(file.id(), ""));

        let based_on = Relationship::builder("based-on", indicator.id(), observable.id())
            .created_by(AUTHOR)
            .created(at(12))
            .build()
            .unwrap();
        assert_eq!(
            value_of(&based_on),
            golden(based_on.id(), "2024-01-15T12:00:00.000Z")
        );

        // The MISP connector hashes `where_sighted_refs` as a plain string:
        // its id is derived the Python way and given to the builder.
        let place = "identity--f1252f7b-d79f-5fa0-a0a8-f257c6d774c0";
        let python_id = id::generate_id_from_data(&json!({
            "type": "sighting", "sighting_of_ref": indicator.id(), "where_sighted_refs": place,
            "first_seen": timestamp(at(11)), "last_seen": timestamp(at(12)),
        }))
        .unwrap();
        let sighting = Sighting::builder(indicator.id(), [place])
            .id(python_id)
            .first_seen(at(11))
            .last_seen(at(12))
            .created(at(13))
            .build()
            .unwrap();
        assert_eq!(
            value_of(&sighting),
            golden(sighting.id(), "2024-01-15T13:00:00.000Z")
        );
    }

    #[test]
    fn tlp_markings_are_the_stix2_objects() {
        // The stix2 markings as the MISP and NTI connectors emitted them.
        let mut emitted = Vec::new();
        for path in [
            "golden/misp-feed/event1.expected.json",
            "golden/nti/ip.expected.json",
        ] {
            let document = read_json(&std::path::Path::new(FIXTURES).join(path));
            let objects = document["bundle"]["objects"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| {
                    let lists = document["bundles_in_send_order"].as_array().unwrap();
                    lists
                        .iter()
                        .flat_map(|list| list.as_array().unwrap().clone())
                        .collect()
                });
            emitted.extend(
                objects
                    .into_iter()
                    .filter(|o| o["definition_type"] == "tlp"),
            );
        }
        for marking in [&*TLP_WHITE, &*TLP_GREEN, &*TLP_AMBER] {
            let expected = emitted.iter().find(|object| object["id"] == marking.id());
            assert_eq!(Some(&value_of(marking)), expected, "{}", marking.id());
        }
        assert_eq!(
            value_of(&*TLP_GREEN),
            json!({
                "type": "marking-definition", "spec_version": "2.1",
                "id": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
                "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp",
                "name": "TLP:GREEN", "definition": {"tlp": "green"},
            })
        );
        let strict = marking::tlp("amber+strict").unwrap();
        assert_eq!(
            value_of(strict),
            json!({
                "type": "marking-definition", "spec_version": "2.1",
                "id": "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
                "created": "2022-10-01T00:00:00.000Z", "definition_type": "statement",
                "definition": {"statement": "custom"},
                "x_opencti_definition_type": "TLP", "x_opencti_definition": "TLP:AMBER+STRICT",
            })
        );
        let pap = MarkingDefinition::statement("PAP", "PAP:GREEN")
            .edit(|m| m.common.created = Some("2022-10-01T00:00:00.000Z".to_owned()))
            .build()
            .unwrap();
        assert_eq!(
            pap.id(),
            "marking-definition--89484dde-e3d2-547f-a6c6-d14824429eb1"
        );
        assert_eq!(pap.common.modified, None, "markings have no `modified`");
    }

    #[test]
    fn derived_ids_follow_the_pycti_rules() {
        let author = Identity::organization("ACME").build().unwrap();
        assert_eq!(author.id(), id::identity("ACME", "organization"));
        assert_eq!(author.common.created, author.common.modified);

        let individual = ThreatActor::builder("Boris").individual().build().unwrap();
        assert_eq!(individual.id(), id::threat_actor_individual("Boris"));
        assert_eq!(
            individual.extra["x_opencti_type"],
            "Threat-Actor-Individual"
        );

        let built: Vec<StixObject> = vec![
            author.into(),
            individual.into(),
            Grouping::builder("G", "suspicious-activity", ["malware--1"])
                .created(at(1))
                .build()
                .unwrap()
                .into(),
            Relationship::builder("uses", "intrusion-set--1", "malware--2")
                .start_time(at(1))
                .stop_time(at(2))
                .build()
                .unwrap()
                .into(),
        ];
        for object in built {
            let id = object.id().unwrap().to_owned();
            assert_eq!(id::generate_id_from_data(&object.into_value()).unwrap(), id);
        }
    }

    #[test]
    fn builds_check_ranges_and_id_properties() {
        let error = Indicator::builder("[x:y = 'z']", "stix", at(0))
            .score(101)
            .build()
            .unwrap_err();
        assert_eq!(
            error,
            BuildError::OutOfRange {
                field: "x_opencti_score",
                value: 101
            }
        );
        let error = Identity::organization("x")
            .confidence(200)
            .build()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`confidence` must be between 0 and 100, got 200"
        );
        let error = Identity::organization("x")
            .edit(|i| i.identity_class = None)
            .build()
            .unwrap_err();
        assert!(matches!(
            error,
            BuildError::Id(IdError::MissingField { ref field, .. }) if field == "identity_class"
        ));
        let process = Process::builder()
            .edit(|p| p.pid = Some(4))
            .build()
            .unwrap();
        assert!(
            process.id().starts_with("process--"),
            "stix2 gives processes random ids"
        );
        let fixed = Builder::new(Ipv4Address::default())
            .id("ipv4-addr--given")
            .build()
            .unwrap();
        assert_eq!(fixed.id(), "ipv4-addr--given");
    }

    #[test]
    fn timestamps_are_written_as_stix2_writes_them() {
        let moment = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(timestamp_millis(moment), "2024-01-02T03:04:05.000Z");
        assert_eq!(timestamp(moment), "2024-01-02T03:04:05Z");
        let fraction = moment + chrono::Duration::microseconds(500_120);
        assert_eq!(timestamp_millis(fraction), "2024-01-02T03:04:05.500Z");
        assert_eq!(timestamp(fraction), "2024-01-02T03:04:05.50012Z");
    }

    #[test]
    fn new_bundles_have_a_random_id_and_spec_version() {
        let bundle = Bundle::new(vec![TLP_WHITE.clone().into()]);
        let value = bundle.clone().into_value();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["type", "id", "spec_version", "objects"]);
        let id = bundle.id.as_deref().unwrap();
        let uuid = uuid::Uuid::parse_str(id.strip_prefix("bundle--").unwrap()).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
        assert_ne!(Bundle::new(Vec::new()).id, bundle.id);
        assert!(bundle.to_json().starts_with(&format!(
            r#"{{"type":"bundle","id":"{id}","spec_version":"2.1","objects":[{{"type":"marking-definition""#
        )));
    }
}
