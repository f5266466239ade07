//! The variables and the typed configuration.

use std::path::PathBuf;

use opencti_connector::config::{ConfigErrors, Settings, Var, VarKind};

/// The variables: `CONNECTOR_NAME` gets a default, then the connector's own.
pub static VARS: &[Var] = &[
    Var::new("CONNECTOR_NAME", "connector", "name", VarKind::String).default("Template"),
    Var::new("TEMPLATE_FILE", "template", "file", VarKind::String)
        .required()
        .help("Text file of IPv4 addresses, one per line, only ever appended to"),
    Var::new("TEMPLATE_SCORE", "template", "score", VarKind::Int)
        .default("50")
        .help("x_opencti_score of the indicators, 0 to 100"),
];

/// The validated configuration.
#[derive(Debug)]
pub struct TemplateConfig {
    pub(crate) file: PathBuf,
    pub(crate) score: u8,
}

impl TryFrom<&Settings> for TemplateConfig {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();
        let file = check.require("TEMPLATE_FILE");
        let score = check.require::<u16>("TEMPLATE_SCORE");
        if score.is_some_and(|score| score > 100) {
            check.reject("TEMPLATE_SCORE", "must be between 0 and 100");
        }
        // Runs only when no problem was recorded, so the score fits.
        let build = || Some((file?, u8::try_from(score?).ok()?));
        let (file, score) = check.finish("template", build)?;
        Ok(Self { file, score })
    }
}
