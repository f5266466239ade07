//! Internal connectors: the *listen* half of the helper. The platform
//! (a user, an automatic trigger, a playbook) puts jobs on the connector's
//! listen queue; the runtime takes them one at a time and hands each to
//! the connector's kind trait:
//!
//! * [`Enricher::enrich`] for an enrichment connector
//!   (`INTERNAL_ENRICHMENT`), with [`run_enrichment`];
//! * [`FileImporter::import_file`] for a file import connector
//!   (`INTERNAL_IMPORT_FILE`), with [`run_file_import`];
//! * [`FileExporter::export_file`] for a file export connector
//!   (`INTERNAL_EXPORT_FILE`), with [`run_file_export`].
//!
//! For each job the runtime marks the work received, runs the connector
//! with a [`JobContext`] (bundles carry the job's work, draft and asking
//! user; a playbook step's bundle goes back to the playbook), then closes
//! the work with the connector's text, or in error with its error, its
//! panic, or why the message could not be read. Only then is the message
//! acknowledged: a broker lost mid-job delivers it again, and a job
//! already done is then acknowledged without running twice.
//!
//! Test a connector with `JobContext::for_test` (feature `test-util`) and the request types'
//! `from_job` ([`Job::from_value`] reads a message as the platform sends
//! it).

mod context;
mod handler;
mod message;
mod runner;
mod tlp;

use std::process::ExitCode;

#[cfg(any(test, feature = "test-util"))]
pub use context::JobProbe;
pub use context::{DOWNLOAD_TIMEOUT, JobContext, MAX_DOWNLOAD_BYTES};
pub use handler::{
    Enricher, Enrichment, FileExport, FileExporter, FileImport, FileImporter, Listener,
};
pub use message::{
    EnrichmentRequest, ExportRequest, ExportScope, FileImportRequest, Job, MessageError,
    PlaybookStep,
};
pub use runner::ListenRunner;
pub use tlp::check_max_tlp;

use crate::cli::Launch;
use crate::config::{ConfigErrors, ConnectorType, Settings, Var, VarKind};
use crate::connector::spec;
use crate::error::Error;

/// The variables of enrichment connectors, besides the runtime's.
pub static ENRICHMENT_VARS: &[Var] = &[Var::new(
    "CONNECTOR_MAX_TLP",
    "connector",
    "max_tlp",
    VarKind::String,
)
.help(
    "Enrichment: refuse entities marked above this TLP (TLP:CLEAR ... TLP:RED); unset: no check",
)];

/// Runs `C` as an enrichment connector process: CLI, configuration,
/// logging, signals, registration, the listen loop.
pub fn run_enrichment<C: Enricher>() -> ExitCode {
    let spec = spec::<C>().with_kind_vars(ENRICHMENT_VARS);
    crate::cli::run(
        &spec,
        ConnectorType::InternalEnrichment,
        |settings| {
            let config = C::Config::try_from(settings);
            let max_tlp = max_tlp(settings);
            match (config, max_tlp) {
                (Ok(config), Ok(max_tlp)) => Ok((config, max_tlp)),
                (Err(errors), Ok(_)) | (Ok(_), Err(errors)) => Err(errors),
                (Err(mut errors), Err(more)) => {
                    errors.extend(more);
                    Err(errors)
                }
            }
        },
        |launch: Launch<(C::Config, Option<String>)>| async move {
            let (config, max_tlp) = launch.connector;
            let connector =
                C::from_config(config).map_err(|error| Error::Connector(Box::new(error)))?;
            ListenRunner::new(Enrichment::new(connector, max_tlp), launch.runtime)
                .with_identity(C::VERSION, C::SLUG)
                .run(launch.shutdown)
                .await
        },
    )
}

/// Runs `C` as a file import connector process.
pub fn run_file_import<C: FileImporter>() -> ExitCode {
    crate::cli::run(
        &spec::<C>(),
        ConnectorType::InternalImportFile,
        |settings| C::Config::try_from(settings),
        |launch: Launch<C::Config>| async move {
            let connector = C::from_config(launch.connector)
                .map_err(|error| Error::Connector(Box::new(error)))?;
            ListenRunner::new(FileImport(connector), launch.runtime)
                .with_identity(C::VERSION, C::SLUG)
                .run(launch.shutdown)
                .await
        },
    )
}

/// Runs `C` as a file export connector process.
pub fn run_file_export<C: FileExporter>() -> ExitCode {
    crate::cli::run(
        &spec::<C>(),
        ConnectorType::InternalExportFile,
        |settings| C::Config::try_from(settings),
        |launch: Launch<C::Config>| async move {
            let connector = C::from_config(launch.connector)
                .map_err(|error| Error::Connector(Box::new(error)))?;
            ListenRunner::new(FileExport(connector), launch.runtime)
                .with_identity(C::VERSION, C::SLUG)
                .run(launch.shutdown)
                .await
        },
    )
}

/// `CONNECTOR_MAX_TLP`, checked. Its errors leave out the settings'
/// own problems, which the connector's configuration reports.
pub fn max_tlp(settings: &Settings) -> Result<Option<String>, ConfigErrors> {
    let mut check = settings.check();
    let max = check.parse("CONNECTOR_MAX_TLP", |value| {
        tlp::parse_max(&value.to_string())
    });
    let mut result = check.finish("listen", || Some(max));
    if let Err(errors) = &mut result {
        errors
            .0
            .retain(|error| !settings.problems().0.contains(error));
        if errors.is_empty() {
            return Ok(None);
        }
    }
    result
}
