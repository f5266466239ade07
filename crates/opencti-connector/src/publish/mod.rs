//! From a STIX bundle to confirmed queue messages: validation (pending
//! file or draft), directory copy, split, expectations, envelope, publish
//! (or `stixBundlePush`).
//!
//! One module per role: `outgoing` (the forms a bundle comes in),
//! [`envelope`] (pycti's queue message), [`python_json`](mod@python_json) (JSON as Python
//! writes it), `validation` (workbench and drafts), `directory` (the
//! directory copy), `s3` (the S3 copy).
//!
//! # Memory
//!
//! A bundle is held once, compactly ([`opencti_stix::split::CompactBundle`]:
//! its objects' JSON text and their references), from the moment the send
//! reads it; its parts are written and encoded only as the publisher's
//! window frees, and each message is dropped once the broker confirms it.
//! What a send holds is therefore about the bundle's JSON text plus 100 to
//! 200 bytes per object, plus a window of at most a thousand messages.

mod directory;
pub mod envelope;
mod outgoing;
pub mod python_json;
mod s3;
mod validation;

use std::sync::Arc;

use opencti_stix::split::{SplitOptions, SplitPlan};
use tokio_util::sync::CancellationToken;

#[cfg(any(test, feature = "test-util"))]
pub use directory::fault::DirectoryFault;
pub use envelope::{EnvelopeFields, encode_envelope};
pub use outgoing::OutgoingBundle;
pub use python_json::python_json;
pub use validation::ValidationMode;

use crate::allocator::Trimmer;
use crate::amqp::{BrokerLink, BrokerParams, ConfirmPublisher, OutgoingMessage};
use crate::api::{ApiClient, Generation};
use crate::config::{ConnectorType, DirectoryOutput, QueueProtocol};
use crate::error::{Error, SendError};
use crate::session::PlatformSession;
use directory::ConnectorIdentity;
use validation::Validated;

/// `bundle_type` of the directory copy.
const DIRECTORY_BUNDLE: &str = "DIRECTORY_BUNDLE";
/// `bundle_type` of the S3 copy.
const S3_BUNDLE: &str = "S3_BUNDLE";

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
    /// The user the platform imports the messages as; unset: the
    /// connector's own user (a listen job sets the user who asked).
    pub applicant_id: Option<String>,
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

impl SendReport {
    /// This report and `later`'s, added up (a send made of several bundles).
    #[must_use]
    pub fn and(self, later: Self) -> Self {
        Self {
            messages: self.messages + later.messages,
            incompatible: self.incompatible + later.incompatible,
            validation: later.validation.or(self.validation),
        }
    }
}

/// A send made ready by [`BundleSender::prepare`] (or
/// [`crate::RunContext::prepare_bundle`]): the bundle is read and split,
/// its messages wait to be counted on the work, written and published.
/// Dropping it leaves no trace on the work.
#[derive(Debug)]
pub(crate) struct PreparedSend(Prepared);

#[derive(Debug)]
enum Prepared {
    /// Bound for the queue.
    Queued(Queued),
    /// A send that does not go through the queue, done whole at publishing.
    Whole {
        bundle: Box<OutgoingBundle>,
        work_id: Option<String>,
        options: Box<SendOptions>,
    },
}

#[derive(Debug)]
struct Queued {
    messages: Messages,
    work_id: Option<String>,
    options: Box<SendOptions>,
}

/// The messages of a queued send.
#[derive(Debug)]
enum Messages {
    /// One per part of the split bundle, written when published.
    Parts(Box<SplitPlan>),
    /// The bundle whole (`no_split` on 7.x), already encoded.
    Whole(OutgoingMessage),
    /// The split gave nothing to publish.
    Nothing { incompatible: usize },
}

impl Messages {
    fn count(&self) -> usize {
        match self {
            Self::Parts(plan) => plan.expectations(),
            Self::Whole(_) => 1,
            Self::Nothing { .. } => 0,
        }
    }

    fn incompatible(&self) -> usize {
        match self {
            Self::Parts(plan) => plan.incompatible(),
            Self::Whole(_) => 0,
            Self::Nothing { incompatible } => *incompatible,
        }
    }
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
    s3: Option<s3::S3Copy>,
    publisher: Option<ConfirmPublisher>,
    metrics: crate::metrics::Metrics,
    /// Gives what large sends freed back to the system.
    trimmer: Trimmer,
}

impl BundleSender {
    /// A sender for the session's connector; `publisher` is required for
    /// the `amqp` protocol when sending to the queue.
    /// The sender of a session's bundles and the confirming publisher it
    /// publishes through: none when bundles do not go to the queue over
    /// AMQP, and then `broker` (the broker's settings) is never asked for.
    /// `default_type` stands when `CONNECTOR_TYPE` is unset.
    pub(crate) fn for_session(
        session: &PlatformSession,
        default_type: ConnectorType,
        broker: impl FnOnce() -> Result<BrokerParams, Error>,
    ) -> Result<(Self, Option<ConfirmPublisher>), Error> {
        let connector = &session.config().connector;
        let publisher =
            if connector.send_to_queue && connector.queue_protocol == QueueProtocol::Amqp {
                let link = BrokerLink::new(broker()?, session.metrics().clone());
                Some(ConfirmPublisher::new(link, session.metrics().clone()))
            } else {
                None
            };
        let connector_type = connector.connector_type.unwrap_or(default_type).as_str();
        let sender = Self::new(session, publisher.clone(), connector_type);
        Ok((sender, publisher))
    }

    fn new(
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
                s3: config.connector.s3.clone().map(|output| {
                    s3::S3Copy::new(
                        output,
                        registration.config.s3.clone(),
                        config.opencti.network.clone(),
                        &config.connector.name,
                    )
                }),
                publisher,
                metrics: session.metrics().clone(),
                trimmer: Trimmer::default(),
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

    /// Whether sends go whole instead of through the queue (no queue, the
    /// API protocol, or validation).
    fn sends_whole(&self, options: &SendOptions) -> bool {
        let inner = &self.inner;
        !inner.send_to_queue || inner.protocol == QueueProtocol::Api || self.validates(options)
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
        bundle: impl Into<OutgoingBundle>,
        work_id: Option<&str>,
        options: &SendOptions,
        shutdown: &CancellationToken,
    ) -> Result<SendReport, SendError> {
        let bundle = bundle.into();
        let (options, mode) = match self.validate(|| bundle.to_json(), work_id, options).await? {
            Validated::Uploaded => {
                return Ok(SendReport {
                    validation: Some(ValidationMode::Workbench),
                    ..SendReport::default()
                });
            }
            Validated::Import { options, mode } => (options, mode),
        };
        let report = self.import(bundle, work_id, &options, shutdown).await?;
        Ok(SendReport {
            validation: mode,
            ..report
        })
    }

    /// The direct import: directory copy, then the queue (or the API).
    async fn import(
        &self,
        bundle: OutgoingBundle,
        work_id: Option<&str>,
        options: &SendOptions,
        shutdown: &CancellationToken,
    ) -> Result<SendReport, SendError> {
        let inner = &self.inner;
        if inner.send_to_queue && inner.protocol == QueueProtocol::Amqp {
            let queued = self.prepare_queue(bundle, work_id, options).await?;
            return self.publish_queued(queued, shutdown).await;
        }
        if let Some(directory) = &inner.directory {
            let text = self.directory_document(DIRECTORY_BUNDLE, &bundle)?;
            directory::write(directory, &inner.identity.name, text).await?;
        }
        if let Some(s3) = &inner.s3 {
            s3.upload(self.directory_document(S3_BUNDLE, &bundle)?)
                .await?;
        }
        if !inner.send_to_queue {
            return Ok(SendReport::default());
        }
        let text = bundle.to_json()?;
        drop(bundle);
        inner
            .api
            .stix_bundle_push(&inner.identity.id, &text, work_id)
            .await?;
        inner
            .metrics
            .emit(crate::metrics::RuntimeEvent::BundlePushed);
        Ok(SendReport {
            messages: 1,
            ..SendReport::default()
        })
    }

    /// The side copy of a bundle that is not split (sent whole).
    fn directory_document(
        &self,
        bundle_type: &'static str,
        bundle: &OutgoingBundle,
    ) -> Result<Vec<u8>, SendError> {
        Ok(match bundle {
            OutgoingBundle::Typed(bundle) => self.document(bundle_type, bundle),
            OutgoingBundle::Value(bundle) => self.document(bundle_type, bundle),
            OutgoingBundle::Compact(bundle) => self.document(bundle_type, bundle),
            OutgoingBundle::Text(text) => {
                let value: serde_json::Value =
                    serde_json::from_str(text).map_err(|error| SendError::InvalidBundle {
                        reason: error.to_string(),
                    })?;
                self.document(bundle_type, &value)
            }
        })
    }

    fn document(&self, bundle_type: &'static str, bundle: &impl serde::Serialize) -> Vec<u8> {
        let inner = &self.inner;
        directory::document(
            bundle_type,
            &inner.identity,
            inner.applicant_id.as_deref(),
            inner.validate_before_import,
            bundle,
        )
    }

    /// The first half of [`BundleSender::send`]: reads and splits `bundle`
    /// (and writes its directory copy) without touching the work or the
    /// broker. [`BundleSender::publish_prepared`] announces the messages
    /// on the work, writes and publishes them. Preparing the next bundle
    /// while the previous one is being confirmed keeps the broker busy.
    /// Sends that do not go to the queue (validation, the API protocol, no
    /// queue) are done whole by `publish_prepared`.
    pub(crate) async fn prepare(
        &self,
        bundle: impl Into<OutgoingBundle>,
        work_id: Option<&str>,
        options: &SendOptions,
    ) -> Result<PreparedSend, SendError> {
        let bundle = bundle.into();
        if self.sends_whole(options) {
            return Ok(PreparedSend(Prepared::Whole {
                bundle: Box::new(bundle),
                work_id: work_id.map(str::to_owned),
                options: Box::new(options.clone()),
            }));
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
            } => Box::pin(self.send(*bundle, work_id.as_deref(), &options, shutdown)).await,
            Prepared::Queued(queued) => self.publish_queued(queued, shutdown).await,
        }
    }

    async fn publish_queued(
        &self,
        queued: Queued,
        shutdown: &CancellationToken,
    ) -> Result<SendReport, SendError> {
        let Queued {
            messages,
            work_id,
            options,
        } = queued;
        let count = messages.count();
        let incompatible = messages.incompatible();
        if count == 0 {
            tracing::debug!("Nothing to import in this bundle");
            return Ok(SendReport {
                incompatible,
                ..SendReport::default()
            });
        }
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
            inner.api.add_expectations(work_id, count as u64).await?;
        }
        let (exchange, routing_key) = (&inner.exchange, &inner.routing_key);
        let mut bytes = 0_usize;
        let counted = |message: &OutgoingMessage| bytes += message.body.len();
        match messages {
            Messages::Parts(plan) => {
                let fields = self.fields(work_id.as_deref(), &options);
                let messages = envelope::plan_messages(&plan, &fields).inspect(counted);
                // A part is written again for a retry rather than kept
                // until its confirm.
                let rewrite = |index| envelope::plan_message(&plan, &fields, index);
                publisher
                    .publish_rewritable(exchange, routing_key, messages, rewrite, shutdown)
                    .await?;
            }
            Messages::Whole(message) => {
                let messages = std::iter::once(message).inspect(counted);
                publisher
                    .publish(exchange, routing_key, messages, shutdown)
                    .await?;
            }
            Messages::Nothing { .. } => {}
        }
        // The bundle's index and messages are dropped by now.
        inner.trimmer.sent(bytes);
        Ok(SendReport {
            messages: count,
            incompatible,
            validation: None,
        })
    }

    fn fields<'a>(
        &'a self,
        work_id: Option<&'a str>,
        options: &'a SendOptions,
    ) -> EnvelopeFields<'a> {
        EnvelopeFields {
            applicant_id: options
                .applicant_id
                .as_deref()
                .or(self.inner.applicant_id.as_deref()),
            work_id,
            generation: self.inner.api.generation(),
            options,
        }
    }

    /// Reads the bundle into its compact form, writes its directory copy,
    /// and splits it (or encodes it whole, `no_split` on 7.x): the queue
    /// path up to the work and the broker.
    async fn prepare_queue(
        &self,
        bundle: OutgoingBundle,
        work_id: Option<&str>,
        options: &SendOptions,
    ) -> Result<Queued, SendError> {
        let inner = &self.inner;
        // Reading and splitting take milliseconds for a large bundle.
        let compact = crate::task::in_own_task(move || bundle.into_compact())
            .await
            .ok_or(SendError::Cancelled)??;
        if let Some(directory) = &inner.directory {
            let text = self.document(DIRECTORY_BUNDLE, &compact);
            directory::write(directory, &inner.identity.name, text).await?;
        }
        if let Some(s3) = &inner.s3 {
            s3.upload(self.document(S3_BUNDLE, &compact)).await?;
        }
        let owned_options = Box::new(options.clone());
        let messages = if options.no_split && inner.api.generation() >= Generation::V7 {
            let fields = self.fields(work_id, options);
            Messages::Whole(OutgoingMessage {
                body: encode_envelope(&compact, 1, &fields),
            })
        } else {
            let split_options = SplitOptions {
                cleanup_inconsistent_bundle: options.cleanup_inconsistent_bundle,
                event_version: options.event_version.clone(),
            };
            let plan = crate::task::in_own_task(move || compact.split(&split_options))
                .await
                .ok_or(SendError::Cancelled)?
                .map_err(|error| SendError::InvalidBundle {
                    reason: error.to_string(),
                })?;
            if plan.expectations() == 0 {
                Messages::Nothing {
                    incompatible: plan.incompatible(),
                }
            } else {
                Messages::Parts(Box::new(plan))
            }
        };
        Ok(Queued {
            messages,
            work_id: work_id.map(str::to_owned),
            options: owned_options,
        })
    }
}
