//! The connector's variables: names, YAML keys, defaults, legacy names and
//! validation errors.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use opencti_connector::ImportSource;
use opencti_connector::config::{ConfigErrors, Settings, Source};
use opencti_misp_feed::MispFeed;
use opencti_misp_feed::config::{MispFeedConfig, SourceConfig, VARS};
use opencti_misp_feed::convert::ConvertOptions;
use opencti_misp_feed::source::FeedLocation;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 8, 21, 12, 0, 0).unwrap()
}

fn load(env: &[(&str, &str)]) -> Result<MispFeedConfig, ConfigErrors> {
    let settings = Settings::from_env_pairs(&[VARS], env.iter().copied());
    MispFeedConfig::from_settings(&settings, now())
}

fn error_text(errors: &ConfigErrors) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn defaults_are_the_python_connectors() {
    let config = load(&[("MISP_FEED_URL", "https://www.circl.lu/doc/misp/feed-osint/")]).unwrap();
    assert_eq!(config.convert, ConvertOptions::default());
    assert!(config.import_from.is_none());
    assert!(config.interval.is_none());
    assert!(config.http.ssl_verify);
    assert_eq!(config.http.max_file_size, 256 << 20);
    assert_eq!(
        config.http.retry.attempts, 4,
        "three retries after the first attempt"
    );
    assert_eq!(config.http.timeout, Duration::from_secs(60));
    assert_eq!(config.events_in_flight, 4);
    match config.source {
        SourceConfig::Url {
            location,
            authorization,
        } => {
            assert_eq!(
                location,
                FeedLocation::Http("https://www.circl.lu/doc/misp/feed-osint".into())
            );
            assert!(authorization.is_none());
        }
        other => panic!("{other:?}"),
    }
    let settings = Settings::from_env_pairs(&[VARS], [("X", "y")]);
    assert_eq!(
        settings.value("CONNECTOR_NAME").unwrap().to_string(),
        "Misp Feed"
    );
    assert_eq!(
        settings.value("CONNECTOR_SCOPE").unwrap().to_string(),
        "misp-feed"
    );
}

#[test]
fn every_switch_is_read_with_lax_booleans() {
    let config = load(&[
        ("MISP_FEED_URL", "/srv/feed"),
        ("MISP_FEED_CREATE_REPORTS", "0"),
        ("MISP_FEED_REPORT_TYPE", "misp-events"),
        ("MISP_FEED_CREATE_INDICATORS", "1"),
        ("MISP_FEED_CREATE_OBSERVABLES", "yes"),
        ("MISP_FEED_CREATE_OBJECT_OBSERVABLES", "on"),
        ("MISP_FEED_CREATE_TAGS_AS_LABELS", "off"),
        ("MISP_FEED_GUESS_THREATS_FROM_TAGS", "TRUE"),
        ("MISP_FEED_MARKINGS_FROM_TAGS", "True"),
        ("MISP_FEED_AUTHOR_FROM_TAGS", "true"),
        ("MISP_FEED_IMPORT_TO_IDS_NO_SCORE", "40"),
        ("MISP_FEED_IMPORT_UNSUPPORTED_OBSERVABLES_AS_TEXT", "true"),
        (
            "MISP_FEED_IMPORT_UNSUPPORTED_OBSERVABLES_AS_TEXT_TRANSPARENT",
            "false",
        ),
        ("MISP_FEED_IMPORT_WITH_ATTACHMENTS", "true"),
        ("MISP_FEED_SSL_VERIFY", "no"),
    ])
    .unwrap();
    assert_eq!(
        config.convert,
        ConvertOptions {
            create_reports: false,
            report_type: "misp-events".into(),
            create_indicators: true,
            create_observables: true,
            create_object_observables: true,
            create_tags_as_labels: false,
            guess_threats_from_tags: true,
            markings_from_tags: true,
            author_from_tags: true,
            import_to_ids_no_score: Some(40),
            import_unsupported_observables_as_text: true,
            import_unsupported_observables_as_text_transparent: false,
            import_with_attachments: true,
        }
    );
    assert!(!config.http.ssl_verify);
}

#[test]
fn legacy_names_are_honoured() {
    let config = load(&[
        ("MISP_FEED_SOURCE_TYPE", "s3"),
        ("MISP_BUCKET_NAME", "misp-drop"),
        ("MISP_BUCKET_PREFIX", "events/"),
        ("MISP_CREATE_TAGS_AS_LABELS", "false"),
        ("MISP_FEED_GUESS_THREAT_FROM_TAGS", "true"),
        ("MISP_FEED_INTERVAL", "10"),
    ])
    .unwrap();
    assert!(!config.convert.create_tags_as_labels);
    assert!(config.convert.guess_threats_from_tags);
    assert_eq!(config.interval, Some(Duration::from_secs(600)));
    assert_eq!(
        <MispFeed as ImportSource>::period_override(&config),
        Some(Duration::from_secs(600)),
        "the interval replaces CONNECTOR_DURATION_PERIOD"
    );
    match config.source {
        SourceConfig::S3 {
            settings,
            delete_after_import,
        } => {
            assert_eq!(settings.bucket, "misp-drop");
            assert_eq!(settings.prefix.as_deref(), Some("events/"));
            assert_eq!(settings.region, "us-east-1");
            assert!(!settings.force_path_style, "AWS itself: virtual-hosted");
            assert!(settings.credentials.is_none());
            assert!(delete_after_import, "Python consumes the bucket by default");
        }
        other => panic!("{other:?}"),
    }
    // The current name wins over the legacy one.
    let config = load(&[
        ("MISP_FEED_URL", "/srv/feed"),
        ("MISP_FEED_GUESS_THREATS_FROM_TAGS", "false"),
        ("MISP_FEED_GUESS_THREAT_FROM_TAGS", "true"),
    ])
    .unwrap();
    assert!(!config.convert.guess_threats_from_tags);
}

#[test]
fn yaml_keys_including_the_legacy_guess_spelling() {
    let source = Source::new().with_yaml_str(
        "misp_feed:\n  url: 'https://feed.example.org/'\n  guess_threat_from_tags: true\n  create_indicators: true\n  import_to_ids_no_score: 40\n  import_from_date: '2010-01-01'\naws:\n  default_region: eu-west-3\n",
    );
    let settings = Settings::resolve(&[VARS], &source);
    let config = MispFeedConfig::from_settings(&settings, now()).unwrap();
    assert!(config.convert.guess_threats_from_tags);
    assert!(config.convert.create_indicators);
    assert_eq!(config.convert.import_to_ids_no_score, Some(40));
    assert_eq!(
        config.import_from,
        Some(Utc.with_ymd_and_hms(2010, 1, 1, 0, 0, 0).unwrap())
    );
}

#[test]
fn s3_settings_with_an_endpoint_and_credentials() {
    let config = load(&[
        ("MISP_FEED_SOURCE_TYPE", "s3"),
        ("MISP_FEED_BUCKET_NAME", "drop"),
        ("MISP_FEED_BUCKET_DELETE_AFTER_IMPORT", "false"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ("AWS_ACCESS_KEY_ID", "minio"),
        ("AWS_SECRET_ACCESS_KEY", "very-secret-key"),
        ("AWS_REGION", "eu-west-3"),
    ])
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("very-secret-key"), "{debug}");
    let SourceConfig::S3 {
        settings,
        delete_after_import,
    } = config.source
    else {
        panic!("s3 expected");
    };
    assert!(!delete_after_import);
    assert!(
        settings.force_path_style,
        "custom endpoints default to path style"
    );
    assert_eq!(settings.region, "eu-west-3");
    assert_eq!(settings.credentials.unwrap().access_key_id, "minio");
}

#[test]
fn import_from_date_accepts_dates_datetimes_and_durations() {
    let cases = [
        (
            "2024-01-31",
            Utc.with_ymd_and_hms(2024, 1, 31, 0, 0, 0).unwrap(),
        ),
        (
            "2024-01-31T12:00:00",
            Utc.with_ymd_and_hms(2024, 1, 31, 12, 0, 0).unwrap(),
        ),
        (
            "2024-01-31T12:00:00+02:00",
            Utc.with_ymd_and_hms(2024, 1, 31, 10, 0, 0).unwrap(),
        ),
        (
            "2024-01-31T12:00:00Z",
            Utc.with_ymd_and_hms(2024, 1, 31, 12, 0, 0).unwrap(),
        ),
        ("P30D", now() - chrono::Duration::days(30)),
        ("PT12H", now() - chrono::Duration::hours(12)),
    ];
    for (text, expected) in cases {
        let config = load(&[
            ("MISP_FEED_URL", "/f"),
            ("MISP_FEED_IMPORT_FROM_DATE", text),
        ])
        .unwrap();
        assert_eq!(config.import_from, Some(expected), "{text}");
    }
}

#[test]
fn every_problem_is_reported_at_once_naming_the_variable() {
    let errors = load(&[
        ("MISP_FEED_CREATE_INDICATORS", "maybe"),
        ("MISP_FEED_IMPORT_FROM_DATE", "last tuesday"),
        ("MISP_FEED_MAX_FILE_SIZE_MB", "0"),
        ("MISP_FEED_EVENTS_IN_FLIGHT", "0"),
        ("MISP_FEED_HTTP_AUTHORIZATION_HEADER", "Bearer hidden-token"),
    ])
    .unwrap_err();
    let text = error_text(&errors);
    for variable in [
        "MISP_FEED_CREATE_INDICATORS",
        "MISP_FEED_IMPORT_FROM_DATE",
        "MISP_FEED_MAX_FILE_SIZE_MB",
        "MISP_FEED_EVENTS_IN_FLIGHT",
        "MISP_FEED_URL",
    ] {
        assert!(text.contains(variable), "{variable} missing from:\n{text}");
    }
    assert_eq!(errors.len(), 5, "{text}");
    assert!(!text.contains("hidden-token"));

    let errors = load(&[("MISP_FEED_SOURCE_TYPE", "s3")]).unwrap_err();
    assert!(error_text(&errors).contains("MISP_FEED_BUCKET_NAME"));
    let errors = load(&[("MISP_FEED_SOURCE_TYPE", "ftp")]).unwrap_err();
    assert!(error_text(&errors).contains("MISP_FEED_SOURCE_TYPE"));
    let errors = load(&[("MISP_FEED_URL", "gopher://x")]).unwrap_err();
    assert!(error_text(&errors).contains("MISP_FEED_URL"));
}
