//! The connector: for each list export job, reads the rows with the
//! asking user's rights, writes one line per row and uploads the file.

use opencti_connector::api::ApiError;
use opencti_connector::catalog::{Listing as CatalogListing, SolutionCategory, UseCase};
use opencti_connector::config::{NoConfig, Var};
use opencti_connector::listen::{ExportRequest, ExportScope, FileExporter, JobContext};
use opencti_connector::{Connector, ConnectorSpec, SendError, spec};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::VARS;
use crate::documents;
use crate::mapping::{Column, Listing, is_refused, lines, order, query_filters};

/// The binary's description, variables and catalog entry.
pub static SPEC: ConnectorSpec =
    spec::<ExportFileTxt>().with_kind_vars(opencti_connector::listen::LISTEN_VARS);

/// Rows per page (pycti's default for these lists; a selection reads one
/// page of each list, as the Python connector does).
const PAGE_SIZE: u64 = 100;
/// Most rows of a whole-list export; a longer list fails the export
/// rather than growing without bound.
pub const MAX_ROWS: usize = 1_000_000;

/// Why an export failed (the job's work is closed in error with it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The job asked for one entity.
    #[error("This connector only supports list exports")]
    Single,
    /// The listed type is not written as text.
    #[error("Text/plain export is not available for this entity type ({0}).")]
    Refused(String),
    /// Reading the platform failed.
    #[error(transparent)]
    Platform(#[from] ApiError),
    /// An answer lacked what the query selects.
    #[error("the platform's `{0}` answer is not a connection")]
    Shape(&'static str),
    /// A list went on past [`MAX_ROWS`] rows.
    #[error("the platform's `{0}` list goes on past {MAX_ROWS} rows")]
    TooLong(&'static str),
    /// Uploading the file failed.
    #[error(transparent)]
    Upload(#[from] SendError),
    /// The job was cancelled (shutdown).
    #[error("the export was interrupted by shutdown")]
    Cancelled,
}

/// The plain-text list export connector.
#[derive(Debug, Default)]
pub struct ExportFileTxt;

impl Connector for ExportFileTxt {
    type Config = NoConfig;
    type Error = ExportError;

    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-export-file-txt";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str =
        "Exports OpenCTI lists as plain text, one value or name a line (internal export connector)";
    const SLUG: Option<&'static str> = Some("export-file-txt");
    const LISTING: CatalogListing = CatalogListing {
        title: "Export File TXT",
        description: "Writes the values of a list of observables, or the names of a list of entities, one a line, for the rows checked in a list or a whole list query, with the Python export-file-txt connector's variables and output",
        use_cases: &[UseCase::Other],
        solution_categories: &[SolutionCategory::ImportExportSharing],
        ..CatalogListing::DEFAULT
    };

    fn from_config(_: NoConfig) -> Result<Self, ExportError> {
        Ok(Self)
    }
}

/// A list query and the field of its answer.
struct ListQuery {
    document: &'static str,
    field: &'static str,
    variables: Value,
}

impl ListQuery {
    fn of(listing: &Listing, variables: Value) -> Self {
        let (document, field) = match listing {
            Listing::Observables => (documents::LIST_OBSERVABLES, "stixCyberObservables"),
            Listing::CoreObjects => (documents::LIST_CORE_OBJECTS, "stixCoreObjects"),
            Listing::DomainObjects(_) => (documents::LIST_DOMAIN_OBJECTS, "stixDomainObjects"),
        };
        let mut variables = variables;
        if let Listing::DomainObjects(Some(kind)) = listing {
            variables["types"] = json!([kind]);
        }
        Self {
            document,
            field,
            variables,
        }
    }
}

impl FileExporter for ExportFileTxt {
    async fn export_file(
        &mut self,
        request: ExportRequest,
        ctx: &JobContext,
    ) -> Result<String, ExportError> {
        if request.export_scope == ExportScope::Single {
            return Err(ExportError::Single);
        }
        if is_refused(&request.entity_type) {
            return Err(ExportError::Refused(request.entity_type.clone()));
        }
        let reader = Reader {
            ctx,
            shutdown: ctx.shutdown(),
        };
        let rows = if request.export_scope == ExportScope::Selection {
            let filters = json!({"filters": request.main_filter});
            let mut rows = reader
                .page(&ListQuery::of(
                    &Listing::DomainObjects(None),
                    filters.clone(),
                ))
                .await?;
            rows.extend(
                reader
                    .page(&ListQuery::of(&Listing::Observables, filters))
                    .await?,
            );
            rows
        } else {
            let params = request.list_params.as_ref();
            let param = |key: &str| params.and_then(|p| p.get(key)).filter(|v| !v.is_null());
            let (order_by, order_mode) = order(
                param("orderBy").and_then(Value::as_str),
                param("orderMode").and_then(Value::as_str),
            );
            let variables = json!({
                "search": param("search"),
                "filters": query_filters(param("filters"), request.access_filter.as_ref()),
                "orderBy": order_by,
                "orderMode": order_mode,
            });
            reader
                .all(&ListQuery::of(
                    &Listing::of(&request.entity_type),
                    variables,
                ))
                .await?
        };
        let text = lines(&rows, Column::of(&request.entity_type));
        tracing::info!(entity_type = %request.entity_type, file_name = %request.file_name,
                       rows = rows.len(), "Uploading");
        ctx.upload_export(&request, text.as_bytes()).await?;
        tracing::info!(entity_type = %request.entity_type, file_name = %request.file_name,
                       "Export done");
        Ok("Export done".to_owned())
    }
}

/// Reads lists as the asking user, giving up on shutdown.
struct Reader<'a> {
    ctx: &'a JobContext,
    shutdown: &'a CancellationToken,
}

impl Reader<'_> {
    /// One page: its rows and the cursor of the next one, if any.
    async fn read(
        &self,
        query: &ListQuery,
        after: Value,
    ) -> Result<(Vec<Value>, Option<Value>), ExportError> {
        let mut variables = query.variables.clone();
        variables["first"] = json!(PAGE_SIZE);
        variables["after"] = after;
        let data = tokio::select! {
            () = self.shutdown.cancelled() => return Err(ExportError::Cancelled),
            data = self.ctx.api().query::<Value>(query.document, variables) => data?,
        };
        let connection = data
            .get(query.field)
            .ok_or(ExportError::Shape(query.field))?;
        let rows: Vec<Value> = connection
            .get("edges")
            .and_then(Value::as_array)
            .ok_or(ExportError::Shape(query.field))?
            .iter()
            .filter_map(|edge| edge.get("node").cloned())
            .collect();
        let page = connection.get("pageInfo");
        let more = page
            .and_then(|p| p.get("hasNextPage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let next = page
            .and_then(|p| p.get("endCursor"))
            .filter(|cursor| more && !cursor.is_null())
            .cloned();
        Ok((rows, next))
    }

    async fn page(&self, query: &ListQuery) -> Result<Vec<Value>, ExportError> {
        Ok(self.read(query, Value::Null).await?.0)
    }

    async fn all(&self, query: &ListQuery) -> Result<Vec<Value>, ExportError> {
        let mut rows = Vec::new();
        let mut after = Value::Null;
        loop {
            let (page, next) = self.read(query, after).await?;
            rows.extend(page);
            if rows.len() > MAX_ROWS {
                return Err(ExportError::TooLong(query.field));
            }
            match next {
                Some(next) => after = next,
                None => return Ok(rows),
            }
        }
    }
}
