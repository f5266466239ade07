//! Patterns against `fixtures/pycti/patterns.jsonl`, plus build/parse round trips.

use std::path::Path;

use opencti_stix::pattern::{
    ComparisonExpression, Equality, Literal, ObservationExpression, PathStep, Pattern,
    PatternError, Predicate, PropertyTest, create_stix_pattern, equality_pattern,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn vectors() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pycti/patterns.jsonl");
    std::fs::read_to_string(path)
        .expect("patterns.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

fn observables(equalities: &[Equality]) -> Value {
    serde_json::to_value(equalities).expect("serializable")
}

#[test]
fn the_vector_file_has_every_line() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 158);
    let invalid = vectors
        .iter()
        .filter(|vector| vector["valid"] == false)
        .count();
    assert_eq!(invalid, 46);
}

#[test]
fn verdicts_and_observables_match_the_validator() {
    let mut mismatches = Vec::new();
    for vector in vectors() {
        let text = vector["pattern"].as_str().expect("pattern");
        let expected_valid = vector["valid"].as_bool().expect("valid");
        let actual = match Pattern::parse(text) {
            Ok(pattern) => (true, observables(&pattern.equalities()), None),
            Err(error) => (false, json!([]), Some(error.to_string())),
        };
        if actual.0 != expected_valid || actual.1 != vector["observables"] {
            mismatches.push(format!(
                "{text:?}: expected valid={expected_valid} {}, got valid={} {} ({:?})",
                vector["observables"], actual.0, actual.1, actual.2
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn pycti_create_stix_pattern_vectors_are_reproduced() {
    let mut count = 0;
    for vector in vectors() {
        if vector["source"] != "pycti.create_stix_pattern" {
            continue;
        }
        count += 1;
        let from = &vector["generated_from"];
        let observable_type = from["observable_type"].as_str().expect("type");
        assert_eq!(
            create_stix_pattern(observable_type, &from["observable_value"]).as_deref(),
            vector["pattern"].as_str(),
            "{from}"
        );
    }
    assert_eq!(count, 53);
}

#[test]
fn canonical_vectors_are_what_the_builder_writes() {
    let mut count = 0;
    for vector in vectors() {
        if vector["source"] != "canonical" {
            continue;
        }
        count += 1;
        let from = &vector["generated_from"];
        // The fixture writes the path quoted (`hashes.'SHA-256'`); the
        // builder takes the components.
        let path: Vec<String> = from["path"]
            .as_str()
            .expect("path")
            .split('.')
            .map(|component| component.trim_matches('\'').to_owned())
            .collect();
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let value: Literal = match &from["value"] {
            Value::String(text) => text.as_str().into(),
            Value::Number(number) => number.as_i64().expect("integer").into(),
            other => panic!("unexpected value {other}"),
        };
        let built = equality_pattern(from["type"].as_str().expect("type"), &path, value)
            .expect("buildable");
        assert_eq!(Some(built.as_str()), vector["pattern"].as_str());
    }
    assert_eq!(count, 9);
}

#[test]
fn every_generated_pattern_that_the_validator_accepts_parses_to_its_input() {
    for vector in vectors() {
        if vector["source"] != "pycti.create_stix_pattern" || vector["valid"] == false {
            continue;
        }
        let pattern = Pattern::parse(vector["pattern"].as_str().expect("pattern")).expect("valid");
        let printed = pattern.to_string();
        assert_eq!(Some(printed.as_str()), vector["pattern"].as_str());
    }
}

#[test]
fn errors_name_the_position_and_the_expectation() {
    let error = Pattern::parse("[ipv4-addr:value = '198.51.100.1' AND]").unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 1, column 38: expected an object path, EXISTS or '(', found \"]\""
    );
    let PatternError::Syntax { position, .. } = error else {
        panic!("syntax error expected");
    };
    assert_eq!(position.offset, 37);
}

/// The single equality of a one-comparison pattern, straight from the tree.
fn only_test(pattern: &Pattern) -> &PropertyTest {
    match &pattern.expression {
        ObservationExpression::Observation {
            comparison: ComparisonExpression::Test(test),
            qualifiers,
        } if qualifiers.is_empty() => test,
        other => panic!("not a single comparison: {other:?}"),
    }
}

fn object_type() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_-]{0,24}".prop_filter("keywords are not object types", |name| {
        !matches!(
            name.as_str(),
            "AND"
                | "OR"
                | "NOT"
                | "FOLLOWEDBY"
                | "LIKE"
                | "MATCHES"
                | "ISSUPERSET"
                | "ISSUBSET"
                | "EXISTS"
                | "LAST"
                | "IN"
                | "START"
                | "STOP"
                | "SECONDS"
                | "WITHIN"
                | "REPEATS"
                | "TIMES"
                | "true"
                | "false"
        )
    })
}

/// Any property names except `hashes`, whose values the validator checks.
fn property_names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        any::<String>().prop_filter("hash paths", |name| name != "hashes"),
        1..4,
    )
}

proptest! {
    #[test]
    fn a_built_string_equality_parses_back(
        object_type in object_type(),
        path in property_names(),
        value in any::<String>(),
    ) {
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = equality_pattern(&object_type, &keys, value.as_str()).expect("buildable");
        let pattern = Pattern::parse(&text).expect("a built pattern is valid");
        let test = only_test(&pattern);
        prop_assert_eq!(&test.path.object_type, &object_type);
        let mut parsed_keys = vec![test.path.property.clone()];
        for step in &test.path.steps {
            match step {
                PathStep::Key(key) => parsed_keys.push(key.clone()),
                other => prop_assert!(false, "unexpected step {:?}", other),
            }
        }
        prop_assert_eq!(parsed_keys, path);
        prop_assert!(!test.negated);
        prop_assert_eq!(&test.predicate, &Predicate::Equal(Literal::String(value.clone())));
        let equalities = pattern.equalities();
        prop_assert_eq!(equalities.len(), 1);
        prop_assert_eq!(&equalities[0].value, &Value::String(value));
    }

    #[test]
    fn a_built_integer_equality_parses_back(object_type in object_type(), value in any::<i64>()) {
        let text = equality_pattern(&object_type, &["value"], value).expect("buildable");
        let pattern = Pattern::parse(&text).expect("valid");
        prop_assert_eq!(&pattern.equalities()[0].value, &json!(value));
    }

    #[test]
    fn a_built_float_equality_parses_back(value in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
        let text = equality_pattern("x-thing", &["score"], value).expect("buildable");
        let pattern = Pattern::parse(&text).expect("valid");
        prop_assert_eq!(&only_test(&pattern).predicate, &Predicate::Equal(Literal::Float(value)));
    }

    #[test]
    fn parsing_never_panics(text in any::<String>()) {
        let _verdict = Pattern::parse(&text);
    }

    #[test]
    fn parsing_grammar_shaped_noise_never_panics(
        text in r"[\[\]()' :.=!<>,*a-zA-Z0-9_\-+\\tbh]{0,60}",
    ) {
        if let Ok(pattern) = Pattern::parse(&text) {
            // Whatever parses prints back to the same tree.
            prop_assert_eq!(Pattern::parse(&pattern.to_string()).expect("printed is valid"), pattern);
        }
    }
}
