//! The smallest import connector: one variable, one bundle per run, a
//! cursor in the state.
//!
//! ```text
//! OPENCTI_URL=http://localhost:4000 OPENCTI_TOKEN=... CONNECTOR_ID=$(uuidgen) \
//! CONNECTOR_NAME="Minimal" CONNECTOR_DURATION_PERIOD=PT1H \
//! cargo run -p opencti-connector --example import_minimal -- --check
//! ```

use std::process::ExitCode;

use opencti_connector::prelude::*;
use serde_json::json;

static VARS: &[Var] = &[
    Var::new("MINIMAL_AUTHOR", "minimal", "author", VarKind::String)
        .default("ACME")
        .help("Name of the identity that authors the data"),
    // Change a runtime default: run every six hours unless configured.
    Var::new(
        "CONNECTOR_DURATION_PERIOD",
        "connector",
        "duration_period",
        VarKind::Duration,
    )
    .default("PT6H")
    .help("Delay between runs"),
];

struct MinimalConfig {
    author: String,
}

impl TryFrom<&Settings> for MinimalConfig {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();
        let author = check.require::<String>("MINIMAL_AUTHOR");
        check.finish("minimal", || Some(Self { author: author? }))
    }
}

struct Minimal {
    config: MinimalConfig,
}

impl Connector for Minimal {
    type Config = MinimalConfig;
    type Error = SendError;

    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "import-minimal";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "A minimal OpenCTI import connector";

    fn from_config(config: MinimalConfig) -> Result<Self, SendError> {
        Ok(Self { config })
    }
}

impl ImportSource for Minimal {
    async fn run(&mut self, ctx: &RunContext) -> Result<String, SendError> {
        let runs = ctx
            .state()
            .and_then(|state| state.get("runs")?.as_u64())
            .unwrap_or(0);
        let bundle = json!({
            "type": "bundle",
            "id": "bundle--6b0c7a4e-0d1b-4d8f-9a3e-5c2f1e0d9b8a",
            "objects": [{
                "type": "identity", "spec_version": "2.1",
                "id": "identity--7b82b010-b1c0-4dae-981f-7756374a17df",
                "name": self.config.author, "identity_class": "organization"
            }]
        });
        // Returns once the broker confirmed every message...
        ctx.send_bundle(bundle).await?;
        // ...so the state only moves past data that was delivered.
        let mut state = ctx.state().unwrap_or_default();
        state.insert("runs".to_owned(), json!(runs + 1));
        ctx.set_state(state);
        Ok(format!("run {} sent its bundle", runs + 1))
    }
}

fn main() -> ExitCode {
    opencti_connector::run_import::<Minimal>()
}
