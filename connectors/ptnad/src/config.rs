//! The connector's variables and its validated configuration.
//!
//! Names, `config.yml` paths and defaults are those of the Python connector,
//! plus `PTNAD_URL_EXTERNAL_KEY` (the documented name, which the Python code
//! never read; its `PTNAD_URI_EXTERNAL_KEY` is accepted as an alias) and a
//! few tuning variables of our own.

use std::collections::BTreeMap;
use std::path::PathBuf;

use opencti_connector::config::{ConfigErrors, FromValue, Secret, Settings, Var, VarKind};
use reqwest::Url;

use crate::client::{ClientSettings, Credentials, ListSpec, ListType, TlsVerification, is_slug};
use crate::mapping::Scope;
use opencti_connector::http::{DEFAULT_MAX_SERVER_DELAY, Network};
use opencti_connector::stream::{Batching, SinkVars};

/// The connector's own variables, plus its defaults for shared ones.
pub static VARS: &[Var] = &[
    Var::new("CONNECTOR_TYPE", "connector", "type", VarKind::String)
        .default("STREAM")
        .help("Connector type; always STREAM"),
    Var::new("CONNECTOR_SCOPE", "connector", "scope", VarKind::String)
        .default("ip,dn,url,md5")
        .help("Reputation lists to manage, comma-separated among ip, dn, url, md5 (also the registered scope)"),
    Var::new("PTNAD_URL", "ptnad", "url", VarKind::Url)
        .required()
        .help("Base URL of PT NAD, e.g. https://nad.example.local (the API is under /api/v2)"),
    Var::new("PTNAD_SSL_VERIFY", "ptnad", "ssl_verify", VarKind::String)
        .default("false")
        .help("Verify PT NAD's TLS certificate: true, false, or the path of a CA bundle (PEM)"),
    Var::new("PTNAD_TOKEN", "ptnad", "token", VarKind::String)
        .secret()
        .required_in_choice("credentials", "token")
        .help("API token (PT MC deployments); when set, the username and password are not used"),
    Var::new("PTNAD_USERNAME", "ptnad", "username", VarKind::String)
        .required_in_choice("credentials", "login")
        .help("PT NAD account, required without PTNAD_TOKEN"),
    Var::new("PTNAD_PASSWORD", "ptnad", "password", VarKind::String)
        .secret()
        .required_in_choice("credentials", "login")
        .help("Password of PTNAD_USERNAME"),
    Var::new("PTNAD_IP_REPLIST_NAME", "ptnad", "ip_replist_name", VarKind::String)
        .default("opencti-ip-replist")
        .help("Name of the IP reputation list created if missing (letters, digits, _ and -)"),
    Var::new("PTNAD_DN_REPLIST_NAME", "ptnad", "dn_replist_name", VarKind::String)
        .default("opencti-dn-replist")
        .help("Name of the domain-name reputation list created if missing"),
    Var::new("PTNAD_URL_REPLIST_NAME", "ptnad", "url_replist_name", VarKind::String)
        .default("opencti-url-replist")
        .help("Name of the URL reputation list created if missing"),
    Var::new("PTNAD_MD5_REPLIST_NAME", "ptnad", "md5_replist_name", VarKind::String)
        .default("opencti-md5-replist")
        .help("Name of the MD5 reputation list created if missing"),
    Var::new("PTNAD_IP_EXTERNAL_KEY", "ptnad", "ip_external_key", VarKind::String)
        .default("opencti-ip")
        .help("External key identifying the IP list"),
    Var::new("PTNAD_DN_EXTERNAL_KEY", "ptnad", "dn_external_key", VarKind::String)
        .default("opencti-dn")
        .help("External key identifying the domain-name list"),
    Var::new("PTNAD_URL_EXTERNAL_KEY", "ptnad", "url_external_key", VarKind::String)
        .default("opencti-url")
        .aliases(&["PTNAD_URI_EXTERNAL_KEY"])
        .help("External key identifying the URL list (PTNAD_URI_EXTERNAL_KEY also accepted)"),
    Var::new("PTNAD_MD5_EXTERNAL_KEY", "ptnad", "md5_external_key", VarKind::String)
        .default("opencti-md5")
        .help("External key identifying the MD5 list"),
    Var::new("PTNAD_BATCH_SIZE", "ptnad", "batch_size", VarKind::Int)
        .default("500")
        .help("Most stream events applied to PT NAD together (one bulk call per list and action)"),
    Var::new("PTNAD_BATCH_WAIT_MS", "ptnad", "batch_wait_ms", VarKind::Int)
        .default("500")
        .help("Longest wait, in milliseconds, for a batch to fill before it is applied"),
    Var::new("PTNAD_TIMEOUT", "ptnad", "timeout", VarKind::Int)
        .default("30")
        .help("Timeout of each PT NAD request, in seconds"),
    Var::new("PTNAD_MAX_LIST_PAGES", "ptnad", "max_list_pages", VarKind::Int)
        .default("100")
        .help("Most pages of reputation lists read at startup (100 lists a page); more fails the startup"),
    Var::new("PTNAD_MAX_LISTS", "ptnad", "max_lists", VarKind::Int)
        .default("10000")
        .help("Most reputation lists read at startup; more fails the startup"),
];

/// How each list type is named in `CONNECTOR_SCOPE` and in the variables.
const KINDS: [(ListType, &str, &str, &str); 4] = [
    (
        ListType::Ip,
        "ip",
        "PTNAD_IP_REPLIST_NAME",
        "PTNAD_IP_EXTERNAL_KEY",
    ),
    (
        ListType::Dn,
        "dn",
        "PTNAD_DN_REPLIST_NAME",
        "PTNAD_DN_EXTERNAL_KEY",
    ),
    (
        ListType::Uri,
        "url",
        "PTNAD_URL_REPLIST_NAME",
        "PTNAD_URL_EXTERNAL_KEY",
    ),
    (
        ListType::Md5,
        "md5",
        "PTNAD_MD5_REPLIST_NAME",
        "PTNAD_MD5_EXTERNAL_KEY",
    ),
];

/// The validated PT NAD configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PtnadConfig {
    /// How to reach and authenticate against PT NAD.
    pub client: ClientSettings,
    /// The list types managed.
    pub scope: Scope,
    /// The lists of the types in scope, in [`ListType`] order.
    pub lists: Vec<ListSpec>,
    /// How stream events are grouped into bulk changes.
    pub batching: Batching,
}

impl PtnadConfig {
    /// The list receiving values of `list_type`, if in scope.
    pub fn list(&self, list_type: ListType) -> Option<&ListSpec> {
        self.lists.iter().find(|spec| spec.list_type == list_type)
    }
}

impl TryFrom<&Settings> for PtnadConfig {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();

        let base_url: Option<Url> = check.require("PTNAD_URL");
        if let Some(url) = &base_url
            && !matches!(url.scheme(), "http" | "https")
        {
            check.reject("PTNAD_URL", "expected an http:// or https:// URL");
        }
        let tls = check.parse("PTNAD_SSL_VERIFY", |value| {
            Ok(match bool::from_value(value) {
                Ok(true) => TlsVerification::System,
                Ok(false) => TlsVerification::Off,
                Err(_) => TlsVerification::CaBundle(PathBuf::from(value.to_string())),
            })
        });
        if let Some(TlsVerification::CaBundle(path)) = &tls
            && !path.is_file()
        {
            check.reject(
                "PTNAD_SSL_VERIFY",
                "neither true/false nor the path of an existing CA bundle file",
            );
        }

        // The token wins; without one, the login pair is required.
        let token: Option<Secret> = check.get("PTNAD_TOKEN");
        let credentials = match token {
            Some(token) => Some(Credentials::Token(token.expose().to_owned())),
            None => {
                let username: Option<String> = check.require("PTNAD_USERNAME");
                let password: Option<Secret> = check.require("PTNAD_PASSWORD");
                username
                    .zip(password)
                    .map(|(username, password)| Credentials::Login {
                        username,
                        password: password.expose().to_owned(),
                    })
            }
        };

        let scope_tokens: Vec<String> = check.get("CONNECTOR_SCOPE").unwrap_or_default();
        let mut scope_types = Vec::new();
        for token in &scope_tokens {
            match KINDS.iter().find(|(_, name, _, _)| name == token) {
                Some((list_type, ..)) => scope_types.push(*list_type),
                None => tracing::debug!(
                    token,
                    "CONNECTOR_SCOPE entry is not a PT NAD list kind (ip, dn, url, md5)"
                ),
            }
        }
        if scope_types.is_empty() {
            check.reject("CONNECTOR_SCOPE", "names none of ip, dn, url, md5");
        }
        let scope = Scope::new(scope_types);

        let mut lists = Vec::new();
        let mut names: BTreeMap<String, &str> = BTreeMap::new();
        let mut keys: BTreeMap<String, &str> = BTreeMap::new();
        for (list_type, _, name_var, key_var) in KINDS {
            if !scope.contains(list_type) {
                continue;
            }
            let name: Option<String> = check.require(name_var);
            let key: Option<String> = check.require(key_var);
            if let Some(name) = &name {
                if !is_slug(name) {
                    check.reject(
                        name_var,
                        "PT NAD list names may only hold letters, digits, '_' and '-'",
                    );
                } else if let Some(other) = names.insert(name.clone(), name_var) {
                    check.reject(name_var, format!("same list name as {other}"));
                }
            }
            if let Some(key) = &key {
                if key.trim() != key {
                    check.reject(key_var, "external keys may not start or end with spaces");
                } else if let Some(other) = keys.insert(key.clone(), key_var) {
                    check.reject(key_var, format!("same external key as {other}"));
                }
            }
            if let (Some(name), Some(external_key)) = (name, key) {
                lists.push(ListSpec {
                    name,
                    list_type,
                    external_key,
                });
            }
        }

        let tuning = SinkVars {
            batch_size: "PTNAD_BATCH_SIZE",
            batch_wait_ms: "PTNAD_BATCH_WAIT_MS",
            timeout: "PTNAD_TIMEOUT",
        }
        .check(&mut check);
        let max_list_pages: Option<usize> = check.require("PTNAD_MAX_LIST_PAGES");
        let max_lists: Option<usize> = check.require("PTNAD_MAX_LISTS");
        for (name, value) in [
            ("PTNAD_MAX_LIST_PAGES", max_list_pages),
            ("PTNAD_MAX_LISTS", max_lists),
        ] {
            if value == Some(0) {
                check.reject(name, "must be at least 1");
            }
        }
        let network = Network::check(&mut check);

        check.finish("ptnad", || {
            let tuning = tuning?;
            Some(PtnadConfig {
                client: ClientSettings {
                    base_url: base_url?,
                    tls: tls?,
                    credentials: credentials?,
                    timeout: tuning.timeout,
                    max_server_delay: DEFAULT_MAX_SERVER_DELAY,
                    network,
                    max_list_pages: max_list_pages?,
                    max_lists: max_lists?,
                },
                scope,
                lists,
                batching: tuning.batching,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencti_connector::config::Source;
    use std::time::Duration;

    const BASE: [(&str, &str); 3] = [
        ("PTNAD_URL", "https://nad.example.local"),
        ("PTNAD_USERNAME", "opencti"),
        ("PTNAD_PASSWORD", "S3cret!"),
    ];

    fn load(pairs: &[(&str, &str)]) -> Result<PtnadConfig, ConfigErrors> {
        let settings = Settings::from_env_pairs(&[VARS], pairs.iter().copied());
        PtnadConfig::try_from(&settings)
    }

    fn with_base(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(extra).copied().collect()
    }

    fn keys(config: &PtnadConfig) -> Vec<(ListType, &str, &str)> {
        config
            .lists
            .iter()
            .map(|spec| {
                (
                    spec.list_type,
                    spec.name.as_str(),
                    spec.external_key.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn defaults_match_the_python_connector() {
        let config = load(&BASE).unwrap();
        assert_eq!(
            config.client.base_url.as_str(),
            "https://nad.example.local/"
        );
        assert_eq!(config.client.tls, TlsVerification::Off);
        assert!(
            matches!(&config.client.credentials, Credentials::Login { username, password }
            if username == "opencti" && password == "S3cret!")
        );
        assert_eq!(config.scope, Scope::new(ListType::ALL));
        assert_eq!(
            keys(&config),
            vec![
                (ListType::Ip, "opencti-ip-replist", "opencti-ip"),
                (ListType::Dn, "opencti-dn-replist", "opencti-dn"),
                (ListType::Uri, "opencti-url-replist", "opencti-url"),
                (ListType::Md5, "opencti-md5-replist", "opencti-md5"),
            ]
        );
        assert_eq!(
            config.batching,
            Batching::up_to(500, Duration::from_millis(500))
        );
        assert_eq!(config.client.timeout, Duration::from_secs(30));
    }

    #[test]
    fn a_token_replaces_the_login() {
        let config = load(&[("PTNAD_URL", "https://nad"), ("PTNAD_TOKEN", "0123456789")]).unwrap();
        assert!(
            matches!(&config.client.credentials, Credentials::Token(token) if token == "0123456789")
        );
        let config = load(&with_base(&[("PTNAD_TOKEN", "tok")])).unwrap();
        assert!(matches!(config.client.credentials, Credentials::Token(_)));
        let debug = format!("{config:?}");
        assert!(!debug.contains("tok\""), "{debug}");
        assert!(!debug.contains("S3cret!"), "{debug}");
    }

    #[test]
    fn without_token_both_login_fields_are_required() {
        let errors = load(&[("PTNAD_URL", "https://nad")]).unwrap_err();
        assert_eq!(errors.culprits(), ["PTNAD_USERNAME", "PTNAD_PASSWORD"]);
        let errors = load(&[("PTNAD_URL", "https://nad"), ("PTNAD_USERNAME", "u")]).unwrap_err();
        assert_eq!(errors.culprits(), ["PTNAD_PASSWORD"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = load(&[
            ("PTNAD_URL", "ftp://nad"),
            ("PTNAD_DN_REPLIST_NAME", "bad name"),
            ("PTNAD_BATCH_SIZE", "0"),
            ("PTNAD_TIMEOUT", "soon"),
        ])
        .unwrap_err();
        assert_eq!(
            errors.culprits(),
            [
                "PTNAD_TIMEOUT",
                "PTNAD_URL",
                "PTNAD_USERNAME",
                "PTNAD_PASSWORD",
                "PTNAD_DN_REPLIST_NAME",
                "PTNAD_BATCH_SIZE"
            ]
        );
        let text = errors.to_string();
        assert!(text.contains("ptnad.dn_replist_name"), "{text}");
    }

    #[test]
    fn both_spellings_of_the_url_external_key_are_accepted() {
        let config = load(&with_base(&[("PTNAD_URI_EXTERNAL_KEY", "from-code")])).unwrap();
        assert_eq!(
            config.list(ListType::Uri).unwrap().external_key,
            "from-code"
        );
        let config = load(&with_base(&[
            ("PTNAD_URI_EXTERNAL_KEY", "from-code"),
            ("PTNAD_URL_EXTERNAL_KEY", "documented"),
        ]))
        .unwrap();
        assert_eq!(
            config.list(ListType::Uri).unwrap().external_key,
            "documented"
        );
    }

    #[test]
    fn the_scope_selects_the_lists() {
        let config = load(&with_base(&[("CONNECTOR_SCOPE", " md5 , ip ,Indicator")])).unwrap();
        assert_eq!(config.scope, Scope::new([ListType::Ip, ListType::Md5]));
        assert_eq!(keys(&config).len(), 2);
        assert!(config.list(ListType::Dn).is_none());

        let errors = load(&with_base(&[("CONNECTOR_SCOPE", "ipv4,domain")])).unwrap_err();
        assert_eq!(errors.culprits(), ["CONNECTOR_SCOPE"]);
    }

    #[test]
    fn names_are_slugs_and_names_and_keys_distinct_within_the_scope() {
        let errors = load(&with_base(&[("PTNAD_URL_REPLIST_NAME", "OpenCTI URLs")])).unwrap_err();
        assert_eq!(errors.culprits(), ["PTNAD_URL_REPLIST_NAME"]);

        // Outside the scope, a list's settings do not matter.
        load(&with_base(&[
            ("CONNECTOR_SCOPE", "ip"),
            ("PTNAD_URL_REPLIST_NAME", "OpenCTI URLs"),
        ]))
        .unwrap();

        let errors = load(&with_base(&[("PTNAD_DN_EXTERNAL_KEY", "opencti-ip")])).unwrap_err();
        assert_eq!(errors.culprits(), ["PTNAD_DN_EXTERNAL_KEY"]);
        let errors = load(&with_base(&[(
            "PTNAD_MD5_REPLIST_NAME",
            "opencti-ip-replist",
        )]))
        .unwrap_err();
        assert_eq!(errors.culprits(), ["PTNAD_MD5_REPLIST_NAME"]);
    }

    #[test]
    fn ssl_verify_is_a_boolean_or_a_ca_bundle() {
        let tls = |value: &'static str| {
            load(&with_base(&[("PTNAD_SSL_VERIFY", value)])).map(|c| c.client.tls)
        };
        assert_eq!(tls("true").unwrap(), TlsVerification::System);
        assert_eq!(tls("yes").unwrap(), TlsVerification::System);
        assert_eq!(tls("False").unwrap(), TlsVerification::Off);
        assert_eq!(
            tls("").unwrap(),
            TlsVerification::Off,
            "empty means the default"
        );
        let bundle = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        assert_eq!(
            tls(bundle).unwrap(),
            TlsVerification::CaBundle(bundle.into())
        );
        assert_eq!(
            tls("/no/such/ca.pem").unwrap_err().culprits(),
            ["PTNAD_SSL_VERIFY"]
        );
    }

    #[test]
    fn config_yml_is_read_with_the_python_keys() {
        let yaml = "
ptnad:
  url: 'https://nad.example.local/'
  ssl_verify: true
  token: 12345
  url_external_key: 'yaml-url'
  md5_replist_name: 'hash'
connector:
  scope: 'url,md5'
";
        let settings = Settings::resolve(&[VARS], &Source::new().with_yaml_str(yaml));
        let config = PtnadConfig::try_from(&settings).unwrap();
        assert_eq!(config.client.tls, TlsVerification::System);
        assert!(
            matches!(&config.client.credentials, Credentials::Token(token) if token == "12345")
        );
        assert_eq!(
            keys(&config),
            vec![
                (ListType::Uri, "opencti-url-replist", "yaml-url"),
                (ListType::Md5, "hash", "opencti-md5")
            ]
        );
    }
}
