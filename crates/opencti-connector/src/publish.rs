//! From a STIX bundle to confirmed queue messages: validation (pending
//! file or draft), directory copy, split, expectations, envelope, publish
//! (or `stixBundlePush`).

use std::borrow::Cow;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use opencti_stix::split::{SplitOptions, split_bundle};
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::amqp::{ConfirmPublisher, OutgoingMessage};
use crate::api::{ApiClient, Generation};
use crate::config::{DirectoryOutput, QueueProtocol};
use crate::error::SendError;
use crate::session::PlatformSession;

/// Per-bundle options (pycti's `send_stix2_bundle` keyword arguments).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOptions {
    /// Worker-side upsert flag.
    pub update: bool,
    /// Worker-side type filter.
    pub entities_types: Vec<String>,
    /// Send the bundle whole as one message (7.x platforms).
    pub no_split: bool,
    /// Drop references to objects missing from the bundle.
    pub cleanup_inconsistent_bundle: bool,
    /// Written as `x_opencti_event_version` in each message.
    pub event_version: Option<String>,
    /// Draft the bundle goes to.
    pub draft_id: Option<String>,
    /// Name of the pending file or draft when the bundle is sent for
    /// validation; `<work id>.json` when unset. Without a name (no work
    /// either) the bundle is imported directly.
    pub file_name: Option<String>,
    /// Entity the pending file or draft relates to.
    pub entity_id: Option<String>,
    /// Markings of the pending file.
    pub file_markings: Vec<String>,
    /// Send this bundle for validation even if
    /// `CONNECTOR_VALIDATE_BEFORE_IMPORT` is false.
    pub force_validation: bool,
    /// Import this bundle directly even if validation is configured.
    pub bypass_validation: bool,
    /// How to validate; unset: the platform's default (workbench on 6.x,
    /// draft on 7.x).
    pub validation_mode: Option<ValidationMode>,
}

/// Where a bundle sent for validation waits for a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidationMode {
    /// Uploaded as a pending file to review in the workbench; nothing is
    /// queued.
    Workbench,
    /// Imported into a new draft workspace.
    Draft,
}

impl ValidationMode {
    /// pycti's default for a platform generation.
    pub fn default_for(generation: Generation) -> Self {
        match generation {
            Generation::V6 => Self::Workbench,
            Generation::V7 => Self::Draft,
        }
    }
}

/// What a successful send did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendReport {
    /// Messages confirmed by the broker (or 1 for `stixBundlePush`).
    pub messages: usize,
    /// Objects the splitter withheld (OpenCTI cannot import them).
    pub incompatible: usize,
    /// Set when the bundle was sent for validation instead of being
    /// imported directly.
    pub validation: Option<ValidationMode>,
}

/// A send made ready by [`BundleSender::prepare`] (or
/// [`crate::RunContext::prepare_bundle`]): its messages are encoded and wait
/// to be counted on the work and published. Dropping it leaves no trace on
/// the work.
#[derive(Debug)]
pub(crate) struct PreparedSend(Prepared);

#[derive(Debug)]
enum Prepared {
    /// Bound for the queue.
    Queued(Queued),
    /// A send that does not go through the queue, done whole at publishing.
    Whole {
        bundle: Value,
        work_id: Option<String>,
        options: Box<SendOptions>,
    },
}

#[derive(Debug)]
enum Queued {
    /// Encoded messages, announced on `work_id` when published.
    Messages {
        messages: Vec<OutgoingMessage>,
        incompatible: usize,
        work_id: Option<String>,
    },
    /// The split gave nothing to publish.
    Nothing(SendReport),
}

/// Splits `bundle` as pycti does (unless the send asks for no split on
/// 7.x) and encodes one message per part. Also gives how many items the
/// splitter left out as incompatible.
fn split_and_encode(
    bundle: Value,
    fields: &EnvelopeFields<'_>,
) -> Result<(Vec<OutgoingMessage>, usize), SendError> {
    let options = fields.options;
    let (bundles, incompatible) = if options.no_split && fields.generation >= Generation::V7 {
        (vec![bundle], 0)
    } else {
        let split_options = SplitOptions {
            cleanup_inconsistent_bundle: options.cleanup_inconsistent_bundle,
            event_version: options.event_version.clone(),
        };
        let split =
            split_bundle(bundle, &split_options).map_err(|error| SendError::InvalidBundle {
                reason: error.to_string(),
            })?;
        (split.bundles, split.incompatible_items.len())
    };
    let messages = bundles
        .iter()
        .enumerate()
        .map(|(index, bundle)| OutgoingMessage {
            body: encode_envelope(bundle, index + 1, fields),
        })
        .collect();
    Ok((messages, incompatible))
}

/// Everything a message envelope carries besides the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeFields<'a> {
    /// Registration `connector_user_id`.
    pub applicant_id: Option<&'a str>,
    /// Work the message accounts to.
    pub work_id: Option<&'a str>,
    /// Decides whether `no_split` is present.
    pub generation: Generation,
    /// Options of the send.
    pub options: &'a SendOptions,
}

#[derive(Serialize)]
struct Envelope<'a> {
    bundle_type: &'static str,
    applicant_id: Option<&'a str>,
    action_sequence: usize,
    entities_types: &'a [String],
    content: String,
    update: bool,
    draft_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    no_split: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    work_id: Option<&'a str>,
}

/// The queue message for one (split) bundle, key for key what pycti
/// publishes: `content` is the standard Base64 of the bundle serialised the
/// way Python's `json.dumps` does it; `no_split` only for 7.x platforms;
/// `work_id` only when there is a work.
pub fn encode_envelope(bundle: &Value, sequence: usize, fields: &EnvelopeFields<'_>) -> Vec<u8> {
    let envelope = Envelope {
        bundle_type: "QUEUE_BUNDLE",
        applicant_id: fields.applicant_id,
        action_sequence: sequence,
        entities_types: &fields.options.entities_types,
        content: STANDARD.encode(python_json(bundle)),
        update: fields.options.update,
        draft_id: fields.options.draft_id.as_deref(),
        no_split: (fields.generation >= Generation::V7).then_some(fields.options.no_split),
        work_id: fields.work_id,
    };
    python_json_bytes(&envelope)
}

/// JSON text as Python's `json.dumps` writes it by default: `", "` and
/// `": "` separators and every non-ASCII character escaped.
pub fn python_json(value: &impl Serialize) -> String {
    String::from_utf8(python_json_bytes(value)).unwrap_or_default()
}

fn python_json_bytes(value: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    // Serialising JSON values and plain structs into memory cannot fail.
    let _ = value.serialize(&mut serializer);
    out
}

struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        if fragment.is_ascii() {
            return writer.write_all(fragment.as_bytes());
        }
        let mut units = [0u16; 2];
        for character in fragment.chars() {
            if character.is_ascii() {
                writer.write_all(&[character as u8])?;
            } else {
                for unit in character.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// Identity fields of the directory copy.
#[derive(Debug, Clone)]
struct ConnectorIdentity {
    id: String,
    name: String,
    connector_type: String,
    scope_text: String,
    auto: bool,
}

/// Sends bundles for one connector. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct BundleSender {
    inner: Arc<SenderInner>,
}

#[derive(Debug)]
struct SenderInner {
    api: ApiClient,
    identity: ConnectorIdentity,
    applicant_id: Option<String>,
    exchange: String,
    routing_key: String,
    protocol: QueueProtocol,
    send_to_queue: bool,
    validate_before_import: bool,
    directory: Option<DirectoryOutput>,
    publisher: Option<ConfirmPublisher>,
    metrics: crate::metrics::Metrics,
}

impl BundleSender {
    /// A sender for the session's connector; `publisher` is required for
    /// the `amqp` protocol when sending to the queue.
    pub(crate) fn new(
        session: &PlatformSession,
        publisher: Option<ConfirmPublisher>,
        connector_type: &str,
    ) -> Self {
        let config = session.config();
        let registration = session.registration();
        Self {
            inner: Arc::new(SenderInner {
                api: session.api().clone(),
                identity: ConnectorIdentity {
                    id: registration.id.clone(),
                    name: config.connector.name.clone(),
                    connector_type: connector_type.to_owned(),
                    scope_text: config.connector.scope_text.clone(),
                    auto: config.connector.auto,
                },
                applicant_id: registration.connector_user_id.clone(),
                exchange: registration.config.push_exchange.clone(),
                routing_key: registration.config.push_routing.clone(),
                protocol: config.connector.queue_protocol,
                send_to_queue: config.connector.send_to_queue,
                validate_before_import: config.connector.validate_before_import,
                directory: config.connector.directory.clone(),
                publisher,
                metrics: session.metrics().clone(),
            }),
        }
    }

    /// Whether the work API is used (pycti: only when sending to the queue).
    pub(crate) fn tracks_works(&self) -> bool {
        self.inner.send_to_queue
    }

    /// The platform client.
    pub(crate) fn api(&self) -> &ApiClient {
        &self.inner.api
    }

    /// Sends `bundle`; returns once every message is confirmed by the
    /// broker. `work_id` receives the expectations.
    ///
    /// With validation (`CONNECTOR_VALIDATE_BEFORE_IMPORT` or
    /// [`SendOptions::force_validation`]), the workbench mode uploads the
    /// bundle as a pending file and queues nothing; the draft mode creates
    /// a draft, attaches it to the work, and queues messages carrying it.
    pub(crate) async fn send(
        &self,
        bundle: Value,
        work_id: Option<&str>,
        options: &SendOptions,
        shutdown: &CancellationToken,
    ) -> Result<SendReport, SendError> {
        let inner = &self.inner;
        let mut options = Cow::Borrowed(options);
        let mut validation = None;
        let validate = self.validates(&options);
        let file_name = options
            .file_name
            .clone()
            .or_else(|| work_id.map(|id| format!("{id}.json")));
        if validate && let Some(file_name) = file_name {
            let generation = inner.api.generation();
            let mode = options
                .validation_mode
                .unwrap_or_else(|| ValidationMode::default_for(generation));
            match mode {
                ValidationMode::Workbench => {
                    self.upload_pending(&bundle, &file_name, work_id, &options)
                        .await?;
                    return Ok(SendReport {
                        validation: Some(mode),
                        ..SendReport::default()
                    });
                }
                ValidationMode::Draft if options.draft_id.is_none() => {
                    let draft_id = inner
                        .api
                        .draft_workspace_add(&file_name, options.entity_id.as_deref())
                        .await?;
                    if let Some(work_id) = work_id {
                        inner.api.add_draft_context(work_id, &draft_id).await?;
                    }
                    options.to_mut().draft_id = Some(draft_id);
                    validation = Some(mode);
                }
                // The messages already carry the draft they go to.
                ValidationMode::Draft => validation = Some(mode),
            }
        }
        let options = options.as_ref();
        let report = self.import(bundle, work_id, options, shutdown).await?;
        Ok(SendReport {
            validation,
            ..report
        })
    }

    /// Uploads the bundle as a pending workbench file. On 7.x the work gets
    /// one expectation, reported at once, so it completes.
    async fn upload_pending(
        &self,
        bundle: &Value,
        file_name: &str,
        work_id: Option<&str>,
        options: &SendOptions,
    ) -> Result<(), SendError> {
        let api = &self.inner.api;
        let content = serde_json::to_vec(bundle).map_err(|error| SendError::InvalidBundle {
            reason: error.to_string(),
        })?;
        let file_id = api
            .upload_pending(
                file_name,
                &content,
                options.entity_id.as_deref(),
                &options.file_markings,
            )
            .await?;
        tracing::info!(attributes.file_id = %file_id, "Bundle uploaded for validation in the workbench");
        if let Some(work_id) = work_id
            && api.generation() >= Generation::V7
        {
            api.add_expectations(work_id, 1).await?;
            api.report_expectation(work_id, None).await?;
        }
        Ok(())
    }

    /// The direct import: directory copy, then the queue (or the API).
    async fn import(
        &self,
        bundle: Value,
        work_id: Option<&str>,
        options: &SendOptions,
        shutdown: &CancellationToken,
    ) -> Result<SendReport, SendError> {
        let inner = &self.inner;
        if let Some(directory) = &inner.directory {
            self.write_directory_copy(directory, &bundle).await?;
        }
        if !inner.send_to_queue {
            return Ok(SendReport::default());
        }
        if inner.protocol == QueueProtocol::Api {
            let text =
                serde_json::to_string(&bundle).map_err(|error| SendError::InvalidBundle {
                    reason: error.to_string(),
                })?;
            inner
                .api
                .stix_bundle_push(&inner.identity.id, &text, work_id)
                .await?;
            inner
                .metrics
                .emit(crate::metrics::RuntimeEvent::BundlePushed);
            return Ok(SendReport {
                messages: 1,
                ..SendReport::default()
            });
        }
        let queued = self.prepare_queue(bundle, work_id, options).await?;
        self.publish_queued(queued, shutdown).await
    }

    /// Whether a send with `options` goes for validation instead of import.
    fn validates(&self, options: &SendOptions) -> bool {
        (self.inner.validate_before_import || options.force_validation)
            && !options.bypass_validation
    }

    /// The first half of [`BundleSender::send`]: splits and encodes
    /// `bundle` (and writes its directory copy) without touching the work
    /// or the broker. [`BundleSender::publish_prepared`] announces the
    /// messages on the work and publishes them. Preparing the next bundle
    /// while the previous one is being confirmed keeps the broker busy.
    /// Sends that do not go to the queue (validation, the API protocol, no
    /// queue) are done whole by `publish_prepared`.
    pub(crate) async fn prepare(
        &self,
        bundle: Value,
        work_id: Option<&str>,
        options: &SendOptions,
    ) -> Result<PreparedSend, SendError> {
        let inner = &self.inner;
        let queued = inner.send_to_queue && inner.protocol != QueueProtocol::Api;
        if !queued || self.validates(options) {
            return Ok(PreparedSend(Prepared::Whole {
                bundle,
                work_id: work_id.map(str::to_owned),
                options: Box::new(options.clone()),
            }));
        }
        if let Some(directory) = &inner.directory {
            self.write_directory_copy(directory, &bundle).await?;
        }
        let queued = self.prepare_queue(bundle, work_id, options).await?;
        Ok(PreparedSend(Prepared::Queued(queued)))
    }

    /// Announces what [`BundleSender::prepare`] made ready on the work,
    /// publishes it and waits for every broker confirm.
    pub(crate) async fn publish_prepared(
        &self,
        prepared: PreparedSend,
        shutdown: &CancellationToken,
    ) -> Result<SendReport, SendError> {
        match prepared.0 {
            Prepared::Whole {
                bundle,
                work_id,
                options,
            } => Box::pin(self.send(bundle, work_id.as_deref(), &options, shutdown)).await,
            Prepared::Queued(queued) => self.publish_queued(queued, shutdown).await,
        }
    }

    async fn publish_queued(
        &self,
        queued: Queued,
        shutdown: &CancellationToken,
    ) -> Result<SendReport, SendError> {
        let (messages, incompatible, work_id) = match queued {
            Queued::Nothing(report) => return Ok(report),
            Queued::Messages {
                messages,
                incompatible,
                work_id,
            } => (messages, incompatible, work_id),
        };
        let inner = &self.inner;
        let publisher = inner
            .publisher
            .as_ref()
            .ok_or_else(|| SendError::InvalidBundle {
                reason: "no broker connection for the amqp protocol".to_owned(),
            })?;
        // Announced only now, so that a prepared send that is never
        // published does not leave its work waiting for it forever.
        if let Some(work_id) = &work_id {
            inner
                .api
                .add_expectations(work_id, messages.len() as u64)
                .await?;
        }
        publisher
            .publish_all(&inner.exchange, &inner.routing_key, &messages, shutdown)
            .await?;
        Ok(SendReport {
            messages: messages.len(),
            incompatible,
            validation: None,
        })
    }

    /// Split and encode: the queue path up to the work and the broker.
    async fn prepare_queue(
        &self,
        bundle: Value,
        work_id: Option<&str>,
        options: &SendOptions,
    ) -> Result<Queued, SendError> {
        let inner = &self.inner;
        let generation = inner.api.generation();
        // Splitting and encoding take milliseconds for a large bundle.
        let applicant_id = inner.applicant_id.clone();
        let owned_work_id = work_id.map(str::to_owned);
        let owned_options = options.clone();
        let encoded = crate::task::in_own_task(move || {
            let fields = EnvelopeFields {
                applicant_id: applicant_id.as_deref(),
                work_id: owned_work_id.as_deref(),
                generation,
                options: &owned_options,
            };
            split_and_encode(bundle, &fields)
        })
        .await;
        let (messages, incompatible) = encoded.ok_or(SendError::Cancelled)??;
        if messages.is_empty() {
            tracing::debug!("Nothing to import in this bundle");
            return Ok(Queued::Nothing(SendReport {
                incompatible,
                ..SendReport::default()
            }));
        }
        Ok(Queued::Messages {
            messages,
            incompatible,
            work_id: work_id.map(str::to_owned),
        })
    }

    async fn write_directory_copy(
        &self,
        directory: &DirectoryOutput,
        bundle: &Value,
    ) -> Result<(), SendError> {
        let identity = &self.inner.identity;
        let document = json!({
            "bundle_type": "DIRECTORY_BUNDLE",
            "applicant_id": self.inner.applicant_id,
            "connector": {
                "id": identity.id,
                "name": identity.name,
                "type": identity.connector_type,
                "scope": identity.scope_text,
                "auto": identity.auto,
                "validate_before_import": self.inner.validate_before_import,
            },
            "entities_types": null,
            "bundle": bundle,
            "update": false,
        });
        let text = python_json(&document);
        let file_name = directory_file_name(&identity.name);
        let directory = directory.clone();
        tokio::task::spawn_blocking(move || write_and_prune(&directory, &file_name, &text))
            .await
            .map_err(|error| SendError::Directory {
                path: String::new(),
                reason: error.to_string(),
            })?
    }
}

/// `<name lowercased, spaces as _>-<local %Y%m%d-%H%M%S>-<epoch seconds>.json`.
fn directory_file_name(connector_name: &str) -> String {
    let now = chrono::Local::now();
    let epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    format!(
        "{}-{}-{epoch}.json",
        connector_name.to_lowercase().replace(' ', "_"),
        now.format("%Y%m%d-%H%M%S")
    )
}

fn write_and_prune(
    directory: &DirectoryOutput,
    file_name: &str,
    text: &str,
) -> Result<(), SendError> {
    let failed = |path: &Path, error: std::io::Error| SendError::Directory {
        path: path.display().to_string(),
        reason: error.to_string(),
    };
    let target: PathBuf = directory.path.join(file_name);
    let temporary = target.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary).map_err(|error| failed(&temporary, error))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|error| failed(&temporary, error))?;
    std::fs::rename(&temporary, &target).map_err(|error| failed(&target, error))?;
    if directory.retention_days > 0 {
        let horizon = Duration::from_secs(u64::from(directory.retention_days) * 86_400);
        let entries =
            std::fs::read_dir(&directory.path).map_err(|error| failed(&directory.path, error))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let expired = path
                .extension()
                .is_some_and(|extension| extension == "json")
                && entry
                    .metadata()
                    .and_then(|metadata| metadata.modified())
                    .ok()
                    .and_then(|modified| modified.elapsed().ok())
                    .is_some_and(|age| age > horizon);
            if expired && let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(attributes.path = %path.display(), "Cannot remove an expired bundle file: {error}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_match_pycti_per_generation() {
        let bundle = json!({"type": "bundle", "id": "bundle--1", "objects": [{"id": "x--1"}]});
        let options = SendOptions {
            entities_types: vec!["Indicator".to_owned()],
            ..SendOptions::default()
        };
        let mut fields = EnvelopeFields {
            applicant_id: Some("user-1"),
            work_id: Some("work_1"),
            generation: Generation::V6,
            options: &options,
        };
        let content = STANDARD.encode(
            "{\"type\": \"bundle\", \"id\": \"bundle--1\", \"objects\": [{\"id\": \"x--1\"}]}",
        );
        assert_eq!(
            String::from_utf8(encode_envelope(&bundle, 3, &fields)).unwrap(),
            format!(
                "{{\"bundle_type\": \"QUEUE_BUNDLE\", \"applicant_id\": \"user-1\", \"action_sequence\": 3, \"entities_types\": [\"Indicator\"], \"content\": \"{content}\", \"update\": false, \"draft_id\": null, \"work_id\": \"work_1\"}}"
            )
        );
        fields.generation = Generation::V7;
        fields.work_id = None;
        assert_eq!(
            String::from_utf8(encode_envelope(&bundle, 1, &fields)).unwrap(),
            format!(
                "{{\"bundle_type\": \"QUEUE_BUNDLE\", \"applicant_id\": \"user-1\", \"action_sequence\": 1, \"entities_types\": [\"Indicator\"], \"content\": \"{content}\", \"update\": false, \"draft_id\": null, \"no_split\": false}}"
            )
        );
    }

    #[test]
    fn python_style_json() {
        let value = json!({"a": [1, 2], "b": "é\u{1F600}\n", "c": {"d": null}});
        assert_eq!(
            python_json(&value),
            "{\"a\": [1, 2], \"b\": \"\\u00e9\\ud83d\\ude00\\n\", \"c\": {\"d\": null}}"
        );
    }
}
