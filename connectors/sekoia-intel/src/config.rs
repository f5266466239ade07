//! The connector's variables and its validated configuration.
//!
//! Names, `config.yml` paths and defaults are those of the Python connector;
//! the batch and timeout variables are additions of this implementation.

use opencti_connector::config::{ConfigErrors, Secret, Settings, Var, VarKind};
use reqwest::Url;

use crate::client::ClientSettings;
use opencti_connector::http::{DEFAULT_MAX_SERVER_DELAY, Network};
use opencti_connector::stream::{Batching, SinkVars};

/// Path of the IoC-collection API on a Sekoia host, added to a
/// `SEKOIA_INTEL_URL` that has no path of its own.
pub const COLLECTIONS_PATH: &str = "/v2/inthreat/ioc-collections";

/// The connector's own variables, plus its defaults for shared ones.
pub static VARS: &[Var] = &[
    Var::new("CONNECTOR_TYPE", "connector", "type", VarKind::String)
        .default("STREAM")
        .help("Connector type; always STREAM"),
    Var::new(
        "CONNECTOR_LIVE_STREAM_ID",
        "connector",
        "live_stream_id",
        VarKind::String,
    )
    .required()
    .help("Live stream collection id whose indicators are pushed (`live` for everything)"),
    Var::new("SEKOIA_INTEL_URL", "sekoia_intel", "url", VarKind::Url)
        .required()
        .help(
            "Sekoia API: a bare host such as https://api.sekoia.io, or the full \
             IoC-collections base (https://api.sekoia.io/v2/inthreat/ioc-collections)",
        ),
    Var::new(
        "SEKOIA_INTEL_APIKEY",
        "sekoia_intel",
        "apikey",
        VarKind::String,
    )
    .required()
    .secret()
    .help("Sekoia API key, sent as a Bearer token"),
    Var::new(
        "SEKOIA_INTEL_IOC_COLLECTION_UUID",
        "sekoia_intel",
        "ioc_collection_uuid",
        VarKind::String,
    )
    .required()
    .help("Id of the IoC collection to feed (ioc-collection--<uuid>); it must exist"),
    Var::new(
        "SEKOIA_INTEL_BATCH_SIZE",
        "sekoia_intel",
        "batch_size",
        VarKind::Int,
    )
    .default("100")
    .help("Most stream events applied together (indicators with equal properties share a request)"),
    Var::new(
        "SEKOIA_INTEL_BATCH_WAIT_MS",
        "sekoia_intel",
        "batch_wait_ms",
        VarKind::Int,
    )
    .default("500")
    .help("Longest wait, in milliseconds, for a batch to fill before it is applied"),
    Var::new(
        "SEKOIA_INTEL_TIMEOUT",
        "sekoia_intel",
        "timeout",
        VarKind::Int,
    )
    .default("30")
    .help("Timeout of each Sekoia request, in seconds"),
];

/// The validated configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SekoiaConfig {
    /// How to reach Sekoia and which collection to feed.
    pub client: ClientSettings,
    /// The platform's address (`OPENCTI_URL`) without a trailing `/`, for
    /// the link in each IoC's description.
    pub opencti_url: String,
    /// How stream events are grouped into requests.
    pub batching: Batching,
}

/// The IoC-collections base of a `SEKOIA_INTEL_URL`: kept as given (minus a
/// trailing `/`) when it has a path, [`COLLECTIONS_PATH`] added to a bare host.
pub fn collections_base(url: &Url) -> Url {
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    let path = base.path().trim_end_matches('/').to_owned();
    if path.is_empty() {
        base.set_path(COLLECTIONS_PATH);
    } else {
        base.set_path(&path);
    }
    base
}

impl TryFrom<&Settings> for SekoiaConfig {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();

        let opencti_url: Option<Url> = check.require("OPENCTI_URL");
        // The Python connector refuses to start without a real stream id.
        let stream_id: Option<String> = check.require("CONNECTOR_LIVE_STREAM_ID");
        if stream_id
            .as_deref()
            .is_some_and(|id| id.trim().eq_ignore_ascii_case("changeme"))
        {
            check.reject(
                "CONNECTOR_LIVE_STREAM_ID",
                "still the placeholder `ChangeMe`: set the id of a live stream",
            );
        }

        let url: Option<Url> = check.require("SEKOIA_INTEL_URL");
        if let Some(url) = &url
            && !matches!(url.scheme(), "http" | "https")
        {
            check.reject("SEKOIA_INTEL_URL", "expected an http:// or https:// URL");
        }
        let api_key: Option<Secret> = check.require("SEKOIA_INTEL_APIKEY");
        let collection: Option<String> = check.require("SEKOIA_INTEL_IOC_COLLECTION_UUID");
        if let Some(collection) = &collection
            && (collection.trim() != collection || collection.contains('/'))
        {
            check.reject(
                "SEKOIA_INTEL_IOC_COLLECTION_UUID",
                "a collection id has no spaces around it and no `/`",
            );
        }

        let tuning = SinkVars {
            batch_size: "SEKOIA_INTEL_BATCH_SIZE",
            batch_wait_ms: "SEKOIA_INTEL_BATCH_WAIT_MS",
            timeout: "SEKOIA_INTEL_TIMEOUT",
        }
        .check(&mut check);

        let network = Network::check(&mut check);

        check.finish("sekoia_intel", || {
            let tuning = tuning?;
            Some(SekoiaConfig {
                client: ClientSettings {
                    collections_base: collections_base(&url?),
                    api_key: api_key?,
                    collection: collection?,
                    timeout: tuning.timeout,
                    max_server_delay: DEFAULT_MAX_SERVER_DELAY,
                    network,
                },
                opencti_url: opencti_url?.as_str().trim_end_matches('/').to_owned(),
                batching: tuning.batching,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencti_connector::config::Source;
    use opencti_connector::config::runtime::RUNTIME_TABLES;
    use std::time::Duration;

    const BASE: [(&str, &str); 8] = [
        ("OPENCTI_URL", "https://opencti.example.org/"),
        ("CONNECTOR_NAME", "Sekoia"),
        ("OPENCTI_TOKEN", "token"),
        ("CONNECTOR_ID", "0b8f2c1e-8f5a-4c57-9d56-5b9f1f0e2a11"),
        ("CONNECTOR_LIVE_STREAM_ID", "live"),
        ("SEKOIA_INTEL_URL", "https://api.sekoia.io"),
        ("SEKOIA_INTEL_APIKEY", "sk_live_secret"),
        (
            "SEKOIA_INTEL_IOC_COLLECTION_UUID",
            "ioc-collection--1f2e3d4c-5b6a-4789-8abc-def012345678",
        ),
    ];

    fn tables() -> Vec<&'static [Var]> {
        RUNTIME_TABLES.iter().copied().chain([VARS]).collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<SekoiaConfig, ConfigErrors> {
        let settings = Settings::from_env_pairs(&tables(), pairs.iter().copied());
        SekoiaConfig::try_from(&settings)
    }

    fn with_base(changes: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter()
            .filter(|(name, _)| !changes.iter().any(|(changed, _)| changed == name))
            .chain(changes)
            .copied()
            .collect()
    }

    #[test]
    fn a_complete_configuration_and_the_defaults() {
        let config = load(&BASE).unwrap();
        assert_eq!(
            config.client.collections_base.as_str(),
            "https://api.sekoia.io/v2/inthreat/ioc-collections"
        );
        assert_eq!(config.client.api_key.expose(), "sk_live_secret");
        assert_eq!(
            config.client.collection,
            "ioc-collection--1f2e3d4c-5b6a-4789-8abc-def012345678"
        );
        assert_eq!(config.opencti_url, "https://opencti.example.org");
        assert_eq!(
            config.batching,
            Batching::up_to(100, Duration::from_millis(500))
        );
        assert_eq!(config.client.timeout, Duration::from_secs(30));
        let debug = format!("{config:?}");
        assert!(!debug.contains("sk_live_secret"), "{debug}");
    }

    #[test]
    fn missing_sekoia_variables_are_named_instead_of_crashing_later() {
        let errors = load(&BASE[..5]).unwrap_err();
        assert_eq!(
            errors.culprits(),
            [
                "SEKOIA_INTEL_URL",
                "SEKOIA_INTEL_APIKEY",
                "SEKOIA_INTEL_IOC_COLLECTION_UUID"
            ]
        );
    }

    #[test]
    fn the_stream_id_must_be_set_and_not_the_placeholder() {
        for id in ["changeme", "ChangeMe", "CHANGEME"] {
            let errors = load(&with_base(&[("CONNECTOR_LIVE_STREAM_ID", id)])).unwrap_err();
            assert_eq!(errors.culprits(), ["CONNECTOR_LIVE_STREAM_ID"], "{id}");
        }
        let without: Vec<_> = BASE
            .iter()
            .copied()
            .filter(|(name, _)| *name != "CONNECTOR_LIVE_STREAM_ID")
            .collect();
        assert_eq!(
            load(&without).unwrap_err().culprits(),
            ["CONNECTOR_LIVE_STREAM_ID"]
        );
    }

    #[test]
    fn the_url_may_be_a_bare_host_or_the_full_base() {
        let base = |url: &'static str| {
            load(&with_base(&[("SEKOIA_INTEL_URL", url)]))
                .unwrap()
                .client
                .collections_base
                .to_string()
        };
        assert_eq!(
            base("https://api.sekoia.io/"),
            "https://api.sekoia.io/v2/inthreat/ioc-collections"
        );
        assert_eq!(
            base("https://api.sekoia.io/v2/inthreat/ioc-collections/"),
            "https://api.sekoia.io/v2/inthreat/ioc-collections"
        );
        assert_eq!(
            base("https://app.sekoia.io/api/v2/inthreat/ioc-collections"),
            "https://app.sekoia.io/api/v2/inthreat/ioc-collections"
        );
        let errors = load(&with_base(&[("SEKOIA_INTEL_URL", "ftp://x")])).unwrap_err();
        assert_eq!(errors.culprits(), ["SEKOIA_INTEL_URL"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = load(&with_base(&[
            ("SEKOIA_INTEL_IOC_COLLECTION_UUID", "a/b"),
            ("SEKOIA_INTEL_BATCH_SIZE", "0"),
            ("SEKOIA_INTEL_TIMEOUT", "soon"),
        ]))
        .unwrap_err();
        assert_eq!(
            errors.culprits(),
            [
                "SEKOIA_INTEL_TIMEOUT",
                "SEKOIA_INTEL_IOC_COLLECTION_UUID",
                "SEKOIA_INTEL_BATCH_SIZE"
            ]
        );
        assert!(!errors.to_string().contains("sk_live_secret"));
    }

    #[test]
    fn config_yml_is_read_with_the_python_keys() {
        let yaml = "
opencti:
  url: 'http://localhost:8080'
  token: 'x'
connector:
  id: '0b8f2c1e-8f5a-4c57-9d56-5b9f1f0e2a11'
  name: 'Sekoia'
  live_stream_id: 'live'
sekoia_intel:
  url: 'https://api.sekoia.io/v2/inthreat/ioc-collections'
  apikey: 'from-yaml'
  ioc_collection_uuid: 'from_OpenCTI'
";
        let settings = Settings::resolve(&tables(), &Source::new().with_yaml_str(yaml));
        let config = SekoiaConfig::try_from(&settings).unwrap();
        assert_eq!(config.client.api_key.expose(), "from-yaml");
        assert_eq!(config.client.collection, "from_OpenCTI");
        assert_eq!(config.opencti_url, "http://localhost:8080");
    }
}
