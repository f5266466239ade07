//! What the tests share: the fixtures, the connector run against
//! `opencti-sim` with the real RabbitMQ.

use std::time::Duration;

use opencti_connector::config::{RuntimeConfig, Settings};
use opencti_connector::listen::{FileImport, ListenRunner};
use opencti_import_file_stix::{ImportFileStix, ImportFileStixConfig};
use opencti_sim::SimHandle;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Every wait is bounded by this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(60);

/// A fixture file's text (`tests/fixtures/<path>`).
pub(crate) fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|error| panic!("{full}: {error}"))
}

/// A fixture file, parsed.
pub(crate) fn fixture_json(path: &str) -> Value {
    serde_json::from_str(&fixture(path)).unwrap()
}

/// The connector's settings against `sim`, as connector `id`.
pub(crate) fn settings(sim: &SimHandle, id: &str, extra: &[(&str, &str)]) -> Settings {
    let tables = opencti_import_file_stix::SPEC.tables();
    let mut env = vec![
        ("OPENCTI_URL".to_owned(), sim.url()),
        (
            "OPENCTI_TOKEN".to_owned(),
            "import-file-stix-test".to_owned(),
        ),
        ("CONNECTOR_ID".to_owned(), id.to_owned()),
        ("CONNECTOR_STOP_GRACE_PERIOD".to_owned(), "PT10S".to_owned()),
    ];
    env.extend(
        extra
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    Settings::from_env_pairs(&tables, env)
}

/// The connector, listening.
pub(crate) struct Running {
    pub(crate) id: String,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), opencti_connector::Error>>,
}

impl Running {
    /// Starts the connector against `sim` and waits for it to register.
    pub(crate) async fn start(sim: &SimHandle, extra: &[(&str, &str)]) -> Self {
        opencti_connector::tls::install_crypto_provider();
        let id = uuid::Uuid::new_v4().to_string();
        let settings = settings(sim, &id, extra);
        let runtime = RuntimeConfig::try_from(&settings).unwrap();
        let config = ImportFileStixConfig::try_from(&settings).unwrap();
        let connector =
            <ImportFileStix as opencti_connector::Connector>::from_config(config).unwrap();
        let shutdown = CancellationToken::new();
        let task =
            tokio::spawn(ListenRunner::new(FileImport(connector), runtime).run(shutdown.clone()));
        sim.wait_until("the connector to register", TIMEOUT, |sim| {
            sim.connector(&id).is_some()
        })
        .await
        .unwrap();
        Self { id, shutdown, task }
    }

    /// Stops it and checks it stopped cleanly.
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(TIMEOUT, self.task)
            .await
            .expect("the runner stops")
            .unwrap()
            .expect("a clean stop");
    }
}
