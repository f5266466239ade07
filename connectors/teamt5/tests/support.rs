//! Shared helpers: fixtures, listing items, configurations against the fake.

use std::time::Duration;

use opencti_connector::Connector;
use opencti_connector::config::Settings;
use opencti_teamt5::Teamt5;
use opencti_teamt5::config::{HttpSettings, Teamt5Config, VARS};
use opencti_teamt5::fake::{FakeSettings, FakeTeamt5};
use opencti_testkit::{ConnectorHarness, ImportRun, KitError};
use serde_json::{Value, json};

/// A JSON file of `tests/fixtures`.
pub(crate) fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A report listing item as ThreatVision writes it (URLs on the fake).
pub(crate) fn report_item(fake: &FakeTeamt5, alias: &str, title: &str, date: i64) -> Value {
    json!({
        "alias": alias,
        "title": title,
        "digest": format!("Digest of {title}"),
        "date": date,
        "type_name": "Flash Report",
        "stix_url": format!("{}api/v2/reports/{alias}.stix", fake.url()),
        "pdf_url": format!("https://threatvision.org/reports/detail?alias={alias}"),
    })
}

/// An IoC bundle listing item.
pub(crate) fn ioc_item(fake: &FakeTeamt5, id: &str, created_at: i64) -> Value {
    json!({
        "id": id,
        "created_at": created_at,
        "stix_url": format!("{}api/v2/ioc_bundles/{id}.stix", fake.url()),
        "csv_url": format!("{}api/v2/ioc_bundles/{id}.csv", fake.url()),
        "txt_url": null,
    })
}

/// Retries and pauses short enough for tests.
pub(crate) fn fast_http() -> HttpSettings {
    HttpSettings {
        first_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_secs(2),
        page_delay: Duration::ZERO,
        ..HttpSettings::default()
    }
}

/// Settings for the fake with OAuth credentials, plus `extra`.
pub(crate) fn settings(fake: &FakeTeamt5, extra: &[(&str, &str)]) -> Settings {
    let mut pairs: Vec<(String, String)> = vec![
        ("TEAMT5_API_BASE_URL".to_owned(), fake.url()),
        ("TEAMT5_CLIENT_ID".to_owned(), "cid".to_owned()),
        ("TEAMT5_CLIENT_SECRET".to_owned(), "csecret".to_owned()),
    ];
    pairs.extend(
        extra
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
    );
    Settings::from_env_pairs(&[VARS], pairs)
}

/// A configuration for the fake with fast retries.
pub(crate) fn config(fake: &FakeTeamt5, extra: &[(&str, &str)]) -> Teamt5Config {
    let mut config = Teamt5Config::try_from(&settings(fake, extra)).unwrap();
    config.http = fast_http();
    config
}

/// A fake with default settings.
pub(crate) async fn fake() -> FakeTeamt5 {
    fake_with(FakeSettings::default()).await
}

/// A fake with these settings.
pub(crate) async fn fake_with(settings: FakeSettings) -> FakeTeamt5 {
    FakeTeamt5::start(settings).await.unwrap()
}

/// One run with `harness`'s variables against `fake`, with short retries.
pub(crate) async fn run_with(
    harness: &ConnectorHarness<'_>,
    fake: &FakeTeamt5,
) -> Result<ImportRun, KitError> {
    let harness = harness
        .clone()
        .var("TEAMT5_API_BASE_URL", fake.url())
        .var("TEAMT5_CLIENT_ID", "cid")
        .var("TEAMT5_CLIENT_SECRET", "csecret");
    let mut config = harness.config::<Teamt5>()?;
    config.http = fast_http();
    harness
        .run_import_with(Teamt5::from_config(config).expect("connector"))
        .await
}

/// Adds `count` IoC bundles of one indicator each to `fake`: bundle `n`,
/// listed as `{item}{n}` one second after the one before, holds the
/// indicator `indicator_id(n)` of the address `{network}{n}`.
pub(crate) fn add_one_indicator_bundles(
    fake: &FakeTeamt5,
    count: usize,
    item: &str,
    network: &str,
    indicator_id: impl Fn(usize) -> String,
) {
    for bundle in 0..count {
        let indicator = json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": indicator_id(bundle),
            "created": "2025-11-20T09:00:00.000Z",
            "modified": "2025-11-20T09:00:00.000Z",
            "name": format!("{network}{bundle}"),
            "pattern": format!("[ipv4-addr:value = '{network}{bundle}']"),
            "pattern_type": "stix",
            "valid_from": "2025-11-20T09:00:00Z",
        });
        fake.add_ioc_bundle(
            ioc_item(fake, &format!("{item}{bundle}"), 1_763_000_000 + bundle as i64),
            &json!({"type": "bundle", "id": format!("bundle--00000000-0000-4000-a000-{bundle:012}"), "objects": [indicator]}),
        );
    }
}
