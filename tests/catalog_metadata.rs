//! The checks of a connector's catalog metadata, included by each
//! connector package's tests with `#[path]` (only a package's own tests can
//! run its binary) and instantiated with [`catalog_metadata_tests!`]:
//!
//! - the committed `__metadata__/` files are the generated ones
//!   (`UPDATE_METADATA=1` rewrites them), and the binary prints them;
//! - the configuration schema is a valid JSON Schema 2020-12;
//! - a form filled from the schema (its defaults, sample values for what it
//!   requires, in every mode it describes) validates against it and is
//!   accepted by the binary's own configuration loading; without any one
//!   of the values the schema requires, both refuse it;
//! - every default in the schema, set explicitly, is accepted and means
//!   what leaving the variable unset means;
//! - the environment OpenCTI's connector manager (XTM Composer) gives a
//!   container (`OPENCTI_CONFIG_HASH`, `OPENAEV_URL`, proxies) is accepted.

use std::path::{Path, PathBuf};
use std::process::Command;

use opencti_connector::ConnectorSpec;
use opencti_connector::catalog;
use opencti_connector::config::{ConnectorType, Settings, Source};
use serde_json::{Map, Value};

/// The connector under test.
pub(crate) struct Subject {
    pub(crate) spec: &'static ConnectorSpec,
    pub(crate) connector_type: ConnectorType,
    pub(crate) binary: &'static str,
    /// The package's directory (`CARGO_MANIFEST_DIR`).
    pub(crate) directory: &'static str,
}

/// What the platform sets for every deployed connector, besides the form.
const CONNECTOR_ID: &str = "5d3c0c4e-8f7a-4b61-9a0e-3f2d1c0b9a87";

/// Generates the tests for one connector.
#[macro_export]
macro_rules! catalog_metadata_tests {
    ($subject:expr) => {
        #[test]
        fn committed_metadata_files_are_the_generated_ones() {
            $crate::catalog_metadata::committed_files_match(&$subject);
        }

        #[test]
        fn the_binary_prints_the_committed_metadata() {
            $crate::catalog_metadata::binary_prints_committed_files(&$subject);
        }

        #[test]
        fn the_config_schema_is_a_valid_2020_12_schema() {
            $crate::catalog_metadata::schema_is_valid(&$subject);
        }

        #[test]
        fn forms_filled_from_the_schema_are_accepted_in_every_mode() {
            $crate::catalog_metadata::filled_forms_are_accepted(&$subject);
        }

        #[test]
        fn a_form_missing_a_required_value_is_refused_by_schema_and_connector() {
            $crate::catalog_metadata::missing_required_values_are_refused(&$subject);
        }

        #[test]
        fn every_default_in_the_schema_is_accepted_and_means_unset() {
            $crate::catalog_metadata::defaults_are_accepted(&$subject);
        }

        #[test]
        fn the_connector_managers_environment_is_accepted() {
            $crate::catalog_metadata::manager_environment_is_accepted(&$subject);
        }
    };
}

impl Subject {
    fn schema(&self) -> Value {
        catalog::config_schema(self.spec, self.connector_type)
    }

    fn metadata_dir(&self) -> PathBuf {
        Path::new(self.directory).join("__metadata__")
    }

    /// `(file name, generated text)` of every `__metadata__` file.
    fn generated_files(&self) -> [(&'static str, String); 3] {
        [
            (
                "connector_config_schema.json",
                catalog::to_file_text(&self.schema()),
            ),
            (
                "connector_manifest.json",
                catalog::to_file_text(&catalog::manifest(self.spec, self.connector_type)),
            ),
            ("logo.svg", catalog::LOGO_SVG.to_owned()),
        ]
    }
}

pub(crate) fn committed_files_match(subject: &Subject) {
    let directory = subject.metadata_dir();
    let update = std::env::var_os("UPDATE_METADATA").is_some();
    for (name, generated) in subject.generated_files() {
        let path = directory.join(name);
        if update {
            std::fs::create_dir_all(&directory).unwrap();
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is not what the code generates; run `UPDATE_METADATA=1 cargo test -p {} --test tests metadata` and commit the result",
            path.display(),
            env!("CARGO_PKG_NAME"),
        );
    }
}

pub(crate) fn binary_prints_committed_files(subject: &Subject) {
    for (flag, name) in [
        ("--config-schema", "connector_config_schema.json"),
        ("--manifest", "connector_manifest.json"),
    ] {
        let output = Command::new(subject.binary)
            .arg(flag)
            .env_clear()
            .output()
            .unwrap();
        assert!(output.status.success(), "{flag}: {output:?}");
        let generated = subject
            .generated_files()
            .into_iter()
            .find(|(file, _)| *file == name)
            .unwrap()
            .1;
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            generated,
            "{flag}"
        );
    }
}

pub(crate) fn schema_is_valid(subject: &Subject) {
    let schema = subject.schema();
    jsonschema::draft202012::meta::validate(&schema)
        .unwrap_or_else(|error| panic!("not a valid 2020-12 schema: {error}"));
    let keys: Vec<&str> = schema
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected = [
        "$schema",
        "$id",
        "type",
        "properties",
        "required",
        "additionalProperties",
    ];
    assert_eq!(&keys[..6], expected);
    assert!(keys[6..].iter().all(|key| *key == "allOf"), "{keys:?}");
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["additionalProperties"], true);
    let properties = schema["properties"].as_object().unwrap();
    assert!(!properties.contains_key("CONNECTOR_ID"));
    assert_eq!(
        properties["CONNECTOR_TYPE"]["const"],
        subject.connector_type.as_str()
    );
    for var in subject.spec.tables().iter().flat_map(|table| table.iter()) {
        if var.secret {
            let property = &properties[var.env];
            assert_eq!(property["format"], "password", "{}", var.env);
            assert_eq!(property["writeOnly"], true, "{}", var.env);
        }
    }
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .unwrap()
}

/// A value of the property's type, as an operator would type it.
fn sample_value(property: &Value) -> Value {
    if let Some(value) = property.get("const") {
        return value.clone();
    }
    if let Some(first) = property.get("enum").and_then(|values| values.get(0)) {
        return first.clone();
    }
    match (property["type"].as_str(), property["format"].as_str()) {
        (Some("boolean"), _) => Value::Bool(true),
        (Some("integer"), _) => Value::from(1),
        (Some("number"), _) => Value::from(1.5),
        (Some("array"), _) => Value::from(vec!["sample"]),
        (_, Some("uri")) => Value::from("http://127.0.0.1:9/"),
        (_, Some("duration")) => Value::from("PT1H"),
        (_, Some("password")) => Value::from("sample-secret"),
        _ => Value::from("sample"),
    }
}

/// Completes `form` until the schema's rules are met: its `required`, then
/// each `allOf` rule (`if`/`then`, `dependentRequired`, and for `anyOf` the
/// option numbered `option`, or the last one).
fn complete(schema: &Value, form: &mut Map<String, Value>, option: usize) {
    let properties = schema["properties"].as_object().unwrap();
    let fill = |form: &mut Map<String, Value>, names: &Value| {
        for name in names.as_array().unwrap() {
            let name = name.as_str().unwrap();
            if !form.contains_key(name) {
                form.insert(name.to_owned(), sample_value(&properties[name]));
            }
        }
    };
    fill(form, &schema["required"]);
    let rules = schema["allOf"].as_array().cloned().unwrap_or_default();
    for rule in &rules {
        if let Some(condition) = rule.get("if")
            && validator(condition).is_valid(&Value::Object(form.clone()))
        {
            fill(form, &rule["then"]["required"]);
        }
        if let Some(dependents) = rule.get("dependentRequired") {
            for (name, others) in dependents.as_object().unwrap() {
                if form.contains_key(name) {
                    fill(form, others);
                }
            }
        }
        if let Some(options) = rule.get("anyOf").and_then(Value::as_array) {
            let chosen = &options[option.min(options.len() - 1)];
            fill(form, &chosen["required"]);
        }
    }
}

/// Every default of the schema.
fn defaults(schema: &Value) -> Map<String, Value> {
    let mut form = Map::new();
    for (name, property) in schema["properties"].as_object().unwrap() {
        if let Some(default) = property.get("default") {
            form.insert(name.clone(), default.clone());
        }
    }
    form
}

/// The form with every default, completed.
fn default_form(schema: &Value, option: usize) -> Map<String, Value> {
    let mut form = defaults(schema);
    complete(schema, &mut form, option);
    form
}

/// Every form the schema describes: one per value of a variable an `if`
/// depends on, one per `anyOf` option.
fn forms(schema: &Value) -> Vec<Map<String, Value>> {
    let mut forms = Vec::new();
    let rules = schema["allOf"].as_array().cloned().unwrap_or_default();
    let options = rules
        .iter()
        .filter_map(|rule| rule.get("anyOf").and_then(Value::as_array))
        .map(Vec::len)
        .max()
        .unwrap_or(1);
    for option in 0..options {
        forms.push(default_form(schema, option));
    }
    for rule in &rules {
        let Some(condition) = rule.get("if") else {
            continue;
        };
        for name in condition["properties"].as_object().unwrap().keys() {
            let values = schema["properties"][name]["enum"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for value in values {
                let mut form = defaults(schema);
                form.insert(name.clone(), value);
                complete(schema, &mut form, 0);
                forms.push(form);
            }
        }
    }
    forms
}

/// The text an environment variable holds for `value`.
fn env_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(env_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn environment(form: &Map<String, Value>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = form
        .iter()
        .map(|(name, value)| (name.clone(), env_text(value)))
        .collect();
    env.push(("CONNECTOR_ID".to_owned(), CONNECTOR_ID.to_owned()));
    env
}

/// Runs the binary's configuration loading (`--print-config`: resolve,
/// validate, print, exit) with exactly `env`; its stderr when it refuses.
fn load_config(subject: &Subject, env: &[(String, String)]) -> Result<(), String> {
    let output = Command::new(subject.binary)
        .arg("--print-config")
        .env_clear()
        .envs(env.iter().map(|(name, value)| (name, value)))
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

pub(crate) fn filled_forms_are_accepted(subject: &Subject) {
    let schema = subject.schema();
    let validator = validator(&schema);
    for form in forms(&schema) {
        let instance = Value::Object(form.clone());
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|error| error.to_string())
            .collect();
        assert!(errors.is_empty(), "{form:#?} fails the schema: {errors:?}");
        load_config(subject, &environment(&form))
            .unwrap_or_else(|error| panic!("{form:#?} is refused by the connector: {error}"));
    }
}

pub(crate) fn missing_required_values_are_refused(subject: &Subject) {
    let schema = subject.schema();
    let validator = validator(&schema);
    for form in forms(&schema) {
        for name in form.keys() {
            if schema["properties"][name.as_str()].get("default").is_some() {
                continue;
            }
            let mut without = form.clone();
            without.remove(name);
            if validator.is_valid(&Value::Object(without.clone())) {
                continue;
            }
            // The schema needs it: so must the connector.
            assert!(
                load_config(subject, &environment(&without)).is_err(),
                "the schema requires {name}, the connector accepts a form without it: {without:#?}"
            );
        }
    }
}

pub(crate) fn defaults_are_accepted(subject: &Subject) {
    let schema = subject.schema();
    let tables = subject.spec.tables();
    let unset = Settings::resolve(&tables, &Source::new());
    for (name, property) in schema["properties"].as_object().unwrap() {
        // The binary fixes its type whatever the tables say.
        let Some(default) = property.get("default").filter(|_| name != "CONNECTOR_TYPE") else {
            continue;
        };
        let text = env_text(default);
        let explicit = Settings::from_env_pairs(&tables, [(name.as_str(), text.as_str())]);
        assert!(
            explicit.value(name).is_some(),
            "{name}={text} is refused: {}",
            explicit.problems()
        );
        assert_eq!(
            explicit.value(name),
            unset.value(name),
            "{name}: the schema's default {default} differs from the code's"
        );
    }
    // All of them at once, through the connector's own loading.
    let form = default_form(&schema, 0);
    load_config(subject, &environment(&form)).unwrap();
}

pub(crate) fn manager_environment_is_accepted(subject: &Subject) {
    let schema = subject.schema();
    let mut env = environment(&default_form(&schema, 0));
    // What XTM Composer adds to the contract's configuration.
    env.extend(
        [
            ("OPENCTI_CONFIG_HASH", "0b5f1c3e9a7d4e2f8c6b1a0d3e5f7a9c"),
            ("OPENAEV_URL", "http://openaev:8080"),
            ("HTTP_PROXY", "http://proxy.internal:3128"),
            ("HTTPS_PROXY", "http://proxy.internal:3128"),
            ("NO_PROXY", "localhost,127.0.0.1,.internal"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    load_config(subject, &env).unwrap();
}
