//! The variables: the Python connector's names, `config.yml` keys and
//! defaults (its docker-compose file).

use opencti_export_file_stix::SPEC;

use crate::export_goldens::{assert_python_defaults, assert_python_sample_config_is_read};

const SCOPE: &str = "application/vnd.oasis.stix+json";

#[test]
fn defaults_are_the_python_connectors() {
    assert_python_defaults(&SPEC.tables(), "ExportFileStix2", SCOPE);
}

#[test]
fn the_python_sample_config_is_read() {
    assert_python_sample_config_is_read(&SPEC.tables(), "ExportFileStix", SCOPE);
}
