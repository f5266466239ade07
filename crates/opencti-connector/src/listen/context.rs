//! What a listen job is handed: bundle sending (to the queue, or back to
//! the playbook), the export upload, the file download, progress on the
//! work, the platform client acting as the user who asked.

#[cfg(any(test, feature = "test-util"))]
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(any(test, feature = "test-util"))]
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::message::{ExportRequest, ExportScope};
#[cfg(any(test, feature = "test-util"))]
use crate::api::RetryPolicy;
use crate::api::{ApiClient, ApiError, documents};
#[cfg(any(test, feature = "test-util"))]
use crate::config::{PlatformTls, Secret};
use crate::error::SendError;
use crate::publish::{BundleSender, OutgoingBundle, SendOptions, SendReport};

/// The file type of uploaded exports, as pycti sends it.
const EXPORT_MIME_TYPE: &str = "text/plain";

/// Largest file [`JobContext::download_file`] accepts.
pub const MAX_DOWNLOAD_BYTES: u64 = 512 * 1024 * 1024;
/// Longest [`JobContext::download_file`] may take.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// The context of one listen job (an enrichment, a file import, a file
/// export).
///
/// Bundles sent with [`JobContext::send_bundle`] carry the job's work,
/// draft and user (the one who asked); a playbook step's bundle goes back
/// to the playbook instead. The runtime closes the work with what the
/// handler returns.
#[derive(Debug)]
pub struct JobContext {
    api: ApiClient,
    shutdown: CancellationToken,
    connector_name: String,
    work_id: Option<String>,
    bundles_sent: AtomicU64,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Live(Box<LiveJob>),
    #[cfg(any(test, feature = "test-util"))]
    Recorder(Arc<Mutex<Recorded>>),
}

#[derive(Debug)]
pub(crate) struct LiveJob {
    pub(crate) sender: BundleSender,
    /// The connector's own client (with the job's draft header): work
    /// calls, uploads, downloads, playbook answers.
    pub(crate) platform: ApiClient,
    /// The job's send options (draft, user, validation, file name).
    pub(crate) defaults: SendOptions,
    pub(crate) playbook: Option<PlaybookAnswer>,
}

/// How to answer a playbook step.
#[derive(Debug)]
pub(crate) struct PlaybookAnswer {
    /// The step's ids and `execution_start`, as `playbookStepExecution`
    /// variables.
    pub(crate) step: Value,
    /// The bundle the step received, as JSON text.
    pub(crate) previous_bundle: String,
}

#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Default)]
struct Recorded {
    bundles: Vec<(Value, SendOptions)>,
    exports: Vec<(String, Vec<u8>)>,
    progress: Vec<String>,
    files: HashMap<String, Vec<u8>>,
}

/// What a test context recorded (see `JobContext::for_test`). Available
/// with the `test-util` feature only.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Clone)]
pub struct JobProbe {
    recorded: Arc<Mutex<Recorded>>,
    shutdown: CancellationToken,
}

#[cfg(any(test, feature = "test-util"))]
impl JobProbe {
    /// Bundles sent, in order.
    pub fn bundles(&self) -> Vec<Value> {
        self.lock().bundles.iter().map(|(b, _)| b.clone()).collect()
    }

    /// Bundles sent with their options.
    pub fn sends(&self) -> Vec<(Value, SendOptions)> {
        self.lock().bundles.clone()
    }

    /// Export files uploaded: name and content.
    pub fn exports(&self) -> Vec<(String, Vec<u8>)> {
        self.lock().exports.clone()
    }

    /// Progress messages reported.
    pub fn progress(&self) -> Vec<String> {
        self.lock().progress.clone()
    }

    /// Serves `content` to [`JobContext::download_file`] at `path`.
    pub fn add_file(&self, path: &str, content: impl Into<Vec<u8>>) {
        self.lock().files.insert(path.to_owned(), content.into());
    }

    /// Fires the shutdown signal.
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl JobContext {
    pub(crate) fn live(
        job: LiveJob,
        api: ApiClient,
        work_id: Option<String>,
        shutdown: CancellationToken,
        connector_name: &str,
    ) -> Self {
        Self {
            api,
            shutdown,
            connector_name: connector_name.to_owned(),
            work_id,
            bundles_sent: AtomicU64::new(0),
            backend: Backend::Live(Box::new(job)),
        }
    }

    #[cfg(any(test, feature = "test-util"))]
    /// A context that records bundles, exports and progress in memory and
    /// serves the files given to [`JobProbe::add_file`]. Its API client
    /// points at a closed local port; use [`JobContext::for_test_with_api`]
    /// to give it a faked platform.
    pub fn for_test() -> (Self, JobProbe) {
        let api = ApiClient::build(
            &reqwest::Url::parse("http://127.0.0.1:9").expect("a static URL"),
            &Secret::new("test"),
            &[],
            &PlatformTls::Verify,
            RetryPolicy::none(),
        )
        .expect("a client without TLS material always builds");
        Self::for_test_with_api(api)
    }

    /// [`JobContext::for_test`] with a given API client.
    #[cfg(any(test, feature = "test-util"))]
    pub fn for_test_with_api(api: ApiClient) -> (Self, JobProbe) {
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let shutdown = CancellationToken::new();
        let probe = JobProbe {
            recorded: Arc::clone(&recorded),
            shutdown: shutdown.clone(),
        };
        let context = Self {
            api,
            shutdown,
            connector_name: "test".to_owned(),
            work_id: None,
            bundles_sent: AtomicU64::new(0),
            backend: Backend::Recorder(recorded),
        };
        (context, probe)
    }

    /// Sends `bundle` with the job's work, draft, user and validation
    /// (see [`JobContext::send_bundle_with`]).
    pub async fn send_bundle(
        &self,
        bundle: impl Into<OutgoingBundle>,
    ) -> Result<SendReport, SendError> {
        self.send_bundle_with(bundle, &SendOptions::default()).await
    }

    /// Sends `bundle`: split, counted on the job's work and published, each
    /// message carrying the job's draft and the user who asked; or, for a
    /// playbook step, handed back to the playbook (`playbookStepExecution`)
    /// whole. Options left unset take the job's (draft, user, validation
    /// mode, file name, entity, markings).
    pub async fn send_bundle_with(
        &self,
        bundle: impl Into<OutgoingBundle>,
        options: &SendOptions,
    ) -> Result<SendReport, SendError> {
        let bundle = bundle.into();
        let report = match &self.backend {
            #[cfg(any(test, feature = "test-util"))]
            Backend::Recorder(recorded) => {
                let bundle = bundle.into_value()?;
                lock(recorded).bundles.push((bundle, options.clone()));
                SendReport::default()
            }
            Backend::Live(job) => match &job.playbook {
                Some(answer) => {
                    let text = bundle.to_json()?;
                    let accepted = job
                        .platform
                        .playbook_step_execution(&answer.step, &answer.previous_bundle, &text)
                        .await?;
                    if !accepted {
                        return Err(SendError::Platform(ApiError::Decode {
                            operation: "playbookStepExecution".to_owned(),
                            reason: "the platform does not know this playbook step".to_owned(),
                        }));
                    }
                    SendReport {
                        messages: 1,
                        ..SendReport::default()
                    }
                }
                None => {
                    let options = with_defaults(options, &job.defaults);
                    // A stop lets the job finish within its grace: the send
                    // is only abandoned by dropping it.
                    job.sender
                        .send(
                            bundle,
                            self.work_id.as_deref(),
                            &options,
                            &CancellationToken::new(),
                        )
                        .await?
                }
            },
        };
        self.bundles_sent.fetch_add(1, Ordering::Relaxed);
        Ok(report)
    }

    /// Uploads the file an export job produces, under the request's file
    /// name and markings, with the mutation the platform expects for its
    /// scope and type (`exportPush` on the entity for a single export; the
    /// list mutation of the listed type otherwise).
    pub async fn upload_export(
        &self,
        export: &ExportRequest,
        content: &[u8],
    ) -> Result<(), SendError> {
        // One arm without `test-util`.
        #[allow(clippy::infallible_destructuring_match)]
        let job = match &self.backend {
            #[cfg(any(test, feature = "test-util"))]
            Backend::Recorder(recorded) => {
                lock(recorded)
                    .exports
                    .push((export.file_name.clone(), content.to_vec()));
                return Ok(());
            }
            Backend::Live(job) => job,
        };
        let (document, variables) = match export.export_scope {
            ExportScope::Single => (
                documents::ENTITY_EXPORT_PUSH,
                json!({"id": export.entity_id, "file_markings": export.file_markings}),
            ),
            scope => {
                let document = match export.entity_type.as_str() {
                    "Stix-Cyber-Observable" => documents::OBSERVABLES_EXPORT_PUSH,
                    "Stix-Core-Object" => documents::CORE_OBJECTS_EXPORT_PUSH,
                    _ => documents::DOMAIN_OBJECTS_EXPORT_PUSH,
                };
                let list_filters = match scope {
                    ExportScope::Selection => Some("selected_ids".to_owned()),
                    // As the Python connectors write it: `json.dumps(list_params)`.
                    _ => export.list_params.as_ref().map(crate::publish::python_json),
                };
                (
                    document,
                    json!({"entity_id": export.entity_id, "entity_type": export.entity_type,
                           "file_markings": export.file_markings, "listFilters": list_filters}),
                )
            }
        };
        // pycti uploads every export as `text/plain` (its default file
        // type), whatever the format; the platform keeps that type.
        job.platform
            .export_push(
                document,
                variables,
                &export.file_name,
                EXPORT_MIME_TYPE,
                content,
            )
            .await?;
        Ok(())
    }

    /// Downloads a file of the platform (an import's `file_fetch`, or
    /// `/storage/get/<file id>`) with the connector's token, in the job's
    /// draft. At most [`MAX_DOWNLOAD_BYTES`] within [`DOWNLOAD_TIMEOUT`].
    pub async fn download_file(&self, path: &str) -> Result<Vec<u8>, SendError> {
        match &self.backend {
            #[cfg(any(test, feature = "test-util"))]
            Backend::Recorder(recorded) => {
                lock(recorded).files.get(path).cloned().ok_or_else(|| {
                    SendError::Platform(ApiError::Http {
                        operation: "download".to_owned(),
                        status: 404,
                        body: format!("no test file at {path}"),
                    })
                })
            }
            Backend::Live(job) => Ok(job
                .platform
                .download(path, MAX_DOWNLOAD_BYTES, DOWNLOAD_TIMEOUT)
                .await?),
        }
    }

    /// Shows `message` on the job's work as its current progress (nothing
    /// for a playbook step, which has no work).
    pub async fn report_progress(&self, message: &str) -> Result<(), SendError> {
        match &self.backend {
            #[cfg(any(test, feature = "test-util"))]
            Backend::Recorder(recorded) => lock(recorded).progress.push(message.to_owned()),
            Backend::Live(job) => {
                if let Some(work_id) = &self.work_id {
                    job.platform.work_to_received(work_id, message).await?;
                }
            }
        }
        Ok(())
    }

    /// The platform client acting as the user who asked (the
    /// `opencti-applicant-id` header), in the job's draft: read what the
    /// user may see with it.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The job's work id (`None` for a playbook step or a test context).
    pub fn work_id(&self) -> Option<&str> {
        self.work_id.as_deref()
    }

    /// Fires when a stop was requested. The job may still finish within
    /// half of `CONNECTOR_STOP_GRACE_PERIOD`; past that it is dropped and
    /// its message is delivered again after the restart.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// `CONNECTOR_NAME`.
    pub fn connector_name(&self) -> &str {
        &self.connector_name
    }

    /// Bundles sent so far in this job.
    pub fn bundles_sent(&self) -> u64 {
        self.bundles_sent.load(Ordering::Relaxed)
    }
}

/// `options`, with what it leaves unset taken from the job's.
fn with_defaults(options: &SendOptions, job: &SendOptions) -> SendOptions {
    let mut merged = options.clone();
    merged.draft_id = merged.draft_id.or_else(|| job.draft_id.clone());
    merged.applicant_id = merged.applicant_id.or_else(|| job.applicant_id.clone());
    merged.validation_mode = merged.validation_mode.or(job.validation_mode);
    merged.file_name = merged.file_name.or_else(|| job.file_name.clone());
    merged.entity_id = merged.entity_id.or_else(|| job.entity_id.clone());
    if merged.file_markings.is_empty() {
        merged.file_markings.clone_from(&job.file_markings);
    }
    merged.bypass_validation |= job.bypass_validation;
    merged.force_validation |= job.force_validation;
    merged
}

#[cfg(any(test, feature = "test-util"))]
fn lock(recorded: &Mutex<Recorded>) -> std::sync::MutexGuard<'_, Recorded> {
    recorded.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::ValidationMode;

    #[test]
    fn a_job_fills_what_a_send_leaves_unset() {
        let job = SendOptions {
            draft_id: Some("draft".to_owned()),
            applicant_id: Some("user".to_owned()),
            validation_mode: Some(ValidationMode::Workbench),
            file_name: Some("report.json".to_owned()),
            bypass_validation: true,
            ..SendOptions::default()
        };
        let mine = SendOptions {
            file_name: Some("mine.json".to_owned()),
            update: true,
            ..SendOptions::default()
        };
        let merged = with_defaults(&mine, &job);
        assert_eq!(merged.draft_id.as_deref(), Some("draft"));
        assert_eq!(merged.applicant_id.as_deref(), Some("user"));
        assert_eq!(merged.file_name.as_deref(), Some("mine.json"));
        assert_eq!(merged.validation_mode, Some(ValidationMode::Workbench));
        assert!(merged.bypass_validation && merged.update);
    }

    #[tokio::test]
    async fn a_test_context_records_and_serves_files() {
        let (ctx, probe) = JobContext::for_test();
        probe.add_file("/storage/get/import/global/a.txt", "hello");
        assert_eq!(
            ctx.download_file("/storage/get/import/global/a.txt")
                .await
                .unwrap(),
            b"hello"
        );
        assert!(ctx.download_file("/storage/get/other").await.is_err());
        ctx.report_progress("half way").await.unwrap();
        ctx.send_bundle(json!({"type": "bundle", "id": "bundle--1", "objects": []}))
            .await
            .unwrap();
        assert_eq!(probe.progress(), ["half way"]);
        assert_eq!(probe.bundles().len(), 1);
        assert_eq!(ctx.bundles_sent(), 1);
    }
}
