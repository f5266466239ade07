//! The Sekoia client in the network a container is given (extra CA, proxy,
//! `NO_PROXY`, set as variables only), startup cancelled by shutdown, and
//! URL secrets that never reach an error or a log line.

use opencti_connector::config::Settings;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_sekoia_intel::config::{SekoiaConfig, VARS};
use opencti_sekoia_intel::connector::{SekoiaSink, StartupError};
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};

use crate::{sink_startup, vendor_network};

/// A sink for `url` configured from variables, retrying startup quickly.
fn sink(url: &str, extra: &[(&str, &str)]) -> SekoiaSink {
    let mut pairs = vec![
        ("OPENCTI_URL", "https://opencti.example.org"),
        ("OPENCTI_TOKEN", "token"),
        ("CONNECTOR_ID", "0b8f2c1e-8f5a-4c57-9d56-5b9f1f0e2a11"),
        ("CONNECTOR_NAME", "Sekoia"),
        ("CONNECTOR_LIVE_STREAM_ID", "live"),
        ("SEKOIA_INTEL_URL", url),
        ("SEKOIA_INTEL_APIKEY", "sk_test"),
        ("SEKOIA_INTEL_IOC_COLLECTION_UUID", DEFAULT_COLLECTION),
        ("SEKOIA_INTEL_TIMEOUT", "5"),
    ];
    pairs.extend_from_slice(extra);
    let tables: Vec<_> = RUNTIME_TABLES.iter().copied().chain([VARS]).collect();
    let config = SekoiaConfig::try_from(&Settings::from_env_pairs(&tables, pairs)).unwrap();
    SekoiaSink::new(config)
        .unwrap()
        .with_startup_retry(sink_startup::quick_retry())
}

async fn fake() -> FakeSekoia {
    FakeSekoia::start(FakeSettings::default()).await.unwrap()
}

/// A sink's startup against `url`, its error chain as text.
async fn reach(url: &str, extra: &[(&str, &str)]) -> Result<(), String> {
    sink_startup::chained(sink(url, extra).start().await)
}

#[tokio::test]
async fn an_api_only_the_extra_ca_vouches_for_is_reached() {
    let fake = fake().await;
    vendor_network::only_the_extra_ca_vouches(&fake.url(), "", &[], reach).await;
}

#[tokio::test]
async fn requests_go_through_the_proxy_unless_exempted() {
    let fake = fake().await;
    let collection = format!("GET {}/", fake.url());
    vendor_network::proxied_unless_exempted(&fake.url(), reach, |line| {
        line.starts_with(&collection) && line.contains(DEFAULT_COLLECTION)
    })
    .await;
}

crate::sink_startup_tests! {
    sink: sink,
    error: StartupError,
    tail: "/sekoia?tenant=s3cr3t",
    shown: DEFAULT_COLLECTION,
}
