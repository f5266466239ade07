//! The traits of the three internal kinds, and how the listen runner sees
//! each of them ([`Listener`]).

use std::future::Future;

use serde_json::Value;

use super::context::JobContext;
use super::message::{EnrichmentRequest, ExportRequest, FileImportRequest, Job, MessageError};
use super::tlp::check_max_tlp;
use crate::api::ApiClient;
use crate::config::ConnectorType;
use crate::connector::Connector;

/// An enrichment connector (`INTERNAL_ENRICHMENT`): a [`Connector`] with
/// one required method, [`Enricher::enrich`], called for each entity the
/// platform (a user, an automatic trigger or a playbook) asks it to enrich.
pub trait Enricher: Connector {
    /// Registered `playbook_compatible`: the connector is offered as a
    /// playbook step. Its [`EnrichmentRequest::stix_objects`] then hold
    /// the playbook's bundle, and what it sends replaces that bundle.
    const PLAYBOOK_COMPATIBLE: bool = false;

    /// Called once after registration, before the first job (logins,
    /// lookups of the vendor's limits).
    fn on_start(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async { Ok(()) }
    }

    /// Enriches one entity: send the new objects with
    /// [`JobContext::send_bundle`] (for a playbook step, send
    /// `stix_objects` with them). The returned text closes the job's work;
    /// an error closes it in error. Entities above `CONNECTOR_MAX_TLP` are
    /// refused before this is called.
    fn enrich(
        &mut self,
        request: EnrichmentRequest,
        ctx: &JobContext,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;
}

/// A file import connector (`INTERNAL_IMPORT_FILE`): a [`Connector`] with
/// one required method, [`FileImporter::import_file`], called for each file
/// uploaded (or asked to be imported) with a MIME type of its scope.
pub trait FileImporter: Connector {
    /// Called once after registration, before the first job.
    fn on_start(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async { Ok(()) }
    }

    /// Imports one file: fetch it with [`JobContext::download_file`]
    /// (`request.file_fetch`), send what it holds with
    /// [`JobContext::send_bundle`] (the job's draft and validation mode
    /// apply). The returned text closes the job's work.
    fn import_file(
        &mut self,
        request: FileImportRequest,
        ctx: &JobContext,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;
}

/// A file export connector (`INTERNAL_EXPORT_FILE`): a [`Connector`] with
/// one required method, [`FileExporter::export_file`], called for each
/// export asked in a format of its scope.
pub trait FileExporter: Connector {
    /// Called once after registration, before the first job.
    fn on_start(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async { Ok(()) }
    }

    /// Produces one export: read the data with [`JobContext::api`] (the
    /// asking user's rights), upload the file with
    /// [`JobContext::upload_export`]. The returned text closes the job's
    /// work.
    fn export_file(
        &mut self,
        request: ExportRequest,
        ctx: &JobContext,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;
}

/// One kind of internal connector as the listen runner drives it. The
/// runtime implements it for [`Enrichment`], [`FileImport`] and
/// [`FileExport`].
pub trait Listener: Send + 'static {
    /// The typed event of the kind.
    type Request: Send;
    /// The type registered unless `CONNECTOR_TYPE` says otherwise.
    const CONNECTOR_TYPE: ConnectorType;
    /// Registered `playbook_compatible`.
    const PLAYBOOK_COMPATIBLE: bool = false;

    /// The connector's start hook.
    fn start(&mut self) -> impl Future<Output = Result<(), String>> + Send;

    /// Reads the job's event and what the runtime fetches for it before
    /// the work is marked received; an error closes the work in error.
    fn prepare(
        job: &Job,
        api: &ApiClient,
    ) -> impl Future<Output = Result<Self::Request, String>> + Send;

    /// Runs the connector on the job; the text closes the work.
    fn handle(
        &mut self,
        request: Self::Request,
        ctx: &JobContext,
    ) -> impl Future<Output = Result<String, String>> + Send;
}

/// An [`Enricher`] with the `CONNECTOR_MAX_TLP` it checks.
#[derive(Debug)]
pub struct Enrichment<C> {
    connector: C,
    max_tlp: Option<String>,
}

impl<C: Enricher> Enrichment<C> {
    /// `connector`, refusing entities above `max_tlp` (none: no check).
    pub fn new(connector: C, max_tlp: Option<String>) -> Self {
        Self { connector, max_tlp }
    }

    /// The connector.
    pub fn connector(&self) -> &C {
        &self.connector
    }
}

impl<C: Enricher> Listener for Enrichment<C> {
    type Request = EnrichmentRequest;
    const CONNECTOR_TYPE: ConnectorType = ConnectorType::InternalEnrichment;
    const PLAYBOOK_COMPATIBLE: bool = C::PLAYBOOK_COMPATIBLE;

    async fn start(&mut self) -> Result<(), String> {
        self.connector.on_start().await.map_err(|e| e.to_string())
    }

    async fn prepare(job: &Job, api: &ApiClient) -> Result<EnrichmentRequest, String> {
        let mut request = EnrichmentRequest::from_job(job).map_err(|e| e.to_string())?;
        let entity = api
            .read_stix_core_object(&request.entity_id)
            .await
            .map_err(|error| format!("Unable to read the entity: {error}"))?;
        request.enrichment_entity = entity.filter(Value::is_object).ok_or_else(|| {
            "Unable to read/access the entity, please check the connector permissions".to_owned()
        })?;
        Ok(request)
    }

    async fn handle(
        &mut self,
        request: EnrichmentRequest,
        ctx: &JobContext,
    ) -> Result<String, String> {
        let tlp = request.tlp();
        if !check_max_tlp(tlp, self.max_tlp.as_deref()) {
            return Err(format!(
                "Do not send any data, TLP of the entity ({}) is greater than MAX TLP ({})",
                tlp.unwrap_or_default(),
                self.max_tlp.as_deref().unwrap_or_default()
            ));
        }
        self.connector
            .enrich(request, ctx)
            .await
            .map_err(|e| crate::error_chain(&e))
    }
}

/// A [`FileImporter`] as the listen runner drives it.
#[derive(Debug)]
pub struct FileImport<C>(pub C);

impl<C: FileImporter> Listener for FileImport<C> {
    type Request = FileImportRequest;
    const CONNECTOR_TYPE: ConnectorType = ConnectorType::InternalImportFile;

    async fn start(&mut self) -> Result<(), String> {
        self.0.on_start().await.map_err(|e| e.to_string())
    }

    async fn prepare(job: &Job, _: &ApiClient) -> Result<FileImportRequest, String> {
        FileImportRequest::from_job(job).map_err(|e: MessageError| e.to_string())
    }

    async fn handle(
        &mut self,
        request: FileImportRequest,
        ctx: &JobContext,
    ) -> Result<String, String> {
        self.0
            .import_file(request, ctx)
            .await
            .map_err(|e| crate::error_chain(&e))
    }
}

/// A [`FileExporter`] as the listen runner drives it.
#[derive(Debug)]
pub struct FileExport<C>(pub C);

impl<C: FileExporter> Listener for FileExport<C> {
    type Request = ExportRequest;
    const CONNECTOR_TYPE: ConnectorType = ConnectorType::InternalExportFile;

    async fn start(&mut self) -> Result<(), String> {
        self.0.on_start().await.map_err(|e| e.to_string())
    }

    async fn prepare(job: &Job, _: &ApiClient) -> Result<ExportRequest, String> {
        ExportRequest::from_job(job).map_err(|e| e.to_string())
    }

    async fn handle(&mut self, request: ExportRequest, ctx: &JobContext) -> Result<String, String> {
        self.0
            .export_file(request, ctx)
            .await
            .map_err(|e| crate::error_chain(&e))
    }
}
