//! A minimal import connector to copy: sends the new lines of a local file
//! of IPv4 addresses as indicators. Walkthrough: `docs/writing-a-connector.md`.

use std::{net::Ipv4Addr, path::PathBuf};

use opencti_connector::config::{ConfigErrors, Settings, Var, VarKind};
use opencti_connector::{ImportSource, RunContext, SendError};
use opencti_stix::builder::{BuildError, StixModel as _};
use opencti_stix::{Bundle, marking::TLP_GREEN, object::Identity, object::Indicator, pattern};
use serde_json::Value;

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
    file: PathBuf,
    score: u8,
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

/// Why a run failed; the state keeps its place and the next run retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, #[source] std::io::Error),
    /// A STIX object could not be built.
    #[error(transparent)]
    Stix(#[from] BuildError),
    /// A STIX pattern could not be written.
    #[error(transparent)]
    Pattern(#[from] pattern::BuildError),
    /// The bundle could not be sent (or shutdown was requested).
    #[error(transparent)]
    Send(#[from] SendError),
}

/// The connector: its configuration is all it keeps between runs.
#[derive(Debug)]
pub struct Template(TemplateConfig);

impl ImportSource for Template {
    type Config = TemplateConfig;
    type Error = TemplateError;
    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-template-connector";
    const ABOUT: &'static str = "Imports a local list of IPv4 addresses as indicators";

    fn from_config(config: TemplateConfig) -> Result<Self, TemplateError> {
        Ok(Self(config))
    }

    async fn run(&mut self, ctx: &RunContext) -> Result<(), TemplateError> {
        let TemplateConfig { file, score } = &self.0;
        let read = tokio::fs::read_to_string(file).await;
        let text = read.map_err(|error| TemplateError::Read(file.clone(), error))?;
        // The state is a JSON object; `lines` counts the lines already handled.
        let mut state = ctx.state().unwrap_or_default();
        let done = state.get("lines").and_then(Value::as_u64).unwrap_or(0);
        let author = Identity::organization("Template").build()?;
        let mut bundle = Bundle::new(vec![author.clone().into(), TLP_GREEN.clone().into()]);
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate().skip(done as usize) {
            let Ok(address) = line.trim().parse::<Ipv4Addr>() else {
                let source = format!("{}:{}", file.display(), index + 1);
                ctx.report_error(format!("not an IPv4 address: {line:?}"), source)
                    .await?;
                continue;
            };
            let text = pattern::equality_pattern("ipv4-addr", &["value"], address.to_string())?;
            let indicator = Indicator::builder(text, "stix", chrono::Utc::now())
                .name(address.to_string())
                .score(*score)
                .created_by(author.id())
                .marking(TLP_GREEN.id());
            bundle.push(indicator.build()?);
        }
        if bundle.objects.len() > 2 {
            ctx.send_bundle(bundle.into_value()).await?;
        }
        // Only now, with every message confirmed by the broker, does the cursor move.
        state.insert("lines".to_owned(), lines.len().into());
        ctx.set_state(state);
        Ok(())
    }
}
