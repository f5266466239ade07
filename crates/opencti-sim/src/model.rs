//! The records the simulator keeps, as the inspection API shows them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// The user every token maps to (the id of OpenCTI's built-in admin).
pub const ADMIN_USER_ID: &str = "88ec0c6a-13ce-5e39-b486-354fe4a7084f";
/// Display name of that user.
pub(crate) const ADMIN_USER_NAME: &str = "admin";

/// Current time truncated to milliseconds (the platform's precision).
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// ISO-8601 with milliseconds and `Z`, as the platform prints dates.
pub(crate) fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Queue, exchange and routing names of one connector (spec §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QueueNames {
    /// `<P>listen_<id>`
    pub listen: String,
    /// `<P>listen_routing_<id>`
    pub listen_routing: String,
    /// `<P>amqp.connector.exchange`
    pub listen_exchange: String,
    /// `<P>push_<id>`
    pub push: String,
    /// `<P>push_routing_<id>`
    pub push_routing: String,
    /// `<P>amqp.worker.exchange`
    pub push_exchange: String,
    /// `<P>listen_routing_too-large-bundle`
    pub dead_letter_routing: String,
}

impl QueueNames {
    pub(crate) fn for_connector(prefix: &str, id: &str) -> Self {
        Self {
            listen: format!("{prefix}listen_{id}"),
            listen_routing: format!("{prefix}listen_routing_{id}"),
            listen_exchange: format!("{prefix}amqp.connector.exchange"),
            push: format!("{prefix}push_{id}"),
            push_routing: format!("{prefix}push_routing_{id}"),
            push_exchange: format!("{prefix}amqp.worker.exchange"),
            dead_letter_routing: format!("{prefix}listen_routing_too-large-bundle"),
        }
    }
}

/// A registered connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectorRecord {
    /// Connector id (`CONNECTOR_ID`), also its internal id.
    pub id: String,
    /// Registered name.
    pub name: String,
    /// `ConnectorType` value (`EXTERNAL_IMPORT`, `STREAM`, ...).
    pub connector_type: String,
    /// Registered scope.
    pub scope: Vec<String>,
    /// Registration flags.
    pub auto: bool,
    /// Registration flag `auto_update`.
    pub auto_update: bool,
    /// Registration `enrichment_resolution`.
    pub enrichment_resolution: Option<String>,
    /// Registration flag `only_contextual`.
    pub only_contextual: bool,
    /// Registration flag `playbook_compatible`.
    pub playbook_compatible: bool,
    /// Callback URI for the API listen protocol.
    pub listen_callback_uri: Option<String>,
    /// 7.x build metadata.
    pub version: Option<String>,
    /// 7.x build metadata.
    pub slug: Option<String>,
    /// 7.x `xtm_one_intent`.
    pub xtm_one_intent: Option<String>,
    /// The user owning the registering token.
    pub connector_user_id: String,
    /// State as last pinged (verbatim, `"null"` included); `Some("")` after a reset.
    pub state: Option<String>,
    /// Set by a reset, consumed by the next ping.
    pub state_reset: bool,
    /// When the state was last reset or created.
    pub state_timestamp: DateTime<Utc>,
    /// `connector_info` from the last ping that carried one.
    pub info: Option<Value>,
    /// First registration.
    pub created_at: DateTime<Utc>,
    /// Last registration or ping.
    pub updated_at: DateTime<Utc>,
    /// Last ping, if any.
    pub last_ping_at: Option<DateTime<Utc>>,
    /// Number of `pingConnector` calls.
    pub ping_count: u64,
    /// Number of `registerConnector` calls.
    pub registration_count: u64,
    /// Broker names handed out at registration.
    pub queues: QueueNames,
    /// The push-queue worker holds messages instead of importing them.
    pub worker_paused: bool,
}

impl ConnectorRecord {
    /// A connector as first registered: no state, flags off.
    pub(crate) fn new(
        id: &str,
        name: &str,
        connector_type: &str,
        queues: QueueNames,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            connector_type: connector_type.to_owned(),
            scope: Vec::new(),
            auto: false,
            auto_update: false,
            enrichment_resolution: None,
            only_contextual: false,
            playbook_compatible: false,
            listen_callback_uri: None,
            version: None,
            slug: None,
            xtm_one_intent: None,
            connector_user_id: ADMIN_USER_ID.to_owned(),
            state: None,
            state_reset: false,
            state_timestamp: at,
            info: None,
            created_at: at,
            updated_at: at,
            last_ping_at: None,
            ping_count: 0,
            registration_count: 0,
            queues,
            worker_paused: false,
        }
    }

    /// Active = pinged or registered in the last 5 minutes (platform rule).
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        at.signed_duration_since(self.updated_at) < chrono::Duration::minutes(5)
    }
}

/// Work status (`State` enum of the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum WorkStatus {
    /// Created by the platform, not yet picked up.
    Wait,
    /// Being processed.
    Progress,
    /// All expectations reported.
    Complete,
    /// Timed out.
    Timeout,
}

impl WorkStatus {
    /// The schema's enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wait => "wait",
            Self::Progress => "progress",
            Self::Complete => "complete",
            Self::Timeout => "timeout",
        }
    }
}

/// A message or error attached to a work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkMessage {
    /// When it was recorded.
    pub timestamp: DateTime<Utc>,
    /// The text (`error.error` for expectation errors).
    pub message: Option<String>,
    /// Position in its list.
    pub sequence: u64,
    /// `error.source` for expectation errors.
    pub source: Option<String>,
}

/// A work (one connector run), with its expectation counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkRecord {
    /// `work_<connector id>_<ISO timestamp>`.
    pub id: String,
    /// The friendly name given at creation.
    pub name: Option<String>,
    /// Owning connector.
    pub connector_id: String,
    /// Creating user.
    pub user_id: String,
    /// Connector type at creation.
    pub event_type: String,
    /// Current status.
    pub status: WorkStatus,
    /// Creation time.
    pub timestamp: DateTime<Utc>,
    /// Last change or ping.
    pub updated_at: DateTime<Utc>,
    /// Set at creation for connector works and by `toReceived`.
    pub received_time: Option<DateTime<Utc>>,
    /// Set by `toProcessed`.
    pub processed_time: Option<DateTime<Utc>>,
    /// Set when the work completes.
    pub completed_time: Option<DateTime<Utc>>,
    /// Processed count at completion.
    pub completed_number: Option<u64>,
    /// `import_expected_number`.
    pub expected: u64,
    /// `import_processed_number`.
    pub processed: u64,
    /// `import_last_processed`.
    pub last_processed: Option<DateTime<Utc>>,
    /// 7.x multipart work: completes only after `toProcessed`.
    pub is_multipart: bool,
    /// Multipart: `toProcessed` arrived before all expectations.
    pub processed_flag: bool,
    /// Informational messages.
    pub messages: Vec<WorkMessage>,
    /// Errors (expectation errors and `toProcessed(inError)`), at most 100.
    pub errors: Vec<WorkMessage>,
    /// Draft attached with `addDraftContext`, or the draft a platform job ran in.
    pub draft_context: Option<String>,
    /// What a platform job is about: the entity's standard id (enrichment),
    /// the file id (import), the export path (export); `None` for the
    /// connector's own works.
    #[serde(default)]
    pub event_source_id: Option<String>,
}

/// An object stored by the worker (or by an injected event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredObject {
    /// STIX id (the platform's standard id).
    pub id: String,
    /// STIX type.
    pub stix_type: String,
    /// The platform-side entity type (`Indicator`, `IPv4-Addr`, `indicates`, ...).
    pub entity_type: String,
    /// Internal id (stable across updates).
    pub internal_id: String,
    /// First stored.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Inferred objects only reach streams asking `with-inferences`.
    pub is_inferred: bool,
    /// Work whose message stored or last changed it.
    pub work_id: Option<String>,
    /// `applicant_id` of the push message that stored or last changed it
    /// (the user a connector imported on behalf of).
    #[serde(default)]
    pub applicant_id: Option<String>,
    /// The STIX object as received (splitter bookkeeping removed).
    pub stix: Value,
}

/// One event of the live stream, as stored and sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamEvent {
    /// `<ms>-<seq>`.
    pub id: String,
    /// SSE event name: `create`, `update`, `delete` or `merge`.
    pub event: String,
    /// The version-4 payload sent as `data:`.
    pub data: Value,
}

/// A stream event as the simulator keeps it: the payload as JSON text.
/// Every event carries a full copy of its object; as a tree it would cost
/// several times the text's size for as long as the simulator runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RecordedEvent {
    /// `<ms>-<seq>`.
    pub(crate) id: String,
    /// SSE event name.
    pub(crate) event: String,
    /// The version-4 payload, exactly as sent after `data:`.
    pub(crate) data: Box<RawValue>,
}

impl RecordedEvent {
    /// The payload as a JSON tree.
    pub(crate) fn payload(&self) -> Value {
        // The text was written by serde_json, so it always parses.
        serde_json::from_str(self.data.get()).unwrap_or(Value::Null)
    }

    /// The public form.
    pub(crate) fn to_stream_event(&self) -> StreamEvent {
        StreamEvent {
            id: self.id.clone(),
            event: self.event.clone(),
            data: self.payload(),
        }
    }
}

/// A stream collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamCollection {
    /// Collection id (`live` for the global stream).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// `false`: the stream answers 410.
    pub stream_live: bool,
    /// Public flag.
    pub stream_public: bool,
    /// STIX types let through (`None`: all).
    pub entity_types: Option<Vec<String>>,
}

impl From<crate::config::StreamCollectionConfig> for StreamCollection {
    fn from(config: crate::config::StreamCollectionConfig) -> Self {
        Self {
            name: config.name.unwrap_or_else(|| config.id.clone()),
            id: config.id,
            description: config.description,
            stream_live: config.stream_live,
            stream_public: config.stream_public,
            entity_types: config.entity_types,
        }
    }
}

impl StreamCollection {
    pub(crate) fn live() -> Self {
        Self {
            id: "live".to_owned(),
            name: "Live stream".to_owned(),
            description: Some("Everything, as the platform's global live stream".to_owned()),
            stream_live: true,
            stream_public: false,
            entity_types: None,
        }
    }

    /// Whether an object of this STIX type belongs to the collection.
    pub(crate) fn accepts(&self, stix_type: &str) -> bool {
        self.entity_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t.eq_ignore_ascii_case(stix_type)))
    }
}

/// A GraphQL document the simulator refused (parse or schema validation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RejectedRequest {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// The document as sent.
    pub query: String,
    /// The variables as sent.
    pub variables: Value,
    /// The error messages returned.
    pub errors: Vec<String>,
}

/// One answered GraphQL call (bounded history, for tests asserting on traffic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GraphqlCall {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// The operation name found in the document (`None` for anonymous ones).
    pub operation: Option<String>,
    /// `query` or `mutation`.
    pub kind: String,
    /// Error messages returned, if any.
    pub errors: Vec<String>,
    /// The `opencti-applicant-id` header (impersonation), when sent.
    #[serde(default)]
    pub applicant_id: Option<String>,
    /// The `opencti-draft-id` header, when sent (pycti sends `""` outside drafts).
    #[serde(default)]
    pub draft_id: Option<String>,
    /// The user whose API token authenticated the call; `None` for the
    /// simulator's own token (the admin).
    #[serde(default)]
    pub user_id: Option<String>,
}

/// A file in the simulated storage: uploaded by the UI (`uploadImport`,
/// `uploadPending`) or by an export connector (the export push mutations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UploadedFile {
    /// Storage path, as the platform names files: `import/global/<name>`,
    /// `import/pending/<name>`, `export/<entity type>[/<entity id>]/<name>`.
    pub id: String,
    /// File name.
    pub name: String,
    /// MIME type given by the client.
    pub mime_type: Option<String>,
    /// The content: UTF-8 text, or Base64 when `base64` is set.
    pub content: String,
    /// `content` is the Base64 of bytes that are not UTF-8.
    #[serde(default)]
    pub base64: bool,
    /// Entity the file belongs to (`entityId`, or the exported entity).
    pub entity_id: Option<String>,
    /// Markings given with the file.
    pub markings: Vec<String>,
    /// `listFilters` of a list export.
    #[serde(default)]
    pub list_filters: Option<String>,
    /// When it arrived.
    pub uploaded_at: DateTime<Utc>,
}

impl UploadedFile {
    /// The file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        use base64::Engine as _;
        if self.base64 {
            base64::engine::general_purpose::STANDARD
                .decode(self.content.as_bytes())
                .unwrap_or_default()
        } else {
            self.content.clone().into_bytes()
        }
    }
}

/// A draft workspace created through `draftWorkspaceAdd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DraftRecord {
    /// Draft id.
    pub id: String,
    /// Draft name.
    pub name: String,
    /// Related entity.
    pub entity_id: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Objects the worker imported into the draft (push messages carrying
    /// its `draft_id`), by STIX id; they stay out of the live knowledge.
    #[serde(default)]
    pub objects: std::collections::BTreeMap<String, Value>,
}

/// What a platform job asked of an internal connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobKind {
    /// Enrichment of an entity (manual or automatic).
    Enrichment,
    /// A playbook's "enrich through connector" step.
    Playbook,
    /// Import of an uploaded file.
    Import,
    /// Export of an entity or a list.
    Export,
    /// A message given as is (`send_listen_message`).
    Custom,
}

/// A message the simulator sent to a connector's listen queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobRecord {
    /// The connector asked.
    pub connector_id: String,
    /// What for.
    pub kind: JobKind,
    /// The work created for it (`None` for playbook steps, as on the platform).
    pub work_id: Option<String>,
    /// When it was published.
    pub sent_at: DateTime<Utc>,
    /// The message as published (`internal`, `event`, `configuration`).
    pub message: Value,
}

/// A `playbookStepExecution` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlaybookStep {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// All arguments as sent.
    pub arguments: Value,
}

/// What happened to the push-queue messages so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct WorkerCounters {
    /// Push messages delivered to the worker (held ones included).
    pub received_messages: u64,
    /// Their body bytes, which give the mean message size.
    pub received_bytes: u64,
    /// Messages acknowledged after import.
    pub imported_messages: u64,
    /// Multi-object messages split and republished.
    pub split_messages: u64,
    /// Messages rejected (bad envelope, bad content): nacked.
    pub rejected_messages: u64,
    /// Objects stored or updated.
    pub objects_upserted: u64,
    /// Objects refused as invalid (reported on their work).
    pub objects_invalid: u64,
}

/// A live stream connection the simulator accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamConnection {
    /// When it was opened.
    pub at: DateTime<Utc>,
    /// The collection read (`live` or a collection id).
    pub collection: String,
    /// The user whose API token opened it; `None` for the simulator's own
    /// token (the admin).
    pub user_id: Option<String>,
}

/// Name of the group the platform creates for connector users, where
/// pycti 7.x puts the service accounts it creates.
pub const CONNECTORS_GROUP: &str = "Connectors";

/// A group of users (only what service accounts need: id and name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupRecord {
    /// Internal id.
    pub id: String,
    /// Unique name.
    pub name: String,
}

/// A platform user besides the built-in admin (created by `userAdd`, or
/// added by a test through the handle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserRecord {
    /// Internal id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unique e-mail.
    pub user_email: String,
    /// `user_service_account`.
    pub service_account: bool,
    /// Ids of the groups the user is a member of.
    pub groups: Vec<String>,
    /// `user_confidence_level.max_confidence`.
    pub max_confidence: Option<i64>,
    /// The user's API tokens (revoked ones are removed).
    pub api_tokens: Vec<ApiTokenRecord>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// One API token of a user. The plaintext authenticates GraphQL calls and
/// the stream as that user; it never shows in `Debug` nor in the
/// inspection API.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiTokenRecord {
    /// Token id (`userAdminTokenRevoke` takes it).
    pub id: String,
    /// Token name.
    pub name: String,
    /// The token itself.
    pub plaintext: String,
    /// `TokenDuration` it was created with (`UNLIMITED`, `DAYS_30`, ...).
    pub duration: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for ApiTokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTokenRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("duration", &self.duration)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl ApiTokenRecord {
    /// What the platform shows of a token: its first and last characters.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.plaintext.chars().collect();
        if chars.len() <= 8 {
            return "****".to_owned();
        }
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}****{tail}")
    }
}
