//! The variables and the typed configuration.

use std::path::PathBuf;

use opencti_connector::config::{ConfigErrors, Settings, Var, VarKind};
use opencti_connector::http::Network;
use reqwest::Url;

/// The variables: `CONNECTOR_NAME` gets a default, then the connector's own.
pub static VARS: &[Var] = &[
    Var::new("CONNECTOR_NAME", "connector", "name", VarKind::String).default("Template"),
    Var::new("TEMPLATE_FILE", "template", "file", VarKind::String)
        .required_in_choice("source", "file")
        .help("Text file of IPv4 addresses, one per line, only ever appended to"),
    Var::new("TEMPLATE_URL", "template", "url", VarKind::Url)
        .required_in_choice("source", "url")
        .help("HTTP(S) address of such a list, read instead of TEMPLATE_FILE"),
    Var::new("TEMPLATE_SCORE", "template", "score", VarKind::Int)
        .default("50")
        .help("x_opencti_score of the indicators, 0 to 100"),
];

/// Where the list of addresses comes from.
#[derive(Debug, Clone)]
pub enum ListSource {
    /// A local file (`TEMPLATE_FILE`).
    File(PathBuf),
    /// A vendor's HTTP(S) address (`TEMPLATE_URL`).
    Url(Url),
}

/// The validated configuration.
#[derive(Debug)]
pub struct TemplateConfig {
    pub(crate) source: ListSource,
    pub(crate) score: u8,
    /// Proxies and extra CAs for `TEMPLATE_URL` (the runtime's variables).
    pub(crate) network: Network,
}

impl TryFrom<&Settings> for TemplateConfig {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();
        let file = check.get::<PathBuf>("TEMPLATE_FILE");
        let url = check.get::<Url>("TEMPLATE_URL");
        let source = match (file, url) {
            (Some(file), None) => Some(ListSource::File(file)),
            (None, Some(url)) => Some(ListSource::Url(url)),
            (Some(_), Some(_)) => {
                check.reject(
                    "TEMPLATE_URL",
                    "set TEMPLATE_FILE or TEMPLATE_URL, not both",
                );
                None
            }
            (None, None) => {
                check.reject("TEMPLATE_FILE", "set TEMPLATE_FILE or TEMPLATE_URL");
                None
            }
        };
        let score = check.require::<u16>("TEMPLATE_SCORE");
        if score.is_some_and(|score| score > 100) {
            check.reject("TEMPLATE_SCORE", "must be between 0 and 100");
        }
        let network = Network::check(&mut check);
        // Runs only when no problem was recorded, so the score fits.
        let build = || Some((source?, u8::try_from(score?).ok()?));
        let (source, score) = check.finish("template", build)?;
        Ok(Self {
            source,
            score,
            network,
        })
    }
}
