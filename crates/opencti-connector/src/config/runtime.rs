//! The runtime's own variables (`OPENCTI_*`, `CONNECTOR_*`, `MQ_*`) and the
//! typed [`RuntimeConfig`] validated from them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;
use tracing::level_filters::LevelFilter;

use super::error::ConfigErrors;
use super::secret::Secret;
use super::settings::Settings;
use super::var::{Var, VarKind};
use crate::http::{self, Network};

/// `opencti.*` variables.
pub static OPENCTI_VARS: &[Var] = &[
    Var::new("OPENCTI_URL", "opencti", "url", VarKind::Url)
        .required()
        .help("Base URL of the OpenCTI platform; GraphQL is served at <url>/graphql"),
    Var::new("OPENCTI_TOKEN", "opencti", "token", VarKind::String)
        .required()
        .secret()
        .help("API token of the connector's user"),
    Var::new(
        "OPENCTI_CUSTOM_HEADERS",
        "opencti",
        "custom_headers",
        VarKind::String,
    )
    .help("Extra HTTP headers for the platform, as `name1:value1;name2:value2`"),
    Var::new(
        "OPENCTI_SSL_VERIFY",
        "opencti",
        "ssl_verify",
        VarKind::String,
    )
    .default("false")
    .help("Verify the platform's TLS certificate: true, false, or the path of a CA bundle"),
    Var::new(
        "OPENCTI_JSON_LOGGING",
        "opencti",
        "json_logging",
        VarKind::Bool,
    )
    .default("true")
    .help("Log one JSON object per line (timestamp, level, name, message, attributes)"),
    // The network OpenCTI's connector manager gives a container; read once
    // here, applied by every HTTP client (platform and vendor).
    Var::new(http::HTTP_PROXY, "proxy", "http_proxy", VarKind::String)
        .aliases(&["http_proxy"])
        .secret()
        .help("Proxy for every http:// request (platform and vendor), as http://[user:password@]host:port"),
    Var::new(http::HTTPS_PROXY, "proxy", "https_proxy", VarKind::String)
        .aliases(&["https_proxy"])
        .secret()
        .help("Proxy for every https:// request (platform and vendor), tunnelled with CONNECT"),
    Var::new(http::NO_PROXY, "proxy", "no_proxy", VarKind::String)
        .aliases(&["no_proxy"])
        .help("Hosts reached without the proxy, comma-separated (host, .domain, IP, CIDR, *)"),
    Var::new(
        http::HTTPS_CA_CERTIFICATES,
        "proxy",
        "https_ca_certificates",
        VarKind::String,
    )
    .help("Extra trusted CA certificates for every HTTPS client: inline PEM, or the path of a PEM file"),
    Var::new(
        http::HTTPS_PROXY_REJECT_UNAUTHORIZED,
        "proxy",
        "https_proxy_reject_unauthorized",
        VarKind::Bool,
    )
    .default("true")
    .help("false: certificates are not checked by clients whose requests go through HTTPS_PROXY"),
];

/// `connector.*` variables shared by every connector.
pub static CONNECTOR_VARS: &[Var] = &[
    Var::new("CONNECTOR_ID", "connector", "id", VarKind::String)
        .required()
        .help("Unique id (UUID v4) of this connector instance"),
    Var::new("CONNECTOR_TYPE", "connector", "type", VarKind::String)
        .help("Connector type (EXTERNAL_IMPORT, STREAM, ...); defaults to what the binary is"),
    Var::new("CONNECTOR_NAME", "connector", "name", VarKind::String)
        .required()
        .help("Name shown in the platform"),
    Var::new("CONNECTOR_SCOPE", "connector", "scope", VarKind::String)
        .default("not-applicable")
        .help("Comma-separated scope registered with the platform"),
    Var::new("CONNECTOR_AUTO", "connector", "auto", VarKind::Bool)
        .default("false")
        .help("Registered `auto` flag"),
    Var::new("CONNECTOR_AUTO_UPDATE", "connector", "auto_update", VarKind::Bool)
        .default("false")
        .help("Registered `auto_update` flag"),
    Var::new("CONNECTOR_ENRICHMENT_RESOLUTION", "connector", "enrichment_resolution", VarKind::String)
        .default("none")
        .help("Registered enrichment resolution"),
    Var::new("CONNECTOR_ONLY_CONTEXTUAL", "connector", "only_contextual", VarKind::Bool)
        .default("false")
        .help("Registered `only_contextual` flag"),
    Var::new("CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT", "connector", "auto_create_service_account", VarKind::Bool)
        .default("false")
        .help("7.x: before registering, create (or reuse) the user `[C] <CONNECTOR_NAME>` in the platform's Connectors group, renew its token and use that token instead of OPENCTI_TOKEN, which must be an admin's"),
    Var::new("CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT_CONFIDENCE_LEVEL", "connector", "auto_create_service_account_confidence_level", VarKind::Int)
        .default("50")
        .help("Max confidence level (0-100) of a service account CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT creates"),
    Var::new("CONNECTOR_LOG_LEVEL", "connector", "log_level", VarKind::String)
        .default("error")
        .choices(&["debug", "info", "warn", "warning", "error", "critical", "trace"])
        .help("debug, info, warn (warning), error (critical)"),
    Var::new("CONNECTOR_DURATION_PERIOD", "connector", "duration_period", VarKind::Duration)
        .help("Delay between the end of a run and the start of the next (ISO 8601 such as PT1H, or HH:MM:SS); 0 runs once"),
    Var::new("CONNECTOR_RUN_AND_TERMINATE", "connector", "run_and_terminate", VarKind::Bool)
        .default("false")
        .help("Run once, then exit"),
    Var::new("CONNECTOR_QUEUE_THRESHOLD", "connector", "queue_threshold", VarKind::Float)
        .default("500")
        .help("Pause while the platform's queue for this connector holds at least this many MB"),
    Var::new("CONNECTOR_VALIDATE_BEFORE_IMPORT", "connector", "validate_before_import", VarKind::Bool)
        .default("false")
        .help("Send bundles for human validation instead of importing them: a pending workbench file (6.x) or a draft (7.x)"),
    Var::new("CONNECTOR_SEND_TO_QUEUE", "connector", "send_to_queue", VarKind::Bool)
        .default("true")
        .help("Send bundles to the platform (and track works)"),
    Var::new("CONNECTOR_SEND_TO_DIRECTORY", "connector", "send_to_directory", VarKind::Bool)
        .default("false")
        .help("Also write each bundle to a directory"),
    Var::new("CONNECTOR_SEND_TO_DIRECTORY_PATH", "connector", "send_to_directory_path", VarKind::String)
        .help("Directory for CONNECTOR_SEND_TO_DIRECTORY"),
    Var::new("CONNECTOR_SEND_TO_DIRECTORY_RETENTION", "connector", "send_to_directory_retention", VarKind::Int)
        .default("7")
        .help("Days to keep *.json files in that directory; 0 keeps them forever"),
    Var::new("CONNECTOR_SEND_TO_S3", "connector", "send_to_s3", VarKind::Bool)
        .default("false")
        .help("Also upload each bundle to S3 (the platform's storage unless the S3_* variables say otherwise)"),
    Var::new("CONNECTOR_SEND_TO_S3_BUCKET", "connector", "send_to_s3_bucket", VarKind::String)
        .help("Bucket for CONNECTOR_SEND_TO_S3 (unset: the platform's bucket)"),
    Var::new("CONNECTOR_SEND_TO_S3_FOLDER", "connector", "send_to_s3_folder", VarKind::String)
        .default("connectors")
        .help("Key prefix (folder) of the uploaded bundles; empty or `.` uploads to the bucket's root"),
    Var::new("CONNECTOR_SEND_TO_S3_RETENTION", "connector", "send_to_s3_retention", VarKind::Int)
        .default("7")
        .help("Days to keep this connector's uploaded bundles; 0 keeps them forever"),
    Var::new("S3_ENDPOINT", "s3", "endpoint", VarKind::String)
        .help("S3 host for CONNECTOR_SEND_TO_S3 (overrides the platform's)"),
    Var::new("S3_PORT", "s3", "port", VarKind::Int).help("S3 port (overrides the platform's)"),
    Var::new("S3_USE_SSL", "s3", "use_ssl", VarKind::Bool)
        .help("Reach S3 over https (overrides the platform's)"),
    Var::new("S3_ACCESS_KEY", "s3", "access_key", VarKind::String)
        .help("S3 access key (overrides the platform's)"),
    Var::new("S3_SECRET_KEY", "s3", "secret_key", VarKind::String)
        .secret()
        .help("S3 secret key (overrides the platform's)"),
    Var::new("S3_BUCKET_REGION", "s3", "bucket_region", VarKind::String)
        .help("S3 signing region (overrides the platform's; unset everywhere: us-east-1)"),
    Var::new("CONNECTOR_QUEUE_PROTOCOL", "connector", "queue_protocol", VarKind::String)
        .default("amqp")
        .aliases(&["QUEUE_PROTOCOL"])
        .choices(&["amqp", "api"])
        .help("amqp (RabbitMQ) or api (stixBundlePush mutation)"),
    Var::new("CONNECTOR_LIVE_STREAM_ID", "connector", "live_stream_id", VarKind::String)
        .help("Stream connectors: live stream collection id (`live` for everything)"),
    Var::new("CONNECTOR_LIVE_STREAM_LISTEN_DELETE", "connector", "live_stream_listen_delete", VarKind::Bool)
        .default("true")
        .help("Stream connectors: receive delete events"),
    Var::new("CONNECTOR_LIVE_STREAM_NO_DEPENDENCIES", "connector", "live_stream_no_dependencies", VarKind::Bool)
        .default("true")
        .help("Stream connectors: do not receive dependencies of matching objects"),
    Var::new("CONNECTOR_LIVE_STREAM_WITH_INFERENCES", "connector", "live_stream_with_inferences", VarKind::Bool)
        .default("false")
        .help("Stream connectors: include inferred data"),
    Var::new("CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE", "connector", "live_stream_recover_iso_date", VarKind::String)
        .help("Stream connectors: on the first run, recover history up to this ISO date"),
    Var::new("CONNECTOR_LIVE_STREAM_START_TIMESTAMP", "connector", "live_stream_start_timestamp", VarKind::String)
        .help("Stream connectors: on the first run, start at this epoch-milliseconds position"),
    Var::new("CONNECTOR_LIVE_STREAM_OPENCTI_URL", "connector", "live_stream_opencti_url", VarKind::Url)
        .help("Stream connectors: platform whose live stream is read, when it is not the one the connector registers with (unset: OPENCTI_URL)"),
    Var::new("CONNECTOR_LIVE_STREAM_OPENCTI_TOKEN", "connector", "live_stream_opencti_token", VarKind::String)
        .secret()
        .help("Stream connectors: API token for CONNECTOR_LIVE_STREAM_OPENCTI_URL, sent only there (unset: OPENCTI_TOKEN)"),
    Var::new("CONNECTOR_LIVE_STREAM_MAX_EVENT_SIZE_MB", "connector", "live_stream_max_event_size_mb", VarKind::Int)
        .default("64")
        .help("Not in pycti: stream connectors: largest live stream event accepted, in MiB; a larger one drops the connection (logged), which resumes from the last event"),
    Var::new("CONNECTOR_EXPOSE_METRICS", "connector", "expose_metrics", VarKind::Bool)
        .default("false")
        .help("Serve Prometheus metrics over HTTP"),
    Var::new("CONNECTOR_METRICS_NAMESPACE", "connector", "metrics_namespace", VarKind::String)
        .default("")
        .help("Prometheus namespace (metric name prefix)"),
    Var::new("CONNECTOR_METRICS_SUBSYSTEM", "connector", "metrics_subsystem", VarKind::String)
        .default("")
        .help("Prometheus subsystem (second prefix)"),
    Var::new("CONNECTOR_METRICS_PORT", "connector", "metrics_port", VarKind::Int)
        .default("9095")
        .help("Port of the metrics endpoint"),
    Var::new("CONNECTOR_METRICS_HOST", "connector", "metrics_host", VarKind::String)
        .default("127.0.0.1")
        .help("Address the metrics endpoint binds (0.0.0.0 to expose it outside a container)"),
    Var::new("CONNECTOR_STOP_GRACE_PERIOD", "connector", "stop_grace_period", VarKind::Duration)
        .default("PT10S")
        .help("Not in pycti: longest a stop on SIGTERM or SIGINT may take (ISO 8601): the run in progress gets half of it, closing its work and the last ping the rest; a second signal exits at once"),
    Var::new("CONNECTOR_WORKER_THREADS", "connector", "worker_threads", VarKind::Int)
        .help("Not in pycti: threads of the async runtime; 0 runs everything on one thread (unset: 2, or 0 for stream connectors)"),
];

/// `mq.*` variables: local overrides of the broker parameters the platform
/// hands out at registration.
pub static MQ_VARS: &[Var] = &[
    Var::new("MQ_HOST", "mq", "host", VarKind::String).help("RabbitMQ host (overrides the platform's)"),
    Var::new("MQ_PORT", "mq", "port", VarKind::Int).help("RabbitMQ port"),
    Var::new("MQ_VHOST", "mq", "vhost", VarKind::String).help("RabbitMQ virtual host"),
    Var::new("MQ_USE_SSL", "mq", "use_ssl", VarKind::Bool).help("Connect with TLS (amqps)"),
    Var::new("MQ_USER", "mq", "user", VarKind::String).help("RabbitMQ user"),
    Var::new("MQ_PASS", "mq", "pass", VarKind::String)
        .secret()
        .help("RabbitMQ password"),
    Var::new("MQ_USE_SSL_CA", "mq", "use_ssl_ca", VarKind::String)
        .help("CA certificate: a file path or inline PEM"),
    Var::new("MQ_USE_SSL_CERT", "mq", "use_ssl_cert", VarKind::String)
        .help("Client certificate: a file path or inline PEM"),
    Var::new("MQ_USE_SSL_KEY", "mq", "use_ssl_key", VarKind::String)
        .secret()
        .help("Client private key (PEM, possibly encrypted PKCS#8): a file path or inline PEM"),
    Var::new("MQ_USE_SSL_PASSPHRASE", "mq", "use_ssl_passphrase", VarKind::String)
        .secret()
        .help("Passphrase of an encrypted client key"),
    Var::new("MQ_USE_SSL_REJECT_UNAUTHORIZED", "mq", "use_ssl_reject_unauthorized", VarKind::Bool)
        .default("false")
        .help("Verify the broker's certificate and host name (false: encrypt without verifying, like pycti)"),
    Var::new("MQ_OUTAGE_TIMEOUT", "mq", "outage_timeout", VarKind::Duration)
        .default("PT5M")
        .help("Not in pycti: how long a send waits on a broker that is unreachable or does not confirm before the run fails (and is retried on schedule)"),
];

/// Default of `CONNECTOR_STOP_GRACE_PERIOD`: inside the 10 seconds
/// `docker stop` waits before it kills.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// Highest `CONNECTOR_LIVE_STREAM_MAX_EVENT_SIZE_MB` accepted (4 GiB).
const MAX_EVENT_SIZE_MIB_CEILING: u32 = 4096;

/// Every runtime table, in the order they are documented.
pub static RUNTIME_TABLES: &[&[Var]] = &[OPENCTI_VARS, CONNECTOR_VARS, MQ_VARS];

/// The connector types the platform accepts at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectorType {
    /// Pulls remote data and pushes STIX bundles.
    ExternalImport,
    /// Converts an uploaded file.
    InternalImportFile,
    /// Enriches an entity.
    InternalEnrichment,
    /// Analyses files or content.
    InternalAnalysis,
    /// Exports to a file.
    InternalExportFile,
    /// Consumes the live stream.
    Stream,
}

impl ConnectorType {
    /// The GraphQL enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExternalImport => "EXTERNAL_IMPORT",
            Self::InternalImportFile => "INTERNAL_IMPORT_FILE",
            Self::InternalEnrichment => "INTERNAL_ENRICHMENT",
            Self::InternalAnalysis => "INTERNAL_ANALYSIS",
            Self::InternalExportFile => "INTERNAL_EXPORT_FILE",
            Self::Stream => "STREAM",
        }
    }
}

impl FromStr for ConnectorType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        [
            Self::ExternalImport,
            Self::InternalImportFile,
            Self::InternalEnrichment,
            Self::InternalAnalysis,
            Self::InternalExportFile,
            Self::Stream,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
        .ok_or_else(|| {
            "expected EXTERNAL_IMPORT, INTERNAL_IMPORT_FILE, INTERNAL_ENRICHMENT, INTERNAL_ANALYSIS, INTERNAL_EXPORT_FILE or STREAM".to_owned()
        })
    }
}

/// How bundles reach the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueProtocol {
    /// Split and published to RabbitMQ.
    Amqp,
    /// Sent whole with the `stixBundlePush` mutation.
    Api,
}

/// TLS verification of the platform's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlatformTls {
    /// Verify against the system roots.
    Verify,
    /// Do not verify (pycti's default).
    NoVerify,
    /// Verify against the system roots plus this CA bundle (PEM file).
    CaBundle(PathBuf),
}

impl PlatformTls {
    /// The HTTP layer's verification for the platform's certificate.
    pub fn verification(&self) -> http::Verification {
        match self {
            Self::Verify => http::Verification::System,
            Self::NoVerify => http::Verification::Off,
            Self::CaBundle(path) => http::Verification::AlsoBundle(path.clone()),
        }
    }
}

/// Validated `opencti.*` settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpenctiConfig {
    /// Platform base URL (no trailing slash).
    pub url: Url,
    /// API token.
    pub token: Secret,
    /// Extra HTTP headers.
    pub custom_headers: Vec<(String, String)>,
    /// Certificate verification.
    pub tls: PlatformTls,
    /// Proxies and extra trusted CAs, for every HTTP client of the process.
    pub network: Network,
    /// JSON log lines.
    pub json_logging: bool,
}

/// Side output of every bundle to a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirectoryOutput {
    /// The directory.
    pub path: PathBuf,
    /// Days to keep files; 0 keeps them.
    pub retention_days: u32,
}

/// `CONNECTOR_SEND_TO_S3`: an upload of every bundle to S3, as pycti 7.x
/// does it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Output {
    /// `CONNECTOR_SEND_TO_S3_BUCKET`; `None`: the platform's bucket.
    pub bucket: Option<String>,
    /// `CONNECTOR_SEND_TO_S3_FOLDER`: the key prefix.
    pub folder: String,
    /// `CONNECTOR_SEND_TO_S3_RETENTION`: days to keep uploads; 0 keeps them.
    pub retention_days: u32,
    /// `S3_*`: local overrides of the platform's S3 parameters.
    pub overrides: S3Overrides,
}

/// `S3_*`: local overrides of the S3 parameters the platform hands out at
/// registration; `None` keeps the platform's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Overrides {
    /// Host.
    pub endpoint: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// https instead of http.
    pub use_ssl: Option<bool>,
    /// Access key.
    pub access_key: Option<String>,
    /// Secret key.
    pub secret_key: Option<Secret>,
    /// Signing region.
    pub bucket_region: Option<String>,
}

/// Validated `CONNECTOR_LIVE_STREAM_*` settings (used by the stream runtime).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LiveStreamConfig {
    /// Stream collection id.
    pub id: Option<String>,
    /// `listen-delete` header.
    pub listen_delete: bool,
    /// `no-dependencies` header.
    pub no_dependencies: bool,
    /// `with-inferences` header.
    pub with_inferences: bool,
    /// First-run recovery date.
    pub recover_iso_date: Option<String>,
    /// First-run start position (epoch milliseconds).
    pub start_timestamp: Option<String>,
    /// The most bytes one line, or the fields of one event, may take.
    pub max_event_bytes: usize,
    /// `CONNECTOR_LIVE_STREAM_OPENCTI_URL`: the platform the stream is read
    /// from, when it is not the registration platform.
    pub opencti_url: Option<Url>,
    /// `CONNECTOR_LIVE_STREAM_OPENCTI_TOKEN`: the token for that platform.
    pub opencti_token: Option<Secret>,
}

/// Validated metrics settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Serve the endpoint.
    pub expose: bool,
    /// Prefix built from namespace and subsystem (`ns_sub`), maybe empty.
    pub prefix: String,
    /// Bind address.
    pub host: IpAddr,
    /// Port.
    pub port: u16,
}

/// Validated `connector.*` settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectorSection {
    /// Registration id.
    pub id: String,
    /// Explicit `CONNECTOR_TYPE`, if set.
    pub connector_type: Option<ConnectorType>,
    /// Display name.
    pub name: String,
    /// Scope, split on commas and trimmed.
    pub scope: Vec<String>,
    /// Scope as written (the directory envelope carries it verbatim).
    pub scope_text: String,
    /// Registration flags.
    pub auto: bool,
    /// Registration flags.
    pub auto_update: bool,
    /// Registration enrichment resolution.
    pub enrichment_resolution: String,
    /// Registration flags.
    pub only_contextual: bool,
    /// Log level.
    pub log_level: LevelFilter,
    /// Delay between runs; `None` if unset.
    pub duration_period: Option<Duration>,
    /// Run once and exit.
    pub run_and_terminate: bool,
    /// Buffering threshold in MB (10^6 bytes).
    pub queue_threshold_mb: f64,
    /// Send bundles to the platform and track works.
    pub send_to_queue: bool,
    /// Send bundles for validation (workbench file or draft) instead of
    /// importing them directly.
    pub validate_before_import: bool,
    /// Directory side output.
    pub directory: Option<DirectoryOutput>,
    /// S3 side output.
    pub s3: Option<S3Output>,
    /// Transport for bundles.
    pub queue_protocol: QueueProtocol,
    /// Stream settings.
    pub live_stream: LiveStreamConfig,
    /// Metrics settings.
    pub metrics: MetricsConfig,
    /// `CONNECTOR_WORKER_THREADS`: worker threads of the async runtime
    /// (0: the current thread); `None` leaves the choice to the binary.
    pub worker_threads: Option<u16>,
    /// `CONNECTOR_STOP_GRACE_PERIOD`: how long a stop may take.
    pub stop_grace: Duration,
    /// `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT`: the service account to
    /// run as, `None` to run with `OPENCTI_TOKEN`.
    pub service_account: Option<ServiceAccountConfig>,
}

/// `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceAccountConfig {
    /// Max confidence level of a created account (0-100).
    pub confidence_level: u8,
}

/// Validated `mq.*` overrides; `None` keeps the platform's value.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MqOverrides {
    /// Host.
    pub host: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Virtual host.
    pub vhost: Option<String>,
    /// TLS on/off.
    pub use_ssl: Option<bool>,
    /// User.
    pub user: Option<String>,
    /// Password.
    pub pass: Option<Secret>,
    /// CA (path or PEM).
    pub ca: Option<String>,
    /// Client certificate (path or PEM).
    pub cert: Option<String>,
    /// Client key (path or PEM).
    pub key: Option<Secret>,
    /// Passphrase of an encrypted client key.
    pub passphrase: Option<Secret>,
    /// Verify the broker certificate.
    pub reject_unauthorized: bool,
    /// `MQ_OUTAGE_TIMEOUT`.
    pub outage_timeout: Duration,
}

impl Default for MqOverrides {
    fn default() -> Self {
        Self {
            host: None,
            port: None,
            vhost: None,
            use_ssl: None,
            user: None,
            pass: None,
            ca: None,
            cert: None,
            key: None,
            passphrase: None,
            reject_unauthorized: false,
            outage_timeout: crate::amqp::DEFAULT_OUTAGE_TIMEOUT,
        }
    }
}

/// The runtime's validated configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// Platform access.
    pub opencti: OpenctiConfig,
    /// Connector identity and behaviour.
    pub connector: ConnectorSection,
    /// Broker overrides.
    pub mq: MqOverrides,
}

/// The base URL without the trailing slash pycti strips before appending
/// `/graphql` or `/stream`.
fn without_trailing_slash(mut url: Url) -> Url {
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    url
}

fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(format!("`{pair}` is not of the form name:value")),
        })
        .collect()
}

fn parse_level(text: &str) -> Result<LevelFilter, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "debug" => Ok(LevelFilter::DEBUG),
        "info" => Ok(LevelFilter::INFO),
        "warn" | "warning" => Ok(LevelFilter::WARN),
        "error" | "critical" => Ok(LevelFilter::ERROR),
        "trace" => Ok(LevelFilter::TRACE),
        _ => Err("expected debug, info, warn, error (or warning, critical)".to_owned()),
    }
}

fn parse_ssl_verify(text: &str) -> PlatformTls {
    match super::value::parse_bool_text(text) {
        Some(true) => PlatformTls::Verify,
        Some(false) => PlatformTls::NoVerify,
        None => PlatformTls::CaBundle(PathBuf::from(text)),
    }
}

impl TryFrom<&Settings> for RuntimeConfig {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();

        let url: Option<Url> = check.require("OPENCTI_URL");
        let url = url.map(without_trailing_slash);
        let token: Option<super::Secret> = check.require("OPENCTI_TOKEN");
        if token
            .as_ref()
            .is_some_and(|token| token.expose() == "ChangeMe")
        {
            check.reject("OPENCTI_TOKEN", "still the template placeholder `ChangeMe`");
        }
        let custom_headers = check
            .parse("OPENCTI_CUSTOM_HEADERS", |value| {
                parse_headers(&value.to_string())
            })
            .unwrap_or_default();
        let tls = check
            .get::<String>("OPENCTI_SSL_VERIFY")
            .map_or(PlatformTls::NoVerify, |text| parse_ssl_verify(&text));
        if let PlatformTls::CaBundle(path) = &tls
            && !path.is_file()
        {
            check.reject(
                "OPENCTI_SSL_VERIFY",
                "expected true, false or the path of an existing CA bundle",
            );
        }
        let json_logging = check.get("OPENCTI_JSON_LOGGING").unwrap_or(true);
        let network = Network::check(&mut check);

        let id: Option<String> = check.require("CONNECTOR_ID");
        let connector_type = check.parse("CONNECTOR_TYPE", |value| {
            ConnectorType::from_str(&value.to_string())
        });
        let name: Option<String> = check.require("CONNECTOR_NAME");
        if name
            .as_ref()
            .is_some_and(|name| name.trim().chars().count() < 2)
        {
            check.reject(
                "CONNECTOR_NAME",
                "must have at least 2 non-blank characters",
            );
        }
        let scope_text: String = check.get("CONNECTOR_SCOPE").unwrap_or_default();
        let scope = scope_text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect();
        let log_level = check.parse("CONNECTOR_LOG_LEVEL", |value| {
            parse_level(&value.to_string())
        });
        let queue_threshold_mb: Option<f64> = check.get("CONNECTOR_QUEUE_THRESHOLD");
        if queue_threshold_mb.is_some_and(|threshold| threshold <= 0.0) {
            check.reject(
                "CONNECTOR_QUEUE_THRESHOLD",
                "must be a positive number of MB",
            );
        }
        let send_to_directory: bool = check.get("CONNECTOR_SEND_TO_DIRECTORY").unwrap_or(false);
        let directory_path: Option<PathBuf> = check.get("CONNECTOR_SEND_TO_DIRECTORY_PATH");
        let retention_days: Option<u32> = check.get("CONNECTOR_SEND_TO_DIRECTORY_RETENTION");
        let directory = match (send_to_directory, directory_path) {
            (true, Some(path)) => Some(DirectoryOutput {
                path,
                retention_days: retention_days.unwrap_or(7),
            }),
            (true, None) => {
                check.reject(
                    "CONNECTOR_SEND_TO_DIRECTORY",
                    "is true but CONNECTOR_SEND_TO_DIRECTORY_PATH is not set",
                );
                None
            }
            (false, _) => None,
        };
        let send_to_s3: bool = check.get("CONNECTOR_SEND_TO_S3").unwrap_or(false);
        let s3_overrides = S3Overrides {
            endpoint: check.get("S3_ENDPOINT"),
            port: check.get("S3_PORT"),
            use_ssl: check.get("S3_USE_SSL"),
            access_key: check.get("S3_ACCESS_KEY"),
            secret_key: check.get("S3_SECRET_KEY"),
            bucket_region: check.get("S3_BUCKET_REGION"),
        };
        let s3 = send_to_s3.then(|| S3Output {
            bucket: check.get("CONNECTOR_SEND_TO_S3_BUCKET"),
            folder: check
                .get("CONNECTOR_SEND_TO_S3_FOLDER")
                .unwrap_or_else(|| "connectors".to_owned()),
            retention_days: check.get("CONNECTOR_SEND_TO_S3_RETENTION").unwrap_or(7),
            overrides: s3_overrides,
        });
        let queue_protocol = check.parse("CONNECTOR_QUEUE_PROTOCOL", |value| {
            match value.to_string().as_str() {
                "amqp" => Ok(QueueProtocol::Amqp),
                "api" => Ok(QueueProtocol::Api),
                _ => Err("expected amqp or api".to_owned()),
            }
        });
        let max_event_mib: u32 = check
            .get("CONNECTOR_LIVE_STREAM_MAX_EVENT_SIZE_MB")
            .unwrap_or(64);
        if !(1..=MAX_EVENT_SIZE_MIB_CEILING).contains(&max_event_mib) {
            check.reject(
                "CONNECTOR_LIVE_STREAM_MAX_EVENT_SIZE_MB",
                format!("must be between 1 and {MAX_EVENT_SIZE_MIB_CEILING} (MiB)"),
            );
        }
        let live_stream = LiveStreamConfig {
            id: check.get("CONNECTOR_LIVE_STREAM_ID"),
            listen_delete: check
                .get("CONNECTOR_LIVE_STREAM_LISTEN_DELETE")
                .unwrap_or(true),
            no_dependencies: check
                .get("CONNECTOR_LIVE_STREAM_NO_DEPENDENCIES")
                .unwrap_or(true),
            with_inferences: check
                .get("CONNECTOR_LIVE_STREAM_WITH_INFERENCES")
                .unwrap_or(false),
            recover_iso_date: check.get("CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE"),
            start_timestamp: check.get("CONNECTOR_LIVE_STREAM_START_TIMESTAMP"),
            max_event_bytes: usize::try_from(max_event_mib).unwrap_or(usize::MAX) << 20,
            opencti_url: check
                .get::<Url>("CONNECTOR_LIVE_STREAM_OPENCTI_URL")
                .map(without_trailing_slash),
            opencti_token: check.get("CONNECTOR_LIVE_STREAM_OPENCTI_TOKEN"),
        };
        let stop_grace: Duration = check
            .get("CONNECTOR_STOP_GRACE_PERIOD")
            .unwrap_or(DEFAULT_STOP_GRACE);
        if stop_grace < Duration::from_secs(1) {
            check.reject("CONNECTOR_STOP_GRACE_PERIOD", "must be at least 1 second");
        }
        let namespace: String = check.get("CONNECTOR_METRICS_NAMESPACE").unwrap_or_default();
        let subsystem: String = check.get("CONNECTOR_METRICS_SUBSYSTEM").unwrap_or_default();
        let prefix = [namespace, subsystem]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("_");
        let metrics_host = check.parse("CONNECTOR_METRICS_HOST", |value| {
            value
                .to_string()
                .parse::<IpAddr>()
                .map_err(|_| "expected an IP address such as 127.0.0.1 or 0.0.0.0".to_owned())
        });
        let metrics_port: Option<u16> = check.get("CONNECTOR_METRICS_PORT");
        let worker_threads: Option<u16> = check.get("CONNECTOR_WORKER_THREADS");
        let confidence_level: i64 = check
            .get("CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT_CONFIDENCE_LEVEL")
            .unwrap_or(50);
        let confidence_level = u8::try_from(confidence_level)
            .ok()
            .filter(|level| *level <= 100);
        if confidence_level.is_none() {
            check.reject(
                "CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT_CONFIDENCE_LEVEL",
                "must be between 0 and 100",
            );
        }
        let service_account = check
            .get("CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT")
            .unwrap_or(false)
            .then_some(confidence_level)
            .flatten()
            .map(|confidence_level| ServiceAccountConfig { confidence_level });
        let connector_rest = (
            check.get("CONNECTOR_AUTO").unwrap_or(false),
            check.get("CONNECTOR_AUTO_UPDATE").unwrap_or(false),
            check
                .get("CONNECTOR_ENRICHMENT_RESOLUTION")
                .unwrap_or_else(|| "none".to_owned()),
            check.get("CONNECTOR_ONLY_CONTEXTUAL").unwrap_or(false),
            check.get("CONNECTOR_DURATION_PERIOD"),
            check.get("CONNECTOR_RUN_AND_TERMINATE").unwrap_or(false),
            check.get("CONNECTOR_SEND_TO_QUEUE").unwrap_or(true),
            check.get("CONNECTOR_EXPOSE_METRICS").unwrap_or(false),
            check
                .get("CONNECTOR_VALIDATE_BEFORE_IMPORT")
                .unwrap_or(false),
        );

        let mq = MqOverrides {
            host: check.get("MQ_HOST"),
            port: check.get("MQ_PORT"),
            vhost: check.get("MQ_VHOST"),
            use_ssl: check.get("MQ_USE_SSL"),
            user: check.get("MQ_USER"),
            pass: check.get("MQ_PASS"),
            ca: check.get("MQ_USE_SSL_CA"),
            cert: check.get("MQ_USE_SSL_CERT"),
            key: check.get("MQ_USE_SSL_KEY"),
            passphrase: check.get("MQ_USE_SSL_PASSPHRASE"),
            reject_unauthorized: check.get("MQ_USE_SSL_REJECT_UNAUTHORIZED").unwrap_or(false),
            outage_timeout: check
                .get("MQ_OUTAGE_TIMEOUT")
                .unwrap_or(crate::amqp::DEFAULT_OUTAGE_TIMEOUT),
        };

        check.finish("runtime", || {
            let (
                auto,
                auto_update,
                enrichment_resolution,
                only_contextual,
                duration_period,
                run_and_terminate,
                send_to_queue,
                expose,
                validate_before_import,
            ) = connector_rest;
            Some(RuntimeConfig {
                opencti: OpenctiConfig {
                    url: url?,
                    token: token?,
                    custom_headers,
                    tls,
                    network,
                    json_logging,
                },
                connector: ConnectorSection {
                    id: id?,
                    connector_type,
                    name: name?,
                    scope,
                    scope_text,
                    auto,
                    auto_update,
                    enrichment_resolution,
                    only_contextual,
                    log_level: log_level?,
                    duration_period,
                    run_and_terminate,
                    queue_threshold_mb: queue_threshold_mb?,
                    send_to_queue,
                    validate_before_import,
                    directory,
                    s3,
                    queue_protocol: queue_protocol?,
                    live_stream,
                    metrics: MetricsConfig {
                        expose,
                        prefix,
                        host: metrics_host?,
                        port: metrics_port?,
                    },
                    worker_threads,
                    stop_grace,
                    service_account,
                },
                mq,
            })
        })
    }
}
