//! The variables: the Python connector's names, `config.yml` keys and
//! defaults (its docker-compose file).

use opencti_connector::config::{Settings, Source};
use opencti_export_file_stix::SPEC;

#[test]
fn defaults_are_the_python_connectors() {
    let settings = Settings::from_env_pairs(&SPEC.tables(), [("CONNECTOR_ID", "x")]);
    for (env, expected) in [
        ("CONNECTOR_TYPE", "INTERNAL_EXPORT_FILE"),
        ("CONNECTOR_NAME", "ExportFileStix2"),
        ("CONNECTOR_SCOPE", "application/vnd.oasis.stix+json"),
        ("CONNECTOR_LOG_LEVEL", "error"),
    ] {
        assert_eq!(settings.value(env).unwrap().to_string(), expected, "{env}");
    }
}

#[test]
fn the_python_sample_config_is_read() {
    let yaml = "
opencti:
  url: 'http://localhost'
  token: 'ChangeMe'
connector:
  type: 'INTERNAL_EXPORT_FILE'
  id: 'ChangeMe'
  name: 'ExportFileStix'
  scope: 'application/vnd.oasis.stix+json'
  confidence_level: 100
  log_level: 'info'
";
    let settings = Settings::resolve(&SPEC.tables(), &Source::new().with_yaml_str(yaml));
    for (env, expected) in [
        ("OPENCTI_URL", "http://localhost/"),
        ("CONNECTOR_ID", "ChangeMe"),
        ("CONNECTOR_NAME", "ExportFileStix"),
        ("CONNECTOR_SCOPE", "application/vnd.oasis.stix+json"),
        ("CONNECTOR_LOG_LEVEL", "info"),
    ] {
        assert_eq!(settings.value(env).unwrap().to_string(), expected, "{env}");
    }
    assert!(settings.problems().is_empty(), "{:?}", settings.problems());
}
