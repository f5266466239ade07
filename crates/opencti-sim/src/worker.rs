//! The platform worker: consumes a connector's push queue, imports bundles,
//! splits multi-object ones, and accounts every object on its work.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::FutureExt as _;
use futures::StreamExt as _;
use lapin::Acker;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::core::Core;
use crate::model::{QueueNames, now};
use crate::objects::{self, Upsert};
use crate::works::ExpectationError;

/// At most this many ready deliveries are imported before their ack.
const ACK_BATCH: usize = 256;

/// Controls sent to a running queue worker.
#[derive(Debug)]
pub(crate) enum WorkerCommand {
    /// Hold deliveries instead of importing them (queue-buffering tests).
    Pause,
    /// Import the held deliveries, then carry on.
    Resume,
    /// Drop the held deliveries (UI reset purges the queue).
    DiscardHeld,
}

/// Message statistics the queue-details estimate is built from.
#[derive(Debug, Default)]
pub(crate) struct QueueStats {
    held_messages: AtomicU64,
    held_bytes: AtomicU64,
    seen_messages: AtomicU64,
    seen_bytes: AtomicU64,
}

impl QueueStats {
    /// `(messages, bytes)` held unacknowledged by a paused worker.
    pub(crate) fn held(&self) -> (u64, u64) {
        (
            self.held_messages.load(Ordering::Acquire),
            self.held_bytes.load(Ordering::Acquire),
        )
    }

    /// Mean body size of every message this worker received.
    pub(crate) fn mean_message_bytes(&self) -> f64 {
        let count = self.seen_messages.load(Ordering::Acquire);
        if count == 0 {
            0.0
        } else {
            self.seen_bytes.load(Ordering::Acquire) as f64 / count as f64
        }
    }

    fn saw(&self, messages: u64, bytes: u64) {
        self.seen_messages.fetch_add(messages, Ordering::AcqRel);
        self.seen_bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    fn set_held(&self, messages: usize, bytes: usize) {
        self.held_messages.store(messages as u64, Ordering::Release);
        self.held_bytes.store(bytes as u64, Ordering::Release);
    }
}

/// What to tell the broker about a message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ack,
    /// Dropped without requeue, with the reason (the real worker nacks too).
    Reject(String),
}

/// Consumes `queues.push` until the simulator stops.
pub(crate) async fn run(
    core: Arc<Core>,
    connector_id: String,
    queues: QueueNames,
    stats: Arc<QueueStats>,
    mut commands: mpsc::UnboundedReceiver<WorkerCommand>,
    mut paused: bool,
) {
    let mut consumer = match core
        .broker
        .consume(&queues.push, core.config.worker_prefetch)
        .await
    {
        Ok(consumer) => consumer,
        Err(error) => {
            tracing::error!(connector_id, %error, "push-queue worker cannot start");
            return;
        }
    };
    tracing::info!(connector_id, queue = %queues.push, "push-queue worker started");
    let mut held: Vec<Delivery> = Vec::new();
    let mut held_bytes = 0_usize;
    loop {
        tokio::select! {
            () = core.cancel.cancelled() => break,
            command = commands.recv() => match command {
                None => break,
                Some(WorkerCommand::Pause) => paused = true,
                Some(WorkerCommand::Resume) => {
                    paused = false;
                    settle(&core, &connector_id, &queues, std::mem::take(&mut held)).await;
                    held_bytes = 0;
                    stats.set_held(0, 0);
                }
                Some(WorkerCommand::DiscardHeld) => {
                    for delivery in std::mem::take(&mut held) {
                        if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
                            tracing::warn!(connector_id, %error, "cannot drop a held message");
                        }
                    }
                    held_bytes = 0;
                    stats.set_held(0, 0);
                }
            },
            delivery = consumer.next() => {
                // Whatever else is already delivered is imported with it, so
                // one multiple-ack frame settles the lot.
                let mut batch = Vec::new();
                let mut ended = None;
                let mut next = delivery;
                loop {
                    match next {
                        Some(Ok(delivery)) => batch.push(delivery),
                        Some(Err(error)) => ended = Some(Some(error)),
                        None => ended = Some(None),
                    }
                    if ended.is_some() || batch.len() == ACK_BATCH {
                        break;
                    }
                    match consumer.next().now_or_never() {
                        Some(ready) => next = ready,
                        None => break,
                    }
                }
                // This worker's figures feed the queue-size estimate; the
                // store's outlive the worker (summary, data file).
                let messages = batch.len() as u64;
                let bytes: usize = batch.iter().map(|delivery| delivery.data.len()).sum();
                stats.saw(messages, bytes as u64);
                core.store.write(|state| {
                    state.worker.received_messages += messages;
                    state.worker.received_bytes += bytes as u64;
                });
                if paused {
                    held.extend(batch);
                    held_bytes += bytes;
                    stats.set_held(held.len(), held_bytes);
                } else {
                    settle(&core, &connector_id, &queues, batch).await;
                }
                match ended {
                    None => {}
                    Some(None) => break,
                    Some(Some(error)) => {
                        tracing::error!(connector_id, %error, "push-queue consumer failed");
                        break;
                    }
                }
            }
        }
    }
    tracing::debug!(connector_id, "push-queue worker stopped");
}

/// Imports `deliveries` in order. Consecutive acks travel as one
/// multiple-ack (it covers every earlier unsettled delivery of the channel,
/// and those are exactly the ones imported before); a rejected message is
/// nacked on its own.
async fn settle(core: &Core, connector_id: &str, queues: &QueueNames, deliveries: Vec<Delivery>) {
    let mut unacked: Option<Acker> = None;
    for delivery in deliveries {
        match handle_message(core, queues, &delivery.data).await {
            Verdict::Ack => unacked = Some(delivery.acker),
            Verdict::Reject(reason) => {
                if let Some(acker) = unacked.take() {
                    ack_up_to(connector_id, &acker).await;
                }
                tracing::warn!(connector_id, %reason, "push message rejected");
                core.store
                    .write(|state| state.worker.rejected_messages += 1);
                let options = BasicNackOptions {
                    requeue: false,
                    ..BasicNackOptions::default()
                };
                if let Err(error) = delivery.acker.nack(options).await {
                    tracing::warn!(connector_id, %error, "cannot settle a push message");
                }
            }
        }
    }
    if let Some(acker) = unacked {
        ack_up_to(connector_id, &acker).await;
    }
}

async fn ack_up_to(connector_id: &str, acker: &Acker) {
    let options = BasicAckOptions { multiple: true };
    if let Err(error) = acker.ack(options).await {
        tracing::warn!(connector_id, %error, "cannot settle push messages");
    }
}

/// Decodes and imports one push message (spec §9.2).
pub(crate) async fn handle_message(core: &Core, queues: &QueueNames, body: &[u8]) -> Verdict {
    let envelope = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(envelope)) => envelope,
        Ok(_) => return Verdict::Reject("message body is not a JSON object".to_owned()),
        Err(error) => return Verdict::Reject(format!("message body is not JSON: {error}")),
    };
    let message_type = envelope
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("bundle");
    if message_type != "bundle" {
        // Sync / playbook events replay platform operations the simulator does not model.
        tracing::info!(
            message_type,
            "push message of a non-bundle type acknowledged without effect"
        );
        return Verdict::Ack;
    }
    let mut bundle = match decode_content(&envelope) {
        Ok(bundle) => bundle,
        Err(reason) => return Verdict::Reject(reason),
    };
    let work_id = envelope
        .get("work_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let no_split = envelope
        .get("no_split")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let types: Vec<String> = envelope
        .get("entities_types")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_ascii_lowercase)
        .collect();
    let Some(objects) = bundle.get_mut("objects").and_then(Value::as_array_mut) else {
        return Verdict::Reject("bundle has no `objects`".to_owned());
    };
    if objects.is_empty() {
        return Verdict::Reject("bundle has no `objects`".to_owned());
    }
    if objects.len() == 1 || no_split {
        let objects = std::mem::take(objects);
        let target = Target {
            work_id: work_id.as_deref(),
            applicant_id: string_field(&envelope, "applicant_id"),
            draft_id: string_field(&envelope, "draft_id").filter(|d| !d.is_empty()),
            types: &types,
        };
        let changed = import(core, objects, &target);
        core.store
            .write(|state| state.worker.imported_messages += 1);
        core.auto_enrich(&changed.created, &changed.updated).await;
        return Verdict::Ack;
    }
    split_and_republish(core, queues, envelope, bundle, work_id.as_deref()).await
}

fn string_field(envelope: &Map<String, Value>, key: &str) -> Option<String> {
    envelope.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Where a push message's objects go, on whose behalf.
struct Target<'a> {
    work_id: Option<&'a str>,
    /// The user the connector imports for (`applicant_id`).
    applicant_id: Option<String>,
    /// Objects of a message carrying a draft id go into that draft.
    draft_id: Option<String>,
    /// `entities_types`: only these STIX types are imported.
    types: &'a [String],
}

/// Ids of the live objects an import created or changed.
#[derive(Debug, Default)]
struct Changed {
    created: Vec<String>,
    updated: Vec<String>,
}

fn decode_content(envelope: &Map<String, Value>) -> Result<Value, String> {
    let content = envelope
        .get("content")
        .and_then(Value::as_str)
        .ok_or("message has no `content` string")?;
    let bytes = BASE64
        .decode(content.trim())
        .map_err(|error| format!("`content` is not Base64: {error}"))?;
    let text =
        String::from_utf8(bytes).map_err(|error| format!("`content` is not UTF-8: {error}"))?;
    let bundle: Value = serde_json::from_str(&text)
        .map_err(|error| format!("`content` is not a JSON bundle: {error}"))?;
    if bundle.get("type").and_then(Value::as_str) != Some("bundle") {
        return Err("`content` is not a STIX bundle (type != bundle)".to_owned());
    }
    Ok(bundle)
}

/// Stores every object (in the live knowledge, or in the message's draft)
/// and reports one expectation per object on the work.
fn import(core: &Core, objects: Vec<Value>, target: &Target<'_>) -> Changed {
    let at = now();
    let mut changed = Changed::default();
    core.store.write(|state| {
        for object in objects {
            let filtered_out = !target.types.is_empty()
                && object
                    .get("type")
                    .and_then(Value::as_str)
                    .is_none_or(|t| !target.types.iter().any(|wanted| wanted == t));
            let id = object.get("id").and_then(Value::as_str).map(str::to_owned);
            let outcome = if filtered_out {
                Ok(Upsert::Unchanged)
            } else if let Some(draft_id) = &target.draft_id {
                into_draft(state, draft_id, object)
            } else {
                objects::upsert_from_worker(state, object, target.work_id, at)
                    .map_err(|(message, object)| (message, object.to_string()))
            };
            let error = match outcome {
                Ok(kind @ (Upsert::Created | Upsert::Updated)) => {
                    state.worker.objects_upserted += 1;
                    if target.draft_id.is_none()
                        && let Some(id) = id
                    {
                        if let Some(stored) = state.objects.get_mut(&id) {
                            stored.applicant_id.clone_from(&target.applicant_id);
                        }
                        match kind {
                            Upsert::Created => changed.created.push(id),
                            _ => changed.updated.push(id),
                        }
                    }
                    None
                }
                Ok(Upsert::Unchanged) => None,
                Err((message, source)) => {
                    state.worker.objects_invalid += 1;
                    tracing::info!(%message, "invalid object reported on its work");
                    Some(ExpectationError {
                        error: Some(message),
                        source: Some(source),
                    })
                }
            };
            if let Some(work) = target.work_id.and_then(|id| state.works.get_mut(id)) {
                work.report_expectation(error, at);
            }
        }
    });
    changed
}

/// Stores an object in a draft: drafts keep their content apart from the
/// live knowledge (no stream event, no enrichment).
fn into_draft(
    state: &mut crate::store::State,
    draft_id: &str,
    object: Value,
) -> Result<Upsert, (String, String)> {
    let (_, id) = objects::validate(&object).map_err(|message| (message, object.to_string()))?;
    let Some(draft) = state.drafts.iter_mut().find(|d| d.id == draft_id) else {
        return Err((
            format!("Draft {draft_id} does not exist"),
            object.to_string(),
        ));
    };
    let mut object = object;
    if let Some(map) = object.as_object_mut() {
        map.shift_remove("nb_deps");
    }
    Ok(match draft.objects.insert(id, object) {
        None => Upsert::Created,
        Some(_) => Upsert::Updated,
    })
}

async fn split_and_republish(
    core: &Core,
    queues: &QueueNames,
    envelope: Map<String, Value>,
    bundle: Value,
    work_id: Option<&str>,
) -> Verdict {
    let split = match opencti_stix::split::split_bundle(
        bundle,
        &opencti_stix::split::SplitOptions::default(),
    ) {
        Ok(split) => split,
        Err(error) => return Verdict::Reject(format!("bundle cannot be split: {error}")),
    };
    if let Some(work_id) = work_id {
        let alive = core
            .store
            .write(|state| match state.works.get_mut(work_id) {
                Some(work) => {
                    work.add_expectations(split.bundles.len() as u64, now());
                    true
                }
                None => false,
            });
        if !alive {
            tracing::info!(work_id, "work is gone: split bundle dropped");
            return Verdict::Ack;
        }
    }
    for part in split.bundles {
        let mut message = envelope.clone();
        message.insert(
            "content".to_owned(),
            Value::String(BASE64.encode(part.to_string())),
        );
        let body = Value::Object(message).to_string();
        if let Err(error) = core
            .broker
            .publish(&queues.push_exchange, &queues.push_routing, body.as_bytes())
            .await
        {
            return Verdict::Reject(format!("cannot republish a split bundle: {error}"));
        }
    }
    core.store.write(|state| state.worker.split_messages += 1);
    Verdict::Ack
}
