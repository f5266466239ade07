//! Typed records: a line that is not a usable record (missing key, key of
//! the wrong type, unknown `object.type`, malformed JSON) is skipped and
//! reported on the run's work with its line and the key at fault; the other
//! records of the file are imported.

use opencti_nti::fake::{self, FakeNti};
use serde_json::{Value, json};

use crate::support::{self, KEY, file_name, sent_objects};

/// Serves one file of `kind` whose records are `lines` (after the header),
/// runs once, and returns the work errors and the values of the `stix_type`
/// objects sent.
async fn import(kind: &str, lines: &[String], stix_type: &str) -> (Vec<String>, Vec<Value>) {
    let mut content = String::from("header\n");
    for line in lines {
        content.push_str(line);
        content.push('\n');
    }
    let server = FakeNti::start(KEY).await;
    server.set_package(fake::package(&[(file_name(kind, 1), content)]));
    let mut connector = support::connector(&support::settings(&server.base_url(), &[]));
    let (outcome, probe) = support::run_once(&mut connector, None).await;
    outcome.unwrap();
    let errors = probe
        .errors()
        .into_iter()
        .map(|error| error.error)
        .collect();
    let values = sent_objects(&probe)
        .into_iter()
        .flatten()
        .filter(|object| object["type"] == stix_type)
        .map(|object| object["value"].clone())
        .collect();
    (errors, values)
}

fn url(value: &str) -> String {
    json!({"object": {"type": "url", "value": value}}).to_string()
}

/// The one error reported, which must be about `line`.
fn only_error(errors: &[String], line: usize) -> &str {
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(&format!("line {line} of")),
        "{}",
        errors[0]
    );
    &errors[0]
}

#[tokio::test]
async fn a_missing_key_is_reported_by_its_path() {
    let lines = [
        url("http://a.example/"),
        json!({"object": {"type": "url"}}).to_string(),
    ];
    let (errors, urls) = import("url-basic", &lines, "url").await;
    let error = only_error(&errors, 3);
    assert!(error.ends_with("`object.value` is missing"), "{error}");
    assert_eq!(urls, [json!("http://a.example/")]);
}

#[tokio::test]
async fn a_key_of_the_wrong_type_is_reported_by_its_path() {
    let lines = [
        json!({"object": {"type": "url", "value": 5}}).to_string(),
        url("http://b.example/"),
    ];
    let (errors, urls) = import("url-basic", &lines, "url").await;
    let error = only_error(&errors, 2);
    assert!(
        error.contains(r#"field "object.value": invalid type: integer `5`, expected a string"#),
        "{error}"
    );
    assert_eq!(urls, [json!("http://b.example/")]);
}

#[tokio::test]
async fn a_wrong_type_deep_in_a_list_is_reported_by_its_index() {
    let ioc = |value: Value| {
        json!({"pattern": "[ipv4-addr:value = '198.51.100.7']",
            "observables": [{"type": "ipv4-addr", "value": value}], "threat_types": [104]})
        .to_string()
    };
    let lines = [ioc(json!("198.51.100.7")), ioc(json!(["198.51.100.8"]))];
    let (errors, addresses) = import("ioc", &lines, "ipv4-addr").await;
    let error = only_error(&errors, 3);
    assert!(
        error.contains(r#"field "observables[0].value": invalid type: sequence"#),
        "{error}"
    );
    assert_eq!(addresses, [json!("198.51.100.7")]);
}

#[tokio::test]
async fn an_unknown_object_type_is_reported_with_the_known_ones() {
    let lines = [
        json!({"object": {"type": "autonomous-system", "value": "AS64500"}}).to_string(),
        json!({"object": {"type": "ipv4-addr", "value": "198.51.100.7"}}).to_string(),
    ];
    let (errors, addresses) = import("ip-basic", &lines, "ipv4-addr").await;
    let error = only_error(&errors, 2);
    assert!(
        error.contains(r#"field "object.type": unknown variant `autonomous-system`"#),
        "{error}"
    );
    assert!(error.contains("`ipv4-addr`"), "{error}");
    assert_eq!(addresses, [json!("198.51.100.7")]);
}

#[tokio::test]
async fn a_malformed_line_is_reported_where_it_breaks() {
    let lines = [
        r#"{"object": {"type": "url", "value": "http://a.example/""#.to_owned(),
        r#"{"object": {"type": "url", "value": "http://b.example/"}} trailing"#.to_owned(),
        url("http://c.example/"),
    ];
    let (errors, urls) = import("url-basic", &lines, "url").await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("line 2 of"), "{}", errors[0]);
    assert!(
        errors[0].ends_with(r#"field "object": EOF while parsing an object (column 55)"#),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("line 3 of"), "{}", errors[1]);
    assert!(errors[1].contains("trailing characters"), "{}", errors[1]);
    assert_eq!(urls, [json!("http://c.example/")]);
}
