//! The connector's variables (same env names, `config.yml` keys and defaults
//! as the Python connector) and the validated, typed configuration built
//! from them.

use std::time::Duration;

use opencti_connector::config::{ConfigErrors, Secret, Settings, Var, VarKind};
use opencti_connector::http::Network;
use reqwest::Url;

/// The connector's variables: runtime variables whose defaults differ for
/// this connector, then `teamt5.*`.
pub static VARS: &[Var] = &[
    Var::new("CONNECTOR_TYPE", "connector", "type", VarKind::String)
        .default("EXTERNAL_IMPORT")
        .help("Connector type; always EXTERNAL_IMPORT"),
    Var::new("CONNECTOR_NAME", "connector", "name", VarKind::String)
        .default("Team T5 External Import Connector")
        .help("Name shown in the platform; also the name of the author identity of every object"),
    Var::new("CONNECTOR_DURATION_PERIOD", "connector", "duration_period", VarKind::Duration)
        .default("P1D")
        .help("Delay between the end of a run and the start of the next (ISO 8601 such as PT6H); 0 runs once"),
    Var::new("TEAMT5_API_BASE_URL", "teamt5", "api_base_url", VarKind::String)
        .default("https://api.threatvision.org/")
        .help("Base URL of the ThreatVision API (trailing slashes ignored)"),
    Var::new("TEAMT5_CLIENT_ID", "teamt5", "client_id", VarKind::String)
        .secret()
        .required_in_choice("credentials", "oauth2")
        .help("OAuth2 client id (client-credentials grant); needs TEAMT5_CLIENT_SECRET"),
    Var::new("TEAMT5_CLIENT_SECRET", "teamt5", "client_secret", VarKind::String)
        .secret()
        .required_in_choice("credentials", "oauth2")
        .help("OAuth2 client secret; needs TEAMT5_CLIENT_ID"),
    Var::new("TEAMT5_API_KEY", "teamt5", "api_key", VarKind::String)
        .secret()
        .required_in_choice("credentials", "api key")
        .help("Deprecated: static Bearer token, used when no OAuth2 client is configured"),
    Var::new("TEAMT5_TLP_LEVEL", "teamt5", "tlp_level", VarKind::String)
        .default("clear")
        .choices(&TLP_LEVELS)
        .help("TLP marking of every object: clear, white, green, amber, amber+strict or red"),
    Var::new("TEAMT5_FIRST_RUN_RETRIEVAL_TIMESTAMP", "teamt5", "first_run_retrieval_timestamp", VarKind::Int)
        .default("0")
        .help("First run only: retrieve items published since this Unix time (seconds)"),
    Var::new("TEAMT5_MAX_LISTING_PAGES", "teamt5", "max_listing_pages", VarKind::Int)
        .default("10000")
        .help("Most listing pages read per kind and run; a listing that goes on stops the run with an error (state untouched)"),
    Var::new("TEAMT5_MAX_LISTING_ITEMS", "teamt5", "max_listing_items", VarKind::Int)
        .default("200000")
        .help("Most listing items read per kind and run; a listing that goes on stops the run with an error (state untouched)"),
    Var::new("TEAMT5_MAX_PUBLICATION_RUNS", "teamt5", "max_publication_runs", VarKind::Int)
        .default("3")
        .help("Runs in a row that may fail on one publication (download error, 404, empty bundle) before it is skipped, logged and recorded in the state's skipped_publications"),
];

/// How the connector authenticates to ThreatVision.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Auth {
    /// OAuth2 client credentials: a token from `POST /oauth/token`,
    /// renewed before it expires and after a 401.
    OAuth {
        /// `TEAMT5_CLIENT_ID`.
        client_id: Secret,
        /// `TEAMT5_CLIENT_SECRET`.
        client_secret: Secret,
    },
    /// The deprecated static Bearer key.
    ApiKey(Secret),
}

/// The TLP levels `TEAMT5_TLP_LEVEL` accepts.
pub const TLP_LEVELS: [&str; 6] = ["clear", "white", "green", "amber", "amber+strict", "red"];

/// The validated connector configuration.
#[derive(Debug, Clone)]
pub struct Teamt5Config {
    /// API base URL, its trailing slashes dropped (a bare origin still
    /// prints as `https://host/`; see [`crate::client::Teamt5Client::base_text`]).
    pub api_base_url: Url,
    /// Credentials (OAuth2 wins when both modes are configured).
    pub auth: Auth,
    /// TLP level, lower-case (one of [`TLP_LEVELS`]).
    pub tlp_level: String,
    /// Listing start when the connector has no state (Unix seconds).
    pub first_run_timestamp: i64,
    /// Author identity name (`CONNECTOR_NAME`).
    pub author_name: String,
    /// Most listing pages read per kind and run.
    pub max_listing_pages: usize,
    /// Most listing items read per kind and run.
    pub max_listing_items: usize,
    /// Failed runs on one publication before it is skipped.
    pub max_publication_runs: u32,
    /// HTTP behaviour towards ThreatVision.
    pub http: HttpSettings,
}

/// Timeouts, retries and pacing of ThreatVision requests.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Timeout of a GET (the Python connector's 15 s).
    pub request_timeout: Duration,
    /// Timeout of the token request (the Python connector's 10 s).
    pub token_timeout: Duration,
    /// Attempts of one request on 429, 5xx and broken connections.
    pub attempts: u32,
    /// Delay before the first retry (doubled each time, capped by
    /// [`HttpSettings::max_backoff`]); a `Retry-After` in seconds wins.
    pub first_backoff: Duration,
    /// Longest delay between two attempts.
    pub max_backoff: Duration,
    /// Pause after each listing page (the Python connector's 1 s throttle).
    pub page_delay: Duration,
    /// Proxies and extra trusted CAs (the runtime's network variables).
    pub network: Network,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(15),
            token_timeout: Duration::from_secs(10),
            attempts: 3,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            page_delay: Duration::from_secs(1),
            network: Network::default(),
        }
    }
}

/// Pydantic treats `None`, `""` and whitespace-only values as unset.
fn non_blank(secret: Option<Secret>) -> Option<Secret> {
    secret.filter(|secret| !secret.expose().trim().is_empty())
}

/// The base URL with its trailing slashes removed, as the Python
/// connector's `rstrip("/")`.
pub fn parse_base_url(text: &str) -> Result<Url, String> {
    let trimmed = text.trim().trim_end_matches('/');
    let url = Url::parse(trimmed).map_err(|error| format!("not an absolute URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("expected an http:// or https:// URL".to_owned());
    }
    Ok(url)
}

/// A bound that must be at least 1 (and fit a `u32`).
fn positive(check: &mut opencti_connector::config::Check<'_>, env: &'static str) -> Option<usize> {
    let value: i64 = check.get(env)?;
    match u32::try_from(value) {
        Ok(value) if value >= 1 => Some(value as usize),
        _ => {
            check.reject(env, "must be a whole number from 1 to 4294967295");
            None
        }
    }
}

impl TryFrom<&Settings> for Teamt5Config {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();
        let api_base_url = check.parse("TEAMT5_API_BASE_URL", |value| {
            parse_base_url(&value.to_string())
        });
        let client_id = non_blank(check.get("TEAMT5_CLIENT_ID"));
        let client_secret = non_blank(check.get("TEAMT5_CLIENT_SECRET"));
        let api_key = non_blank(check.get("TEAMT5_API_KEY"));
        let auth = match (client_id, client_secret, api_key) {
            (Some(client_id), Some(client_secret), _) => Some(Auth::OAuth {
                client_id,
                client_secret,
            }),
            (_, _, Some(key)) => Some(Auth::ApiKey(key)),
            (id, secret, None) => {
                let reason = "TeamT5 authentication is required: set `api_key`, or both `client_id` \
                     and `client_secret` (empty / whitespace-only values are treated as unset)";
                let env = match (id, secret) {
                    (Some(_), None) => "TEAMT5_CLIENT_SECRET",
                    (None, Some(_)) => "TEAMT5_CLIENT_ID",
                    _ => "TEAMT5_API_KEY",
                };
                check.reject(env, reason);
                None
            }
        };
        let tlp_level = check.parse("TEAMT5_TLP_LEVEL", |value| {
            let level = value.to_string().trim().to_ascii_lowercase();
            if TLP_LEVELS.contains(&level.as_str()) {
                Ok(level)
            } else {
                Err(format!("expected one of {}", TLP_LEVELS.join(", ")))
            }
        });
        let first_run_timestamp: Option<i64> = check.get("TEAMT5_FIRST_RUN_RETRIEVAL_TIMESTAMP");
        if first_run_timestamp.is_some_and(|timestamp| timestamp < 0) {
            check.reject(
                "TEAMT5_FIRST_RUN_RETRIEVAL_TIMESTAMP",
                "must not be negative",
            );
        }
        let max_listing_pages = positive(&mut check, "TEAMT5_MAX_LISTING_PAGES");
        let max_listing_items = positive(&mut check, "TEAMT5_MAX_LISTING_ITEMS");
        let max_publication_runs = positive(&mut check, "TEAMT5_MAX_PUBLICATION_RUNS")
            .and_then(|runs| u32::try_from(runs).ok());
        let author_name: Option<String> = check.require("CONNECTOR_NAME");
        if let Some(connector_type) = check.get::<String>("CONNECTOR_TYPE")
            && !connector_type
                .trim()
                .eq_ignore_ascii_case("EXTERNAL_IMPORT")
        {
            check.reject("CONNECTOR_TYPE", "this connector is EXTERNAL_IMPORT");
        }
        let network = Network::check(&mut check);
        check.finish("teamt5", || {
            Some(Self {
                api_base_url: api_base_url?,
                auth: auth?,
                tlp_level: tlp_level?,
                first_run_timestamp: first_run_timestamp?,
                author_name: author_name?,
                max_listing_pages: max_listing_pages?,
                max_listing_items: max_listing_items?,
                max_publication_runs: max_publication_runs?,
                http: HttpSettings {
                    network,
                    ..HttpSettings::default()
                },
            })
        })
    }
}
