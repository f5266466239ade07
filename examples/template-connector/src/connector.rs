//! The connector: its identity and its run.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use opencti_connector::prelude::*;
use opencti_stix::{Bundle, marking::TLP_GREEN};
use serde_json::Value;

use crate::config::{TemplateConfig, VARS};
use crate::mapping::{self, MappingError};

/// What the `opencti-template-connector` binary is (name, version,
/// variables), for checks of the documentation against the code.
pub static SPEC: ConnectorSpec = spec::<Template>();

/// Why a run failed; the state keeps its place and the next run retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, #[source] std::io::Error),
    /// A STIX object could not be built.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The bundle could not be sent (or shutdown was requested).
    #[error(transparent)]
    Send(#[from] SendError),
}

/// The connector: its configuration is all it keeps between runs.
#[derive(Debug)]
pub struct Template(TemplateConfig);

impl Connector for Template {
    type Config = TemplateConfig;
    type Error = TemplateError;
    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-template-connector";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Imports a local list of IPv4 addresses as indicators";

    fn from_config(config: TemplateConfig) -> Result<Self, TemplateError> {
        Ok(Self(config))
    }
}

impl ImportSource for Template {
    async fn run(&mut self, ctx: &RunContext) -> Result<String, TemplateError> {
        let TemplateConfig { file, score } = &self.0;
        let read = tokio::fs::read_to_string(file).await;
        let text = read.map_err(|error| TemplateError::Read(file.clone(), error))?;
        // The state is a JSON object; `lines` counts the lines already handled.
        let mut state = ctx.state().unwrap_or_default();
        let done = state.get("lines").and_then(Value::as_u64).unwrap_or(0);
        let author = mapping::author()?;
        let mut bundle = Bundle::new(vec![author.clone().into(), TLP_GREEN.clone().into()]);
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate().skip(done as usize) {
            let Ok(address) = line.trim().parse::<Ipv4Addr>() else {
                let source = format!("{}:{}", file.display(), index + 1);
                ctx.report_error(format!("not an IPv4 address: {line:?}"), source)
                    .await?;
                continue;
            };
            bundle.push(mapping::indicator(address, *score, &author)?);
        }
        let indicators = bundle.objects.len() - 2;
        if indicators > 0 {
            ctx.send_bundle(bundle).await?;
        }
        // Only now, with every message confirmed by the broker, does the cursor move.
        state.insert("lines".to_owned(), lines.len().into());
        ctx.set_state(state);
        // The run's summary, recorded on its work.
        Ok(format!("{indicators} new indicators sent"))
    }
}
