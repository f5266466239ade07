//! Simulator configuration: the raw [`SimConfig`] callers fill in, and the
//! checked form the running simulator uses.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lapin::uri::{AMQPScheme, AMQPUri};
use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// Default broker: the local RabbitMQ with its stock credentials.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Default `about { version }` answer. A 6.x version because the pycti 6.8
/// operation texts are the common denominator: every helper (6.8 or 7.x)
/// validates against the sim's schema whatever this says, and clients that
/// pick their texts from the platform version get the conservative set.
pub const DEFAULT_PLATFORM_VERSION: &str = "6.8.10";

/// A secret string (the accepted API token) that never shows in logs or `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for comparisons and for sending it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A stream collection served at `GET /stream/{id}` besides `live`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamCollectionConfig {
    /// Collection id (used in the URL).
    pub id: String,
    /// Display name (defaults to the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// `false` makes the stream answer `410 Gone`, like a stopped collection.
    #[serde(default = "default_true")]
    pub stream_live: bool,
    /// Public collections skip the per-user checks on the real platform.
    #[serde(default)]
    pub stream_public: bool,
    /// STIX types the collection lets through (`None`: every type).
    #[serde(default)]
    pub entity_types: Option<Vec<String>>,
}

fn default_true() -> bool {
    true
}

impl StreamCollectionConfig {
    /// A running collection that lets every object through.
    pub fn live(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            description: None,
            stream_live: true,
            stream_public: false,
            entity_types: None,
        }
    }

    /// A stopped collection (its stream answers 410).
    pub fn stopped(id: impl Into<String>) -> Self {
        Self {
            stream_live: false,
            ..Self::live(id)
        }
    }
}

/// What the simulator does with the exchanges and queues it declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BrokerObjects {
    /// Durable and kept, like the platform (the default for the binary).
    #[default]
    Durable,
    /// Auto-delete queues that also expire when unused, deleted again when
    /// the simulator stops: for tests, which must not leave queues behind.
    Transient,
}

/// Raw simulator configuration. Fill in what you need over
/// [`SimConfig::default`]; [`crate::Sim::start`] validates it.
#[derive(Clone)]
pub struct SimConfig {
    /// HTTP listen address (loopback only). Port 0 picks a free port.
    pub listen: SocketAddr,
    /// RabbitMQ URL used for declarations, the worker and the connection
    /// details handed to connectors at registration.
    pub amqp_url: String,
    /// The only accepted bearer token; `None` accepts any non-empty token.
    pub token: Option<Secret>,
    /// OpenCTI's `rabbitmq:queue_prefix`: queue, exchange and routing names
    /// get `<prefix>_` in front. Tests use a random one each.
    pub queue_prefix: Option<String>,
    /// What `about { version }` answers. A major version of 7 or more turns
    /// on the 7.x behaviours (multipart works, queue details summing the
    /// listen queue too).
    pub platform_version: String,
    /// Period of the stream heartbeats (the platform's default is 5 s).
    pub heartbeat_interval: Duration,
    /// Stream collections besides `live` (which always exists).
    pub stream_collections: Vec<StreamCollectionConfig>,
    /// Keep the state in this JSON file across restarts (written atomically).
    pub data_file: Option<PathBuf>,
    /// JSONL file of stream events injected at startup.
    pub events_file: Option<PathBuf>,
    /// Durable (platform-like) or transient (test) broker objects.
    pub broker_objects: BrokerObjects,
    /// How many messages a push-queue consumer may hold unacknowledged.
    pub worker_prefetch: u16,
    /// Start every push-queue worker paused: bundles stay in the queue until
    /// `POST /sim/api/connectors/{id}/resume` (buffering demos, measuring a
    /// connector without the platform's ingestion on the same cores).
    pub workers_paused: bool,
    /// With a 6.x `platform_version`, refuse what a 6.x platform refuses
    /// (pycti 7.x's `jwks`, `config.s3`, `version`/`slug`, multipart works):
    /// proves a client picks its operation texts from the platform version.
    pub strict_generation: bool,
    /// How long the listen forwarding waits before handing a message back
    /// to the queue when a connector on the API listen protocol did not take
    /// it (the platform's worker waits 10 to 30 s).
    pub listen_callback_retry: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            amqp_url: DEFAULT_AMQP_URL.to_owned(),
            token: None,
            queue_prefix: None,
            platform_version: DEFAULT_PLATFORM_VERSION.to_owned(),
            heartbeat_interval: Duration::from_secs(5),
            stream_collections: Vec::new(),
            data_file: None,
            events_file: None,
            broker_objects: BrokerObjects::Durable,
            worker_prefetch: 500,
            workers_paused: false,
            strict_generation: false,
            listen_callback_retry: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("listen", &self.listen)
            .field("amqp_url", &redact_url_password(&self.amqp_url))
            .field("token", &self.token)
            .field("queue_prefix", &self.queue_prefix)
            .field("platform_version", &self.platform_version)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("stream_collections", &self.stream_collections)
            .field("data_file", &self.data_file)
            .field("events_file", &self.events_file)
            .field("broker_objects", &self.broker_objects)
            .field("worker_prefetch", &self.worker_prefetch)
            .field("workers_paused", &self.workers_paused)
            .field("strict_generation", &self.strict_generation)
            .field("listen_callback_retry", &self.listen_callback_retry)
            .finish()
    }
}

/// `scheme://user:password@host` -> `scheme://user:***@host`, for logs.
/// The user info ends at the last `@`: a password may hold `@` itself
/// (everything up to it is hidden, even a stray one in the path).
pub(crate) fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl SimConfig {
    /// A configuration for tests: random queue prefix, transient broker
    /// objects, everything else default.
    pub fn for_tests() -> Self {
        Self {
            queue_prefix: Some(format!("sim{}", uuid::Uuid::new_v4().simple())),
            broker_objects: BrokerObjects::Transient,
            ..Self::default()
        }
    }
}

/// Connection details of the broker as handed to connectors at registration.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BrokerEndpoint {
    pub(crate) url: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) vhost: String,
    pub(crate) user: String,
    pub(crate) pass: Secret,
    pub(crate) use_ssl: bool,
}

impl fmt::Debug for BrokerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerEndpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("vhost", &self.vhost)
            .field("user", &self.user)
            .field("use_ssl", &self.use_ssl)
            .finish_non_exhaustive()
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct CheckedConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) broker: BrokerEndpoint,
    pub(crate) token: Option<Secret>,
    /// `<P>`: empty, or the prefix followed by `_`.
    pub(crate) name_prefix: String,
    pub(crate) platform_version: String,
    pub(crate) platform_major: u32,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) stream_collections: Vec<StreamCollectionConfig>,
    pub(crate) data_file: Option<PathBuf>,
    pub(crate) events_file: Option<PathBuf>,
    pub(crate) broker_objects: BrokerObjects,
    pub(crate) worker_prefetch: u16,
    pub(crate) workers_paused: bool,
    pub(crate) strict_generation: bool,
    pub(crate) listen_callback_retry: Duration,
}

impl CheckedConfig {
    /// 7.x platforms track multipart works and count both queues.
    pub(crate) fn is_7x(&self) -> bool {
        self.platform_major >= 7
    }
}

impl TryFrom<SimConfig> for CheckedConfig {
    type Error = SimError;

    fn try_from(raw: SimConfig) -> Result<Self, SimError> {
        if !raw.listen.ip().is_loopback() {
            return Err(SimError::InvalidConfig {
                field: "listen",
                reason: format!("{} is not a loopback address", raw.listen.ip()),
            });
        }
        let broker = parse_amqp_url(&raw.amqp_url)?;
        if let Some(token) = &raw.token
            && token.expose().trim().is_empty()
        {
            return Err(SimError::InvalidConfig {
                field: "token",
                reason: "the accepted token must not be empty".to_owned(),
            });
        }
        let name_prefix = match raw.queue_prefix.as_deref() {
            None | Some("") => String::new(),
            Some(prefix)
                if prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                format!("{prefix}_")
            }
            Some(prefix) => {
                return Err(SimError::InvalidConfig {
                    field: "queue_prefix",
                    reason: format!(
                        "`{prefix}` may only hold ASCII letters, digits, `-`, `_` and `.`"
                    ),
                });
            }
        };
        let platform_major = raw
            .platform_version
            .split('.')
            .next()
            .and_then(|major| major.parse::<u32>().ok())
            .ok_or_else(|| SimError::InvalidConfig {
                field: "platform_version",
                reason: format!(
                    "`{}` does not start with a numeric major version",
                    raw.platform_version
                ),
            })?;
        if raw.heartbeat_interval.is_zero() {
            return Err(SimError::InvalidConfig {
                field: "heartbeat_interval",
                reason: "must be longer than zero".to_owned(),
            });
        }
        let mut seen = std::collections::HashSet::from(["live".to_owned(), "raw".to_owned()]);
        for collection in &raw.stream_collections {
            if collection.id.trim().is_empty() || !seen.insert(collection.id.clone()) {
                return Err(SimError::InvalidConfig {
                    field: "stream_collections",
                    reason: format!(
                        "collection id `{}` is empty, reserved or repeated",
                        collection.id
                    ),
                });
            }
        }
        if raw.worker_prefetch == 0 {
            return Err(SimError::InvalidConfig {
                field: "worker_prefetch",
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(Self {
            listen: raw.listen,
            broker,
            token: raw.token,
            name_prefix,
            platform_version: raw.platform_version,
            platform_major,
            heartbeat_interval: raw.heartbeat_interval,
            stream_collections: raw.stream_collections,
            data_file: raw.data_file,
            events_file: raw.events_file,
            broker_objects: raw.broker_objects,
            worker_prefetch: raw.worker_prefetch,
            workers_paused: raw.workers_paused,
            strict_generation: raw.strict_generation,
            listen_callback_retry: raw.listen_callback_retry,
        })
    }
}

fn parse_amqp_url(url: &str) -> Result<BrokerEndpoint, SimError> {
    let uri = AMQPUri::from_str(url).map_err(|reason| SimError::InvalidConfig {
        field: "amqp_url",
        reason: format!("not an AMQP URL: {reason}"),
    })?;
    Ok(BrokerEndpoint {
        url: url.to_owned(),
        host: uri.authority.host,
        port: uri.authority.port,
        vhost: uri.vhost,
        user: uri.authority.userinfo.username,
        pass: Secret::new(uri.authority.userinfo.password),
        use_ssl: matches!(uri.scheme, AMQPScheme::AMQPS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_uses_the_local_broker() {
        let checked = CheckedConfig::try_from(SimConfig::default()).expect("valid");
        assert_eq!(checked.broker.host, "127.0.0.1");
        assert_eq!(checked.broker.port, 5672);
        assert_eq!(checked.broker.vhost, "/");
        assert_eq!(checked.broker.user, "guest");
        assert_eq!(checked.name_prefix, "");
        assert_eq!(checked.platform_major, 6);
        assert!(!checked.is_7x());
    }

    #[test]
    fn prefix_gets_an_underscore_and_bad_values_name_their_field() {
        let checked = CheckedConfig::try_from(SimConfig {
            queue_prefix: Some("t1".to_owned()),
            platform_version: "7.261026.0".to_owned(),
            ..SimConfig::default()
        })
        .expect("valid");
        assert_eq!(checked.name_prefix, "t1_");
        assert!(checked.is_7x());

        for (config, field) in [
            (
                SimConfig {
                    listen: SocketAddr::from(([0, 0, 0, 0], 4000)),
                    ..SimConfig::default()
                },
                "listen",
            ),
            (
                SimConfig {
                    amqp_url: "http://nope".to_owned(),
                    ..SimConfig::default()
                },
                "amqp_url",
            ),
            (
                SimConfig {
                    queue_prefix: Some("a b".to_owned()),
                    ..SimConfig::default()
                },
                "queue_prefix",
            ),
            (
                SimConfig {
                    platform_version: "latest".to_owned(),
                    ..SimConfig::default()
                },
                "platform_version",
            ),
            (
                SimConfig {
                    stream_collections: vec![StreamCollectionConfig::live("live")],
                    ..SimConfig::default()
                },
                "stream_collections",
            ),
        ] {
            match CheckedConfig::try_from(config) {
                Err(SimError::InvalidConfig { field: got, .. }) => assert_eq!(got, field),
                other => panic!("expected an error on {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let config = SimConfig {
            token: Some(Secret::new("hunter2")),
            amqp_url: "amqp://u:topsecret@127.0.0.1:5672/%2f".to_owned(),
            ..SimConfig::default()
        };
        let checked = CheckedConfig::try_from(config.clone()).expect("valid");
        for text in [format!("{config:?}"), format!("{checked:?}")] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(!text.contains("topsecret"), "{text}");
        }
        assert_eq!(
            redact_url_password("amqp://u:p@h:1/v"),
            "amqp://u:***@h:1/v"
        );
    }

    #[test]
    fn a_password_holding_an_at_sign_is_redacted_whole() {
        let redacted = redact_url_password("amqp://guest:p@ss@w0rd@127.0.0.1:5672/%2f");
        assert_eq!(redacted, "amqp://guest:***@127.0.0.1:5672/%2f");
        assert!(!redacted.contains("w0rd"), "{redacted}");
    }
}
