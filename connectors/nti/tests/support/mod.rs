//! Shared helpers: settings for a fake server, one recorded run, fixtures.

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{Settings, Var};
use opencti_connector::context::TestProbe;
use opencti_connector::state::State;
use opencti_connector::{Connector, ImportSource, RunContext};
use opencti_nti::fake;
use opencti_nti::{Nti, NtiConfig, RunError, VARS};
use serde_json::Value;

pub(crate) const KEY: &str = "test-nti-key";

/// The id of the NTI author identity.
pub(crate) const AUTHOR: &str = "identity--159ebc69-5a58-588d-ba99-c03d0b00a8ef";

/// Settings resolved from environment pairs, with every kind enabled.
pub(crate) fn settings(base_url: &str, extra: &[(&str, &str)]) -> Settings {
    let tables: Vec<&[Var]> = RUNTIME_TABLES.iter().copied().chain([VARS]).collect();
    let mut pairs: Vec<(String, String)> = vec![
        ("OPENCTI_URL".to_owned(), "http://127.0.0.1:9/".to_owned()),
        ("OPENCTI_TOKEN".to_owned(), "test-token".to_owned()),
        ("CONNECTOR_ID".to_owned(), uuid::Uuid::new_v4().to_string()),
        ("NTI_BASE_URL".to_owned(), base_url.to_owned()),
        ("NTI_API_KEY".to_owned(), KEY.to_owned()),
        ("NTI_CREATE_IOC".to_owned(), "true".to_owned()),
        ("NTI_CREATE_IP".to_owned(), "true".to_owned()),
        ("NTI_CREATE_DOMAIN".to_owned(), "true".to_owned()),
        ("NTI_CREATE_URL".to_owned(), "true".to_owned()),
        ("NTI_CREATE_FILE".to_owned(), "true".to_owned()),
    ];
    pairs.extend(
        extra
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
    );
    Settings::from_env_pairs(&tables, pairs)
}

pub(crate) fn connector(settings: &Settings) -> Nti {
    let config = NtiConfig::try_from(settings).expect("valid configuration");
    Nti::from_config(config)
        .expect("connector")
        .with_initial_backoff(std::time::Duration::from_millis(10))
        .expect("client")
}

/// One run against a recording context starting from `state`.
pub(crate) async fn run_once(
    connector: &mut Nti,
    state: Option<State>,
) -> (Result<String, RunError>, TestProbe) {
    let (ctx, probe) = RunContext::for_test(state);
    let outcome = connector.run(&ctx).await;
    (outcome, probe)
}

/// A fixture file's text.
pub(crate) fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The records of a `<kind>.records.jsonl` fixture.
pub(crate) fn fixture_records(kind: &str) -> Vec<Value> {
    fixture(&format!("{kind}.records.jsonl"))
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("fixture record"))
        .collect()
}

/// The objects of each bundle sent.
pub(crate) fn sent_objects(probe: &TestProbe) -> Vec<Vec<Value>> {
    probe
        .bundles()
        .into_iter()
        .map(|bundle| bundle["objects"].as_array().expect("objects").clone())
        .collect()
}

/// A feed file name of the updated package.
pub(crate) fn file_name(kind: &str, sequence: u32) -> String {
    format!("data.NTI.API.V2.0.{kind}-updated.20250425.{sequence:04}.json")
}

/// The package of the golden fixtures: one IOC, one IP and one URL file.
pub(crate) fn golden_package() -> Vec<u8> {
    let entries: Vec<(String, String)> = [("ioc", "ioc"), ("ip", "ip-basic"), ("url", "url-basic")]
        .into_iter()
        .map(|(fixture, kind)| {
            (
                file_name(kind, 1),
                fake::entry_content(&fixture_records(fixture)),
            )
        })
        .collect();
    fake::package(&entries)
}

/// `count` files of one URL each (`http://{host}-{n}.example/`): their
/// names and URLs, in package order.
pub(crate) fn url_files(host: &str, count: u32) -> Vec<(String, String)> {
    (1..=count)
        .map(|sequence| {
            (
                file_name("url-basic", sequence),
                format!("http://{host}-{sequence}.example/"),
            )
        })
        .collect()
}

/// The package of `files` (from [`url_files`]).
pub(crate) fn url_package(files: &[(String, String)]) -> Vec<u8> {
    let entries: Vec<(String, String)> = files
        .iter()
        .map(|(name, url)| {
            let record = serde_json::json!({"object": {"type": "url", "value": url}, "contents": [{"contents": [29]}]});
            (name.clone(), fake::entry_content(&[record]))
        })
        .collect();
    fake::package(&entries)
}

/// Whether the platform stored the URL `url`.
pub(crate) fn url_stored(platform: &opencti_testkit::TestPlatform, url: &str) -> bool {
    platform
        .objects_of_type("url")
        .iter()
        .any(|object| object.stix["value"] == url)
}
