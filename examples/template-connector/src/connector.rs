//! The connector: its identity and its run.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use opencti_connector::http::{BuildError, redact_url};
use opencti_connector::prelude::*;
use opencti_stix::{Bundle, marking::TLP_GREEN};
use serde_json::Value;

use crate::client::{FetchError, ListClient};
use crate::config::{ListSource, TemplateConfig, VARS};
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
    /// The list could not be fetched from `TEMPLATE_URL`.
    #[error("cannot fetch the list: {0}")]
    Fetch(#[from] FetchError),
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[from] BuildError),
    /// A STIX object could not be built.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The bundle could not be sent (or shutdown was requested).
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Where the connector reads its list.
#[derive(Debug)]
enum Source {
    File(PathBuf),
    Vendor(ListClient),
}

/// The connector: where it reads and the score it gives are all it keeps
/// between runs.
#[derive(Debug)]
pub struct Template {
    source: Source,
    score: u8,
}

impl Template {
    /// Reads the list with `client` (tests shorten its retry delays).
    #[must_use]
    pub fn with_client(mut self, client: ListClient) -> Self {
        self.source = Source::Vendor(client);
        self
    }

    /// The list's text, and how to name a line of it in an error.
    async fn read_list(&self, ctx: &RunContext) -> Result<(String, String), TemplateError> {
        match &self.source {
            Source::File(file) => {
                let read = tokio::fs::read_to_string(file).await;
                let text = read.map_err(|error| TemplateError::Read(file.clone(), error))?;
                Ok((text, file.display().to_string()))
            }
            Source::Vendor(client) => {
                let text = client.fetch(ctx.shutdown()).await?;
                Ok((text, redact_url(client.url())))
            }
        }
    }
}

impl Connector for Template {
    type Config = TemplateConfig;
    type Error = TemplateError;
    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-template-connector";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Imports a list of IPv4 addresses as indicators";
    const LISTING: Listing = Listing {
        title: "Template connector",
        directory: "examples/template-connector",
        ..Listing::DEFAULT
    };

    fn from_config(config: TemplateConfig) -> Result<Self, TemplateError> {
        let source = match config.source {
            ListSource::File(file) => Source::File(file),
            ListSource::Url(url) => Source::Vendor(ListClient::new(url, config.network)?),
        };
        Ok(Self {
            source,
            score: config.score,
        })
    }
}

impl ImportSource for Template {
    async fn run(&mut self, ctx: &RunContext) -> Result<String, TemplateError> {
        let (text, origin) = self.read_list(ctx).await?;
        // The state is a JSON object; `lines` counts the lines already handled.
        let mut state = ctx.state().unwrap_or_default();
        let done = state.get("lines").and_then(Value::as_u64).unwrap_or(0);
        let author = mapping::author()?;
        let mut bundle = Bundle::new(vec![author.clone().into(), TLP_GREEN.clone().into()]);
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate().skip(done as usize) {
            let Ok(address) = line.trim().parse::<Ipv4Addr>() else {
                let source = format!("{origin}:{}", index + 1);
                ctx.report_error(format!("not an IPv4 address: {line:?}"), source)
                    .await?;
                continue;
            };
            bundle.push(mapping::indicator(address, self.score, &author)?);
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
