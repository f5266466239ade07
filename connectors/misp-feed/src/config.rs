//! The connector's variables (same env names, `config.yml` keys and defaults
//! as the Python connector, plus its legacy names) and the validated,
//! typed configuration built from them.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use opencti_connector::config::{Check, ConfigErrors, Origin, Secret, Settings, Var, VarKind};

use crate::convert::ConvertOptions;
use crate::source::{FeedLocation, HttpSettings, S3Credentials, S3Settings};
use opencti_connector::http::{LongServerDelay, Network, RetryPolicy};

/// The connector's variables: runtime variables whose defaults differ for
/// this connector, then `misp_feed.*` and `aws.*`.
pub static VARS: &[Var] = &[
    Var::new("CONNECTOR_TYPE", "connector", "type", VarKind::String)
        .default("EXTERNAL_IMPORT")
        .help("Connector type; always EXTERNAL_IMPORT"),
    Var::new("CONNECTOR_NAME", "connector", "name", VarKind::String)
        .default("Misp Feed")
        .help("Name shown in the platform"),
    Var::new("CONNECTOR_SCOPE", "connector", "scope", VarKind::String)
        .default("misp-feed")
        .help("Comma-separated scope registered with the platform"),
    Var::new("CONNECTOR_DURATION_PERIOD", "connector", "duration_period", VarKind::Duration)
        .default("PT5M")
        .help("Delay between the end of a run and the start of the next (ISO 8601 such as PT1H); 0 runs once"),
    Var::new("MISP_FEED_INTERVAL", "misp_feed", "interval", VarKind::Int)
        .help("Deprecated: minutes between runs; when set, replaces CONNECTOR_DURATION_PERIOD"),
    Var::new("MISP_FEED_SOURCE_TYPE", "misp_feed", "source_type", VarKind::String)
        .default("url")
        .choices(&["url", "s3"])
        .help("url (a MISP feed over HTTP(S), file:// or a local directory) or s3 (a bucket of event files)"),
    Var::new("MISP_FEED_URL", "misp_feed", "url", VarKind::String)
        .required_when("MISP_FEED_SOURCE_TYPE", "url")
        .help("Feed base URL (manifest.json lives under it), a file:// URL or a directory; required for url"),
    Var::new("MISP_FEED_SSL_VERIFY", "misp_feed", "ssl_verify", VarKind::Bool)
        .default("true")
        .help("Verify the feed's TLS certificate"),
    Var::new("MISP_FEED_HTTP_AUTHORIZATION_HEADER", "misp_feed", "http_authorization_header", VarKind::String)
        .secret()
        .help("Sent verbatim as the Authorization header of every feed request (e.g. `Bearer <key>`)"),
    Var::new("MISP_FEED_HTTP_TIMEOUT", "misp_feed", "http_timeout", VarKind::Duration)
        .default("PT60S")
        .help("Longest silence while connecting to the feed or reading a file (ISO 8601)"),
    Var::new("MISP_FEED_HTTP_DEADLINE", "misp_feed", "http_deadline", VarKind::Duration)
        .default("PT15M")
        .help("Longest a whole feed download (manifest, event or S3 object) may take (ISO 8601)"),
    Var::new("MISP_FEED_HTTP_RETRIES", "misp_feed", "http_retries", VarKind::Int)
        .default("3")
        .help("Retries of a feed download after a timeout, a broken connection, HTTP 408/429 or 5xx (Retry-After honoured)"),
    Var::new("MISP_FEED_MAX_FILE_SIZE_MB", "misp_feed", "max_file_size_mb", VarKind::Int)
        .default("256")
        .help("Largest accepted manifest or event file, in MiB; larger events are reported and skipped"),
    Var::new("MISP_FEED_EVENTS_IN_FLIGHT", "misp_feed", "events_in_flight", VarKind::Int)
        .default("4")
        .help("URL mode: events whose bundles may wait for the broker's confirms at once (more is faster on a slow broker, and takes more memory)"),
    Var::new("MISP_FEED_BUCKET_NAME", "misp_feed", "bucket_name", VarKind::String)
        .aliases(&["MISP_BUCKET_NAME"])
        .required_when("MISP_FEED_SOURCE_TYPE", "s3")
        .help("S3 bucket holding one MISP event JSON file per object; required for s3"),
    Var::new("MISP_FEED_BUCKET_PREFIX", "misp_feed", "bucket_prefix", VarKind::String)
        .aliases(&["MISP_BUCKET_PREFIX"])
        .help("Only objects whose key starts with this prefix"),
    Var::new("MISP_FEED_BUCKET_DELETE_AFTER_IMPORT", "misp_feed", "bucket_delete_after_import", VarKind::Bool)
        .default("true")
        .help("Delete each object once its bundle is sent (the Python behaviour); false keeps objects and resumes after the last processed key"),
    Var::new("MISP_FEED_IMPORT_FROM_DATE", "misp_feed", "import_from_date", VarKind::String)
        .help("First run only: import events modified after this date (2024-01-31, 2024-01-31T12:00:00Z) or this long ago (P30D)"),
    Var::new("MISP_FEED_CREATE_REPORTS", "misp_feed", "create_reports", VarKind::Bool)
        .default("true")
        .help("A report per event (with notes and attachments)"),
    Var::new("MISP_FEED_REPORT_TYPE", "misp_feed", "report_type", VarKind::String)
        .default("misp-event")
        .help("report_types value of the reports"),
    Var::new("MISP_FEED_CREATE_INDICATORS", "misp_feed", "create_indicators", VarKind::Bool)
        .default("false")
        .help("Indicators from attributes (and sightings, indicates, based-on)"),
    Var::new("MISP_FEED_CREATE_OBSERVABLES", "misp_feed", "create_observables", VarKind::Bool)
        .default("false")
        .help("Observables from attributes"),
    Var::new("MISP_FEED_CREATE_OBJECT_OBSERVABLES", "misp_feed", "create_object_observables", VarKind::Bool)
        .default("false")
        .help("A text observable per MISP object, related to its attributes"),
    Var::new("MISP_FEED_CREATE_TAGS_AS_LABELS", "misp_feed", "create_tags_as_labels", VarKind::Bool)
        .default("true")
        .aliases(&["MISP_CREATE_TAGS_AS_LABELS"])
        .help("Tags become labels"),
    Var::new("MISP_FEED_GUESS_THREATS_FROM_TAGS", "misp_feed", "guess_threats_from_tags", VarKind::Bool)
        .default("false")
        .help("Look tags up in the platform as intrusion sets, malware, tools, attack patterns"),
    Var::new("MISP_FEED_GUESS_THREAT_FROM_TAGS", "misp_feed", "guess_threat_from_tags", VarKind::Bool)
        .help("Deprecated spelling of MISP_FEED_GUESS_THREATS_FROM_TAGS"),
    Var::new("MISP_FEED_MARKINGS_FROM_TAGS", "misp_feed", "markings_from_tags", VarKind::Bool)
        .default("false")
        .help("`marking:TYPE=NAME` tags become markings"),
    Var::new("MISP_FEED_AUTHOR_FROM_TAGS", "misp_feed", "author_from_tags", VarKind::Bool)
        .default("false")
        .help("A `creator=NAME` tag sets the author"),
    Var::new("MISP_FEED_IMPORT_TO_IDS_NO_SCORE", "misp_feed", "import_to_ids_no_score", VarKind::Int)
        .help("Score of attributes whose to_ids is false (default: from the threat level)"),
    Var::new("MISP_FEED_IMPORT_UNSUPPORTED_OBSERVABLES_AS_TEXT", "misp_feed", "import_unsupported_observables_as_text", VarKind::Bool)
        .default("false")
        .help("Attributes of unsupported types become text observables `value (type=TYPE)`"),
    Var::new("MISP_FEED_IMPORT_UNSUPPORTED_OBSERVABLES_AS_TEXT_TRANSPARENT", "misp_feed", "import_unsupported_observables_as_text_transparent", VarKind::Bool)
        .default("true")
        .help("Object text observables hold the first attribute's value (false: `name (type=value)`)"),
    Var::new("MISP_FEED_IMPORT_WITH_ATTACHMENTS", "misp_feed", "import_with_attachments", VarKind::Bool)
        .default("false")
        .help("PDF attachments are added to the report's files"),
    Var::new("AWS_ENDPOINT_URL", "aws", "endpoint_url", VarKind::String)
        .help("S3-compatible endpoint (MinIO, Ceph, ...); unset for AWS"),
    Var::new("AWS_ACCESS_KEY_ID", "aws", "access_key_id", VarKind::String)
        .required_with(&["AWS_SECRET_ACCESS_KEY"])
        .help("S3 access key id (unset: anonymous requests)"),
    Var::new("AWS_SECRET_ACCESS_KEY", "aws", "secret_access_key", VarKind::String)
        .required_with(&["AWS_ACCESS_KEY_ID"])
        .secret()
        .help("S3 secret access key"),
    Var::new("AWS_SESSION_TOKEN", "aws", "session_token", VarKind::String)
        .secret()
        .help("Session token of temporary S3 credentials"),
    Var::new("AWS_DEFAULT_REGION", "aws", "default_region", VarKind::String)
        .default("us-east-1")
        .aliases(&["AWS_REGION"])
        .help("S3 region"),
    Var::new("AWS_S3_FORCE_PATH_STYLE", "aws", "s3_force_path_style", VarKind::Bool)
        .help("Path-style S3 URLs (default: true when AWS_ENDPOINT_URL is set, false for AWS)"),
];

/// Where events come from.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// A MISP feed: `manifest.json` plus one file per event.
    Url {
        /// HTTP(S) base URL or local directory.
        location: FeedLocation,
        /// `Authorization` header value.
        authorization: Option<Secret>,
    },
    /// A bucket of event files.
    S3 {
        /// Bucket, endpoint, credentials.
        settings: S3Settings,
        /// Delete each object once sent (else keep it and resume after it).
        delete_after_import: bool,
    },
}

/// The validated connector configuration.
#[derive(Debug, Clone)]
pub struct MispFeedConfig {
    /// The event source.
    pub source: SourceConfig,
    /// HTTP behaviour (also used by the S3 client).
    pub http: HttpSettings,
    /// Start of the first run's window (`None`: the moment of the first run).
    pub import_from: Option<DateTime<Utc>>,
    /// Conversion switches.
    pub convert: ConvertOptions,
    /// `MISP_FEED_INTERVAL` as a period, when set (it overrides
    /// `CONNECTOR_DURATION_PERIOD`, as in the Python connector).
    pub interval: Option<Duration>,
    /// URL mode: events waiting for their broker confirms at once.
    pub events_in_flight: usize,
}

/// `import_from_date`: a date, a datetime (naive = UTC) or an ISO 8601
/// duration counted back from `now`.
pub fn parse_import_from(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if text.starts_with(['P', 'p']) {
        let period = opencti_connector::duration::parse_period(&text.to_ascii_uppercase())
            .map_err(|error| error.to_string())?;
        let period = chrono::Duration::from_std(period).map_err(|error| error.to_string())?;
        return now
            .checked_sub_signed(period)
            .ok_or_else(|| "the duration reaches before year 0".to_owned());
    }
    if let Ok(moment) = DateTime::parse_from_rfc3339(text) {
        return Ok(moment.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(moment) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(moment.and_utc());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(moment) = date.and_hms_opt(0, 0, 0)
    {
        return Ok(moment.and_utc());
    }
    Err(
        "expected a date (2024-01-31), a datetime (2024-01-31T12:00:00Z) or a duration (P30D)"
            .to_owned(),
    )
}

impl TryFrom<&Settings> for MispFeedConfig {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        Self::from_settings(settings, Utc::now())
    }
}

impl MispFeedConfig {
    /// Validates the resolved settings; `now` anchors a duration in
    /// `MISP_FEED_IMPORT_FROM_DATE`. Every problem is reported at once.
    pub fn from_settings(settings: &Settings, now: DateTime<Utc>) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();
        let mut switches = SWITCHES.map(|env| flag(&mut check, env));
        let guess_env = if settings.origin(GUESS_CURRENT).is_some_and(is_set)
            || settings.value(GUESS_LEGACY).is_none()
        {
            GUESS_CURRENT
        } else {
            GUESS_LEGACY
        };
        let guess = flag(&mut check, guess_env);
        let report_type: Option<String> = check.require("MISP_FEED_REPORT_TYPE");
        let import_to_ids_no_score: Option<i64> = check.get("MISP_FEED_IMPORT_TO_IDS_NO_SCORE");
        let mut switch = |index: usize| switches[index].take();
        let convert_options = (|| {
            Some(ConvertOptions {
                create_reports: switch(0)?,
                create_indicators: switch(1)?,
                create_observables: switch(2)?,
                create_object_observables: switch(3)?,
                create_tags_as_labels: switch(4)?,
                markings_from_tags: switch(5)?,
                author_from_tags: switch(6)?,
                import_unsupported_observables_as_text: switch(7)?,
                import_unsupported_observables_as_text_transparent: switch(8)?,
                import_with_attachments: switch(9)?,
                guess_threats_from_tags: guess?,
                report_type: report_type?,
                import_to_ids_no_score,
            })
        })();

        let interval = match check.get::<i64>("MISP_FEED_INTERVAL") {
            Some(minutes) if minutes < 0 => {
                check.reject("MISP_FEED_INTERVAL", "must not be negative");
                None
            }
            Some(minutes) => {
                tracing::warn!(
                    "Env var 'MISP_FEED_INTERVAL' is deprecated. Use 'CONNECTOR_DURATION_PERIOD' instead."
                );
                Some(Duration::from_secs(minutes.unsigned_abs() * 60))
            }
            None => None,
        };

        let timeout: Option<Duration> = check.require("MISP_FEED_HTTP_TIMEOUT");
        if timeout == Some(Duration::ZERO) {
            check.reject("MISP_FEED_HTTP_TIMEOUT", "must be longer than zero");
        }
        let deadline: Option<Duration> = check.require("MISP_FEED_HTTP_DEADLINE");
        if deadline == Some(Duration::ZERO) {
            check.reject("MISP_FEED_HTTP_DEADLINE", "must be longer than zero");
        }
        let retries = check.require::<u32>("MISP_FEED_HTTP_RETRIES");
        let max_mb = check.require::<u64>("MISP_FEED_MAX_FILE_SIZE_MB");
        if max_mb == Some(0) {
            check.reject("MISP_FEED_MAX_FILE_SIZE_MB", "must be at least 1");
        }
        let ssl_verify = flag(&mut check, "MISP_FEED_SSL_VERIFY");
        let events_in_flight = check.require::<usize>("MISP_FEED_EVENTS_IN_FLIGHT");
        if events_in_flight == Some(0) {
            check.reject("MISP_FEED_EVENTS_IN_FLIGHT", "must be at least 1");
        }

        let import_from = check.parse("MISP_FEED_IMPORT_FROM_DATE", |value| {
            parse_import_from(&value.to_string(), now)
        });

        let source_type: Option<String> = check.require("MISP_FEED_SOURCE_TYPE");
        let source = match source_type
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("url") => {
                let url: Option<String> = check.get("MISP_FEED_URL");
                let location = match url {
                    None => {
                        check.reject(
                            "MISP_FEED_URL",
                            "`MISP_FEED_URL` is required when `MISP_FEED_SOURCE_TYPE` is `url`",
                        );
                        None
                    }
                    Some(url) => match FeedLocation::parse(&url) {
                        Ok(location) => Some(location),
                        Err(error) => {
                            check.reject("MISP_FEED_URL", error.reason);
                            None
                        }
                    },
                };
                let authorization: Option<Secret> =
                    check.get("MISP_FEED_HTTP_AUTHORIZATION_HEADER");
                location.map(|location| SourceConfig::Url {
                    location,
                    authorization,
                })
            }
            Some("s3") => {
                let bucket: Option<String> = check.get("MISP_FEED_BUCKET_NAME");
                if bucket.is_none() {
                    check.reject(
                        "MISP_FEED_BUCKET_NAME",
                        "`MISP_FEED_BUCKET_NAME` is required when `MISP_FEED_SOURCE_TYPE` is `s3`",
                    );
                }
                let endpoint_url: Option<String> = check.get("AWS_ENDPOINT_URL");
                let force_path_style = if settings.value("AWS_S3_FORCE_PATH_STYLE").is_some() {
                    flag(&mut check, "AWS_S3_FORCE_PATH_STYLE")
                } else {
                    Some(endpoint_url.is_some())
                };
                let access_key_id: Option<String> = check.get("AWS_ACCESS_KEY_ID");
                let secret_access_key: Option<Secret> = check.get("AWS_SECRET_ACCESS_KEY");
                let session_token: Option<Secret> = check.get("AWS_SESSION_TOKEN");
                let credentials = match (access_key_id, secret_access_key) {
                    (Some(access_key_id), Some(secret)) => Some(S3Credentials {
                        access_key_id,
                        secret_access_key: secret.expose().to_owned(),
                        session_token: session_token.map(|token| token.expose().to_owned()),
                    }),
                    (None, None) => None,
                    (Some(_), None) => {
                        check.reject("AWS_SECRET_ACCESS_KEY", "required with AWS_ACCESS_KEY_ID");
                        None
                    }
                    (None, Some(_)) => {
                        check.reject("AWS_ACCESS_KEY_ID", "required with AWS_SECRET_ACCESS_KEY");
                        None
                    }
                };
                let region: Option<String> = check.require("AWS_DEFAULT_REGION");
                let delete_after_import = flag(&mut check, "MISP_FEED_BUCKET_DELETE_AFTER_IMPORT");
                (|| {
                    Some(SourceConfig::S3 {
                        settings: S3Settings {
                            bucket: bucket?,
                            prefix: check_prefix(settings),
                            region: region?,
                            endpoint_url,
                            force_path_style: force_path_style?,
                            credentials,
                            timeout: timeout?,
                            max_attempts: retries?.saturating_add(1),
                            max_file_size: max_mb?.saturating_mul(1 << 20),
                        },
                        delete_after_import: delete_after_import?,
                    })
                })()
            }
            Some(_) => {
                check.reject("MISP_FEED_SOURCE_TYPE", "expected `url` or `s3`");
                None
            }
            None => None,
        };

        let network = Network::check(&mut check);
        check.finish("misp_feed", || {
            Some(Self {
                source: source?,
                http: HttpSettings {
                    timeout: timeout?,
                    deadline: deadline?,
                    ssl_verify: ssl_verify?,
                    retry: download_retry(retries?),
                    max_file_size: max_mb?.saturating_mul(1 << 20),
                    network,
                },
                import_from,
                convert: convert_options?,
                interval,
                events_in_flight: events_in_flight?,
            })
        })
    }
}

/// `retries` retries after the first attempt, 1 s then doubled up to a
/// minute (with jitter); a server asking for a longer pause than a minute
/// makes the run give up, so the next scheduled run retries instead.
pub fn download_retry(retries: u32) -> RetryPolicy {
    RetryPolicy {
        attempts: retries.saturating_add(1),
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(60),
        max_server_delay: Duration::from_secs(60),
        long_server_delay: LongServerDelay::GiveUp,
    }
}

const GUESS_CURRENT: &str = "MISP_FEED_GUESS_THREATS_FROM_TAGS";
const GUESS_LEGACY: &str = "MISP_FEED_GUESS_THREAT_FROM_TAGS";

/// The boolean conversion switches, in [`ConvertOptions`] field order.
const SWITCHES: [&str; 10] = [
    "MISP_FEED_CREATE_REPORTS",
    "MISP_FEED_CREATE_INDICATORS",
    "MISP_FEED_CREATE_OBSERVABLES",
    "MISP_FEED_CREATE_OBJECT_OBSERVABLES",
    "MISP_FEED_CREATE_TAGS_AS_LABELS",
    "MISP_FEED_MARKINGS_FROM_TAGS",
    "MISP_FEED_AUTHOR_FROM_TAGS",
    "MISP_FEED_IMPORT_UNSUPPORTED_OBSERVABLES_AS_TEXT",
    "MISP_FEED_IMPORT_UNSUPPORTED_OBSERVABLES_AS_TEXT_TRANSPARENT",
    "MISP_FEED_IMPORT_WITH_ATTACHMENTS",
];

fn flag(check: &mut Check<'_>, env: &str) -> Option<bool> {
    check.get(env)
}

/// Whether the value was given (environment or file), not defaulted.
fn is_set(origin: &Origin) -> bool {
    !matches!(origin, Origin::Default | Origin::Unset)
}

fn check_prefix(settings: &Settings) -> Option<String> {
    settings
        .value("MISP_FEED_BUCKET_PREFIX")
        .map(ToString::to_string)
}
