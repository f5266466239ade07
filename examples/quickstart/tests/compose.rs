//! `docker/docker-compose.yml` names, for each connector service, only
//! variables that connector reads (the Python connectors' names), and shows
//! every shipped connector.

use serde_json::Value;

use crate::shipped::{repo_root, shipped};

fn compose() -> Value {
    let text = std::fs::read_to_string(repo_root().join("docker/docker-compose.yml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// Variable names of a service's `environment` (list or map form).
fn variable_names(service: &Value) -> Vec<String> {
    match &service["environment"] {
        Value::Array(entries) => entries
            .iter()
            .filter_map(Value::as_str)
            .map(|entry| {
                entry
                    .split_once('=')
                    .map_or(entry, |(name, _)| name)
                    .to_owned()
            })
            .collect(),
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[test]
fn each_connector_service_sets_only_variables_its_connector_reads() {
    let compose = compose();
    let services = compose["services"].as_object().expect("services");
    let shipped = shipped();
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (service_name, service) in services {
        let Some(dir) = service["build"]["args"]["CONNECTOR"].as_str() else {
            continue;
        };
        let Some(connector) = shipped.iter().find(|connector| connector.dir == dir) else {
            problems.push(format!(
                "{service_name}: connector {dir} is not in examples/quickstart/tests/shipped.rs"
            ));
            continue;
        };
        seen.push(dir.to_owned());
        let names = variable_names(service);
        for required in ["OPENCTI_URL", "OPENCTI_TOKEN", "CONNECTOR_ID"] {
            if !names.iter().any(|name| name == required) {
                problems.push(format!("{service_name}: {required} is not set"));
            }
        }
        for name in names.iter().filter(|name| !connector.reads(name)) {
            problems.push(format!("{service_name}: {dir} does not read {name}"));
        }
    }
    for connector in &shipped {
        if !seen.iter().any(|dir| dir == connector.dir) {
            problems.push(format!("no service builds connector {}", connector.dir));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn an_unknown_variable_is_caught() {
    let service: Value = serde_saphyr::from_str(
        "environment:\n  - OPENCTI_URL=http://opencti:8080\n  - MISP_FEED_NO_SUCH_THING=1\n",
    )
    .unwrap();
    let misp_feed = shipped()
        .into_iter()
        .find(|c| c.dir == "misp-feed")
        .unwrap();
    let unknown: Vec<String> = variable_names(&service)
        .into_iter()
        .filter(|name| !misp_feed.reads(name))
        .collect();
    assert_eq!(unknown, ["MISP_FEED_NO_SUCH_THING"]);
    assert!(misp_feed.reads("MISP_BUCKET_NAME"), "legacy names count");
}
