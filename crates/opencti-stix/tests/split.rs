//! The splitter against pycti's output for every case of `fixtures/pycti/split/`.

use std::path::{Path, PathBuf};

use opencti_stix::split::{CompactBundle, SplitOptions, split_bundle, split_bundle_str};
use serde_json::{Value, json};

fn split_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pycti/split")
}

/// Every case name, from the `*.input.json` files.
fn case_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(split_dir())
        .expect("split fixtures")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .filter_map(|name| name.strip_suffix(".input.json").map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn read(name: &str) -> String {
    std::fs::read_to_string(split_dir().join(name)).expect("fixture file")
}

/// The splitter's result in the fixtures' shape.
fn run(input: &str, cleanup: bool) -> Value {
    let options = SplitOptions {
        cleanup_inconsistent_bundle: cleanup,
        event_version: None,
    };
    let split = split_bundle_str(input, &options).expect("fixture bundles split");
    json!({
        "expectations": split.expectations(),
        "bundles": split.bundles,
        "incompatible_items": split.incompatible_items,
    })
}

/// Replaces the ids the fixture marks volatile (random bundle ids) by a
/// placeholder, after checking they are all equal and well formed.
fn mask_volatile(document: &mut Value, volatile: &[Value]) {
    if volatile.is_empty() {
        return;
    }
    assert_eq!(
        volatile,
        [json!("bundles[*].id")],
        "only bundle ids are volatile"
    );
    let bundles = document["bundles"].as_array_mut().expect("bundles");
    let first = bundles.first().map(|bundle| bundle["id"].clone());
    for bundle in bundles {
        let id = bundle["id"].as_str().expect("bundle id");
        assert!(
            id.starts_with("bundle--") && id.len() == "bundle--".len() + 36,
            "{id}"
        );
        assert_eq!(Some(&bundle["id"]), first.as_ref(), "one id per split");
        bundle["id"] = json!("bundle--volatile");
    }
}

fn check_case(name: &str, cleanup: bool) {
    let input = read(&format!("{name}.input.json"));
    let expected_file = if cleanup {
        format!("{name}.cleanup.expected.json")
    } else {
        format!("{name}.expected.json")
    };
    let mut expected: Value = serde_json::from_str(&read(&expected_file)).expect("expected JSON");
    let volatile = expected["volatile"].as_array().cloned().unwrap_or_default();
    expected.as_object_mut().expect("object").remove("volatile");

    let mut actual = run(&input, cleanup);
    mask_volatile(&mut actual, &volatile);
    mask_volatile(&mut expected, &volatile);
    if actual != expected {
        for (index, (got, want)) in actual["bundles"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(expected["bundles"].as_array().into_iter().flatten())
            .enumerate()
        {
            assert_eq!(got, want, "{expected_file}: bundle #{index} differs");
        }
        assert_eq!(actual, expected, "{expected_file} differs");
    }
}

#[test]
fn every_case_has_both_expected_files() {
    let names = case_names();
    assert_eq!(names.len(), 16, "{names:?}");
    for name in &names {
        assert!(split_dir().join(format!("{name}.expected.json")).is_file());
        assert!(
            split_dir()
                .join(format!("{name}.cleanup.expected.json"))
                .is_file()
        );
    }
}

#[test]
fn matches_pycti_without_cleanup() {
    for name in case_names() {
        check_case(&name, false);
    }
}

#[test]
fn matches_pycti_with_cleanup() {
    for name in case_names() {
        check_case(&name, true);
    }
}

#[test]
fn object_key_order_is_pycti_order_with_nb_deps_last() {
    let input = read("misp_event_report.input.json");
    let split = split_bundle_str(&input, &SplitOptions::default()).expect("splits");
    let input: Value = serde_json::from_str(&input).expect("json");
    for bundle in &split.bundles {
        let object = bundle["objects"][0].as_object().expect("object");
        let original = input["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .find(|candidate| candidate["id"] == object["id"])
            .and_then(Value::as_object)
            .expect("object comes from the input");
        let keys: Vec<&String> = object.keys().collect();
        let mut expected: Vec<&String> = original.keys().collect();
        let nb_deps = "nb_deps".to_owned();
        expected.push(&nb_deps);
        assert_eq!(keys, expected);
        let wire: Vec<&str> = bundle
            .as_object()
            .expect("bundle")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            wire,
            ["type", "id", "spec_version", "x_opencti_seq", "objects"]
        );
    }
}

#[test]
fn a_three_cycle_reenters_its_first_object() {
    // X -> Y -> Z -> X: X is processed again from Z, before its own pass ends.
    let bundle = json!({"id": "bundle--c", "objects": [
        {"type": "note", "id": "note--x", "object_refs": ["note--y"]},
        {"type": "note", "id": "note--y", "object_refs": ["note--z"]},
        {"type": "note", "id": "note--z", "object_refs": ["note--x"]},
    ]});
    let split = split_bundle(bundle, &SplitOptions::default()).expect("splits");
    let order: Vec<(&str, u64)> = split
        .bundles
        .iter()
        .map(|bundle| {
            (
                bundle["objects"][0]["id"].as_str().expect("id"),
                bundle["x_opencti_seq"].as_u64().expect("seq"),
            )
        })
        .collect();
    assert_eq!(order, [("note--z", 2), ("note--y", 3), ("note--x", 4)]);
    for bundle in &split.bundles {
        assert_eq!(
            bundle["objects"][0]["object_refs"].as_array().map(Vec::len),
            Some(1)
        );
    }
}

#[test]
fn a_reentered_object_sees_the_refs_kept_so_far() {
    // X lists [Y, W]; Y -> Z -> X re-enters X while X's walk of its list is
    // on its first element, then W -> Z is cached. The inner pass of X sees
    // the whole original list, drops Y (on the path) and enlists W.
    let bundle = json!({"id": "bundle--r", "objects": [
        {"type": "report", "id": "report--x", "object_refs": ["note--y", "note--w"]},
        {"type": "note", "id": "note--y", "object_refs": ["note--z"]},
        {"type": "note", "id": "note--z", "object_refs": ["report--x"]},
        {"type": "note", "id": "note--w"},
    ]});
    let split = split_bundle(bundle, &SplitOptions::default()).expect("splits");
    let summary: Vec<(String, u64, Value)> = split
        .bundles
        .iter()
        .map(|bundle| {
            let object = &bundle["objects"][0];
            (
                object["id"].as_str().expect("id").to_owned(),
                bundle["x_opencti_seq"].as_u64().expect("seq"),
                object["object_refs"].clone(),
            )
        })
        .collect();
    // Inner X: 1 + W(1) = 2; Z: 1 + 2 = 3; Y: 4; outer X: 1 + Y(4) + W(1) = 6.
    assert_eq!(
        summary,
        [
            ("note--w".to_owned(), 1, Value::Null),
            ("note--z".to_owned(), 3, json!(["report--x"])),
            ("note--y".to_owned(), 4, json!(["note--z"])),
            ("report--x".to_owned(), 6, json!(["note--y", "note--w"])),
        ]
    );
}

/// The parts of the compact bundle's plan, from each form of the input.
fn planned_parts(bundle: CompactBundle) -> (Vec<Value>, usize) {
    let plan = bundle.split(&SplitOptions::default()).expect("splits");
    (plan.parts().collect(), plan.incompatible())
}

#[test]
fn text_values_typed_bundles_and_pushed_objects_split_alike() {
    let input = read("misp_event_report.input.json");
    let value: Value = serde_json::from_str(&input).expect("json");
    let expected = planned_parts(CompactBundle::from_json(input.clone()).expect("text"));
    assert_eq!(
        planned_parts(CompactBundle::from_value(value.clone()).expect("value")),
        expected
    );
    let typed = opencti_stix::Bundle::from_value(value.clone()).expect("typed");
    assert_eq!(
        planned_parts(CompactBundle::from_bundle(typed).expect("typed")),
        expected
    );
    let mut pushed = CompactBundle::with_id(value["id"].as_str().expect("id"));
    for object in value["objects"].as_array().expect("objects") {
        pushed.push_json(&object.to_string()).expect("object");
    }
    assert_eq!(planned_parts(pushed), expected);
    let eager = split_bundle_str(&input, &SplitOptions::default()).expect("splits");
    assert_eq!((eager.bundles, eager.incompatible_items.len()), expected);
}

#[test]
fn a_compact_bundle_keeps_the_text_it_was_given() {
    let text = "{\"objects\": [ {\"type\":  \"note\", \"id\": \"note--1\"} ], \"id\": \"bundle--t\", \"x_extra\": [1]}";
    let bundle = CompactBundle::from_json(text).expect("bundle");
    assert_eq!(bundle.len(), 1);
    assert_eq!(bundle.id(), Some("bundle--t"));
    assert_eq!(
        bundle.object_text(0),
        "{\"type\":  \"note\", \"id\": \"note--1\"}"
    );
    // The whole bundle comes back with its properties in their order.
    let keys: Vec<String> = bundle
        .to_value()
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["objects", "id", "x_extra"]);
}

#[test]
fn bundle_problems_are_reported_in_the_order_of_a_parsed_bundle() {
    let cases = [
        ("[1, 2", "File data is not a valid JSON"),
        (
            "[1, 2]",
            "File data is not a valid bundle: the bundle is not a JSON object",
        ),
        (
            "{\"id\": 1, \"objects\": [{\"id\": 2}]}",
            "File data is not a valid bundle: `id` is not a string",
        ),
        (
            "{\"objects\": [{\"type\": \"note\"}, 3], \"id\": \"bundle--1\"}",
            "File data is not a valid bundle: objects[0] (no id): `id` is missing",
        ),
        (
            "{\"objects\": {\"id\": \"x\"}}",
            "File data is not a valid bundle: `objects` is not a list",
        ),
        (
            "{\"objects\": [{\"type\": \"note\"}], \"id\": \"bundle--1\"",
            "File data is not a valid JSON",
        ),
    ];
    for (text, expected) in cases {
        let error = CompactBundle::from_json(text).expect_err(text).to_string();
        assert!(error.starts_with(expected), "{text}: {error}");
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            let from_value = CompactBundle::from_value(value)
                .expect_err(text)
                .to_string();
            assert_eq!(from_value, error, "{text}");
        }
    }
}

/// Each part serialised from its object's text, next to the same part
/// built as a JSON value, both with and without cleanup.
fn assert_views_match_parts(input: &str) {
    for cleanup in [false, true] {
        let options = SplitOptions {
            cleanup_inconsistent_bundle: cleanup,
            event_version: Some("2".to_owned()),
        };
        let bundle = CompactBundle::from_json(input).expect("bundle");
        let Ok(plan) = bundle.split(&options) else {
            continue;
        };
        for index in 0..plan.expectations() {
            assert_eq!(
                serde_json::to_string(&plan.part_view(index)).expect("view"),
                serde_json::to_string(&plan.part(index)).expect("part"),
                "part {index} of {input}"
            );
        }
    }
}

#[test]
fn parts_written_from_text_match_parts_built_as_values() {
    for name in case_names() {
        assert_views_match_parts(&read(&format!("{name}.input.json")));
    }
    // What a parsed object would hold otherwise: repeated keys (the last
    // value, at the first key's place), an `nb_deps` of its own, escapes,
    // numbers of every form, spacing.
    assert_views_match_parts(
        r#"{"type": "bundle", "id": "bundle--1", "objects": [
            {"type": "identity", "id": "identity--1", "name": "A\"\u00e9\ud83d\ude00\n",
             "nb_deps": 7, "x": [1, -2, 3.5, 1e3, -0, 18446744073709551616, 0.1, true, null],
             "y": {"k": 1, "k": {"z": [], "z": {}}}, "name": "B"},
            {"type" : "malware" , "id":"malware--1", "created_by_ref": "identity--1",
             "object_marking_refs": ["marking-definition--x", "identity--1", "identity--1"],
             "external_references": [{"url": "u"}, {"url": "u"}, {"source_name": "s"}],
             "kill_chain_phases": [{"kill_chain_name": "k", "phase_name": "p"},
                                   {"kill_chain_name": "k", "phase_name": "p"}],
             "sample_refs": "", "x_\u006b\u0065y": "\/"}
        ]}"#,
    );
}

#[test]
fn an_object_of_many_properties_with_one_repeated_is_written_as_its_value_is() {
    // Past the few properties compared pairwise, repeated keys are found
    // through a set.
    let mut object = String::from(r#"{"type": "note", "id": "note--1""#);
    for n in 0..40 {
        object.push_str(&format!(r#", "x_{n}": {n}"#));
    }
    object.push_str(r#", "x_7": "last", "object_refs": ["note--1"]}"#);
    assert_views_match_parts(&format!(
        r#"{{"type": "bundle", "id": "bundle--1", "objects": [{object}]}}"#
    ));
}

proptest::proptest! {
    #[test]
    fn any_object_is_written_from_text_as_its_value_is(
        extra in proptest::collection::vec(
            ("[a-z_]{1,6}|nb_deps|created_by_ref|object_refs", any_json()),
            0..8,
        )
    ) {
        let mut text = String::from(r#"{"type": "bundle", "id": "bundle--1", "objects": [{"type": "identity", "id": "identity--2"}, {"type": "note", "id": "note--1""#);
        for (key, value) in &extra {
            text.push_str(&format!(", {}: {value}", serde_json::to_string(key).expect("key")));
        }
        text.push_str("}]}");
        assert_views_match_parts(&text);
    }
}

/// JSON text of any shape, with strings that need escapes.
fn any_json() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        "\\PC{0,8}".prop_map(|s| serde_json::to_string(&s).expect("string")),
        Just(r#""\u00e9\/\t""#.to_owned()),
        Just(r#""identity--2""#.to_owned()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::vec(("[ab]", inner), 0..4).prop_map(|members| {
                let members: Vec<String> = members
                    .iter()
                    .map(|(key, value)| format!("\"{key}\" : {value}"))
                    .collect();
                format!("{{{}}}", members.join(", "))
            }),
        ]
    })
}
