//! pycti's configuration rules (resolution order, booleans, numbers, empty
//! values, required values), error reporting and renderings.

use std::num::NonZeroUsize;

use opencti_connector::cli::RuntimeFlavor;
use opencti_connector::config::render::{effective_config, help_text, markdown_table};
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{
    ConfigError, ConfigErrors, ConnectorType, Origin, QueueProtocol, RuntimeConfig, Settings,
    Source, Value, Var, VarKind,
};

static FEED_VARS: &[Var] = &[
    Var::new("MISP_FEED_URL", "misp_feed", "url", VarKind::Url)
        .required()
        .help("Feed URL"),
    Var::new(
        "MISP_FEED_SSL_VERIFY",
        "misp_feed",
        "ssl_verify",
        VarKind::Bool,
    )
    .default("true")
    .help("Verify TLS"),
    Var::new("MISP_FEED_API_KEY", "misp_feed", "api_key", VarKind::String)
        .secret()
        .help("API key"),
    Var::new("MISP_FEED_LIMIT", "misp_feed", "limit", VarKind::Int).default("10"),
    Var::new("MISP_FEED_TAGS", "misp_feed", "tags", VarKind::List),
    Var::new(
        "MISP_FEED_INTERVAL",
        "misp_feed",
        "interval",
        VarKind::Duration,
    )
    .aliases(&["MISP_INTERVAL"]),
];

fn resolve(env: &[(&str, &str)], yaml: Option<&str>) -> Settings {
    let mut source = Source::new().with_env(env.iter().copied());
    if let Some(yaml) = yaml {
        source = source.with_yaml_str(yaml);
    }
    Settings::resolve(&[FEED_VARS], &source)
}

#[test]
fn environment_wins_over_yaml_which_wins_over_default() {
    let yaml = "misp_feed:\n  url: https://yaml.example\n  limit: 20\n";
    let settings = resolve(&[("MISP_FEED_URL", "https://env.example")], Some(yaml));
    assert_eq!(
        settings.value("MISP_FEED_URL"),
        Some(&Value::Url("https://env.example".parse().unwrap()))
    );
    assert_eq!(
        settings.origin("MISP_FEED_URL"),
        Some(&Origin::Env("MISP_FEED_URL".to_owned()))
    );
    assert_eq!(settings.value("MISP_FEED_LIMIT"), Some(&Value::Int(20)));
    assert!(matches!(
        settings.origin("MISP_FEED_LIMIT"),
        Some(Origin::File(_))
    ));
    assert_eq!(
        settings.value("MISP_FEED_SSL_VERIFY"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        settings.origin("MISP_FEED_SSL_VERIFY"),
        Some(&Origin::Default)
    );
}

#[test]
fn an_empty_value_means_the_default_even_over_yaml() {
    let yaml = "misp_feed:\n  url: https://yaml.example\n  limit: 20\n  ssl_verify: ''\n";
    let settings = resolve(
        &[
            ("MISP_FEED_URL", "https://env.example"),
            ("MISP_FEED_LIMIT", ""),
        ],
        Some(yaml),
    );
    assert_eq!(settings.value("MISP_FEED_LIMIT"), Some(&Value::Int(10)));
    assert_eq!(settings.origin("MISP_FEED_LIMIT"), Some(&Origin::Default));
    assert_eq!(
        settings.value("MISP_FEED_SSL_VERIFY"),
        Some(&Value::Bool(true))
    );
}

#[test]
fn booleans_take_pycti_and_pydantic_spellings_in_any_case_and_yaml_booleans() {
    for (text, expected) in [
        ("yes", true),
        ("true", true),
        ("True", true),
        ("TRUE", true),
        ("1", true),
        ("on", true),
        ("y", true),
        ("no", false),
        ("false", false),
        ("False", false),
        ("0", false),
        ("Off", false),
        ("n", false),
    ] {
        let settings = resolve(
            &[
                ("MISP_FEED_URL", "https://a.example"),
                ("MISP_FEED_SSL_VERIFY", text),
            ],
            None,
        );
        assert_eq!(
            settings.value("MISP_FEED_SSL_VERIFY"),
            Some(&Value::Bool(expected)),
            "{text}"
        );
    }
    let settings = resolve(
        &[("MISP_FEED_URL", "https://a.example")],
        Some("misp_feed:\n  ssl_verify: false\n"),
    );
    assert_eq!(
        settings.value("MISP_FEED_SSL_VERIFY"),
        Some(&Value::Bool(false))
    );
}

/// One parser, one message: a variable declared as a boolean and a
/// connector's own text variable read as a boolean refuse alike.
#[test]
fn a_refused_boolean_lists_the_same_spellings_wherever_it_is_read() {
    let settings = resolve(
        &[
            ("MISP_FEED_URL", "https://a.example"),
            ("MISP_FEED_SSL_VERIFY", "maybe"),
            ("MISP_FEED_API_KEY", "2"),
        ],
        None,
    );
    let declared = settings.problems().iter().next().unwrap().to_string();
    let mut check = settings.check();
    assert_eq!(check.get::<bool>("MISP_FEED_API_KEY"), None);
    let errors = check.finish("feed", || Some(())).unwrap_err();
    let read = errors.iter().nth(1).unwrap().to_string();
    let reason = |message: &str| message.rsplit_once(": ").unwrap().1.to_owned();
    assert_eq!(reason(&declared), reason(&read));
    assert!(reason(&declared).contains("true, yes, on, 1"), "{declared}");
}

#[test]
fn numbers_must_parse_and_strings_stay_strings() {
    let settings = resolve(
        &[
            ("MISP_FEED_URL", "https://a.example"),
            ("MISP_FEED_LIMIT", "7.5"),
            ("MISP_FEED_API_KEY", "0012345"),
        ],
        None,
    );
    assert_eq!(settings.problems().len(), 1);
    assert_eq!(
        settings.value("MISP_FEED_API_KEY"),
        Some(&Value::String("0012345".to_owned()))
    );
    // A token of digits written unquoted in YAML still loads as text.
    let settings = resolve(
        &[("MISP_FEED_URL", "https://a.example")],
        Some("misp_feed:\n  api_key: 123456789\n"),
    );
    assert!(settings.problems().is_empty());
    assert_eq!(
        settings.value("MISP_FEED_API_KEY"),
        Some(&Value::String("123456789".to_owned()))
    );
    let settings = resolve(
        &[("MISP_FEED_URL", "https://a.example")],
        Some("misp_feed:\n  api_key: 0012\n"),
    );
    assert_eq!(
        settings.value("MISP_FEED_API_KEY"),
        Some(&Value::String("0012".to_owned()))
    );
}

#[test]
fn lists_and_durations_and_aliases() {
    let settings = resolve(
        &[
            ("MISP_FEED_URL", "https://a.example"),
            ("MISP_FEED_TAGS", " a, b ,,c "),
            ("MISP_INTERVAL", "PT2H"),
        ],
        None,
    );
    assert_eq!(
        settings.value("MISP_FEED_TAGS"),
        Some(&Value::List(vec!["a".into(), "b".into(), "c".into()]))
    );
    assert_eq!(
        settings.value("MISP_FEED_INTERVAL"),
        Some(&Value::Duration(std::time::Duration::from_secs(7200)))
    );
    assert_eq!(
        settings.deprecated_names(),
        vec![("MISP_INTERVAL".to_owned(), "MISP_FEED_INTERVAL")]
    );
    let settings = resolve(
        &[("MISP_FEED_URL", "https://a.example")],
        Some("misp_feed:\n  tags: [x, z]\n  interval: 60\n"),
    );
    assert_eq!(
        settings.value("MISP_FEED_TAGS"),
        Some(&Value::List(vec!["x".into(), "z".into()]))
    );
    assert_eq!(
        settings.value("MISP_FEED_INTERVAL"),
        Some(&Value::Duration(std::time::Duration::from_secs(60)))
    );
}

#[test]
fn every_problem_is_reported_at_once_with_masked_secrets() {
    static STRICT: &[Var] = &[
        Var::new("FEED_TOKEN", "feed", "token", VarKind::Int).secret(),
        Var::new("FEED_URL", "feed", "url", VarKind::Url).required(),
        Var::new("FEED_FLAG", "feed", "flag", VarKind::Bool),
    ];
    let settings = Settings::from_env_pairs(
        &[STRICT],
        [("FEED_TOKEN", "s3cr3t-value"), ("FEED_FLAG", "maybe")],
    );
    let errors = settings.problems();
    assert_eq!(errors.len(), 3, "{errors}");
    let report = errors.to_string();
    assert!(!report.contains("s3cr3t-value"), "{report}");
    assert!(
        report.contains("FEED_TOKEN (config.yml: feed.token) = \"********\""),
        "{report}"
    );
    assert!(
        report.contains("FEED_URL (config.yml: feed.url) is required"),
        "{report}"
    );
    assert!(
        report.contains("FEED_FLAG (config.yml: feed.flag) = \"maybe\" from environment FEED_FLAG"),
        "{report}"
    );
}

#[test]
fn a_malformed_config_file_is_a_reported_problem() {
    let settings = resolve(
        &[("MISP_FEED_URL", "https://a.example")],
        Some("misp_feed: [unclosed\n"),
    );
    assert!(matches!(
        settings.problems().iter().next(),
        Some(ConfigError::File { .. })
    ));
}

#[test]
fn config_file_is_read_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yml");
    std::fs::write(&path, "misp_feed:\n  url: 'https://file.example'\n").unwrap();
    let settings = Settings::resolve(&[FEED_VARS], &Source::new().with_yaml_file(&path));
    assert!(settings.problems().is_empty());
    assert_eq!(settings.file(), Some(path.as_path()));
    assert_eq!(Source::locate_config(Some(&path)), Some(path.clone()));
    let missing = Settings::resolve(
        &[FEED_VARS],
        &Source::new().with_yaml_file(&dir.path().join("nope.yml")),
    );
    let problem = missing.problems().iter().next().unwrap();
    assert!(matches!(problem, ConfigError::File { .. }));
    let message = problem.to_string();
    let path_text = dir.path().join("nope.yml").display().to_string();
    assert_eq!(message.matches(&path_text).count(), 1, "{message}");
}

#[test]
fn a_negative_count_is_called_negative_not_out_of_a_huge_range() {
    let settings = resolve(
        &[
            ("MISP_FEED_URL", "https://a.example"),
            ("MISP_FEED_LIMIT", "-5"),
        ],
        None,
    );
    let mut check = settings.check();
    assert_eq!(check.get::<u64>("MISP_FEED_LIMIT"), None);
    let message = check.finish("feed", || Some(())).unwrap_err().to_string();
    assert!(!message.contains("18446744073709551615"), "{message}");
    assert!(message.contains("must not be negative"), "{message}");
}

#[test]
fn an_invalid_value_is_not_also_reported_missing() {
    let settings = resolve(
        &[
            ("MISP_FEED_URL", "https://a.example"),
            ("MISP_FEED_INTERVAL", "-5"),
        ],
        None,
    );
    let mut errors = settings.problems().clone();
    errors.extend(ConfigErrors(vec![ConfigError::Missing {
        env: "MISP_FEED_INTERVAL",
        yaml: "misp_feed.interval".to_owned(),
    }]));
    assert_eq!(errors.len(), 1, "{errors}");
    let message = errors.to_string();
    assert!(message.contains("\"-5\""), "{message}");
    assert!(!message.contains("duration_"), "{message}");
}

fn runtime_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("OPENCTI_URL", "http://127.0.0.1:4000/"),
        ("OPENCTI_TOKEN", "1234"),
        ("CONNECTOR_ID", "5ad9b7d2-9e8f-4d0a-9f0e-2a7d1f4f6c11"),
        ("CONNECTOR_NAME", "Test connector"),
    ]
}

#[test]
fn runtime_config_validates_with_pycti_defaults() {
    let settings = Settings::from_env_pairs(RUNTIME_TABLES, runtime_env());
    let config = RuntimeConfig::try_from(&settings).unwrap();
    assert_eq!(config.opencti.url.as_str(), "http://127.0.0.1:4000/");
    assert_eq!(config.opencti.token.expose(), "1234");
    assert_eq!(config.connector.scope, vec!["not-applicable".to_owned()]);
    assert_eq!(config.connector.queue_threshold_mb, 500.0);
    assert!(config.connector.send_to_queue);
    assert_eq!(config.connector.queue_protocol, QueueProtocol::Amqp);
    assert_eq!(config.connector.metrics.port, 9095);
    assert!(config.opencti.json_logging);
    assert!(
        !format!("{config:?}").contains("1234\""),
        "token leaked in Debug"
    );
}

#[test]
fn runtime_config_reports_all_problems() {
    let mut env = runtime_env();
    env.retain(|(name, _)| *name != "CONNECTOR_ID");
    env.extend([
        ("OPENCTI_TOKEN", "ChangeMe"),
        ("CONNECTOR_QUEUE_PROTOCOL", "kafka"),
        ("CONNECTOR_DURATION_PERIOD", "3600"),
        ("CONNECTOR_SEND_TO_DIRECTORY", "true"),
        ("OPENCTI_CUSTOM_HEADERS", "x-a:1;broken"),
    ]);
    let settings = Settings::from_env_pairs(RUNTIME_TABLES, env);
    let errors: ConfigErrors = RuntimeConfig::try_from(&settings).unwrap_err();
    let report = errors.to_string();
    for needle in [
        "CONNECTOR_ID",
        "OPENCTI_TOKEN",
        "CONNECTOR_QUEUE_PROTOCOL",
        "CONNECTOR_DURATION_PERIOD",
        "CONNECTOR_SEND_TO_DIRECTORY",
        "OPENCTI_CUSTOM_HEADERS",
    ] {
        assert!(report.contains(needle), "{needle} missing from {report}");
    }
    assert_eq!(errors.len(), 6, "{report}");
}

#[test]
fn legacy_queue_protocol_name_is_honoured() {
    let mut env = runtime_env();
    env.push(("QUEUE_PROTOCOL", "api"));
    let settings = Settings::from_env_pairs(RUNTIME_TABLES, env);
    let config = RuntimeConfig::try_from(&settings).unwrap();
    assert_eq!(config.connector.queue_protocol, QueueProtocol::Api);
}

#[test]
fn worker_threads_pick_the_runtime_of_either_kind_of_connector() {
    let import = |threads| RuntimeFlavor::choose(ConnectorType::ExternalImport, threads);
    let stream = |threads| RuntimeFlavor::choose(ConnectorType::Stream, threads);
    let workers = |count| RuntimeFlavor::MultiThread(NonZeroUsize::new(count).unwrap());
    let config = |value: Option<&'static str>| {
        let mut env = runtime_env();
        env.extend(value.map(|value| ("CONNECTOR_WORKER_THREADS", value)));
        RuntimeConfig::try_from(&Settings::from_env_pairs(RUNTIME_TABLES, env))
            .map(|config| config.connector.worker_threads)
    };

    let unset = config(None).unwrap();
    assert_eq!(unset, None);
    assert_eq!(import(unset), workers(2));
    assert_eq!(stream(unset), RuntimeFlavor::CurrentThread);
    let one_thread = config(Some("0")).unwrap();
    assert_eq!(import(one_thread), RuntimeFlavor::CurrentThread);
    let four = config(Some("4")).unwrap();
    assert_eq!(stream(four), workers(4));
    assert_eq!(import(four), workers(4));

    let report = config(Some("-1")).unwrap_err().to_string();
    assert!(report.contains("CONNECTOR_WORKER_THREADS"), "{report}");
    let help = help_text(RUNTIME_TABLES);
    assert!(help.contains("CONNECTOR_WORKER_THREADS"), "{help}");
}

#[test]
fn runtime_flavors_build_what_they_say() {
    let single = RuntimeFlavor::CurrentThread.build().unwrap();
    assert_eq!(
        single.handle().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::CurrentThread
    );
    let pool = RuntimeFlavor::MultiThread(NonZeroUsize::new(3).unwrap())
        .build()
        .unwrap();
    assert_eq!(pool.metrics().num_workers(), 3);
    // Timers and I/O are enabled.
    pool.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(1)).await });
}

#[test]
fn renderings_list_every_variable_and_mask_secrets() {
    let help = help_text(&[FEED_VARS]);
    assert!(help.contains("MISP_FEED_URL  (config.yml: misp_feed.url, url) [required]"));
    assert!(help.contains("also read from: MISP_INTERVAL"));
    let table = markdown_table(RUNTIME_TABLES);
    assert!(table.contains(
        "| `CONNECTOR_QUEUE_THRESHOLD` | `connector.queue_threshold` | number | `500` | no |"
    ));
    let settings = resolve(
        &[
            ("MISP_FEED_URL", "https://a.example"),
            ("MISP_FEED_API_KEY", "hunter2"),
        ],
        None,
    );
    let shown = effective_config(&settings);
    assert!(
        shown.contains("misp_feed:\n  url: \"https://a.example/\"  # environment MISP_FEED_URL")
    );
    assert!(shown.contains("api_key: \"********\""));
    assert!(!shown.contains("hunter2"));
}
