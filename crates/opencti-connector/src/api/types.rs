//! Typed variables and results of the platform operations.

use serde::{Deserialize, Serialize};

use crate::config::{ConnectorType, Secret};

/// The platform generation, which decides the operation texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Generation {
    /// OpenCTI 6.x (also the fallback when the version is unknown: its texts
    /// are accepted by 7.x platforms too).
    V6,
    /// OpenCTI 7.x and later.
    V7,
}

impl Generation {
    /// Generation of a platform `about.version` such as `6.8.10`.
    pub fn from_version(version: &str) -> Self {
        let major = version
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|major| major.parse::<u32>().ok());
        match major {
            Some(major) if major >= 7 => Self::V7,
            _ => Self::V6,
        }
    }
}

/// What the health check learned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlatformVersion {
    /// `about.version`.
    pub version: String,
    /// The generation derived from it.
    pub generation: Generation,
}

/// Registration input (`RegisterConnectorInput`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisterInput {
    /// Connector id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Type.
    pub connector_type: ConnectorType,
    /// Scope.
    pub scope: Vec<String>,
    /// Flags.
    pub auto: bool,
    /// Flags.
    pub auto_update: bool,
    /// Enrichment resolution.
    pub enrichment_resolution: String,
    /// Flags.
    pub only_contextual: bool,
    /// Flags.
    pub playbook_compatible: bool,
    /// Version sent to 7.x platforms.
    pub version: Option<String>,
    /// Slug sent to 7.x platforms.
    pub slug: Option<String>,
    /// Where the platform POSTs jobs (`CONNECTOR_LISTEN_PROTOCOL=API`);
    /// `None`: on the listen queue.
    pub listen_callback_uri: Option<String>,
}

impl RegisterInput {
    /// An input with pycti's defaults for the optional fields.
    pub fn new(id: impl Into<String>, name: impl Into<String>, kind: ConnectorType) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            connector_type: kind,
            scope: Vec::new(),
            auto: false,
            auto_update: false,
            enrichment_resolution: "none".to_owned(),
            only_contextual: false,
            playbook_compatible: false,
            version: None,
            slug: None,
            listen_callback_uri: None,
        }
    }

    pub(crate) fn to_variables(&self, generation: Generation) -> serde_json::Value {
        let mut input = serde_json::json!({
            "id": self.id,
            "name": self.name,
            "type": self.connector_type.as_str(),
            "scope": self.scope,
            "auto": self.auto,
            "auto_update": self.auto_update,
            "enrichment_resolution": self.enrichment_resolution,
            "only_contextual": self.only_contextual,
            "playbook_compatible": self.playbook_compatible,
            "listen_callback_uri": self.listen_callback_uri,
        });
        if generation >= Generation::V7 {
            input["version"] = serde_json::json!(self.version);
            input["slug"] = serde_json::json!(self.slug);
        }
        serde_json::json!({ "input": input })
    }
}

/// Broker parameters handed out by the platform.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct BrokerConnection {
    /// Host.
    pub host: String,
    /// Virtual host.
    pub vhost: String,
    /// TLS.
    pub use_ssl: bool,
    /// Port.
    pub port: u16,
    /// User.
    pub user: String,
    /// Password.
    pub pass: Secret,
}

/// S3 parameters handed out by 7.x platforms (its own file storage).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct S3Connection {
    /// Host.
    pub endpoint: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// https instead of http.
    pub use_ssl: Option<bool>,
    /// Bucket.
    pub bucket_name: Option<String>,
    /// Signing region.
    pub bucket_region: Option<String>,
    /// Access key.
    pub access_key: Option<String>,
    /// Secret key.
    pub secret_key: Option<Secret>,
}

/// Queue names handed out by the platform.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct QueueConfig {
    /// Broker parameters.
    pub connection: BrokerConnection,
    /// S3 parameters (7.x platforms).
    #[serde(default)]
    pub s3: Option<S3Connection>,
    /// Queue of jobs for the connector.
    pub listen: String,
    /// Routing key of that queue.
    pub listen_routing: String,
    /// Exchange of that queue.
    pub listen_exchange: String,
    /// Queue the workers consume bundles from.
    pub push: String,
    /// Routing key to publish bundles with.
    pub push_routing: String,
    /// Exchange to publish bundles to.
    pub push_exchange: String,
}

/// A platform user as the service-account look-ups read it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PlatformUser {
    /// Internal id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub user_email: String,
    /// The user's tokens (ids and names; never their plaintext).
    #[serde(default)]
    pub api_tokens: Vec<ApiTokenInfo>,
}

/// One of a user's API tokens, as the platform lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ApiTokenInfo {
    /// Token id.
    pub id: String,
    /// Token name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Result of `registerConnector`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Registration {
    /// Registered id.
    pub id: String,
    /// Stored state (raw JSON text, `"null"`, `""` after a reset, or null).
    pub connector_state: Option<String>,
    /// Queue names and broker parameters.
    pub config: QueueConfig,
    /// The connector's user (the `applicant_id` of every message).
    pub connector_user_id: Option<String>,
    /// 7.x: the JWK Set (JSON text) of the keys the platform signs its
    /// calls to the connector with (`CONNECTOR_LISTEN_PROTOCOL=API`).
    #[serde(default)]
    pub jwks: Option<String>,
}

/// `connector_info` reported with every ping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct ConnectorInfo {
    /// Run once and exit.
    pub run_and_terminate: bool,
    /// Paused because the platform's queue is full.
    pub buffering: bool,
    /// Threshold, MB.
    pub queue_threshold: f64,
    /// Last measured queue size, MB.
    pub queue_messages_size: f64,
    /// Next scheduled run, `%Y-%m-%dT%H:%M:%SZ`.
    pub next_run_datetime: Option<String>,
    /// Last run, `%Y-%m-%dT%H:%M:%SZ`.
    pub last_run_datetime: Option<String>,
}

/// Result of `pingConnector`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct PingReply {
    /// Connector id.
    pub id: String,
    /// Stored state after the ping (differs from what was sent after a reset
    /// from the UI).
    pub connector_state: Option<String>,
}

/// Size of the platform's queues for this connector.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Default)]
#[non_exhaustive]
pub struct QueueDetails {
    /// Messages waiting.
    pub messages_number: f64,
    /// Bytes waiting.
    pub messages_size: f64,
}

impl QueueDetails {
    /// Size in MB (10^6 bytes), as pycti compares it to the threshold.
    pub fn size_mb(&self) -> f64 {
        self.messages_size / 1_000_000.0
    }
}

/// A live stream collection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct StreamCollection {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Whether the stream is started.
    pub stream_live: bool,
    /// Whether it is public.
    pub stream_public: Option<bool>,
}

/// An error reported on a work element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WorkError {
    /// What went wrong.
    pub error: String,
    /// The element concerned.
    pub source: String,
}

impl WorkError {
    /// A work error.
    pub fn new(error: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            source: source.into(),
        }
    }
}
