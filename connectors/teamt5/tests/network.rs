//! The TeamT5 client in the network a container is given (extra CA, proxy,
//! `NO_PROXY`, set as variables only), and pre-signed URLs whose signature
//! never reaches an error, a work message or a log line.

use opencti_connector::config::Settings;
use opencti_connector::config::runtime::OPENCTI_VARS;
use opencti_connector::http::testing::{capture_logs, refusing_address};
use opencti_connector::import::ImportSource;
use opencti_connector::{Connector, RunContext};
use opencti_teamt5::client::Teamt5Client;
use opencti_teamt5::config::{HttpSettings, Teamt5Config, VARS};
use opencti_teamt5::connector::Teamt5;
use opencti_teamt5::mapping::Kind;
use serde_json::json;

use crate::support::{fake, fast_http, fixture, report_item};
use crate::vendor_network;

/// A configuration for `base` read from variables, with fast retries.
fn config(base: &str, extra: &[(&str, &str)]) -> Teamt5Config {
    let mut pairs = vec![
        ("OPENCTI_URL", "http://127.0.0.1:1"),
        ("OPENCTI_TOKEN", "t"),
        ("TEAMT5_API_BASE_URL", base),
        ("TEAMT5_CLIENT_ID", "cid"),
        ("TEAMT5_CLIENT_SECRET", "csecret"),
    ];
    pairs.extend_from_slice(extra);
    let settings = Settings::from_env_pairs(&[OPENCTI_VARS, VARS], pairs);
    let mut config = Teamt5Config::try_from(&settings).unwrap();
    config.http = HttpSettings {
        network: config.http.network.clone(),
        ..fast_http()
    };
    config
}

/// A token, then one listing page.
async fn token_and_listing(config: &Teamt5Config) -> Result<(), String> {
    let client = Teamt5Client::new(
        config.api_base_url.clone(),
        config.auth.clone(),
        config.http.clone(),
    )
    .map_err(|e| e.to_string())?;
    client.authenticate().await.map_err(|e| e.to_string())?;
    client
        .listing_page(Kind::Report, 0, 0)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A token and a listing page from `base` configured with `extra`.
async fn reach(base: &str, extra: &[(&str, &str)]) -> Result<(), String> {
    token_and_listing(&config(base, extra)).await
}

#[tokio::test]
async fn an_api_only_the_extra_ca_vouches_for_is_reached() {
    let fake = fake().await;
    vendor_network::only_the_extra_ca_vouches(&fake.url(), "", &[], reach).await;
}

#[tokio::test]
async fn requests_go_through_the_proxy_unless_exempted() {
    let fake = fake().await;
    let token_request = format!("POST {}oauth/token HTTP/1.1", fake.url());
    vendor_network::proxied_unless_exempted(&fake.url(), reach, |line| line == token_request).await;
}

#[tokio::test]
async fn a_refused_bundle_download_never_shows_the_signature() {
    let fake = fake().await;
    let mut item = report_item(&fake, "r0", "Report 0", 1_763_625_600);
    // On another host (here: a port nothing listens on) with a signature.
    let signed = format!(
        "http://{}/bundles/r0.stix?X-Signature=pre-signed-s3cr3t",
        refusing_address()
    );
    item["stix_url"] = json!(signed);
    fake.add_report(item, &fixture("report-bundle.json"));
    let (logs, _guard) = capture_logs();
    let mut connector = Teamt5::from_config(config(&fake.url(), &[])).unwrap();
    let (ctx, probe) = RunContext::for_test(None);
    connector.run(&ctx).await.unwrap();
    let errors: Vec<String> = probe
        .errors()
        .iter()
        .map(|error| format!("{} | {}", error.source, error.error))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("/bundles/r0.stix"), "{errors:?}");
    assert!(!errors[0].contains("s3cr3t"), "{errors:?}");
    let logs = logs.text();
    assert!(logs.contains("/bundles/r0.stix"), "{logs}");
    assert!(!logs.contains("s3cr3t"), "{logs}");
}
