//! The running simulator's shared core: configuration, state, broker and
//! the operations both the GraphQL API and the admin API perform.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use apollo_compiler::Schema;
use apollo_compiler::validation::Valid;
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::accounts::Principal;
use crate::broker::Broker;
use crate::config::CheckedConfig;
use crate::error::SimError;
use crate::jwt::ConnectorSigner;
use crate::model::{ConnectorRecord, QueueNames, StreamEvent, WorkRecord, now};
use crate::objects::{self, EventInjection};
use crate::store::Store;
use crate::worker::{self, QueueStats, WorkerCommand};
use crate::works::NewWork;

/// A running push-queue worker.
#[derive(Debug)]
pub(crate) struct WorkerControl {
    commands: mpsc::UnboundedSender<WorkerCommand>,
    stats: Arc<QueueStats>,
    task: tokio::task::JoinHandle<()>,
}

/// Registration input (`RegisterConnectorInput`), already coerced.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct RegisterInput {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) connector_type: String,
    #[serde(default)]
    pub(crate) scope: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) auto: Option<bool>,
    #[serde(default)]
    pub(crate) auto_update: Option<bool>,
    #[serde(default)]
    pub(crate) enrichment_resolution: Option<String>,
    #[serde(default)]
    pub(crate) only_contextual: Option<bool>,
    #[serde(default)]
    pub(crate) playbook_compatible: Option<bool>,
    #[serde(default)]
    pub(crate) listen_callback_uri: Option<String>,
    #[serde(default)]
    pub(crate) xtm_one_intent: Option<String>,
    #[serde(default)]
    pub(crate) version: Option<String>,
    #[serde(default)]
    pub(crate) slug: Option<String>,
}

/// Patches everything but the state, as the platform does at registration.
fn patch_registration(
    record: &mut ConnectorRecord,
    input: &RegisterInput,
    queues: &QueueNames,
    at: chrono::DateTime<chrono::Utc>,
) {
    let input = input.clone();
    record.name = input.name;
    record.connector_type = input.connector_type;
    record.scope = input.scope.unwrap_or_default();
    record.auto = input.auto.unwrap_or(false);
    record.auto_update = input.auto_update.unwrap_or(false);
    record.enrichment_resolution = input.enrichment_resolution;
    record.only_contextual = input.only_contextual.unwrap_or(false);
    record.playbook_compatible = input.playbook_compatible.unwrap_or(false);
    record.listen_callback_uri = input.listen_callback_uri;
    record.xtm_one_intent = input.xtm_one_intent;
    record.version = input.version;
    record.slug = input.slug;
    record.updated_at = at;
    record.queues = queues.clone();
}

/// What a platform job's work is about (`createWork`'s source id) and the
/// draft it runs in.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobSource {
    pub(crate) event_source_id: Option<String>,
    pub(crate) draft_id: Option<String>,
}

/// Queue size as `connector_queue_details` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QueueDetails {
    pub(crate) messages_number: f64,
    pub(crate) messages_size: f64,
}

#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) config: CheckedConfig,
    pub(crate) store: Arc<Store>,
    pub(crate) broker: Broker,
    pub(crate) schema: Valid<Schema>,
    /// Signs `connectorJWT` tokens; its public key is the `jwks` answer.
    pub(crate) signer: ConnectorSigner,
    pub(crate) cancel: CancellationToken,
    /// Call faults the tests installed.
    pub(crate) faults: crate::faults::Faults,
    workers: Mutex<HashMap<String, WorkerControl>>,
    /// Listen forwarding of API-protocol connectors: callback URI and task.
    forwarders: Mutex<HashMap<String, (String, tokio::task::JoinHandle<()>)>>,
}

impl Core {
    pub(crate) fn new(
        config: CheckedConfig,
        store: Store,
        broker: Broker,
        schema: Valid<Schema>,
        signer: ConnectorSigner,
    ) -> Self {
        Self {
            config,
            store: Arc::new(store),
            broker,
            schema,
            signer,
            cancel: CancellationToken::new(),
            faults: crate::faults::Faults::default(),
            workers: Mutex::new(HashMap::new()),
            forwarders: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a bearer token is accepted.
    pub(crate) fn accepts_token(&self, token: Option<&str>) -> bool {
        self.authenticate(token).is_some()
    }

    /// Who `token` authenticates: a user owning it as an API token, else
    /// the admin when it is the configured token (or any non-empty token
    /// when none is configured).
    pub(crate) fn authenticate(&self, token: Option<&str>) -> Option<Principal> {
        let token = token.map(str::trim).filter(|token| !token.is_empty())?;
        if let Some(user_id) = self
            .store
            .read(|state| crate::accounts::token_owner(state, token))
        {
            return Some(Principal::User(user_id));
        }
        match &self.config.token {
            None => Some(Principal::Admin),
            Some(expected) => (token == expected.expose()).then_some(Principal::Admin),
        }
    }

    fn workers(&self) -> std::sync::MutexGuard<'_, HashMap<String, WorkerControl>> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates or patches a connector, declares its queues and starts its worker.
    pub(crate) async fn register(
        self: &Arc<Self>,
        input: RegisterInput,
    ) -> Result<ConnectorRecord, SimError> {
        let at = now();
        let queues = QueueNames::for_connector(&self.config.name_prefix, &input.id);
        let new_record = || ConnectorRecord {
            worker_paused: self.config.workers_paused,
            ..ConnectorRecord::new(
                &input.id,
                &input.name,
                &input.connector_type,
                queues.clone(),
                at,
            )
        };
        // The queues exist before the connector is visible: a job asked as
        // soon as it is registered is not published into the void.
        let mut declared = self
            .store
            .read(|state| state.connectors.get(&input.id).cloned())
            .unwrap_or_else(new_record);
        patch_registration(&mut declared, &input, &queues, at);
        self.broker.declare_connector(&declared).await?;
        let record = self.store.write(|state| {
            let record = state
                .connectors
                .entry(input.id.clone())
                .or_insert_with(new_record);
            patch_registration(record, &input, &queues, at);
            record.registration_count += 1;
            record.clone()
        });
        self.ensure_worker(&record);
        self.ensure_forwarder(&record);
        tracing::info!(connector_id = %record.id, name = %record.name, kind = %record.connector_type, "connector registered");
        Ok(record)
    }

    /// Starts the push-queue worker of a connector unless it runs already.
    pub(crate) fn ensure_worker(self: &Arc<Self>, record: &ConnectorRecord) {
        let mut workers = self.workers();
        if workers
            .get(&record.id)
            .is_some_and(|w| !w.task.is_finished())
        {
            return;
        }
        let (commands, receiver) = mpsc::unbounded_channel();
        let stats = Arc::new(QueueStats::default());
        let task = tokio::spawn(worker::run(
            Arc::clone(self),
            record.id.clone(),
            record.queues.clone(),
            Arc::clone(&stats),
            receiver,
            record.worker_paused,
        ));
        workers.insert(
            record.id.clone(),
            WorkerControl {
                commands,
                stats,
                task,
            },
        );
    }

    /// Forwards the listen queue of a connector registered with a callback
    /// URI (API listen protocol), as the platform's worker does; a new URI
    /// replaces the forwarding of the old one.
    pub(crate) fn ensure_forwarder(self: &Arc<Self>, record: &ConnectorRecord) {
        let mut forwarders = self
            .forwarders
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(uri) = record.listen_callback_uri.clone().filter(|u| !u.is_empty()) else {
            if let Some((_, task)) = forwarders.remove(&record.id) {
                task.abort();
            }
            return;
        };
        if let Some((current, task)) = forwarders.get(&record.id) {
            if *current == uri && !task.is_finished() {
                return;
            }
            task.abort();
        }
        let task = tokio::spawn(crate::callback::run(
            Arc::clone(self),
            record.id.clone(),
            record.queues.listen.clone(),
            uri.clone(),
        ));
        forwarders.insert(record.id.clone(), (uri, task));
    }

    /// Restarts the workers of connectors loaded from the data file.
    pub(crate) async fn restore_workers(self: &Arc<Self>) -> Result<(), SimError> {
        let connectors: Vec<ConnectorRecord> = self
            .store
            .read(|state| state.connectors.values().cloned().collect());
        for record in connectors {
            self.broker.declare_connector(&record).await?;
            self.ensure_worker(&record);
            self.ensure_forwarder(&record);
        }
        Ok(())
    }

    /// `pingConnector`: stores state and info, or consumes a pending reset.
    pub(crate) async fn ping(
        &self,
        id: &str,
        connector_state: Option<String>,
        info: Option<Value>,
    ) -> Result<ConnectorRecord, SimError> {
        let at = now();
        let record = self.store.write(|state| {
            let record = state.connectors.get_mut(id)?;
            if record.state_reset {
                record.state_reset = false;
            } else {
                record.updated_at = at;
                record.state = connector_state;
            }
            if info.is_some() {
                record.info = info;
            }
            record.last_ping_at = Some(at);
            record.ping_count += 1;
            Some(record.clone())
        });
        let record = record.ok_or_else(|| SimError::UnknownConnector { id: id.to_owned() })?;
        self.broker.declare_connector(&record).await?;
        Ok(record)
    }

    /// UI-style reset: empty state, reset flag, both queues purged.
    pub(crate) async fn reset_state(&self, id: &str) -> Result<ConnectorRecord, SimError> {
        let record = self.store.write(|state| {
            let record = state.connectors.get_mut(id)?;
            record.state = Some(String::new());
            record.state_reset = true;
            record.state_timestamp = now();
            Some(record.clone())
        });
        let record = record.ok_or_else(|| SimError::UnknownConnector { id: id.to_owned() })?;
        self.broker.purge(&record.queues.push).await?;
        self.broker.purge(&record.queues.listen).await?;
        self.command_worker(id, WorkerCommand::DiscardHeld);
        tracing::info!(connector_id = id, "connector state reset and queues purged");
        Ok(record)
    }

    /// Deletes a connector, its works and its queues.
    pub(crate) async fn delete_connector(&self, id: &str) -> Result<(), SimError> {
        let record = self.store.write(|state| {
            let record = state.connectors.remove(id)?;
            state.works.retain(|_, work| work.connector_id != id);
            Some(record)
        });
        let record = record.ok_or_else(|| SimError::UnknownConnector { id: id.to_owned() })?;
        if let Some(worker) = self.workers().remove(id) {
            worker.task.abort();
        }
        let forwarder = self
            .forwarders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        if let Some((_, task)) = forwarder {
            task.abort();
        }
        self.broker
            .delete_queues(&[&record.queues.push, &record.queues.listen])
            .await
    }

    /// Queue size of a connector; see the crate docs for how the size is estimated.
    pub(crate) async fn queue_details(&self, id: &str) -> Result<QueueDetails, SimError> {
        let record = self
            .store
            .read(|state| state.connectors.get(id).cloned())
            .ok_or_else(|| SimError::UnknownConnector { id: id.to_owned() })?;
        let mut ready = u64::from(self.broker.ready_messages(&record.queues.push).await?);
        if self.config.is_7x() {
            ready += u64::from(self.broker.ready_messages(&record.queues.listen).await?);
        }
        let stats = self.workers().get(id).map(|w| Arc::clone(&w.stats));
        let (held_messages, held_bytes, mean) = stats.map_or((0, 0, 0.0), |stats| {
            let (messages, bytes) = stats.held();
            (messages, bytes, stats.mean_message_bytes())
        });
        Ok(QueueDetails {
            messages_number: (ready + held_messages) as f64,
            messages_size: held_bytes as f64 + ready as f64 * mean,
        })
    }

    fn command_worker(&self, id: &str, command: WorkerCommand) {
        if let Some(worker) = self.workers().get(id)
            && worker.commands.send(command).is_err()
        {
            tracing::debug!(connector_id = id, "worker already stopped");
        }
    }

    /// Pauses or resumes the import of a connector's push queue.
    pub(crate) fn set_worker_paused(&self, id: &str, paused: bool) -> Result<(), SimError> {
        let known = self.store.write(|state| {
            state
                .connectors
                .get_mut(id)
                .map(|record| record.worker_paused = paused)
                .is_some()
        });
        if !known {
            return Err(SimError::UnknownConnector { id: id.to_owned() });
        }
        let command = if paused {
            WorkerCommand::Pause
        } else {
            WorkerCommand::Resume
        };
        self.command_worker(id, command);
        Ok(())
    }

    /// `workAdd`.
    pub(crate) fn create_work(
        &self,
        connector_id: &str,
        friendly_name: Option<String>,
        is_multipart: bool,
    ) -> Result<WorkRecord, SimError> {
        self.add_work(connector_id, friendly_name, is_multipart, None)
    }

    /// The platform's `createWork` for a job it sends to a connector: the
    /// work waits for the connector's `toReceived`.
    pub(crate) fn create_job_work(
        &self,
        connector_id: &str,
        friendly_name: String,
        source: JobSource,
    ) -> Result<WorkRecord, SimError> {
        self.add_work(connector_id, Some(friendly_name), false, Some(source))
    }

    fn add_work(
        &self,
        connector_id: &str,
        friendly_name: Option<String>,
        is_multipart: bool,
        job: Option<JobSource>,
    ) -> Result<WorkRecord, SimError> {
        let multipart = is_multipart && self.config.is_7x();
        let by_platform = job.is_some();
        let (event_source_id, draft_context) =
            job.map_or((None, None), |job| (job.event_source_id, job.draft_id));
        self.store.write(|state| {
            let connector =
                state
                    .connectors
                    .get(connector_id)
                    .ok_or_else(|| SimError::UnknownConnector {
                        id: connector_id.to_owned(),
                    })?;
            let mut at = now();
            // Ids embed the millisecond: two works in the same one get distinct ids.
            while state
                .works
                .contains_key(&crate::works::work_id(connector_id, at))
            {
                at += chrono::Duration::milliseconds(1);
            }
            let work = WorkRecord::create(
                NewWork {
                    connector_id,
                    connector_type: &connector.connector_type,
                    user_id: crate::model::ADMIN_USER_ID,
                    friendly_name,
                    is_multipart: multipart,
                    by_platform,
                    event_source_id,
                    draft_context,
                },
                at,
            );
            state.works.insert(work.id.clone(), work.clone());
            Ok(work)
        })
    }

    /// `stixBundlePush`: queue the unsplit bundle for the worker.
    pub(crate) async fn push_bundle(
        &self,
        connector_id: &str,
        bundle: &str,
        work_id: Option<String>,
    ) -> Result<(), PushError> {
        let parsed: Value = serde_json::from_str(bundle).map_err(|_| PushError::NotABundle)?;
        let object_count = match (
            parsed.get("type").and_then(Value::as_str),
            parsed.get("objects"),
        ) {
            (Some("bundle"), Some(Value::Array(objects))) if !objects.is_empty() => objects.len(),
            _ => return Err(PushError::NotABundle),
        };
        let queues = self.store.read(|state| {
            state
                .connectors
                .get(connector_id)
                .map(|c| (c.queues.clone(), c.name.clone()))
        });
        let (queues, name) = queues.ok_or_else(|| {
            PushError::Sim(SimError::UnknownConnector {
                id: connector_id.to_owned(),
            })
        })?;
        let work_id = match work_id {
            Some(work_id) => work_id,
            None => {
                let friendly = format!("{name} run @ {}", crate::model::iso(now()));
                let work = self
                    .create_work(connector_id, Some(friendly), false)
                    .map_err(PushError::Sim)?;
                if object_count == 1 {
                    self.store.write(|state| {
                        if let Some(work) = state.works.get_mut(&work.id) {
                            work.add_expectations(1, now());
                        }
                    });
                }
                work.id
            }
        };
        let message = json!({
            "type": "bundle",
            "applicant_id": crate::model::ADMIN_USER_ID,
            "content": base64::engine::general_purpose::STANDARD.encode(bundle),
            "work_id": work_id,
            "update": true,
        });
        self.broker
            .publish(
                &queues.push_exchange,
                &queues.push_routing,
                message.to_string().as_bytes(),
            )
            .await
            .map_err(PushError::Sim)
    }

    /// Applies an injected stream event.
    pub(crate) fn inject(&self, injection: EventInjection) -> Result<StreamEvent, SimError> {
        self.store
            .write(|state| objects::inject(state, injection, now()))
    }

    /// Stops every worker and forwarding (the tasks also watch the
    /// cancellation token).
    pub(crate) async fn stop_workers(&self) {
        let mut tasks: Vec<_> = self
            .workers()
            .drain()
            .map(|(_, worker)| worker.task)
            .collect();
        tasks.extend(
            self.forwarders
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain()
                .map(|(_, (_, task))| task),
        );
        for task in tasks {
            if let Err(error) = task.await
                && !error.is_cancelled()
            {
                tracing::warn!(%error, "worker task ended badly");
            }
        }
    }
}

/// Why `stixBundlePush` failed.
#[derive(Debug)]
pub(crate) enum PushError {
    NotABundle,
    Sim(SimError),
}
