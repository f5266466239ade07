//! The simulated platform a test runs its connector against.

use std::time::Duration;

use opencti_connector::state::State;
use opencti_sim::{
    EventInjection, Secret, Sim, SimConfig, SimHandle, SimSummary, StoredObject, WorkRecord,
};
use serde_json::Value;

use crate::{DEFAULT_TIMEOUT, KitError};

/// `opencti-sim` running in the test process, on a loopback port, with one
/// connector id and API token for the connector under test.
///
/// Queue and exchange names get a random prefix and are deleted by the
/// broker when the platform stops, so tests run in parallel and leave
/// nothing behind. Dropping the platform stops it; [`TestPlatform::shutdown`]
/// stops it cleanly and returns the simulator's counts.
pub struct TestPlatform {
    sim: SimHandle,
    connector_id: String,
    token: String,
    timeout: Duration,
}

impl std::fmt::Debug for TestPlatform {
    // The token stays out, as everywhere a secret could be printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPlatform")
            .field("url", &self.sim.url())
            .field("connector_id", &self.connector_id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TestPlatform {
    /// Starts a platform for tests: random queue prefix, transient broker
    /// objects, a live-stream heartbeat every 200 ms, a random API token
    /// (the only one accepted) and a random connector id.
    ///
    /// # Errors
    ///
    /// When RabbitMQ cannot be reached, or the start takes longer than
    /// [`DEFAULT_TIMEOUT`].
    pub async fn start() -> Result<Self, KitError> {
        Self::start_with(SimConfig {
            heartbeat_interval: Duration::from_millis(200),
            ..SimConfig::for_tests()
        })
        .await
    }

    /// Starts a platform with this configuration (another platform version,
    /// stream collections, paused workers, ...). Without a token in
    /// `config`, one is drawn at random; a configuration without a queue
    /// prefix gets a random one, so that tests never share queues.
    ///
    /// # Errors
    ///
    /// As [`TestPlatform::start`].
    pub async fn start_with(mut config: SimConfig) -> Result<Self, KitError> {
        // The runtime installs the TLS provider in `main`; a test has none.
        opencti_connector::tls::install_crypto_provider();
        let token = match &config.token {
            Some(token) => token.expose().to_owned(),
            None => {
                let token = uuid::Uuid::new_v4().to_string();
                config.token = Some(Secret::new(token.clone()));
                token
            }
        };
        if config.queue_prefix.is_none() {
            config.queue_prefix = SimConfig::for_tests().queue_prefix;
        }
        let started = tokio::time::timeout(DEFAULT_TIMEOUT, Sim::start(config)).await;
        let sim = started.map_err(|_| KitError::Timeout {
            what: "the simulated platform to start".to_owned(),
            waited: DEFAULT_TIMEOUT,
        })??;
        Ok(Self {
            sim,
            connector_id: uuid::Uuid::new_v4().to_string(),
            token,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Bounds every later wait on this platform (and of the harnesses made
    /// for it) by `timeout` instead of [`DEFAULT_TIMEOUT`].
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The bound on every wait.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The simulator itself, for everything the kit does not wrap
    /// (platform jobs, drafts, GraphQL calls, pausing the worker, ...).
    pub fn sim(&self) -> &SimHandle {
        &self.sim
    }

    /// `OPENCTI_URL`: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.sim.url()
    }

    /// `OPENCTI_TOKEN`: the only token this platform accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `CONNECTOR_ID` of the connector under test.
    pub fn connector_id(&self) -> &str {
        &self.connector_id
    }

    /// The environment a connector needs to reach this platform:
    /// `OPENCTI_URL`, `OPENCTI_TOKEN` and `CONNECTOR_ID`. The broker's
    /// address comes with the registration, as from a real platform.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("OPENCTI_URL".to_owned(), self.url()),
            ("OPENCTI_TOKEN".to_owned(), self.token.clone()),
            ("CONNECTOR_ID".to_owned(), self.connector_id.clone()),
        ]
    }

    /// Every object stored, in no particular order.
    pub fn objects(&self) -> Vec<StoredObject> {
        self.sim.objects()
    }

    /// The stored objects of one STIX type (`indicator`, `report`, ...).
    pub fn objects_of_type(&self, stix_type: &str) -> Vec<StoredObject> {
        let mut objects = self.sim.objects();
        objects.retain(|object| object.stix_type == stix_type);
        objects
    }

    /// The works of the connector under test, oldest first.
    pub fn works(&self) -> Vec<WorkRecord> {
        let mut works = self.sim.works();
        works.retain(|work| work.connector_id == self.connector_id);
        works
    }

    /// The connector state as the platform holds it (what the last ping
    /// carried); `None` before any, after a reset, or when it is not a
    /// JSON object.
    pub fn state(&self) -> Option<State> {
        let stored = self.sim.connector(&self.connector_id)?.state?;
        match serde_json::from_str(&stored) {
            Ok(Value::Object(state)) if !state.is_empty() => Some(state),
            _ => None,
        }
    }

    /// The live-stream position (`start_from`) in the platform's copy of
    /// the connector state.
    pub fn stream_position(&self) -> Option<String> {
        let state = self.state()?;
        state.get("start_from")?.as_str().map(str::to_owned)
    }

    /// Resets the connector state as the platform's UI button does.
    ///
    /// # Errors
    ///
    /// When the connector never registered.
    pub async fn reset_state(&self) -> Result<(), KitError> {
        self.sim.reset_connector_state(&self.connector_id).await?;
        Ok(())
    }

    /// Appends events to the live stream (and applies them to the object
    /// store, as the platform would); returns the id of the last one.
    ///
    /// # Errors
    ///
    /// When an event is refused (an object without `id`, a delete of an
    /// unknown object, ...).
    pub fn inject(
        &self,
        events: impl IntoIterator<Item = EventInjection>,
    ) -> Result<Option<String>, KitError> {
        let mut last = None;
        for event in events {
            last = Some(self.sim.inject_event(event)?.id);
        }
        Ok(last)
    }

    /// Waits until `condition` holds, re-checking at every change of the
    /// platform's records, at most [`TestPlatform::timeout`].
    ///
    /// # Errors
    ///
    /// [`KitError::Timeout`] naming `what`.
    pub async fn wait_until(
        &self,
        what: &str,
        mut condition: impl FnMut(&Self) -> bool,
    ) -> Result<(), KitError> {
        self.sim
            .wait_until(what, self.timeout, |_| condition(self))
            .await?;
        Ok(())
    }

    /// Stops serving, deletes the broker objects and returns the counts.
    /// Call it at the end of every test: the simulator answers GraphQL on
    /// the test's runtime, and a connector call still in flight when the
    /// runtime is dropped (a late ping) would hold that drop forever.
    ///
    /// # Errors
    ///
    /// When the simulator cannot stop cleanly.
    pub async fn shutdown(self) -> Result<SimSummary, KitError> {
        Ok(self.sim.shutdown().await?)
    }
}
