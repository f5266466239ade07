//! The import run: download the package, walk its entries in archive
//! order, convert the enabled kinds and send them, and keep the state.
//!
//! State keys: `last_run` (the Python connector's, same format, written
//! after each imported file) and `imported_files` (ours: the CRC-32 of each
//! file of the current package already imported, so that a package served
//! again is not imported twice and a failed run resumes after the last
//! file it finished). Both move only after the file's bundles were
//! confirmed by the broker.

use std::path::{Path, PathBuf};

use chrono::Utc;
use opencti_connector::catalog::{Listing, SolutionCategory, UseCase};
use opencti_connector::config::Var;
use opencti_connector::publish::SendOptions;
use opencti_connector::state::State;
use opencti_connector::{Connector, ConnectorSpec, ImportSource, RunContext, SendError, spec};
use serde_json::{Map, Value, json};

use crate::client::{ClientSettings, DownloadError, NtiClient};
use crate::config::{FeedKind, NtiConfig, VARS};
use crate::convert::{Converted, Converter, IocMerger, RecordError};
use crate::package::{self, EntryInfo, PackageError, RecordLine};
use crate::record::Record;

/// Records converted and sent together (one bundle). IOC files are merged
/// whole first, as in Python, then converted this many merged records at a
/// time.
const RECORDS_PER_SEND: usize = 1_000;

/// What the `opencti-nti` binary is (name, version, variables), for
/// checks of the documentation against the code.
pub static SPEC: ConnectorSpec = spec::<Nti>();

/// State key of the imported files (ours).
pub const IMPORTED_FILES: &str = "imported_files";
/// State key of the last import (the Python connector's).
pub const LAST_RUN: &str = "last_run";

/// Why a run stopped. Files imported before the failure stay imported; the
/// next run resumes with the first file not finished.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A bundle could not be published (or shutdown was requested).
    #[error(transparent)]
    Send(#[from] SendError),
    /// The package could not be downloaded.
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// The package or one of its files is corrupt.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// A blocking task failed.
    #[error("internal error: {0}")]
    Internal(#[source] tokio::task::JoinError),
}

/// The NTI feed connector.
#[derive(Debug)]
pub struct Nti {
    config: NtiConfig,
    client: NtiClient,
    converter: Converter,
    download_dir: PathBuf,
}

impl Nti {
    /// Changes where the package is downloaded (the system's temporary
    /// directory by default).
    #[must_use]
    pub fn with_download_dir(mut self, directory: PathBuf) -> Self {
        self.download_dir = directory;
        self
    }

    /// Changes the first wait between download attempts (tests).
    ///
    /// # Errors
    /// [`RunError::Download`] if the client cannot be rebuilt.
    pub fn with_initial_backoff(mut self, backoff: std::time::Duration) -> Result<Self, RunError> {
        let mut settings = ClientSettings::from(&self.config);
        settings.initial_backoff = backoff;
        self.client = NtiClient::new(settings)?;
        Ok(self)
    }

    /// The enabled kind of an entry, from its task name.
    fn kind_of(&self, entry: &EntryInfo) -> Option<FeedKind> {
        let task = entry.task();
        self.config
            .kinds
            .iter()
            .copied()
            .find(|kind| self.config.task_name(*kind) == task)
    }

    async fn import_entry(
        &self,
        ctx: &RunContext,
        path: &Path,
        entry: &EntryInfo,
        kind: FeedKind,
    ) -> Result<usize, RunError> {
        tracing::info!(file = %entry.name, kind = kind.label(), "Importing NTI {} feed file", kind.label());
        let mut batches = package::stream_records(
            path.to_owned(),
            entry.clone(),
            RECORDS_PER_SEND,
            self.config.limits,
        );
        let mut records = 0;
        let mut merger = IocMerger::default();
        let mut problems = Problems::default();
        while let Some(batch) = batches.recv().await {
            let batch = batch?;
            let mut converted = Converted::default();
            for RecordLine { line, record } in batch {
                let record = match record {
                    Ok(record) => record,
                    Err(reason) => {
                        problems.report(ctx, entry, line, &reason).await?;
                        continue;
                    }
                };
                records += 1;
                let outcome = match kind {
                    FeedKind::Ioc => merger.push(record),
                    _ => self.convert_record(kind, &record, &mut converted),
                };
                if let Err(error) = outcome {
                    problems
                        .report(ctx, entry, line, &error.to_string())
                        .await?;
                }
            }
            self.send(ctx, entry, converted).await?;
        }
        if kind == FeedKind::Ioc {
            // The merged records are held (as in Python); their STIX is
            // built and sent a slice at a time.
            for records in merger.finish().chunks(RECORDS_PER_SEND) {
                let converted = self.converter.iocs(records, Utc::now());
                self.send(ctx, entry, converted).await?;
            }
        }
        problems.finish(ctx, entry).await?;
        Ok(records)
    }

    /// Converts one record into `out`, all or nothing.
    fn convert_record(
        &self,
        kind: FeedKind,
        record: &Record,
        out: &mut Converted,
    ) -> Result<(), RecordError> {
        let mut one = Converted::default();
        match kind {
            FeedKind::Ip => self.converter.ip(record, &mut one),
            FeedKind::Domain => self.converter.domain(record, &mut one),
            FeedKind::Url => self.converter.url(record, &mut one),
            FeedKind::File | FeedKind::Ioc => self.converter.sample(record, &mut one),
        }?;
        out.entities.append(&mut one.entities);
        out.relationships.append(&mut one.relationships);
        out.skipped.append(&mut one.skipped);
        Ok(())
    }

    /// Sends the objects and, after them, the relationships between them,
    /// in one bundle with the author and the marking; nothing when empty.
    ///
    /// The Python connector sent the relationships in a second bundle with
    /// `cleanup_inconsistent_bundle`, whose split withholds every
    /// relationship (their ends are not in that bundle): none reached the
    /// platform.
    async fn send(
        &self,
        ctx: &RunContext,
        entry: &EntryInfo,
        converted: Converted,
    ) -> Result<(), RunError> {
        for skipped in &converted.skipped {
            tracing::warn!(file = %entry.name, "NTI record part left out: {skipped}");
        }
        if converted.is_empty() {
            return Ok(());
        }
        let mut objects = converted.entities;
        objects.extend(converted.relationships);
        let mut options = SendOptions::default();
        options.cleanup_inconsistent_bundle = true;
        let bundle = self.converter.bundle(objects);
        ctx.send_bundle_with(bundle.into_value(), &options).await?;
        Ok(())
    }
}

/// Records of a file that produced nothing: the first ones are reported on
/// the run's work (with file and line), the rest only logged and counted,
/// so that a broken file cannot flood the platform with errors.
#[derive(Debug, Default)]
struct Problems {
    reported: usize,
    suppressed: usize,
}

/// Errors reported on the work per file; later ones are only logged.
const MAX_REPORTED_PER_FILE: usize = 50;

impl Problems {
    async fn report(
        &mut self,
        ctx: &RunContext,
        entry: &EntryInfo,
        line: usize,
        reason: &str,
    ) -> Result<(), SendError> {
        let message = format!(
            "NTI record skipped, line {line} of {}: {reason}",
            entry.name
        );
        if self.reported < MAX_REPORTED_PER_FILE {
            self.reported += 1;
            ctx.report_error(message, format!("{}:{line}", entry.name))
                .await
        } else {
            self.suppressed += 1;
            tracing::warn!("{message}");
            Ok(())
        }
    }

    async fn finish(self, ctx: &RunContext, entry: &EntryInfo) -> Result<(), SendError> {
        if self.suppressed == 0 {
            return Ok(());
        }
        ctx.report_error(
            format!(
                "{} more NTI records of {} skipped (see the connector's log)",
                self.suppressed, entry.name
            ),
            entry.name.clone(),
        )
        .await
    }
}

/// The files already imported, per the state: name to CRC-32.
fn imported_files(state: &State) -> Map<String, Value> {
    state
        .get(IMPORTED_FILES)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn crc_text(entry: &EntryInfo) -> String {
    format!("{:08x}", entry.crc32)
}

impl Connector for Nti {
    type Config = NtiConfig;
    type Error = RunError;

    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-nti";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str =
        "Imports the NSFOCUS Threat Intelligence (NTI) feed packages into OpenCTI";
    const SLUG: Option<&'static str> = Some("nti");
    const LISTING: Listing = Listing {
        title: "NSFOCUS NTI",
        description: "Imports the daily NSFOCUS Threat Intelligence (NTI) feed package (indicators, IP addresses, domains, URLs, samples) into OpenCTI, with the Python nti connector's variables and state",
        use_cases: &[UseCase::AdversaryInsights, UseCase::DetectionAndResponse],
        solution_categories: &[SolutionCategory::ThreatIntelligenceFeed],
        subscription_link: "https://nti.nsfocusglobal.com/",
        ..Listing::DEFAULT
    };

    fn from_config(config: NtiConfig) -> Result<Self, RunError> {
        let tasks: Vec<String> = config
            .kinds
            .iter()
            .map(|kind| config.task_name(*kind))
            .collect();
        tracing::info!(tasks = ?tasks, "[CONNECTOR] tasks initialized.");
        let client = NtiClient::new(ClientSettings::from(&config))?;
        Ok(Self {
            converter: Converter::new(config.marking.clone()),
            client,
            config,
            download_dir: std::env::temp_dir(),
        })
    }
}

impl ImportSource for Nti {
    async fn run(&mut self, ctx: &RunContext) -> Result<String, RunError> {
        let mut state = ctx.state().unwrap_or_default();
        match state.get(LAST_RUN) {
            Some(last_run) => {
                tracing::info!(last_run_datetime = %last_run, "[CONNECTOR] Connector last run");
            }
            None => tracing::info!("[CONNECTOR] Connector has never run..."),
        }
        let mut stored_last_run = None;
        if self.config.kinds.is_empty() {
            tracing::warn!("No NTI_CREATE_* variable is true: nothing to import");
            return Ok(summary(ctx, stored_last_run));
        }
        tracing::info!(
            url = %opencti_connector::http::redact_url(self.client.feed_url()),
            "[CONNECTOR] Fetching feed packages..."
        );
        self.client.set_shutdown(ctx.shutdown().clone());
        let package = self.client.download(&self.download_dir).await?;
        let path = package.path().to_owned();
        tracing::info!(bytes = package.size, "NTI feed package downloaded");
        let listing = path.clone();
        let entries = tokio::task::spawn_blocking(move || package::list_entries(&listing))
            .await
            .map_err(RunError::Internal)??;
        // Only the current package's files are remembered.
        let mut imported = imported_files(&state);
        imported.retain(|name, _| entries.iter().any(|entry| &entry.name == name));
        let mut pending = Vec::new();
        for entry in &entries {
            let Some(kind) = self.kind_of(entry) else {
                continue;
            };
            if imported.get(&entry.name).and_then(Value::as_str) == Some(crc_text(entry).as_str()) {
                tracing::info!(file = %entry.name, "NTI feed file already imported, skipped");
                continue;
            }
            // A file declaring an oversized content refuses the package
            // before anything of it is imported.
            entry.check_size(&self.config.limits)?;
            pending.push((entry, kind));
        }
        for (entry, kind) in pending {
            let records = self.import_entry(ctx, &path, entry, kind).await?;
            let last_run = Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
            tracing::info!("{records} {} objects were sent to OpenCTI.", entry.task());
            imported.insert(entry.name.clone(), json!(crc_text(entry)));
            state.insert(LAST_RUN.to_owned(), json!(last_run));
            state.insert(IMPORTED_FILES.to_owned(), Value::Object(imported.clone()));
            ctx.set_state(state.clone());
            stored_last_run = Some(last_run);
        }
        drop(package);
        Ok(summary(ctx, stored_last_run))
    }
}

/// The message of a successful run: the `last_run` it stored, if any.
fn summary(ctx: &RunContext, stored_last_run: Option<String>) -> String {
    match stored_last_run {
        Some(last_run) => format!(
            "{} connector successfully run, storing last_run as {last_run}",
            ctx.connector_name()
        ),
        None => format!(
            "{} connector run: no new NTI feed file",
            ctx.connector_name()
        ),
    }
}
