//! Configuration: the Python connector's names and defaults, and the
//! values it accepted but could not use, now refused at start-up.

use opencti_connector::config::{Settings, Source, Var};
use opencti_nti::SPEC;
use opencti_nti::client::{ClientSettings, NtiClient};
use opencti_nti::config::{FeedKind, NtiConfig, VARS, task_name};

use crate::support::{KEY, settings};

fn errors(settings: &Settings) -> String {
    format!("{}", NtiConfig::try_from(settings).expect_err("refused"))
}

/// The connector's own table (the runtime's need a platform).
fn tables() -> Vec<&'static [Var]> {
    vec![VARS]
}

#[test]
fn defaults_are_the_python_connectors() {
    let settings = Settings::from_env_pairs(&tables(), [("NTI_API_KEY", KEY)]);
    let config = NtiConfig::try_from(&settings).expect("valid");
    assert_eq!(
        config.base_url.as_str(),
        "https://nti.nsfocusglobal.com/api/v2/"
    );
    assert_eq!(config.package_type, "updated");
    assert!(
        config.kinds.is_empty(),
        "every NTI_CREATE_* defaults to false"
    );
    assert_eq!(
        config.marking.common.id,
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
    );
    assert_eq!(
        settings
            .value("CONNECTOR_DURATION_PERIOD")
            .unwrap()
            .to_string(),
        "P1D"
    );
    assert_eq!(settings.value("CONNECTOR_NAME").unwrap().to_string(), "NTI");
    assert_eq!(SPEC.name, "opencti-nti");
    let client = NtiClient::new(ClientSettings::from(&config)).unwrap();
    assert_eq!(
        client.feed_url().as_str(),
        "https://nti.nsfocusglobal.com/api/v2/download/feed/?type=updated"
    );
}

#[test]
fn the_nested_config_yml_keys_of_the_sample_are_read() {
    let yaml = "nti:\n  base_url: 'https://nti.example/api/v2/'\n  api_key: 'from-yaml'\n  tlp: 'amber+strict'\n  create_ioc: true\n  create_ip: true\n  create_domain: false\n  create_file: true\n  create_url: true\n  package_type: 'updated'\n";
    let settings = Settings::resolve(&tables(), &Source::new().with_yaml_str(yaml));
    let config = NtiConfig::try_from(&settings).expect("valid");
    assert_eq!(config.api_key.expose(), "from-yaml");
    assert_eq!(
        config.kinds,
        [FeedKind::Ioc, FeedKind::Ip, FeedKind::Url, FeedKind::File]
    );
    assert_eq!(
        config.marking.common.id,
        "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"
    );
    assert_eq!(
        config.marking.x_opencti_definition.as_deref(),
        Some("TLP:AMBER+STRICT")
    );
    // The key never shows in debug output.
    assert!(!format!("{config:?}").contains("from-yaml"));
}

/// Fix: a base URL without its trailing `/` lost its last path segment.
#[test]
fn a_base_url_without_trailing_slash_keeps_its_path() {
    let config = NtiConfig::try_from(&settings("https://nti.example/api/v2", &[])).unwrap();
    assert_eq!(config.base_url.as_str(), "https://nti.example/api/v2/");
}

/// Fix: `1`/`0` were truthy strings, and any other text was "true".
#[test]
fn booleans_are_parsed_and_nonsense_is_refused() {
    let config = NtiConfig::try_from(&settings(
        "http://127.0.0.1:9/",
        &[
            ("NTI_CREATE_IOC", "0"),
            ("NTI_CREATE_IP", "1"),
            ("NTI_CREATE_DOMAIN", "no"),
            ("NTI_CREATE_URL", "False"),
        ],
    ))
    .unwrap();
    assert_eq!(config.kinds, [FeedKind::Ip, FeedKind::File]);
    let message = errors(&settings(
        "http://127.0.0.1:9/",
        &[("NTI_CREATE_URL", "maybe")],
    ));
    assert!(message.contains("NTI_CREATE_URL"), "{message}");
}

/// Fix: an unknown TLP crashed at start-up with a bare `KeyError`.
#[test]
fn an_unknown_tlp_is_refused_naming_the_variable_and_clear_is_white() {
    let message = errors(&settings("http://127.0.0.1:9/", &[("NTI_TLP", "purple")]));
    assert!(
        message.contains("NTI_TLP") && message.contains("purple"),
        "{message}"
    );
    let config =
        NtiConfig::try_from(&settings("http://127.0.0.1:9/", &[("NTI_TLP", "CLEAR")])).unwrap();
    assert_eq!(config.marking.name.as_deref(), Some("TLP:WHITE"));
}

/// Fix: the API key was documented as required but never checked.
#[test]
fn the_api_key_is_required() {
    let settings = Settings::from_env_pairs(&tables(), [("NTI_API_KEY", "")]);
    let message = errors(&settings);
    assert!(message.contains("NTI_API_KEY"), "{message}");
}

#[test]
fn task_names_follow_the_package_type() {
    assert_eq!(
        task_name(FeedKind::Ioc, "updated"),
        "data.NTI.API.V2.0.ioc-updated"
    );
    assert_eq!(
        task_name(FeedKind::File, "updated"),
        "data.NTI.API.V2.0.sample-updated"
    );
    assert_eq!(
        task_name(FeedKind::Ip, "full"),
        "data.NTI.API.V2.0.ip-basic"
    );
}
