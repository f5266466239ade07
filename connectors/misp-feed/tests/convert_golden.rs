//! The converter against the bundles the Python connector produced for the
//! same events (tests/fixtures/golden, copied from the shared fixtures).
//!
//! Everything must match object for object, ids included, except the
//! deliberate fixes, which are listed here one by one and checked exactly.

use std::collections::BTreeMap;

use opencti_misp_feed::convert::{ConvertOptions, Converter, parse_event};
use opencti_stix::id;
use serde_json::{Value, json};

const AUTHOR_CIRCL: &str = "identity--4f347cc9-4658-59ee-9707-134f434f9d1c";
const TLP_GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
const APT28: &str = "intrusion-set--f743ab1d-b2f2-58f8-975f-0993511c0b9d";

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/golden/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The fixture's option overrides applied to the Python defaults.
fn options(overrides: &Value) -> ConvertOptions {
    let mut options = ConvertOptions::default();
    for (key, value) in overrides.as_object().unwrap() {
        let flag = || value.as_bool().unwrap();
        match key.as_str() {
            "create_indicators" => options.create_indicators = flag(),
            "create_observables" => options.create_observables = flag(),
            "create_object_observables" => options.create_object_observables = flag(),
            "import_unsupported_observables_as_text" => {
                options.import_unsupported_observables_as_text = flag();
            }
            "import_to_ids_no_score" => options.import_to_ids_no_score = value.as_i64(),
            other => panic!("option {other} not handled by the golden test"),
        }
    }
    options
}

/// Converts an event file and returns the bundle.
pub(crate) fn convert(event: &[u8], options: ConvertOptions) -> Value {
    let event = parse_event(event).unwrap();
    let converted = Converter::new(options)
        .convert(event, None, chrono::Utc::now())
        .unwrap();
    let bundle: Value = serde_json::from_str(&converted.bundle).unwrap();
    assert_eq!(
        bundle["objects"].as_array().unwrap().len(),
        converted.object_count
    );
    bundle
}

/// Objects by id; fails on duplicate ids.
fn by_id(bundle: &Value) -> BTreeMap<String, Value> {
    let mut objects = BTreeMap::new();
    for object in bundle["objects"].as_array().unwrap() {
        let id = object["id"].as_str().unwrap().to_owned();
        assert!(
            objects.insert(id.clone(), object.clone()).is_none(),
            "duplicate {id}"
        );
    }
    objects
}

/// Replaces what the fixture masks (`<now>`) after checking it is a
/// millisecond timestamp, and orders `object_refs` (compared as sets).
fn normalise(actual: &mut Value, expected: &Value) {
    for key in ["created", "modified"] {
        if expected[key] == "<now>" {
            let stamp = actual[key].as_str().unwrap_or_default();
            assert!(
                chrono::DateTime::parse_from_rfc3339(stamp).is_ok()
                    && stamp.ends_with('Z')
                    && stamp.len() == 24,
                "{key} of {} is {stamp:?}",
                actual["id"]
            );
            actual[key] = json!("<now>");
        }
    }
    if let Some(refs) = actual.get_mut("object_refs").and_then(Value::as_array_mut) {
        refs.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
}

fn sorted_refs(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(refs) = object.get_mut("object_refs").and_then(Value::as_array_mut) {
        refs.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    object
}

/// Compares with the golden bundle; `extra` are the objects the fixes add
/// (checked exactly) and `extra_report_refs` the report refs they add.
fn check(event: &str, extra: &[Value]) {
    let expected_file: Value =
        serde_json::from_slice(&fixture(&format!("{event}.expected.json"))).unwrap();
    let actual = convert(
        &fixture(&format!("{event}.json")),
        options(&expected_file["options"]),
    );
    assert!(actual["id"].as_str().unwrap().starts_with("bundle--"));
    let expected = by_id(&expected_file["bundle"]);
    let mut actual = by_id(&actual);

    let mut added_ids = Vec::new();
    for extra_object in extra {
        let id = extra_object["id"].as_str().unwrap();
        let mut object = actual
            .remove(id)
            .unwrap_or_else(|| panic!("the fix should add {id}"));
        normalise(&mut object, extra_object);
        assert_eq!(object, *extra_object, "added object {id}");
        added_ids.push(id.to_owned());
    }
    for (id, expected_object) in &expected {
        let mut object = actual
            .remove(id)
            .unwrap_or_else(|| panic!("{event}: missing {id}"));
        normalise(&mut object, expected_object);
        let mut expected_object = sorted_refs(expected_object);
        if expected_object["type"] == "report" {
            // The report also lists what the fixes add.
            let refs = expected_object["object_refs"].as_array_mut().unwrap();
            refs.extend(added_ids.iter().map(|id| json!(id)));
            refs.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
        assert_eq!(object, expected_object, "{event}: object {id}");
    }
    assert!(
        actual.is_empty(),
        "{event}: unexpected objects {:?}",
        actual.keys()
    );
}

fn relationship(kind: &str, source: &str, target: &str, extra: &Value) -> Value {
    let mut object = json!({
        "type": "relationship",
        "spec_version": "2.1",
        "id": id::relationship(kind, source, target, None, None).unwrap(),
        "created_by_ref": AUTHOR_CIRCL,
        "created": "<now>",
        "modified": "<now>",
        "relationship_type": kind,
        "source_ref": source,
        "target_ref": target,
    });
    object
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    object
}

/// Event 1: `filename|md5` also yields its MD5 half, and the object's
/// `ObjectReference` (PyMISP's `object_uuid` form) yields a relationship.
#[test]
fn event1_matches_python_except_the_documented_fixes() {
    let named_hash = json!({
        "type": "file", "name": "invoice.exe",
        "hashes": {"MD5": "44d88612fea8a8f36de82e1278abb02f"}
    });
    let named_hash_id = id::generate_id_from_data(&named_hash).unwrap();
    let md5_indicator = "indicator--bd4de9eb-a7a1-5689-8965-eec280ac942a";
    let object_file = "file--5a0c55a1-48a3-5003-9776-42946d1054cb";
    let ip = "ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db";
    let extra = [
        json!({
            "type": "file", "spec_version": "2.1", "id": named_hash_id,
            "name": "invoice.exe", "hashes": {"MD5": "44d88612fea8a8f36de82e1278abb02f"},
            "object_marking_refs": [TLP_GREEN], "created_by_ref": AUTHOR_CIRCL,
            "labels": ["OSINT"], "x_opencti_description": "", "x_opencti_score": 60
        }),
        relationship("based-on", md5_indicator, &named_hash_id, &json!({})),
        relationship(
            "related-to",
            &named_hash_id,
            APT28,
            &json!({"description": "", "object_marking_refs": [TLP_GREEN]}),
        ),
        relationship(
            "related-to",
            object_file,
            ip,
            &json!({"description": "Original Relationship: communicates-with  \nComment: "}),
        ),
    ];
    check("event1", &extra);
}

/// Event 2: `ip-dst|port` also yields its port half as text.
#[test]
fn event2_matches_python_except_the_documented_fixes() {
    let author = "identity--882d3335-e134-5049-af19-3299dd029463";
    let white = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";
    let pattern = "[text:value = '8080']";
    let indicator_id = id::indicator(pattern);
    let text_id = id::generate_id_from_data(&json!({"type": "text", "value": "8080"})).unwrap();
    let extra = [
        json!({
            "type": "indicator", "spec_version": "2.1", "id": indicator_id,
            "created_by_ref": author, "created": "2024-02-01T00:00:00.000Z",
            "modified": "2024-02-01T00:00:00.000Z", "name": "8080", "description": "c2 port",
            "pattern": pattern, "pattern_type": "stix", "pattern_version": "2.1",
            "valid_from": "2024-02-01T00:00:00Z", "object_marking_refs": [white],
            "x_opencti_detection": false, "x_opencti_main_observable_type": "Text",
            "x_opencti_score": 40
        }),
        json!({
            "type": "text", "spec_version": "2.1", "id": text_id, "value": "8080",
            "object_marking_refs": [white], "created_by_ref": author,
            "x_opencti_description": "c2 port", "x_opencti_score": 40
        }),
        {
            let mut based_on = relationship("based-on", &indicator_id, &text_id, &json!({}));
            based_on["created_by_ref"] = json!(author);
            based_on
        },
    ];
    check("event2", &extra);
}

/// A large event goes out in pieces: together, the pieces hold the whole
/// bundle's objects in its order, each piece a bundle of the same id, and
/// look-ups across pieces (the note's mention of an attribute, object
/// references) resolve as in the whole bundle.
#[test]
fn pieces_hold_the_whole_bundle_in_order() {
    for event in ["event1", "event2"] {
        let expected_file: Value =
            serde_json::from_slice(&fixture(&format!("{event}.expected.json"))).unwrap();
        let file = fixture(&format!("{event}.json"));
        let converter = Converter::new(options(&expected_file["options"]));
        let now = chrono::Utc::now();
        let whole = converter
            .convert(parse_event(&file).unwrap(), None, now)
            .unwrap();
        let whole: Value = serde_json::from_str(&whole.bundle).unwrap();
        let mut pieces = Vec::new();
        // Smaller than most objects: nearly one piece per object.
        let converted = converter
            .convert_in_pieces(parse_event(&file).unwrap(), None, now, 300, |piece| {
                pieces.push(piece);
                true
            })
            .unwrap();
        assert!(pieces.len() > 5, "{event}: {} pieces", pieces.len());
        let mut objects = Vec::new();
        let mut bundle_ids = std::collections::BTreeSet::new();
        for piece in &pieces {
            let bundle: Value = serde_json::from_str(&piece.text).unwrap();
            bundle_ids.insert(bundle["id"].as_str().unwrap().to_owned());
            let held = bundle["objects"].as_array().unwrap();
            assert_eq!(held.len(), piece.objects);
            objects.extend(held.iter().cloned());
        }
        assert_eq!(bundle_ids.len(), 1, "{event}: one bundle id");
        assert_eq!(converted.object_count, objects.len());
        assert_eq!(&Value::Array(objects), &whole["objects"], "{event}");
    }
}

/// An event that cannot become a report is refused before any piece is
/// handed on (nothing of it may reach the platform).
#[test]
fn a_poison_event_hands_on_no_piece() {
    let mut event: Value = serde_json::from_slice(&fixture("event1.json")).unwrap();
    event["Event"]["date"] = json!("not a date");
    let event = parse_event(&serde_json::to_vec(&event).unwrap()).unwrap();
    let mut pieces = 0;
    let converted = Converter::new(ConvertOptions::default()).convert_in_pieces(
        event,
        None,
        chrono::Utc::now(),
        1,
        |_| {
            pieces += 1;
            true
        },
    );
    let error = converted.unwrap_err().to_string();
    assert!(error.contains("Event.date"), "{error}");
    assert_eq!(pieces, 0);
}
