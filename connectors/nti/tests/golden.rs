//! The Python connector's golden bundles: the same package, through the
//! whole run (download, unzip, convert, send), gives the same objects, ids
//! included, apart from the documented fixes applied to the expectation.

use opencti_nti::fake::{self, FakeNti};
use serde_json::{Value, json};

use crate::support::{self, AUTHOR, KEY, file_name, fixture, fixture_records, sent_objects};

/// The bundles the Python handler sent for `kind`, its two bundles (objects,
/// then relationships) made one: the fix that gets the relationships
/// imported (see the README).
fn expected(kind: &str) -> Vec<Vec<Value>> {
    let expected: Value = serde_json::from_str(&fixture(&format!("{kind}.expected.json"))).unwrap();
    let mut bundles: Vec<Vec<Value>> =
        serde_json::from_value(expected["bundles_in_send_order"].clone()).unwrap();
    if let [objects, relationships] = bundles.as_mut_slice() {
        // Both end with the author and the marking.
        objects.truncate(objects.len() - 2);
        objects.append(relationships);
        bundles.truncate(1);
    }
    bundles
}

/// Applies the fixes documented in the README to a Python object.
fn with_fixes(mut object: Value) -> Value {
    match object["type"].as_str() {
        // Locations: the standard author reference, and the OpenCTI type
        // the id was derived from.
        Some("location") => {
            let map = object.as_object_mut().unwrap();
            map.remove("x_opencti_created_by_ref");
            map.insert("created_by_ref".to_owned(), json!(AUTHOR));
            map.insert("x_opencti_location_type".to_owned(), json!("City"));
        }
        // belongs-to starts when NTI first saw the AS (2024-01-01).
        Some("relationship") if object["relationship_type"] == "belongs-to" => {
            object["start_time"] = json!("2024-01-01T00:00:00Z");
        }
        _ => {}
    }
    object
}

/// Compares objects, the expectation's `<now...>` placeholders standing for
/// any value (which must be present).
fn assert_same(actual: &[Vec<Value>], expected: &[Vec<Value>]) {
    assert_eq!(actual.len(), expected.len(), "number of bundles");
    for (bundle, (actual, expected)) in actual.iter().zip(expected).enumerate() {
        let ids = |objects: &[Value]| -> Vec<String> {
            objects
                .iter()
                .map(|object| object["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(ids(actual), ids(expected), "objects of bundle {bundle}");
        for (actual, expected) in actual.iter().zip(expected) {
            let expected = with_fixes(expected.clone());
            let mut actual = actual.clone();
            for (key, value) in expected.as_object().unwrap() {
                if value.as_str().is_some_and(|text| text.starts_with("<now")) {
                    assert!(
                        actual.get(key).is_some_and(Value::is_string),
                        "{key} of {}",
                        expected["id"]
                    );
                    actual[key] = value.clone();
                }
            }
            assert_eq!(actual, expected, "bundle {bundle}");
        }
    }
}

#[tokio::test]
async fn the_golden_records_give_the_python_objects() {
    let server = FakeNti::start(KEY).await;
    server.set_package(support::golden_package());
    let mut connector = support::connector(&support::settings(&server.base_url(), &[]));
    let (outcome, probe) = support::run_once(&mut connector, None).await;
    outcome.expect("the run succeeds");
    let expected: Vec<Vec<Value>> = ["ioc", "ip", "url"]
        .into_iter()
        .flat_map(expected)
        .collect();
    assert_same(&sent_objects(&probe), &expected);
    assert!(probe.errors().is_empty(), "{:?}", probe.errors());
    // Every bundle asks the worker to drop dangling references, as Python.
    assert!(
        probe
            .sends()
            .iter()
            .all(|(_, options)| options.cleanup_inconsistent_bundle)
    );
}

#[tokio::test]
async fn a_gzip_encoded_package_gives_the_same_objects() {
    let server = FakeNti::start(KEY).await;
    server.set_gzip(true);
    let name = file_name("url-basic", 1);
    server.set_package(fake::package(&[(
        name,
        fake::entry_content(&fixture_records("url")),
    )]));
    let mut connector = support::connector(&support::settings(&server.base_url(), &[]));
    let (outcome, probe) = support::run_once(&mut connector, None).await;
    outcome.expect("the run succeeds");
    assert_same(&sent_objects(&probe), &expected("url"));
    let requests = server.requests();
    assert_eq!(requests[0].package_type.as_deref(), Some("updated"));
    assert_eq!(requests[0].key.as_deref(), Some(KEY));
    assert!(
        requests[0]
            .accept_encoding
            .as_deref()
            .is_some_and(|value| value.contains("gzip"))
    );
}
