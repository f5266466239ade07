//! The connector's variables: names, YAML keys, defaults and validation
//! (the Python settings' authentication rule included).

use opencti_connector::config::{ConfigErrors, Settings, Source};
use opencti_teamt5::config::{Auth, Teamt5Config, VARS};

fn load(env: &[(&str, &str)]) -> Result<Teamt5Config, ConfigErrors> {
    let settings = Settings::from_env_pairs(&[VARS], env.iter().copied());
    Teamt5Config::try_from(&settings)
}

#[test]
fn defaults_are_the_python_connectors() {
    let config = load(&[("TEAMT5_API_KEY", "test-key")]).unwrap();
    assert_eq!(
        config.api_base_url.as_str(),
        "https://api.threatvision.org/"
    );
    assert_eq!(config.tlp_level, "clear");
    assert_eq!(config.first_run_timestamp, 0);
    assert_eq!(config.author_name, "Team T5 External Import Connector");
    assert!(matches!(&config.auth, Auth::ApiKey(key) if key.expose() == "test-key"));
    let settings = Settings::from_env_pairs(&[VARS], [("X", "y")]);
    for (env, expected) in [
        ("CONNECTOR_DURATION_PERIOD", "P1D"),
        ("CONNECTOR_TYPE", "EXTERNAL_IMPORT"),
    ] {
        assert_eq!(settings.value(env).unwrap().to_string(), expected, "{env}");
    }
}

#[test]
fn every_variable_has_the_python_yaml_key() {
    let yaml = "
teamt5:
  api_base_url: 'https://private.teamt5.local///'
  client_id: 'cid'
  client_secret: 'csecret'
  tlp_level: 'AMBER+STRICT'
  first_run_retrieval_timestamp: 1763625600
connector:
  name: 'TeamT5 External Import Connector'
";
    let settings = Settings::resolve(&[VARS], &Source::new().with_yaml_str(yaml));
    let config = Teamt5Config::try_from(&settings).unwrap();
    assert_eq!(
        config.api_base_url.as_str(),
        "https://private.teamt5.local/"
    );
    assert_eq!(config.tlp_level, "amber+strict");
    assert_eq!(config.first_run_timestamp, 1_763_625_600);
    assert_eq!(config.author_name, "TeamT5 External Import Connector");
    assert!(matches!(config.auth, Auth::OAuth { .. }));
}

#[test]
fn the_first_run_timestamp_may_be_a_string_as_in_the_first_python_version() {
    let yaml = "teamt5:\n  api_key: k\n  first_run_retrieval_timestamp: '1700000000'\n";
    let settings = Settings::resolve(&[VARS], &Source::new().with_yaml_str(yaml));
    assert_eq!(
        Teamt5Config::try_from(&settings)
            .unwrap()
            .first_run_timestamp,
        1_700_000_000
    );
    let errors = load(&[
        ("TEAMT5_API_KEY", "k"),
        ("TEAMT5_FIRST_RUN_RETRIEVAL_TIMESTAMP", "yesterday"),
    ])
    .unwrap_err();
    assert!(
        errors
            .to_string()
            .contains("TEAMT5_FIRST_RUN_RETRIEVAL_TIMESTAMP"),
        "{errors:?}"
    );
}

#[test]
fn authentication_needs_a_key_or_a_complete_oauth_pair() {
    let rejected: &[&[(&str, &str)]] = &[
        &[],
        &[("TEAMT5_CLIENT_ID", "cid")],
        &[("TEAMT5_CLIENT_SECRET", "csecret")],
        &[("TEAMT5_API_KEY", "   ")],
        &[("TEAMT5_CLIENT_ID", "cid"), ("TEAMT5_CLIENT_SECRET", " \t")],
        &[
            ("TEAMT5_CLIENT_ID", ""),
            ("TEAMT5_CLIENT_SECRET", "csecret"),
        ],
    ];
    for env in rejected {
        let errors = load(env).unwrap_err();
        let text = errors.to_string();
        assert!(
            text.contains("api_key")
                && text.contains("client_id")
                && text.contains("client_secret"),
            "{env:?}: {text}"
        );
        assert!(text.contains("whitespace-only"), "{text}");
    }
    // OAuth alone, the key alone, and a blank OAuth pair beside a valid key.
    assert!(matches!(
        load(&[
            ("TEAMT5_CLIENT_ID", "cid"),
            ("TEAMT5_CLIENT_SECRET", "csecret")
        ])
        .unwrap()
        .auth,
        Auth::OAuth { .. }
    ));
    assert!(matches!(
        load(&[
            ("TEAMT5_CLIENT_ID", " "),
            ("TEAMT5_CLIENT_SECRET", ""),
            ("TEAMT5_API_KEY", "k")
        ])
        .unwrap()
        .auth,
        Auth::ApiKey(_)
    ));
    // Both modes: OAuth wins.
    assert!(matches!(
        load(&[
            ("TEAMT5_CLIENT_ID", "cid"),
            ("TEAMT5_CLIENT_SECRET", "csecret"),
            ("TEAMT5_API_KEY", "k")
        ])
        .unwrap()
        .auth,
        Auth::OAuth { .. }
    ));
}

#[test]
fn tlp_levels_are_validated() {
    for level in ["clear", "WHITE", "green", "amber", "amber+strict", "red"] {
        let config = load(&[("TEAMT5_API_KEY", "k"), ("TEAMT5_TLP_LEVEL", level)]).unwrap();
        assert_eq!(config.tlp_level, level.to_ascii_lowercase());
    }
    let errors = load(&[("TEAMT5_API_KEY", "k"), ("TEAMT5_TLP_LEVEL", "purple")]).unwrap_err();
    assert!(
        errors.to_string().contains("TEAMT5_TLP_LEVEL"),
        "{errors:?}"
    );
}

#[test]
fn a_bad_base_url_is_named() {
    let errors = load(&[
        ("TEAMT5_API_KEY", "k"),
        ("TEAMT5_API_BASE_URL", "api.threatvision.org"),
    ])
    .unwrap_err();
    assert!(
        errors.to_string().contains("TEAMT5_API_BASE_URL"),
        "{errors:?}"
    );
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let config = load(&[
        ("TEAMT5_CLIENT_ID", "cid-visible-nowhere"),
        ("TEAMT5_CLIENT_SECRET", "s3cr3t-value"),
        ("TEAMT5_API_KEY", "key-value"),
    ])
    .unwrap();
    let debug = format!("{config:?}");
    for secret in ["s3cr3t-value", "key-value", "cid-visible-nowhere"] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[test]
fn only_the_external_import_type_is_accepted() {
    assert!(
        load(&[
            ("TEAMT5_API_KEY", "k"),
            ("CONNECTOR_TYPE", "EXTERNAL_IMPORT")
        ])
        .is_ok()
    );
    let errors = load(&[("TEAMT5_API_KEY", "k"), ("CONNECTOR_TYPE", "STREAM")]).unwrap_err();
    assert!(errors.to_string().contains("CONNECTOR_TYPE"), "{errors:?}");
}

#[test]
fn run_bounds_have_defaults_and_must_be_positive() {
    let config = load(&[("TEAMT5_API_KEY", "k")]).unwrap();
    assert_eq!(config.max_listing_pages, 10_000);
    assert_eq!(config.max_listing_items, 200_000);
    assert_eq!(config.max_publication_runs, 3);
    let config = load(&[
        ("TEAMT5_API_KEY", "k"),
        ("TEAMT5_MAX_LISTING_PAGES", "5"),
        ("TEAMT5_MAX_LISTING_ITEMS", "50"),
        ("TEAMT5_MAX_PUBLICATION_RUNS", "1"),
    ])
    .unwrap();
    assert_eq!(
        (
            config.max_listing_pages,
            config.max_listing_items,
            config.max_publication_runs
        ),
        (5, 50, 1)
    );
    for env in [
        "TEAMT5_MAX_LISTING_PAGES",
        "TEAMT5_MAX_LISTING_ITEMS",
        "TEAMT5_MAX_PUBLICATION_RUNS",
    ] {
        for bad in ["0", "-1"] {
            let message = load(&[("TEAMT5_API_KEY", "k"), (env, bad)])
                .unwrap_err()
                .to_string();
            assert!(message.contains(env), "{env}={bad}: {message}");
        }
    }
}
