//! A local stand-in for the connector-facing side of the OpenCTI platform.
//!
//! [`Sim::start`] serves, on a loopback address:
//!
//! * `POST /graphql`: every operation the pycti helper (6.8 and 7.x) and our
//!   Rust runtime send. Each document is parsed and validated against the
//!   platform's schema subset (`schema/opencti-connector-schema.graphql`);
//!   invalid ones get a platform-shaped error (`GRAPHQL_PARSE_FAILED` /
//!   `GRAPHQL_VALIDATION_FAILED`, HTTP 200 like the platform) and are kept
//!   for inspection. The operation is identified by the name inside the
//!   document. Responses are produced by a GraphQL executor over JSON views
//!   of the records, so they hold exactly the requested fields.
//! * RabbitMQ: registration declares the platform's exchanges, queues and
//!   bindings (`<P>amqp.worker.exchange`, `<P>push_<id>`, ...) and returns
//!   the broker's connection details. A worker consumes every registered
//!   push queue like the platform worker: envelope checked, bundle decoded,
//!   multi-object bundles split (`opencti-stix`) with `addExpectations` and
//!   republished, objects stored (upsert by id), one expectation reported per
//!   object (invalid objects reported as errors on the work), message acked.
//! * Works with the platform's state machine (multipart works on 7.x),
//!   connector state from pings, UI-style reset.
//! * Connector JWTs (7.x): registration's `jwks` publishes this instance's
//!   Ed25519 public key and `connectorJWT` issues tokens signed with it.
//! * `GET /stream/{id}`: the live stream wire format (connected, heartbeats,
//!   create/update/delete/merge with `<ms>-<seq>` ids and version-4
//!   payloads), `Last-Event-ID`/`from`/`recover`, `listen-delete`,
//!   `no-dependencies`, `with-inferences`, 401 and 410. Objects the worker
//!   stores appear on it; events can be injected too.
//! * `/sim/api/...`: JSON inspection and admin calls, and call faults
//!   ([`SimHandle::fail_calls`]): a named operation fails after n calls, k
//!   times, with a platform error or an HTTP status.
//!
//! `connector_queue_details` counts the ready messages of the push queue
//! (plus the listen queue on 7.x) with a passive declare, plus what a paused
//! worker holds. The byte size is exact for held messages and estimated for
//! ready ones as count x mean size of the messages this worker has seen
//! (RabbitMQ only reports sizes through its management API). Pause a
//! connector's worker ([`SimHandle::pause_worker`]) to let its queue fill up
//! for buffering tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), opencti_sim::SimError> {
//! use opencti_sim::{Sim, SimConfig};
//! let sim = Sim::start(SimConfig::for_tests()).await?;
//! println!("OpenCTI at {}", sim.url());
//! // ... run a connector with OPENCTI_URL = sim.url() ...
//! let summary = sim.shutdown().await?;
//! println!("{summary}");
//! # Ok(()) }
//! ```

mod accounts;
mod broker;
mod callback;
mod config;
mod core;
mod entity;
mod error;
mod faults;
mod graphql;
mod http;
mod jobs;
mod jwt;
mod model;
mod objects;
pub mod relay;
mod store;
mod stream;
mod worker;
mod works;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use crate::config::{
    BrokerObjects, DEFAULT_AMQP_URL, DEFAULT_PLATFORM_VERSION, Secret, SimConfig,
    StreamCollectionConfig,
};
pub use crate::error::SimError;
pub use crate::faults::{CallFault, FAULT_MESSAGE, FaultRecord};
pub use crate::jobs::{
    AUTOMATION_USER_ID, ExportRequest, ImportRequest, ListExportRequest, PlaybookRun,
};
pub use crate::model::{
    ADMIN_USER_ID, ApiTokenRecord, CONNECTORS_GROUP, ConnectorRecord, DraftRecord, GraphqlCall,
    GroupRecord, JobKind, JobRecord, PlaybookStep, QueueNames, RejectedRequest, StoredObject,
    StreamCollection, StreamConnection, StreamEvent, UploadedFile, UserRecord, WorkMessage,
    WorkRecord, WorkStatus, WorkerCounters,
};
pub use crate::objects::{EventInjection, EventKind};

use crate::config::CheckedConfig;
use crate::core::Core;
use crate::model::RecordedEvent;
use crate::store::{State, Store};

/// Entry point: starts simulators.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// Validates the configuration, connects to RabbitMQ, binds the HTTP
    /// listener and starts serving. Returns once the simulator is ready.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let config = CheckedConfig::try_from(config)?;
        let schema = graphql::load_schema(config.strict_generation && !config.is_7x())?;
        let mut state = match &config.data_file {
            Some(path) => Store::load(path)?,
            None => State::default(),
        };
        state
            .collections
            .entry("live".to_owned())
            .or_insert_with(StreamCollection::live);
        accounts::seed_groups(&mut state);
        for collection in &config.stream_collections {
            state.collections.insert(
                collection.id.clone(),
                StreamCollection::from(collection.clone()),
            );
        }
        let broker = broker::Broker::connect(&config.broker, config.broker_objects).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|error| SimError::Bind {
                addr: config.listen,
                reason: error.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|error| SimError::Bind {
            addr: config.listen,
            reason: error.to_string(),
        })?;
        let core = Arc::new(Core::new(
            config,
            Store::new(state),
            broker,
            schema,
            jwt::ConnectorSigner::generate()?,
        ));
        core.restore_workers().await?;
        if let Some(path) = core.config.events_file.clone() {
            load_events_file(&core, &path)?;
        }

        let shutdown = core.cancel.clone();
        let app = http::router(Arc::clone(&core));
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "HTTP server stopped with an error");
            }
        });
        let saver = core.config.data_file.clone().map(|path| {
            let core = Arc::clone(&core);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        () = core.cancel.cancelled() => break,
                        _ = tick.tick() => {
                            if let Err(error) = core.store.save_if_dirty(&path) {
                                tracing::error!(%error, "cannot save the data file");
                            }
                        }
                    }
                }
            })
        });
        match &core.config.token {
            Some(_) => tracing::info!("only the configured API token is accepted"),
            None => tracing::warn!("no --token given: any non-empty bearer token is accepted"),
        }
        tracing::info!(
            %addr,
            platform_version = %core.config.platform_version,
            broker = %crate::config::redact_url_password(&core.config.broker.url),
            queue_prefix = %core.config.name_prefix,
            "opencti-sim listening on http://{addr}"
        );
        Ok(SimHandle {
            core,
            addr,
            server: Some(server),
            saver,
        })
    }
}

fn load_events_file(core: &Core, path: &std::path::Path) -> Result<(), SimError> {
    let file_error = |line: usize, reason: String| SimError::EventsFile {
        path: path.to_owned(),
        line,
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|error| file_error(0, error.to_string()))?;
    let mut count = 0;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let injection: EventInjection =
            serde_json::from_str(line).map_err(|error| file_error(index + 1, error.to_string()))?;
        core.inject(injection)
            .map_err(|error| file_error(index + 1, error.to_string()))?;
        count += 1;
    }
    tracing::info!(path = %path.display(), count, "stream events injected from file");
    Ok(())
}

pub(crate) fn add_collection(
    core: &Core,
    config: StreamCollectionConfig,
) -> Result<StreamCollection, SimError> {
    if config.id.trim().is_empty() || config.id == "live" || config.id == "raw" {
        return Err(SimError::InvalidCollection {
            reason: "the id must be non-empty and not `live`/`raw`".to_owned(),
            id: config.id,
        });
    }
    let collection = StreamCollection::from(config);
    core.store.write(|state| {
        state
            .collections
            .insert(collection.id.clone(), collection.clone());
    });
    Ok(collection)
}

/// Counts shown when the simulator stops (and at `GET /sim/api/summary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SimSummary {
    /// Registered connectors.
    pub connectors: usize,
    /// Works created.
    pub works: usize,
    /// Works complete.
    pub works_complete: usize,
    /// Objects stored.
    pub objects: usize,
    /// Stream events.
    pub stream_events: usize,
    /// GraphQL calls answered (bounded history).
    pub graphql_calls: usize,
    /// GraphQL documents rejected.
    pub rejected_requests: usize,
    /// Worker counters.
    pub worker: WorkerCounters,
}

impl SimSummary {
    pub(crate) fn of(core: &Core) -> Self {
        core.store.read(|state| Self {
            connectors: state.connectors.len(),
            works: state.works.len(),
            works_complete: state
                .works
                .values()
                .filter(|w| w.status == WorkStatus::Complete)
                .count(),
            objects: state.objects.len(),
            stream_events: state.events.len(),
            graphql_calls: state.calls.len(),
            rejected_requests: state.rejected.len(),
            worker: state.worker,
        })
    }
}

impl fmt::Display for SimSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "opencti-sim summary")?;
        writeln!(f, "  connectors:        {}", self.connectors)?;
        writeln!(
            f,
            "  works:             {} ({} complete)",
            self.works, self.works_complete
        )?;
        writeln!(f, "  objects:           {}", self.objects)?;
        writeln!(f, "  stream events:     {}", self.stream_events)?;
        writeln!(
            f,
            "  GraphQL calls:     {} ({} rejected)",
            self.graphql_calls, self.rejected_requests
        )?;
        write!(
            f,
            "  worker:            {} messages received ({} bytes): {} imported, {} split, {} rejected; {} objects upserted, {} invalid",
            self.worker.received_messages,
            self.worker.received_bytes,
            self.worker.imported_messages,
            self.worker.split_messages,
            self.worker.rejected_messages,
            self.worker.objects_upserted,
            self.worker.objects_invalid
        )
    }
}

/// A running simulator. Dropping it stops serving; [`SimHandle::shutdown`]
/// stops cleanly (waits for the tasks, deletes transient broker objects,
/// writes the data file) and returns the summary.
#[derive(Debug)]
pub struct SimHandle {
    core: Arc<Core>,
    addr: SocketAddr,
    server: Option<tokio::task::JoinHandle<()>>,
    saver: Option<tokio::task::JoinHandle<()>>,
}

impl SimHandle {
    /// The bound HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL for `OPENCTI_URL` (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `<P>` prefix of queue and exchange names (empty or `<prefix>_`).
    pub fn name_prefix(&self) -> &str {
        &self.core.config.name_prefix
    }

    /// Queue names a connector with this id gets at registration.
    pub fn queue_names(&self, connector_id: &str) -> QueueNames {
        QueueNames::for_connector(&self.core.config.name_prefix, connector_id)
    }

    /// Registered connectors.
    pub fn connectors(&self) -> Vec<ConnectorRecord> {
        self.core
            .store
            .read(|s| s.connectors.values().cloned().collect())
    }

    /// One connector.
    pub fn connector(&self, id: &str) -> Option<ConnectorRecord> {
        self.core.store.read(|s| s.connectors.get(id).cloned())
    }

    /// Works, oldest first.
    pub fn works(&self) -> Vec<WorkRecord> {
        let mut works: Vec<WorkRecord> = self
            .core
            .store
            .read(|s| s.works.values().cloned().collect());
        works.sort_by_key(|w| w.timestamp);
        works
    }

    /// One work.
    pub fn work(&self, id: &str) -> Option<WorkRecord> {
        self.core.store.read(|s| s.works.get(id).cloned())
    }

    /// Stored objects, by id.
    pub fn objects(&self) -> Vec<StoredObject> {
        self.core
            .store
            .read(|s| s.objects.values().cloned().collect())
    }

    /// One stored object.
    pub fn object(&self, id: &str) -> Option<StoredObject> {
        self.core.store.read(|s| s.objects.get(id).cloned())
    }

    /// The live stream so far.
    pub fn stream_events(&self) -> Vec<StreamEvent> {
        self.core.store.read(|s| {
            s.events
                .iter()
                .map(RecordedEvent::to_stream_event)
                .collect()
        })
    }

    /// Stream collections (`live` included).
    pub fn stream_collections(&self) -> Vec<StreamCollection> {
        self.core
            .store
            .read(|s| s.collections.values().cloned().collect())
    }

    /// GraphQL documents refused by parsing or validation.
    pub fn rejected_requests(&self) -> Vec<RejectedRequest> {
        self.core
            .store
            .read(|s| s.rejected.iter().cloned().collect())
    }

    /// From now on keeps only the last `entries` (at least one) of each
    /// history: GraphQL calls, live-stream events, stream connections,
    /// listen jobs and rejected documents. Connectors, works and stored
    /// objects are all kept. For long runs that check only what was stored
    /// (a soak), so that memory is not the simulator's: a stream reader
    /// resuming from before the oldest kept event misses the dropped ones.
    pub fn keep_recent_records(&self, entries: usize) {
        self.core.store.write(|s| s.cap_histories(entries));
    }

    /// Answered GraphQL calls (the last 10,000).
    pub fn graphql_calls(&self) -> Vec<GraphqlCall> {
        self.core.store.read(|s| s.calls.iter().cloned().collect())
    }

    /// Live stream connections accepted (the last 10,000), with the user
    /// whose token opened each.
    pub fn stream_connections(&self) -> Vec<StreamConnection> {
        self.core
            .store
            .read(|s| s.stream_connections.iter().cloned().collect())
    }

    /// Groups of users (the platform's "Connectors" group is there from
    /// the start).
    pub fn groups(&self) -> Vec<GroupRecord> {
        self.core
            .store
            .read(|s| s.groups.values().cloned().collect())
    }

    /// Removes the group named `name`; `false` if there was none.
    pub fn remove_group(&self, name: &str) -> bool {
        self.core.store.write(|s| {
            let before = s.groups.len();
            s.groups.retain(|_, group| group.name != name);
            s.groups.len() != before
        })
    }

    /// Users created by `userAdd` (or [`SimHandle::add_user`]), with
    /// their API tokens.
    pub fn users(&self) -> Vec<UserRecord> {
        self.core
            .store
            .read(|s| s.users.values().cloned().collect())
    }

    /// The user with this e-mail, if any.
    pub fn user_by_email(&self, email: &str) -> Option<UserRecord> {
        self.core
            .store
            .read(|s| s.users.values().find(|u| u.user_email == email).cloned())
    }

    /// Creates a user in the "Connectors" group with one API token named
    /// `token_name`, as a platform where the user already exists would
    /// have it. Returns the user and the token's plaintext.
    pub fn add_user(
        &self,
        name: &str,
        email: &str,
        token_name: &str,
    ) -> Result<(UserRecord, String), SimError> {
        let refused = |refusal: accounts::Refusal| SimError::InvalidRequest { reason: refusal.0 };
        self.core.store.write(|s| {
            let groups: Vec<serde_json::Value> = s
                .groups
                .values()
                .filter(|group| group.name == model::CONNECTORS_GROUP)
                .map(|group| serde_json::json!(group.id))
                .collect();
            let input = serde_json::json!({
                "name": name,
                "user_email": email,
                "groups": groups,
                "user_service_account": true,
            });
            let at = model::now();
            let user =
                accounts::add_user(s, input.as_object().unwrap_or(&serde_json::Map::new()), at)
                    .map_err(refused)?;
            let token =
                accounts::add_token(s, &user.id, token_name, "UNLIMITED", at).map_err(refused)?;
            let user = s.users.get(&user.id).cloned().unwrap_or(user);
            Ok((user, token.plaintext))
        })
    }

    /// Files in the simulated storage: uploads (`uploadPending`,
    /// `uploadImport`) and the files export connectors pushed.
    pub fn uploaded_files(&self) -> Vec<UploadedFile> {
        self.core.store.read(|s| s.files.clone())
    }

    /// One stored file, by storage id (`import/global/<name>`, ...).
    pub fn file(&self, id: &str) -> Option<UploadedFile> {
        self.core
            .store
            .read(|s| s.files.iter().find(|f| f.id == id).cloned())
    }

    /// Drafts created by `draftWorkspaceAdd` (or [`SimHandle::add_draft`]),
    /// with the objects imported into them.
    pub fn drafts(&self) -> Vec<DraftRecord> {
        self.core.store.read(|s| s.drafts.clone())
    }

    /// Creates a draft, as `draftWorkspaceAdd` does.
    pub fn add_draft(&self, name: &str, entity_id: Option<&str>) -> DraftRecord {
        self.core
            .add_draft(name.to_owned(), entity_id.map(str::to_owned))
    }

    /// `playbookStepExecution` calls.
    pub fn playbook_steps(&self) -> Vec<PlaybookStep> {
        self.core.store.read(|s| s.playbook_steps.clone())
    }

    /// The `playbookStepExecution` answering a step, once it arrived.
    pub fn playbook_answer(&self, run: &PlaybookRun) -> Option<PlaybookStep> {
        self.core.store.read(|s| {
            s.playbook_steps
                .iter()
                .find(|step| {
                    step.arguments["execution_id"] == run.execution_id.as_str()
                        && step.arguments["step_id"] == run.step_id.as_str()
                })
                .cloned()
        })
    }

    /// Messages sent to listen queues (the last 10,000), oldest first.
    pub fn jobs(&self) -> Vec<JobRecord> {
        self.core.store.read(|s| s.jobs.iter().cloned().collect())
    }

    /// Counts so far.
    pub fn summary(&self) -> SimSummary {
        SimSummary::of(&self.core)
    }

    /// Sends a platform job to an internal connector (enrichment, import,
    /// export...): creates a waiting work and publishes
    /// `{"internal": {work_id, applicant_id, ...}, "event": event, "configuration"}`
    /// to its listen queue. Returns the work.
    pub async fn send_listen_message(
        &self,
        connector_id: &str,
        event: serde_json::Value,
        configuration: Option<String>,
    ) -> Result<WorkRecord, SimError> {
        self.core
            .send_listen_message(connector_id, event, configuration)
            .await
    }

    /// What the UI's "enrich" button does
    /// (`stixCoreObjectEdit(id) { askEnrichment(connectorId) }`): a waiting
    /// work and the enrichment message. `None` when the connector is unknown.
    pub async fn ask_enrichment(
        &self,
        entity_id: &str,
        connector_id: &str,
    ) -> Result<Option<WorkRecord>, SimError> {
        self.core
            .ask_enrichment(entity_id, connector_id, None)
            .await
    }

    /// [`SimHandle::ask_enrichment`] from inside a draft.
    pub async fn ask_enrichment_in_draft(
        &self,
        entity_id: &str,
        connector_id: &str,
        draft_id: &str,
    ) -> Result<Option<WorkRecord>, SimError> {
        self.core
            .ask_enrichment(entity_id, connector_id, Some(draft_id.to_owned()))
            .await
    }

    /// A playbook's "enrich through connector" step on a stored entity; the
    /// connector's answer arrives through `playbookStepExecution`
    /// ([`SimHandle::playbook_answer`]).
    pub async fn run_playbook_step(
        &self,
        connector_id: &str,
        entity_id: &str,
    ) -> Result<PlaybookRun, SimError> {
        self.core.run_playbook_step(connector_id, entity_id).await
    }

    /// The UI's file upload (`uploadImport`): the file lands in
    /// `import/global/<name>` and the live import connectors registered with
    /// `auto` for its MIME type are asked to import it (their works are
    /// returned).
    pub async fn upload_import(
        &self,
        name: &str,
        mime_type: &str,
        content: &[u8],
        markings: Vec<String>,
    ) -> Result<(UploadedFile, Vec<WorkRecord>), SimError> {
        let (content, base64) = match std::str::from_utf8(content) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => {
                use base64::Engine as _;
                (
                    base64::engine::general_purpose::STANDARD.encode(content),
                    true,
                )
            }
        };
        let file = UploadedFile {
            id: String::new(),
            name: name.to_owned(),
            mime_type: Some(mime_type.to_owned()),
            content,
            base64,
            entity_id: None,
            markings,
            list_filters: None,
            uploaded_at: crate::model::now(),
        };
        self.core.upload_import(file, false).await
    }

    /// `askJobImport`: one work and message per live import connector of the
    /// file's MIME type (or only `connector_id`).
    pub async fn ask_job_import(
        &self,
        request: &ImportRequest,
    ) -> Result<Vec<WorkRecord>, SimError> {
        Ok(self.core.ask_job_import(request).await?.1)
    }

    /// An entity export (`stixDomainObjectEdit(id) { exportAsk(input) }`):
    /// one work per export connector of the format, named after the file.
    pub async fn ask_entity_export(
        &self,
        request: &ExportRequest,
    ) -> Result<Vec<WorkRecord>, SimError> {
        self.core.ask_entity_export(request).await
    }

    /// A list export (`stixCoreObjectsExportAsk(input)`).
    pub async fn ask_list_export(
        &self,
        request: &ListExportRequest,
    ) -> Result<Vec<WorkRecord>, SimError> {
        self.core.ask_list_export(request).await
    }

    /// Appends an event to the live stream and applies it to the object store.
    pub fn inject_event(&self, injection: EventInjection) -> Result<StreamEvent, SimError> {
        self.core.inject(injection)
    }

    /// Adds (or replaces) a stream collection.
    pub fn add_stream_collection(
        &self,
        config: StreamCollectionConfig,
    ) -> Result<StreamCollection, SimError> {
        add_collection(&self.core, config)
    }

    /// UI-style state reset: empty state, reset flag for the next ping,
    /// both queues purged.
    pub async fn reset_connector_state(
        &self,
        connector_id: &str,
    ) -> Result<ConnectorRecord, SimError> {
        self.core.reset_state(connector_id).await
    }

    /// Makes calls of a GraphQL operation fail (see [`CallFault`]); also
    /// `POST /sim/api/faults` with the fault as JSON.
    pub fn fail_calls(&self, fault: CallFault) {
        self.core.faults.install(fault);
    }

    /// The installed faults and their counts (`GET /sim/api/faults`).
    pub fn faults(&self) -> Vec<FaultRecord> {
        self.core.faults.list()
    }

    /// Removes every call fault (`DELETE /sim/api/faults`).
    pub fn clear_faults(&self) {
        self.core.faults.clear();
    }

    /// Holds the connector's push-queue messages instead of importing them
    /// (they still count in `connector_queue_details`).
    pub fn pause_worker(&self, connector_id: &str) -> Result<(), SimError> {
        self.core.set_worker_paused(connector_id, true)
    }

    /// Imports the held messages and resumes normal processing.
    pub fn resume_worker(&self, connector_id: &str) -> Result<(), SimError> {
        self.core.set_worker_paused(connector_id, false)
    }

    /// Waits until `condition` holds, re-checking on every state change.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut condition: impl FnMut(&Self) -> bool,
    ) -> Result<(), SimError> {
        let mut changes = self.core.store.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            if condition(self) {
                return Ok(());
            }
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        Err(SimError::Timeout {
            what: what.to_owned(),
            waited: timeout,
        })
    }

    /// Waits for a work to be complete and returns it.
    pub async fn wait_for_work_complete(
        &self,
        work_id: &str,
        timeout: Duration,
    ) -> Result<WorkRecord, SimError> {
        self.wait_until(&format!("work {work_id} to complete"), timeout, |sim| {
            sim.work(work_id)
                .is_some_and(|w| w.status == WorkStatus::Complete)
        })
        .await?;
        self.work(work_id).ok_or_else(|| SimError::Timeout {
            what: format!("work {work_id} (deleted meanwhile)"),
            waited: timeout,
        })
    }

    /// Waits until the connector closed a work (`toProcessed`) and the work
    /// is complete, and returns it. A non-multipart work may complete on its
    /// last expectation before the connector's `toProcessed` (as on the
    /// platform); this waits for both.
    pub async fn wait_for_work_processed(
        &self,
        work_id: &str,
        timeout: Duration,
    ) -> Result<WorkRecord, SimError> {
        self.wait_until(&format!("work {work_id} to be processed"), timeout, |sim| {
            sim.work(work_id)
                .is_some_and(|w| w.status == WorkStatus::Complete && w.processed_time.is_some())
        })
        .await?;
        self.work(work_id).ok_or_else(|| SimError::Timeout {
            what: format!("work {work_id} (deleted meanwhile)"),
            waited: timeout,
        })
    }

    /// Stops serving, stops the workers, deletes transient broker objects,
    /// writes the data file and returns the final summary.
    pub async fn shutdown(mut self) -> Result<SimSummary, SimError> {
        self.core.cancel.cancel();
        if let Some(server) = self.server.take() {
            stop_serving(server).await;
        }
        if let Some(saver) = self.saver.take()
            && let Err(error) = saver.await
        {
            tracing::warn!(%error, "task ended badly during shutdown");
        }
        self.core.stop_workers().await;
        self.core.broker.shutdown().await;
        if let Some(path) = &self.core.config.data_file {
            self.core.store.save_if_dirty(path)?;
        }
        let summary = self.summary();
        tracing::info!("opencti-sim stopped");
        Ok(summary)
    }
}

/// How long a stop lets requests in progress finish before it closes
/// their connections.
const REQUEST_GRACE: Duration = Duration::from_secs(5);

/// Waits for the HTTP server's graceful stop, at most [`REQUEST_GRACE`]:
/// a client that never finishes its request (a connector killed while
/// sending a body) would otherwise hold the stop forever.
async fn stop_serving(server: tokio::task::JoinHandle<()>) {
    let abort = server.abort_handle();
    match tokio::time::timeout(REQUEST_GRACE, server).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "the HTTP server ended badly during shutdown"),
        Err(_) => {
            abort.abort();
            tracing::warn!(
                grace = ?REQUEST_GRACE,
                "requests still in progress at the stop: their connections are closed"
            );
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.core.cancel.cancel();
    }
}
