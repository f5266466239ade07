//! Platform jobs for internal connectors: what the platform publishes on a
//! connector's listen queue when the UI or an automation asks for an
//! enrichment, a file import, an export or a playbook step, with the work
//! it opens for each (see `LISTEN.md` for the platform code followed).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::core::{Core, JobSource};
use crate::entity;
use crate::error::SimError;
use crate::model::{
    ADMIN_USER_ID, ConnectorRecord, DraftRecord, JobKind, JobRecord, PlaybookStep, StoredObject,
    UploadedFile, WorkRecord, iso, now,
};

/// `AUTOMATION_MANAGER_USER`: the user playbook steps run as.
pub const AUTOMATION_USER_ID: &str = "c49fe040-2dad-412d-af07-ce639204ad55";

const ENRICHMENT: &str = "INTERNAL_ENRICHMENT";
const IMPORT: &str = "INTERNAL_IMPORT_FILE";
const EXPORT: &str = "INTERNAL_EXPORT_FILE";

/// The platform's `app:validation_mode` default.
const DEFAULT_VALIDATION_MODE: &str = "workbench";

/// An import asked through `askJobImport` (the UI's "launch import").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportRequest {
    /// The file's storage id (`import/global/<name>`, ...).
    pub file_id: String,
    /// Only this connector (else every live import connector of the mime type).
    pub connector_id: Option<String>,
    /// Connector-specific configuration, passed as the message's `configuration`.
    pub configuration: Option<String>,
    /// Entity to import into instead of the file's.
    pub bypass_entity_id: Option<String>,
    /// Import without validation.
    pub bypass_validation: bool,
    /// `workbench` or `draft` (platform default: `workbench`).
    pub validation_mode: Option<String>,
    /// Validate even when the connector would not.
    pub force_validation: bool,
    /// The draft the user is in (forces `draft` mode and bypasses validation).
    pub draft_id: Option<String>,
}

/// An entity export (the entity's "generate an export" button).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportRequest {
    /// The entity (standard or internal id).
    pub entity_id: String,
    /// The MIME type asked for; export connectors register it as their scope.
    pub format: String,
    /// `simple` or `full`.
    pub export_type: String,
    /// Marking ids: content above these levels is left out.
    pub content_max_markings: Vec<String>,
    /// Markings given to the exported file.
    pub file_markings: Vec<String>,
}

/// A list export (a list's export button; `selected_ids` for a selection).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListExportRequest {
    /// What the list shows (`Stix-Core-Object`, `Report`, ...).
    pub entity_type: String,
    /// The entity the list belongs to, if any.
    pub entity_id: Option<String>,
    /// The MIME type asked for.
    pub format: String,
    /// `simple` or `full`.
    pub export_type: String,
    /// Checked rows (a selection export) or none (the whole query).
    pub selected_ids: Vec<String>,
    /// The list's search text.
    pub search: Option<String>,
    /// The list's filters (a `FilterGroup`).
    pub filters: Option<Value>,
    /// The list's ordering.
    pub order_by: Option<String>,
    /// `asc` or `desc`.
    pub order_mode: Option<String>,
    /// Marking ids: content above these levels is left out.
    pub content_max_markings: Vec<String>,
    /// Markings given to the exported file.
    pub file_markings: Vec<String>,
}

/// A playbook step sent to an enrichment connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlaybookRun {
    /// The connector asked.
    pub connector_id: String,
    /// `internal.playbook` of the message.
    pub playbook_id: String,
    /// Execution id.
    pub execution_id: String,
    /// Triggering event id.
    pub event_id: String,
    /// This step (the connector component).
    pub step_id: String,
    /// The step before it.
    pub previous_step_id: String,
    /// The STIX id of the playbook's main element.
    pub data_instance_id: String,
    /// The bundle sent.
    pub bundle: Value,
}

/// The file an export will produce, and where it goes.
struct ExportFile<'a> {
    format: &'a str,
    export_type: &'a str,
    content_max_markings: &'a [String],
    /// `<type>-<name>` for an entity, the listed type for a list.
    subject: &'a str,
    /// The export directory (`export/<type>[/<entity id>]`), the works' source.
    path: &'a str,
}

/// Connectors of one type matching a scope, as the platform's
/// `filterConnectors` picks them.
struct Selection<'a> {
    connector_type: &'a str,
    scope: Option<&'a str>,
    only_alive: bool,
    only_auto: bool,
}

impl Selection<'_> {
    fn matches(&self, connector: &ConnectorRecord) -> bool {
        let scope_matches = match self.scope {
            Some(scope) if !connector.scope.is_empty() => connector
                .scope
                .iter()
                .any(|s| s.eq_ignore_ascii_case(scope)),
            _ => true,
        };
        connector.connector_type == self.connector_type
            && (!self.only_alive || connector.is_active(now()))
            && (!self.only_auto || connector.auto)
            && scope_matches
    }
}

/// `mime.extension(format)`, for the names of export files.
fn extension(format: &str) -> &'static str {
    match format {
        "application/json"
        | "application/vnd.oasis.stix+json"
        | "application/vnd.mitre.navigator+json" => "json",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "application/pdf" => "pdf",
        "text/html" => "html",
        "text/xml" | "application/xml" => "xml",
        "application/vnd.oasis.opendocument.spreadsheet" => "ods",
        _ => "unknown",
    }
}

/// The platform's export filters for the admin (who may share every
/// marking): content above `content_max_markings` is excluded, only TLP
/// levels are known. Returns `(access_filter, main_filter)`.
fn export_filters(content_max_markings: &[String], ids: &[String]) -> (Value, Value) {
    let max_order = content_max_markings
        .iter()
        .filter_map(|id| entity::tlp_order(id))
        .map(|(_, order)| order)
        .min();
    let access: Vec<Value> = max_order
        .map(|order| {
            vec![
                json!({"key": "objectMarking", "mode": "and", "operator": "not_eq",
                        "values": entity::tlp_ids_above(order)}),
            ]
        })
        .unwrap_or_default();
    let mut main = access.clone();
    if !ids.is_empty() {
        main.push(json!({"key": "ids", "values": ids, "mode": "or", "operator": "eq"}));
    }
    (
        json!({"mode": "and", "filters": access, "filterGroups": []}),
        json!({"mode": "and", "filters": main, "filterGroups": []}),
    )
}

fn marking_levels(content_max_markings: &[String]) -> String {
    let names: Vec<&str> = content_max_markings
        .iter()
        .filter_map(|id| entity::tlp_order(id).map(|(name, _)| name))
        .collect();
    if names.is_empty() {
        "TLP:ALL".to_owned()
    } else {
        names.join("_")
    }
}

fn functional(reason: impl Into<String>) -> SimError {
    SimError::InvalidRequest {
        reason: reason.into(),
    }
}

impl Core {
    fn connector(&self, id: &str) -> Result<ConnectorRecord, SimError> {
        self.store
            .read(|state| state.connectors.get(id).cloned())
            .ok_or_else(|| SimError::UnknownConnector { id: id.to_owned() })
    }

    fn select(&self, selection: &Selection<'_>) -> Vec<ConnectorRecord> {
        self.store.read(|state| {
            state
                .connectors
                .values()
                .filter(|c| selection.matches(c))
                .cloned()
                .collect()
        })
    }

    fn stored(&self, id: &str) -> Option<StoredObject> {
        self.store.read(|state| entity::find(state, id).cloned())
    }

    /// Publishes a message on the connector's listen queue (the platform's
    /// `pushToConnector`: persistent, on the connector exchange). It is
    /// kept first, so whoever reads it from the queue finds it kept.
    async fn push_to_connector(
        &self,
        connector: &ConnectorRecord,
        kind: JobKind,
        work_id: Option<String>,
        message: Value,
    ) -> Result<(), SimError> {
        let body = message.to_string();
        self.store.write(|state| {
            state.record_job(JobRecord {
                connector_id: connector.id.clone(),
                kind,
                work_id: work_id.clone(),
                sent_at: now(),
                message,
            });
        });
        let queues = &connector.queues;
        self.broker
            .publish(
                &queues.listen_exchange,
                &queues.listen_routing,
                body.as_bytes(),
            )
            .await?;
        tracing::info!(connector_id = %connector.id, ?kind, work_id = work_id.as_deref().unwrap_or("-"), "job sent to the connector's listen queue");
        Ok(())
    }

    /// A message given as is (the event and configuration of a job the
    /// simulator does not model), with a waiting work.
    pub(crate) async fn send_listen_message(
        &self,
        connector_id: &str,
        event: Value,
        configuration: Option<String>,
    ) -> Result<WorkRecord, SimError> {
        let connector = self.connector(connector_id)?;
        let friendly = format!("{} manual run @ {}", connector.name, iso(now()));
        let work = self.create_job_work(connector_id, friendly, JobSource::default())?;
        let message = json!({
            "internal": {
                "work_id": work.id,
                "applicant_id": ADMIN_USER_ID,
                "draft_id": null,
                "mode": "manual",
                "trigger": null,
            },
            "event": event,
            "configuration": configuration,
        });
        self.push_to_connector(&connector, JobKind::Custom, Some(work.id.clone()), message)
            .await?;
        Ok(work)
    }

    /// `stixCoreObjectEdit(id) { askEnrichment(connectorId) }`: `None` when
    /// no such connector is registered, as the platform answers.
    pub(crate) async fn ask_enrichment(
        &self,
        entity_id: &str,
        connector_id: &str,
        draft_id: Option<String>,
    ) -> Result<Option<WorkRecord>, SimError> {
        let Ok(connector) = self.connector(connector_id) else {
            return Ok(None);
        };
        let stored = self
            .stored(entity_id)
            .ok_or_else(|| functional("Cannot enrich the object, element cannot be found."))?;
        let name = match &draft_id {
            Some(draft) => format!("Manual enrichment in draft {draft}"),
            None => "Manual enrichment".to_owned(),
        };
        let work = self
            .send_enrichment(&connector, &stored, name, "manual", "update", draft_id)
            .await?;
        Ok(Some(work))
    }

    async fn send_enrichment(
        &self,
        connector: &ConnectorRecord,
        stored: &StoredObject,
        work_name: String,
        mode: &str,
        trigger: &str,
        draft_id: Option<String>,
    ) -> Result<WorkRecord, SimError> {
        let source = JobSource {
            event_source_id: Some(stored.id.clone()),
            draft_id: draft_id.clone(),
        };
        let work = self.create_job_work(&connector.id, work_name, source)?;
        // The platform only resolves a bundle for types with a bundle
        // resolver (Security-Coverage); everything else gets null and the
        // connector reads the entity itself.
        let message = json!({
            "internal": {
                "work_id": work.id,
                "applicant_id": null,
                "draft_id": draft_id,
                "mode": mode,
                "trigger": trigger,
            },
            "event": {
                "event_type": ENRICHMENT,
                "entity_id": stored.id,
                "entity_type": stored.entity_type,
                "stix_entity": entity::stix(stored).to_string(),
                "stix_objects": null,
            },
        });
        self.push_to_connector(
            connector,
            JobKind::Enrichment,
            Some(work.id.clone()),
            message,
        )
        .await?;
        Ok(work)
    }

    /// Automatic enrichment of objects the worker created (connectors
    /// registered with `auto`) or changed (`auto_update`), whose entity type
    /// is in their scope.
    pub(crate) async fn auto_enrich(&self, created: &[String], updated: &[String]) {
        if created.is_empty() && updated.is_empty() {
            return;
        }
        let connectors = self.select(&Selection {
            connector_type: ENRICHMENT,
            scope: None,
            only_alive: true,
            only_auto: false,
        });
        for (ids, trigger) in [(created, "create"), (updated, "update")] {
            let wanted: Vec<&ConnectorRecord> = connectors
                .iter()
                .filter(|c| {
                    if trigger == "create" {
                        c.auto
                    } else {
                        c.auto_update
                    }
                })
                .collect();
            // Most imports meet no automatic enrichment: nothing is cloned then.
            if wanted.is_empty() {
                continue;
            }
            for id in ids {
                let entity_type = self.store.read(|state| {
                    state
                        .objects
                        .get(id)
                        .filter(|stored| entity::is_core(&stored.stix_type))
                        .map(|stored| stored.entity_type.clone())
                });
                let Some(entity_type) = entity_type else {
                    continue;
                };
                let in_scope: Vec<&&ConnectorRecord> = wanted
                    .iter()
                    .filter(|c| c.scope.iter().any(|s| s.eq_ignore_ascii_case(&entity_type)))
                    .collect();
                let Some(stored) = in_scope.first().and_then(|_| self.stored(id)) else {
                    continue;
                };
                for connector in in_scope {
                    let name = format!("Enrichment ({})", stored.id);
                    if let Err(error) = self
                        .send_enrichment(connector, &stored, name, "auto", trigger, None)
                        .await
                    {
                        tracing::warn!(connector_id = %connector.id, %error, "automatic enrichment not sent");
                    }
                }
            }
        }
    }

    /// A playbook's "enrich through connector" step on a stored entity:
    /// the bundle holds the entity and what it references.
    pub(crate) async fn run_playbook_step(
        &self,
        connector_id: &str,
        entity_id: &str,
    ) -> Result<PlaybookRun, SimError> {
        let connector = self.connector(connector_id)?;
        let bundle_objects = self.store.read(|state| {
            entity::find(state, entity_id)
                .map(|stored| (stored.id.clone(), entity::with_references(state, stored)))
        });
        let (data_instance_id, objects) =
            bundle_objects.ok_or_else(|| functional(format!("No stored entity {entity_id}")))?;
        let event_id = self.store.write(|state| {
            let ms = u64::try_from(now().timestamp_millis()).unwrap_or_default();
            state.reserve_position(ms).to_string()
        });
        let run = PlaybookRun {
            connector_id: connector.id.clone(),
            playbook_id: uuid::Uuid::new_v4().to_string(),
            execution_id: uuid::Uuid::new_v4().to_string(),
            event_id,
            step_id: uuid::Uuid::new_v4().to_string(),
            previous_step_id: uuid::Uuid::new_v4().to_string(),
            bundle: json!({
                "type": "bundle",
                "id": format!("bundle--{}", uuid::Uuid::new_v4()),
                "spec_version": "2.1",
                "objects": objects,
            }),
            data_instance_id,
        };
        // The platform's trigger: `create` when the main element carries
        // OpenCTI's id, which stored elements always do.
        let message = json!({
            "internal": {
                "work_id": null,
                "playbook": {
                    "event_id": run.event_id,
                    "execution_id": run.execution_id,
                    "playbook_id": run.playbook_id,
                    "data_instance_id": run.data_instance_id,
                    "step_id": run.step_id,
                    "previous_step_id": run.previous_step_id,
                },
                "applicant_id": AUTOMATION_USER_ID,
                "trigger": "create",
                "mode": "auto",
            },
            "event": {
                "entity_id": run.data_instance_id,
                "bundle": run.bundle,
            },
        });
        self.push_to_connector(&connector, JobKind::Playbook, None, message)
            .await?;
        Ok(run)
    }

    /// `playbookStepExecution`: kept, and `true` when it answers a step this
    /// simulator sent (the platform answers `false` for unknown playbooks).
    pub(crate) fn playbook_step_execution(&self, arguments: Map<String, Value>) -> bool {
        let at = now();
        self.store.write(|state| {
            let known = state.jobs.iter().any(|job| {
                let sent = &job.message["internal"]["playbook"];
                job.kind == JobKind::Playbook
                    && ["playbook_id", "execution_id", "step_id"]
                        .iter()
                        .all(|key| sent[key] == arguments.get(*key).cloned().unwrap_or_default())
            });
            state.playbook_steps.push(PlaybookStep {
                at,
                arguments: Value::Object(arguments),
            });
            known
        })
    }

    /// `uploadImport`: the file lands in `import/global`, and unless
    /// `no_trigger_import` the live import connectors registered with `auto`
    /// for its MIME type are asked to import it.
    pub(crate) async fn upload_import(
        &self,
        file: UploadedFile,
        no_trigger_import: bool,
    ) -> Result<(UploadedFile, Vec<WorkRecord>), SimError> {
        let file = UploadedFile {
            id: format!("import/global/{}", file.name),
            ..file
        };
        self.store.write(|state| {
            state.files.retain(|f| f.id != file.id);
            state.files.push(file.clone());
        });
        let works = if no_trigger_import {
            Vec::new()
        } else {
            self.import_jobs(&file, None, &ImportRequest::default(), false)
                .await?
        };
        Ok((file, works))
    }

    /// `askJobImport`: returns the file and the works opened.
    pub(crate) async fn ask_job_import(
        &self,
        request: &ImportRequest,
    ) -> Result<(UploadedFile, Vec<WorkRecord>), SimError> {
        let file = self
            .store
            .read(|state| {
                state
                    .files
                    .iter()
                    .find(|f| f.id == request.file_id)
                    .cloned()
            })
            .ok_or_else(|| functional(format!("File {} not found", request.file_id)))?;
        let entity_id = request
            .bypass_entity_id
            .clone()
            .or_else(|| file.entity_id.clone());
        let works = self.import_jobs(&file, entity_id, request, true).await?;
        Ok((file, works))
    }

    /// The platform's `uploadJobImport`.
    async fn import_jobs(
        &self,
        file: &UploadedFile,
        entity_id: Option<String>,
        request: &ImportRequest,
        manual: bool,
    ) -> Result<Vec<WorkRecord>, SimError> {
        let mime = file.mime_type.clone().unwrap_or_default();
        let connectors: Vec<ConnectorRecord> = self
            .select(&Selection {
                connector_type: IMPORT,
                scope: Some(&mime),
                only_alive: true,
                only_auto: !manual,
            })
            .into_iter()
            .filter(|c| request.connector_id.as_ref().is_none_or(|id| *id == c.id))
            .filter(|c| entity_id.is_some() || !c.only_contextual)
            .collect();
        let draft = request.draft_id.clone();
        let validation_mode = match &draft {
            Some(_) => "draft".to_owned(),
            None => request
                .validation_mode
                .clone()
                .unwrap_or_else(|| DEFAULT_VALIDATION_MODE.to_owned()),
        };
        let mut works = Vec::new();
        for connector in connectors {
            let name = match &draft {
                Some(d) => format!("Manual import of {} in draft {d}", file.name),
                None => format!("Manual import of {}", file.name),
            };
            let source = JobSource {
                event_source_id: Some(file.id.clone()),
                draft_id: draft.clone(),
            };
            let work = self.create_job_work(&connector.id, name, source)?;
            let mut event = json!({
                "file_id": file.id,
                "file_mime": mime,
                "file_markings": file.markings,
                "file_fetch": format!("/storage/get/{}", file.id),
                "validation_mode": validation_mode,
                "bypass_validation": draft.is_some() || request.bypass_validation,
                "force_validation": request.force_validation,
            });
            // The platform leaves `entity_id` out (undefined) without an entity.
            if let Some(entity_id) = &entity_id {
                event["entity_id"] = json!(entity_id);
            }
            let message = json!({
                "internal": {
                    "work_id": work.id,
                    "applicant_id": ADMIN_USER_ID,
                    "draft_id": draft,
                    "trigger": "update",
                    "mode": "auto",
                },
                "event": event,
                "configuration": request.configuration,
            });
            self.push_to_connector(&connector, JobKind::Import, Some(work.id.clone()), message)
                .await?;
            works.push(work);
        }
        Ok(works)
    }

    fn export_connectors(&self, format: &str) -> Vec<ConnectorRecord> {
        self.select(&Selection {
            connector_type: EXPORT,
            scope: Some(format),
            only_alive: true,
            only_auto: false,
        })
    }

    /// `stixDomainObjectEdit(id) { exportAsk(input) }` (and the same on
    /// `stixCoreObjectEdit`): one work and message per export connector of
    /// the format; the work is named after the file the export will be.
    pub(crate) async fn ask_entity_export(
        &self,
        request: &ExportRequest,
    ) -> Result<Vec<WorkRecord>, SimError> {
        let stored = self
            .stored(&request.entity_id)
            .ok_or_else(|| functional(format!("No stored entity {}", request.entity_id)))?;
        let entity_name = entity::representative(&stored);
        let (access_filter, main_filter) = export_filters(
            &request.content_max_markings,
            std::slice::from_ref(&stored.internal_id),
        );
        let subject = format!("{}-{entity_name}", stored.entity_type);
        let path = format!("export/{}/{}", stored.entity_type, stored.internal_id);
        let event = json!({
            "event_type": EXPORT,
            "format": request.format,
            "export_scope": "single",
            "entity_id": stored.internal_id,
            "entity_name": entity_name,
            "entity_type": stored.entity_type,
            "export_type": request.export_type,
            "file_markings": request.file_markings,
            "main_filter": main_filter,
            "access_filter": access_filter,
        });
        let file = ExportFile {
            format: &request.format,
            export_type: &request.export_type,
            content_max_markings: &request.content_max_markings,
            subject: &subject,
            path: &path,
        };
        self.export_jobs(&file, |work_id, file_name| {
            let mut event = event.clone();
            event["file_name"] = json!(file_name);
            json!({
                "internal": {
                    "work_id": work_id,
                    "applicant_id": ADMIN_USER_ID,
                    "trigger": null,
                    "mode": "manual",
                },
                "event": event,
            })
        })
        .await
    }

    /// One work and message per export connector of the format; the work
    /// is named after the file the export will be.
    async fn export_jobs(
        &self,
        file: &ExportFile<'_>,
        message: impl Fn(&str, &str) -> Value,
    ) -> Result<Vec<WorkRecord>, SimError> {
        let mut works = Vec::new();
        for connector in self.export_connectors(file.format) {
            let file_name = format!(
                "{}_{}_({})_{}_{}.{}",
                iso(now()),
                marking_levels(file.content_max_markings),
                connector.name,
                file.subject,
                file.export_type,
                extension(file.format),
            );
            let source = JobSource {
                event_source_id: Some(file.path.to_owned()),
                draft_id: None,
            };
            let work = self.create_job_work(&connector.id, file_name.clone(), source)?;
            let message = message(&work.id, &file_name);
            self.push_to_connector(&connector, JobKind::Export, Some(work.id.clone()), message)
                .await?;
            works.push(work);
        }
        Ok(works)
    }

    /// `stixCoreObjectsExportAsk(input)`: a selection export when ids are
    /// checked, else the list's query.
    pub(crate) async fn ask_list_export(
        &self,
        request: &ListExportRequest,
    ) -> Result<Vec<WorkRecord>, SimError> {
        if request.entity_type.is_empty() {
            return Err(functional("entity_type is missing from askListExport"));
        }
        let entity = match &request.entity_id {
            Some(id) => Some(
                self.stored(id)
                    .ok_or_else(|| functional(format!("No stored entity {id}")))?,
            ),
            None => None,
        };
        let (access_filter, main_filter) =
            export_filters(&request.content_max_markings, &request.selected_ids);
        let mut base = json!({
            "format": request.format,
            "export_type": request.export_type,
            "entity_name": entity.as_ref().map_or_else(|| "global".to_owned(), entity::representative),
            "entity_type": request.entity_type,
            "file_markings": request.file_markings,
            "main_filter": main_filter,
            "access_filter": access_filter,
        });
        if let Some(entity) = &entity {
            base["entity_id"] = json!(entity.internal_id);
        }
        let list_params = json!({
            "search": request.search,
            "orderBy": request.order_by,
            "orderMode": request.order_mode,
            "filters": request.filters,
        });
        let path = match &entity {
            Some(entity) => format!("export/{}/{}", request.entity_type, entity.internal_id),
            None => format!("export/{}", request.entity_type),
        };
        let file = ExportFile {
            format: &request.format,
            export_type: &request.export_type,
            content_max_markings: &request.content_max_markings,
            subject: &request.entity_type,
            path: &path,
        };
        self.export_jobs(&file, |work_id, file_name| {
            let mut event = base.clone();
            event["file_name"] = json!(file_name);
            if request.selected_ids.is_empty() {
                event["export_scope"] = json!("query");
                event["list_params"] = list_params.clone();
            } else {
                event["event_type"] = json!(EXPORT);
                event["export_scope"] = json!("selection");
                event["selected_ids"] = json!(request.selected_ids);
            }
            json!({
                "internal": {"work_id": work_id, "applicant_id": ADMIN_USER_ID},
                "event": event,
            })
        })
        .await
    }

    /// `draftWorkspaceAdd`.
    pub(crate) fn add_draft(&self, name: String, entity_id: Option<String>) -> DraftRecord {
        let draft = DraftRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            entity_id,
            created_at: now(),
            objects: std::collections::BTreeMap::new(),
        };
        self.store.write(|state| state.drafts.push(draft.clone()));
        draft
    }

    /// An export connector's upload (`exportPush` and the list push
    /// mutations): kept under `export/<type>[/<entity id>]/<name>`.
    pub(crate) fn store_export(
        &self,
        entity_id: Option<&str>,
        entity_type: Option<&str>,
        mut file: UploadedFile,
    ) -> Result<UploadedFile, SimError> {
        let entity = match entity_id {
            Some(id) => Some(self.stored(id).ok_or_else(|| {
                functional(format!("Cant upload a file an none existing element {id}"))
            })?),
            None => None,
        };
        let entity_type = entity_type
            .map(str::to_owned)
            .or_else(|| entity.as_ref().map(|e| e.entity_type.clone()))
            .unwrap_or_else(|| "Stix-Core-Object".to_owned());
        file.id = match &entity {
            Some(entity) => format!("export/{entity_type}/{}/{}", entity.internal_id, file.name),
            None => format!("export/{entity_type}/{}", file.name),
        };
        file.entity_id = entity.map(|e| e.internal_id);
        self.store.write(|state| {
            state.files.retain(|f| f.id != file.id);
            state.files.push(file.clone());
        });
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(scope: &[&str], auto: bool) -> ConnectorRecord {
        let queues = crate::model::QueueNames::for_connector("", "c");
        ConnectorRecord {
            scope: scope.iter().map(|s| (*s).to_owned()).collect(),
            auto,
            ..ConnectorRecord::new("c", "Import", IMPORT, queues, now())
        }
    }

    #[test]
    fn connectors_are_picked_by_type_scope_and_auto_like_the_platform() {
        let json_import = connector(&["application/json", "text/xml"], false);
        let selection = |scope, only_auto| Selection {
            connector_type: IMPORT,
            scope,
            only_alive: true,
            only_auto,
        };
        assert!(selection(Some("APPLICATION/JSON"), false).matches(&json_import));
        assert!(!selection(Some("text/csv"), false).matches(&json_import));
        assert!(!selection(Some("application/json"), true).matches(&json_import));
        // An empty scope takes every MIME type.
        assert!(selection(Some("text/csv"), false).matches(&connector(&[], false)));
    }

    #[test]
    fn export_filters_exclude_what_is_above_the_content_maximum() {
        let green = opencti_stix::marking::TLP_GREEN.common.id.clone();
        let (access, main) = export_filters(&[green], &["x".to_owned()]);
        let excluded = access["filters"][0]["values"]
            .as_array()
            .expect("values")
            .len();
        assert_eq!(excluded, 3, "AMBER, AMBER+STRICT and RED");
        assert_eq!(main["filters"][1]["key"], "ids");
        let (open, _) = export_filters(&[], &[]);
        assert_eq!(
            open,
            json!({"mode": "and", "filters": [], "filterGroups": []})
        );
        assert_eq!(marking_levels(&[]), "TLP:ALL");
    }
}
