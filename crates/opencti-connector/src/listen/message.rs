//! The messages the platform puts on a connector's listen queue, typed.
//!
//! Every message is `{"internal": {...}, "event": {...}, "configuration"}`
//! (see `crates/opencti-sim/LISTEN.md` §2). [`Job`] reads the envelope;
//! [`EnrichmentRequest`], [`FileImportRequest`] and [`ExportRequest`] read
//! the event of each kind. A field of the wrong shape is an error naming
//! the field.

use serde_json::{Map, Value};

use crate::publish::ValidationMode;

/// A listen message that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The body is not a JSON object.
    #[error("the message is not a JSON object: {reason}")]
    NotJson {
        /// Why.
        reason: String,
    },
    /// A field is missing or of the wrong shape.
    #[error("the message's `{field}` {reason}")]
    Field {
        /// The field's path, such as `event.file_id`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl MessageError {
    fn field(field: &str, reason: impl Into<String>) -> Self {
        Self::Field {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The ids of a playbook step, which its answer
/// (`playbookStepExecution`) repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlaybookStep {
    /// The event that started the playbook.
    pub event_id: String,
    /// This run of the playbook.
    pub execution_id: String,
    /// The playbook.
    pub playbook_id: String,
    /// The playbook's main element (STIX id).
    pub data_instance_id: String,
    /// This step.
    pub step_id: String,
    /// The step before it.
    pub previous_step_id: String,
}

/// The envelope of a listen message: who asked, for which work, in which
/// draft, and the event of the kind.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Job {
    /// The work to report on; `None` for playbook steps.
    pub work_id: Option<String>,
    /// The user who asked; `None` for the connector's own user.
    pub applicant_id: Option<String>,
    /// The draft the job runs in.
    pub draft_id: Option<String>,
    /// `manual` or `auto`, when the platform says.
    pub mode: Option<String>,
    /// `create` or `update`, when the platform says.
    pub trigger: Option<String>,
    /// Set for a playbook step.
    pub playbook: Option<PlaybookStep>,
    /// The per-connector configuration the UI sent with an import.
    pub configuration: Option<String>,
    /// The event, read by the request type of the connector's kind.
    pub event: Map<String, Value>,
}

impl Job {
    /// Reads a message body.
    pub fn parse(body: &[u8]) -> Result<Self, MessageError> {
        let value: Value = serde_json::from_slice(body).map_err(|error| MessageError::NotJson {
            reason: error.to_string(),
        })?;
        Self::from_value(value)
    }

    /// Reads a message already decoded.
    pub fn from_value(value: Value) -> Result<Self, MessageError> {
        let Value::Object(mut message) = value else {
            return Err(MessageError::NotJson {
                reason: "expected an object".to_owned(),
            });
        };
        let internal = match message.remove("internal") {
            Some(Value::Object(internal)) => internal,
            Some(_) => return Err(MessageError::field("internal", "is not an object")),
            None => return Err(MessageError::field("internal", "is missing")),
        };
        let event = match message.remove("event") {
            Some(Value::Object(event)) => event,
            Some(_) => return Err(MessageError::field("event", "is not an object")),
            None => return Err(MessageError::field("event", "is missing")),
        };
        let fields = Fields {
            map: &internal,
            prefix: "internal",
        };
        let playbook = match internal.get("playbook") {
            None | Some(Value::Null) => None,
            Some(Value::Object(step)) => {
                let step = Fields {
                    map: step,
                    prefix: "internal.playbook",
                };
                Some(PlaybookStep {
                    event_id: step.string("event_id")?,
                    execution_id: step.string("execution_id")?,
                    playbook_id: step.string("playbook_id")?,
                    data_instance_id: step.string("data_instance_id")?,
                    step_id: step.string("step_id")?,
                    previous_step_id: step.string("previous_step_id")?,
                })
            }
            Some(_) => {
                return Err(MessageError::field("internal.playbook", "is not an object"));
            }
        };
        let top = Fields {
            map: &message,
            prefix: "",
        };
        Ok(Self {
            work_id: fields.optional_string("work_id")?,
            applicant_id: fields.optional_string("applicant_id")?,
            draft_id: fields
                .optional_string("draft_id")?
                .filter(|draft| !draft.is_empty()),
            mode: fields.optional_string("mode")?,
            trigger: fields.optional_string("trigger")?,
            playbook,
            configuration: top.optional_string("configuration")?,
            event,
        })
    }

    /// The work id of a message that may not parse, to report its failure.
    pub fn work_id_of(value: &Value) -> Option<&str> {
        value.pointer("/internal/work_id").and_then(Value::as_str)
    }

    fn event_fields(&self) -> Fields<'_> {
        Fields {
            map: &self.event,
            prefix: "event",
        }
    }
}

/// An enrichment job: the entity to enrich, as STIX and as the platform's
/// reader returns it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EnrichmentRequest {
    /// The entity's standard id (STIX id).
    pub entity_id: String,
    /// Its type as the platform names it (`IPv4-Addr`); `None` for a
    /// playbook step.
    pub entity_type: Option<String>,
    /// The entity as a STIX object, with OpenCTI's extensions.
    pub stix_entity: Value,
    /// The STIX objects to send back with the enrichment: the entity alone,
    /// or the playbook's bundle (for a playbook step, send them all, since
    /// what is sent replaces the bundle).
    pub stix_objects: Vec<Value>,
    /// The entity as the platform's reader returns it (markings, labels,
    /// author); filled by the runtime before the connector sees it.
    pub enrichment_entity: Value,
    /// Whether the job is a playbook step (its answer goes back to the
    /// playbook instead of being imported).
    pub from_playbook: bool,
}

impl EnrichmentRequest {
    /// Reads the event of an enrichment job or of a playbook step.
    pub fn from_job(job: &Job) -> Result<Self, MessageError> {
        let event = job.event_fields();
        let entity_id = event.string("entity_id")?;
        let entity_type = event.optional_string("entity_type")?;
        if job.playbook.is_some() {
            let objects = match job.event.get("bundle") {
                Some(Value::Object(bundle)) => match bundle.get("objects") {
                    Some(Value::Array(objects)) => objects.clone(),
                    _ => {
                        return Err(MessageError::field(
                            "event.bundle.objects",
                            "is not an array",
                        ));
                    }
                },
                _ => return Err(MessageError::field("event.bundle", "is not an object")),
            };
            let stix_entity = objects
                .iter()
                .find(|object| object.get("id").and_then(Value::as_str) == Some(&entity_id))
                .cloned()
                .ok_or_else(|| {
                    MessageError::field(
                        "event.bundle",
                        format!("holds no object with the id {entity_id}"),
                    )
                })?;
            return Ok(Self {
                entity_id,
                entity_type,
                stix_entity,
                stix_objects: objects,
                enrichment_entity: Value::Null,
                from_playbook: true,
            });
        }
        let stix_entity = event
            .json("stix_entity")?
            .filter(Value::is_object)
            .ok_or_else(|| MessageError::field("event.stix_entity", "is not a STIX object"))?;
        let stix_objects = match event.json("stix_objects")? {
            None => vec![stix_entity.clone()],
            Some(Value::Array(objects)) => objects,
            Some(Value::Object(mut bundle)) => match bundle.remove("objects") {
                Some(Value::Array(objects)) => objects,
                _ => {
                    return Err(MessageError::field(
                        "event.stix_objects",
                        "is neither a list of objects nor a bundle",
                    ));
                }
            },
            Some(_) => {
                return Err(MessageError::field(
                    "event.stix_objects",
                    "is neither a list of objects nor a bundle",
                ));
            }
        };
        Ok(Self {
            entity_id,
            entity_type,
            stix_entity,
            stix_objects,
            enrichment_entity: Value::Null,
            from_playbook: false,
        })
    }

    /// The entity's TLP marking (`TLP:AMBER`...) from the platform's
    /// reading of it; `None` without one.
    pub fn tlp(&self) -> Option<&str> {
        self.enrichment_entity
            .get("objectMarking")
            .and_then(Value::as_array)?
            .iter()
            .filter(|marking| marking.get("definition_type").and_then(Value::as_str) == Some("TLP"))
            .find_map(|marking| marking.get("definition").and_then(Value::as_str))
    }
}

/// A file import job.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FileImportRequest {
    /// The file's storage id (`import/global/report.json`).
    pub file_id: String,
    /// Its MIME type.
    pub file_mime: String,
    /// Where to download it on the platform (`/storage/get/...`); see
    /// [`crate::listen::JobContext::download_file`].
    pub file_fetch: String,
    /// The markings of the file.
    pub file_markings: Vec<String>,
    /// The entity the file was imported on, if any.
    pub entity_id: Option<String>,
    /// How the result is validated, when it is validated.
    pub validation_mode: ValidationMode,
    /// Import directly, without validation.
    pub bypass_validation: bool,
    /// Send for validation even if the connector would not.
    pub force_validation: bool,
    /// The draft the import runs in.
    pub draft_id: Option<String>,
    /// The per-connector configuration the UI sent, if any.
    pub configuration: Option<String>,
}

impl FileImportRequest {
    /// Reads the event of an import job.
    pub fn from_job(job: &Job) -> Result<Self, MessageError> {
        let event = job.event_fields();
        let validation_mode = match event.optional_string("validation_mode")?.as_deref() {
            // pycti 7.x's default when the platform says nothing.
            None | Some("draft") => ValidationMode::Draft,
            Some("workbench") => ValidationMode::Workbench,
            Some(other) => {
                return Err(MessageError::field(
                    "event.validation_mode",
                    format!("is `{other}`, expected `workbench` or `draft`"),
                ));
            }
        };
        Ok(Self {
            file_id: event.string("file_id")?,
            file_mime: event.optional_string("file_mime")?.unwrap_or_default(),
            file_fetch: event.string("file_fetch")?,
            file_markings: event.strings("file_markings")?,
            entity_id: event.optional_string("entity_id")?,
            validation_mode,
            bypass_validation: event.flag("bypass_validation")?,
            force_validation: event.flag("force_validation")?,
            draft_id: job.draft_id.clone(),
            configuration: job.configuration.clone(),
        })
    }

    /// The file's name: the last part of its id.
    pub fn file_name(&self) -> &str {
        self.file_id.rsplit('/').next().unwrap_or(&self.file_id)
    }
}

/// The platform's entity types of cyber observables (what an export of
/// `Stix-Cyber-Observable` lists, as pycti's export helpers decide).
const OBSERVABLE_ENTITY_TYPES: &[&str] = &[
    "Autonomous-System",
    "Directory",
    "Domain-Name",
    "Email-Addr",
    "Email-Message",
    "Email-Mime-Part-Type",
    "Artifact",
    "File",
    "StixFile",
    "X509-Certificate",
    "IPv4-Addr",
    "IPv6-Addr",
    "Mac-Addr",
    "Mutex",
    "Network-Traffic",
    "Process",
    "Software",
    "Url",
    "User-Account",
    "Windows-Registry-Key",
    "Windows-Registry-Value-Type",
    "Hostname",
    "Cryptographic-Key",
    "Cryptocurrency-Wallet",
    "Text",
    "User-Agent",
    "Bank-Account",
    "Phone-Number",
    "Credential",
    "Tracking-Number",
    "Payment-Card",
    "Media-Content",
    "Simple-Observable",
    "Persona",
    "SSH-Key",
    "AI-Prompt",
    "IMEI",
    "ICCID",
    "IMSI",
    "Stix-Cyber-Observable",
];

/// Whether a platform entity type (any case) is a cyber observable's:
/// export connectors read such lists as observables.
pub fn is_observable_entity_type(entity_type: &str) -> bool {
    OBSERVABLE_ENTITY_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(entity_type))
}

/// The abstract type an identity's or a location's concrete platform
/// entity type is read and written as (`Identity` for `Organization`,
/// `Location` for `City`, ...), as pycti's export helpers group them;
/// `None` for every other type, `Identity` and `Location` included.
pub fn abstract_entity_type(entity_type: &str) -> Option<&'static str> {
    match entity_type {
        "Sector" | "Organization" | "Individual" | "System" | "SecurityPlatform" => {
            Some("Identity")
        }
        "Region" | "Country" | "Administrative-Area" | "City" | "Position" => Some("Location"),
        _ => None,
    }
}

/// What an export covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportScope {
    /// One entity ([`ExportRequest::entity_id`]).
    Single,
    /// The rows checked in a list ([`ExportRequest::selected_ids`]).
    Selection,
    /// Everything a list's search and filters give
    /// ([`ExportRequest::list_params`]).
    Query,
}

/// A file export job.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ExportRequest {
    /// What the export covers.
    pub export_scope: ExportScope,
    /// `simple` or `full`.
    pub export_type: String,
    /// The MIME type to produce.
    pub format: String,
    /// The name the file is uploaded under.
    pub file_name: String,
    /// The exported entity (single), or the entity whose list it is.
    pub entity_id: Option<String>,
    /// Its representative name (`global` for a list without entity).
    pub entity_name: Option<String>,
    /// The exported entity's type, or the listed type.
    pub entity_type: String,
    /// The markings the file gets.
    pub file_markings: Vec<String>,
    /// The filter selecting what to export (access filters included).
    pub main_filter: Option<Value>,
    /// The markings the asking user may export.
    pub access_filter: Option<Value>,
    /// The checked rows of a selection.
    pub selected_ids: Vec<String>,
    /// Search, order and filters of a query export.
    pub list_params: Option<Value>,
}

impl ExportRequest {
    /// Reads the event of an export job.
    pub fn from_job(job: &Job) -> Result<Self, MessageError> {
        let event = job.event_fields();
        let export_scope = match event.string("export_scope")?.as_str() {
            "single" => ExportScope::Single,
            "selection" => ExportScope::Selection,
            "query" => ExportScope::Query,
            other => {
                return Err(MessageError::field(
                    "event.export_scope",
                    format!("is `{other}`, expected `single`, `selection` or `query`"),
                ));
            }
        };
        let entity_id = event.optional_string("entity_id")?;
        if export_scope == ExportScope::Single && entity_id.is_none() {
            return Err(MessageError::field(
                "event.entity_id",
                "is missing for a single export",
            ));
        }
        let object = |key: &str| -> Result<Option<Value>, MessageError> {
            match job.event.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(value @ Value::Object(_)) => Ok(Some(value.clone())),
                Some(_) => Err(MessageError::field(
                    &format!("event.{key}"),
                    "is not an object",
                )),
            }
        };
        Ok(Self {
            export_scope,
            export_type: event.string("export_type")?,
            format: event.string("format")?,
            file_name: event.string("file_name")?,
            entity_id,
            entity_name: event.optional_string("entity_name")?,
            entity_type: event.string("entity_type")?,
            file_markings: event.strings("file_markings")?,
            main_filter: object("main_filter")?,
            access_filter: object("access_filter")?,
            selected_ids: event.strings("selected_ids")?,
            list_params: object("list_params")?,
        })
    }
}

/// Typed reads of one object of the message, naming the field on error.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'static str,
}

impl Fields<'_> {
    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn string(&self, key: &str) -> Result<String, MessageError> {
        self.optional_string(key)?
            .ok_or_else(|| MessageError::field(&self.path(key), "is missing"))
    }

    /// Absent and `null` are `None`.
    fn optional_string(&self, key: &str) -> Result<Option<String>, MessageError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(MessageError::field(
                &self.path(key),
                format!("is not a string: {}", kind(other)),
            )),
        }
    }

    /// Absent and `null` are empty.
    fn strings(&self, key: &str) -> Result<Vec<String>, MessageError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str().map(str::to_owned).ok_or_else(|| {
                        MessageError::field(
                            &self.path(key),
                            format!("holds a {} where strings are expected", kind(item)),
                        )
                    })
                })
                .collect(),
            Some(other) => Err(MessageError::field(
                &self.path(key),
                format!("is not a list of strings: {}", kind(other)),
            )),
        }
    }

    /// Absent and `null` are `false`.
    fn flag(&self, key: &str) -> Result<bool, MessageError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(other) => Err(MessageError::field(
                &self.path(key),
                format!("is not a boolean: {}", kind(other)),
            )),
        }
    }

    /// A value the platform sends as JSON text (or as JSON itself);
    /// absent, `null` and `""` are `None`.
    fn json(&self, key: &str) -> Result<Option<Value>, MessageError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => serde_json::from_str(text).map(Some).map_err(|error| {
                MessageError::field(&self.path(key), format!("is not JSON text: {error}"))
            }),
            Some(value) => Ok(Some(value.clone())),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(value: Value) -> Job {
        Job::from_value(value).unwrap()
    }

    #[test]
    fn an_enrichment_message_gives_the_entity_as_stix() {
        let job = job(json!({
            "internal": {"work_id": "work_1", "applicant_id": null, "draft_id": null,
                         "mode": "manual", "trigger": "update"},
            "event": {"event_type": "INTERNAL_ENRICHMENT", "entity_id": "ipv4-addr--1",
                      "entity_type": "IPv4-Addr",
                      "stix_entity": "{\"type\": \"ipv4-addr\", \"id\": \"ipv4-addr--1\", \"value\": \"192.0.2.1\"}",
                      "stix_objects": null}
        }));
        assert_eq!(job.work_id.as_deref(), Some("work_1"));
        assert_eq!(job.draft_id, None);
        let request = EnrichmentRequest::from_job(&job).unwrap();
        assert_eq!(request.entity_type.as_deref(), Some("IPv4-Addr"));
        assert_eq!(request.stix_entity["value"], "192.0.2.1");
        assert_eq!(request.stix_objects, vec![request.stix_entity.clone()]);
        assert!(!request.from_playbook);
    }

    #[test]
    fn a_playbook_step_takes_the_entity_from_its_bundle() {
        let job = job(json!({
            "internal": {"work_id": null, "applicant_id": "automation",
                         "playbook": {"event_id": "e", "execution_id": "x", "playbook_id": "p",
                                      "data_instance_id": "ipv4-addr--1", "step_id": "s",
                                      "previous_step_id": "q"}},
            "event": {"entity_id": "ipv4-addr--1", "bundle": {"type": "bundle", "id": "bundle--1",
                      "objects": [{"type": "identity", "id": "identity--1"},
                                  {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "192.0.2.1"}]}}
        }));
        assert_eq!(job.playbook.as_ref().unwrap().step_id, "s");
        let request = EnrichmentRequest::from_job(&job).unwrap();
        assert!(request.from_playbook);
        assert_eq!(request.stix_entity["value"], "192.0.2.1");
        assert_eq!(request.stix_objects.len(), 2);
    }

    #[test]
    fn errors_name_the_field() {
        let missing = Job::from_value(json!({"event": {}})).unwrap_err();
        assert_eq!(missing.to_string(), "the message's `internal` is missing");
        let step = Job::from_value(json!({"internal": {"playbook": {"event_id": 1}}, "event": {}}))
            .unwrap_err();
        assert_eq!(
            step.to_string(),
            "the message's `internal.playbook.event_id` is not a string: number"
        );
        let import = job(json!({"internal": {"work_id": "w"},
            "event": {"file_id": "import/global/a.json", "file_fetch": "/storage/get/import/global/a.json",
                      "file_markings": ["m", 3]}}));
        assert_eq!(
            FileImportRequest::from_job(&import)
                .unwrap_err()
                .to_string(),
            "the message's `event.file_markings` holds a number where strings are expected"
        );
        let mode = job(json!({"internal": {"work_id": "w"},
            "event": {"file_id": "a", "file_fetch": "/a", "validation_mode": "later"}}));
        assert!(
            FileImportRequest::from_job(&mode)
                .unwrap_err()
                .to_string()
                .contains("`event.validation_mode` is `later`")
        );
        let export = job(
            json!({"internal": {"work_id": "w"}, "event": {"export_scope": "single",
            "export_type": "simple", "format": "application/json", "file_name": "f", "entity_type": "Malware"}}),
        );
        assert_eq!(
            ExportRequest::from_job(&export).unwrap_err().to_string(),
            "the message's `event.entity_id` is missing for a single export"
        );
        let stix = job(json!({"internal": {"work_id": "w"},
            "event": {"entity_id": "x", "stix_entity": "{not json"}}));
        assert!(
            EnrichmentRequest::from_job(&stix)
                .unwrap_err()
                .to_string()
                .starts_with("the message's `event.stix_entity` is not JSON text")
        );
    }

    #[test]
    fn an_import_in_a_draft_and_without_entity() {
        let job = job(json!({
            "internal": {"work_id": "w", "applicant_id": "user", "draft_id": "draft-1", "mode": "auto"},
            "event": {"file_id": "import/global/report.json", "file_mime": "application/json",
                      "file_markings": [], "file_fetch": "/storage/get/import/global/report.json",
                      "validation_mode": "draft", "bypass_validation": true, "force_validation": false},
            "configuration": null
        }));
        let request = FileImportRequest::from_job(&job).unwrap();
        assert_eq!(request.file_name(), "report.json");
        assert_eq!(request.entity_id, None);
        assert_eq!(request.draft_id.as_deref(), Some("draft-1"));
        assert!(request.bypass_validation);
        assert_eq!(request.validation_mode, ValidationMode::Draft);
    }

    #[test]
    fn a_list_export_by_query() {
        let job = job(json!({
            "internal": {"work_id": "w", "applicant_id": "user"},
            "event": {"export_scope": "query", "file_name": "f.json", "format": "application/json",
                      "export_type": "full", "entity_name": "global", "entity_type": "Malware",
                      "file_markings": ["m"], "list_params": {"search": "x", "filters": null},
                      "main_filter": {"mode": "and", "filters": []},
                      "access_filter": {"mode": "and", "filters": []}}
        }));
        let request = ExportRequest::from_job(&job).unwrap();
        assert_eq!(request.export_scope, ExportScope::Query);
        assert_eq!(request.entity_id, None);
        assert_eq!(request.list_params.as_ref().unwrap()["search"], "x");
        assert!(request.selected_ids.is_empty());
    }

    #[test]
    fn observable_entity_types_are_recognised_in_any_case() {
        assert!(is_observable_entity_type("IPv4-Addr"));
        assert!(is_observable_entity_type("ipv4-addr"));
        assert!(is_observable_entity_type("Stix-Cyber-Observable"));
        assert!(!is_observable_entity_type("Report"));
        assert!(!is_observable_entity_type("Stix-Core-Object"));
    }

    #[test]
    fn identities_and_locations_are_read_as_their_abstract_type() {
        assert_eq!(abstract_entity_type("Organization"), Some("Identity"));
        assert_eq!(abstract_entity_type("SecurityPlatform"), Some("Identity"));
        assert_eq!(
            abstract_entity_type("Administrative-Area"),
            Some("Location")
        );
        assert_eq!(abstract_entity_type("Position"), Some("Location"));
        assert_eq!(abstract_entity_type("Identity"), None);
        assert_eq!(abstract_entity_type("Location"), None);
        assert_eq!(abstract_entity_type("Threat-Actor-Group"), None);
    }
}
