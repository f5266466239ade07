//! The connector's variables: the Python connector's names, YAML keys and
//! defaults.

use opencti_connector::config::{ConfigErrors, RuntimeConfig, Settings, Source};
use opencti_import_file_stix::ImportFileStixConfig;

fn settings(env: &[(&str, &str)], yaml: Option<&str>) -> Settings {
    let tables = opencti_import_file_stix::SPEC.tables();
    let mut source = Source::new().with_env(env.iter().copied());
    if let Some(yaml) = yaml {
        source = source.with_yaml_str(yaml);
    }
    Settings::resolve(&tables, &source)
}

fn load(env: &[(&str, &str)]) -> Result<ImportFileStixConfig, ConfigErrors> {
    ImportFileStixConfig::try_from(&settings(env, None))
}

const PLATFORM: [(&str, &str); 2] = [
    ("OPENCTI_URL", "http://localhost:8080"),
    ("OPENCTI_TOKEN", "token"),
];

#[test]
fn defaults_are_the_python_connectors() {
    let config = load(&PLATFORM).unwrap();
    assert!(config.validate_before_import);
    let settings = settings(&PLATFORM, None);
    for (env, expected) in [
        ("CONNECTOR_ID", "f2637f59-2103-4e1b-b250-7825e3033122"),
        ("CONNECTOR_TYPE", "INTERNAL_IMPORT_FILE"),
        ("CONNECTOR_NAME", "ImportFileStix"),
        ("CONNECTOR_SCOPE", "application/json,text/xml"),
        ("CONNECTOR_VALIDATE_BEFORE_IMPORT", "true"),
        ("CONNECTOR_AUTO", "false"),
        ("CONNECTOR_LOG_LEVEL", "error"),
    ] {
        assert_eq!(settings.value(env).unwrap().to_string(), expected, "{env}");
    }
    let runtime = RuntimeConfig::try_from(&settings).unwrap();
    assert!(runtime.connector.validate_before_import);
}

#[test]
fn the_python_config_yml_sample_is_read() {
    // The keys of the Python connector's src/config.yml.sample.
    let yaml = "
opencti:
  url: 'http://localhost'
  token: 'a-token'
connector:
  id: 'b7d1c9a2-3e4f-4a5b-8c6d-7e8f9a0b1c2d'
  name: 'ImportFileStix'
  validate_before_import: false
  scope: 'application/json,text/xml'
  auto: true
  log_level: 'info'
";
    let settings = settings(&[], Some(yaml));
    let config = ImportFileStixConfig::try_from(&settings).unwrap();
    assert!(!config.validate_before_import);
    let runtime = RuntimeConfig::try_from(&settings).unwrap();
    assert!(runtime.connector.auto && !runtime.connector.validate_before_import);
    assert_eq!(
        settings.value("CONNECTOR_ID").unwrap().to_string(),
        "b7d1c9a2-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
    );
}

#[test]
fn a_bad_flag_or_another_type_is_refused_naming_the_variable() {
    let mut env = PLATFORM.to_vec();
    env.push(("CONNECTOR_VALIDATE_BEFORE_IMPORT", "perhaps"));
    let errors = load(&env).unwrap_err().to_string();
    assert!(
        errors.contains("CONNECTOR_VALIDATE_BEFORE_IMPORT"),
        "{errors}"
    );
    let mut env = PLATFORM.to_vec();
    env.push(("CONNECTOR_TYPE", "EXTERNAL_IMPORT"));
    let errors = load(&env).unwrap_err().to_string();
    assert!(errors.contains("CONNECTOR_TYPE"), "{errors}");
}
