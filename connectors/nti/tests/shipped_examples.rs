//! The configurations shipped in `examples/nti` stay valid and say the same.

use std::path::PathBuf;

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{Settings, Source, Var};
use opencti_nti::config::{FeedKind, NtiConfig, VARS};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/nti")
}

fn tables() -> Vec<&'static [Var]> {
    RUNTIME_TABLES.iter().copied().chain([VARS]).collect()
}

/// `KEY=value` lines of the env file.
fn env_pairs() -> Vec<(String, String)> {
    std::fs::read_to_string(examples().join("nti.env"))
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line.split_once('=').expect("KEY=value");
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn the_env_file_and_the_config_file_load_the_same_configuration() {
    let from_env = Settings::from_env_pairs(&tables(), env_pairs());
    let from_yaml = Settings::resolve(
        &tables(),
        &Source::new().with_yaml_file(&examples().join("config.yml")),
    );
    assert!(from_env.problems().is_empty(), "{:?}", from_env.problems());
    assert!(
        from_yaml.problems().is_empty(),
        "{:?}",
        from_yaml.problems()
    );
    let tables = tables();
    for var in tables.iter().flat_map(|table| table.iter()) {
        assert_eq!(
            from_env.value(var.env),
            from_yaml.value(var.env),
            "{}",
            var.env
        );
    }
    let config = NtiConfig::try_from(&from_yaml).expect("valid");
    assert_eq!(config.kinds, FeedKind::ALL);
    // Every variable of the env file is one the connector reads.
    for (key, _) in env_pairs() {
        assert!(
            tables
                .iter()
                .flat_map(|table| table.iter())
                .any(|var| var.env == key),
            "{key}"
        );
    }
}
