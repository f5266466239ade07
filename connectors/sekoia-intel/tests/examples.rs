//! The example configurations of `examples/sekoia-intel` are valid and say the same thing.

use std::path::PathBuf;

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings, Source, Var};
use opencti_sekoia_intel::{SekoiaConfig, VARS};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/sekoia-intel")
        .join(name)
}

fn tables() -> Vec<&'static [Var]> {
    RUNTIME_TABLES.iter().copied().chain([VARS]).collect()
}

fn env_pairs() -> Vec<(String, String)> {
    std::fs::read_to_string(example("sekoia-intel.env"))
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, value) = line.split_once('=').expect("NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn both_examples_are_valid_and_agree() {
    let from_yaml = Settings::resolve(
        &tables(),
        &Source::new().with_yaml_file(&example("config.yml")),
    );
    let from_env = Settings::from_env_pairs(&tables(), env_pairs());
    for settings in [&from_yaml, &from_env] {
        RuntimeConfig::try_from(settings).expect("runtime configuration");
        let config = SekoiaConfig::try_from(settings).expect("Sekoia configuration");
        assert_eq!(
            config.client.collections_base.as_str(),
            "https://api.sekoia.io/v2/inthreat/ioc-collections"
        );
    }
    for var in tables().into_iter().flatten() {
        assert_eq!(
            from_yaml.value(var.env),
            from_env.value(var.env),
            "{} differs between the examples",
            var.env
        );
    }
}
