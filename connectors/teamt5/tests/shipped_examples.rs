//! The configurations shipped in `examples/teamt5` load, and run against
//! the fake API once pointed at it.

use std::path::PathBuf;

use opencti_connector::config::{Settings, Source};
use opencti_connector::{Connector, ImportSource, RunContext};
use opencti_teamt5::Teamt5;
use opencti_teamt5::config::{Auth, Teamt5Config, VARS};
use opencti_teamt5::fake::FakeSettings;

use crate::support::{fake_with, fast_http, fixture, ioc_item};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/teamt5")
}

/// `KEY=value` lines of the env file (comments and blanks skipped).
fn env_file() -> Vec<(String, String)> {
    std::fs::read_to_string(examples().join("teamt5.env"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line.split_once('=').unwrap();
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn the_env_file_and_the_yaml_file_say_the_same() {
    let from_env = Teamt5Config::try_from(&Settings::from_env_pairs(&[VARS], env_file())).unwrap();
    let source = Source::new().with_yaml_file(&examples().join("config.yml"));
    let from_yaml = Teamt5Config::try_from(&Settings::resolve(&[VARS], &source)).unwrap();
    for config in [&from_env, &from_yaml] {
        assert_eq!(
            config.api_base_url.as_str(),
            "https://api.threatvision.org/"
        );
        assert_eq!(config.tlp_level, "amber");
        assert_eq!(config.first_run_timestamp, 1_735_689_600);
        assert_eq!(config.author_name, "Team T5 External Import Connector");
        assert!(matches!(config.auth, Auth::OAuth { .. }));
    }
}

#[tokio::test]
async fn the_shipped_configuration_imports_from_the_fake() {
    let fake = fake_with(FakeSettings {
        client_id: "ChangeMe".to_owned(),
        client_secret: "ChangeMe".to_owned(),
        ..FakeSettings::default()
    })
    .await;
    fake.add_ioc_bundle(
        ioc_item(&fake, "b1", 1_763_629_200),
        &fixture("ioc-bundle.json"),
    );
    let mut env = env_file();
    env.retain(|(key, _)| key != "TEAMT5_API_BASE_URL");
    env.push(("TEAMT5_API_BASE_URL".to_owned(), fake.url()));
    let mut config = Teamt5Config::try_from(&Settings::from_env_pairs(&[VARS], env)).unwrap();
    config.http = fast_http();
    let mut connector = Teamt5::from_config(config).unwrap();
    let (ctx, probe) = RunContext::for_test(None);
    connector.run(&ctx).await.unwrap();
    assert_eq!(probe.bundles().len(), 1);
    assert_eq!(
        fake.requests_to("/api/v2/ioc_bundles")[0].query["date[from]"],
        "1735689600"
    );
}

#[test]
fn the_readme_documents_every_variable_of_the_binary() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let spec = &opencti_teamt5::SPEC;
    assert_eq!(spec.name, "opencti-teamt5");
    for var in spec.vars {
        let row = format!("| `{}` | `{}` |", var.env, var.yaml_path());
        assert!(readme.contains(&row), "README lacks the row of {}", var.env);
        if let Some(default) = var.default {
            let line = readme.lines().find(|line| line.starts_with(&row)).unwrap();
            assert!(
                line.contains(&format!("`{default}`")),
                "README default of {}",
                var.env
            );
        }
    }
}

#[test]
fn every_test_the_readme_names_exists() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut named = 0;
    for quoted in readme.split('`').skip(1).step_by(2) {
        let Some((module, test)) = quoted.split_once("::") else {
            continue;
        };
        if !test.chars().all(|c| c.is_ascii_lowercase() || c == '_') || test.is_empty() {
            continue;
        }
        let source = std::fs::read_to_string(root.join(format!("tests/{module}.rs")))
            .unwrap_or_else(|_| panic!("README names a missing test module: {quoted}"));
        assert!(
            source.contains(&format!("fn {test}()")),
            "README names a missing test: {quoted}"
        );
        named += 1;
    }
    assert!(named >= 15, "only {named} tests named");
}
