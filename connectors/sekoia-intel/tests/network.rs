//! The Sekoia client in the network a container is given (extra CA, proxy,
//! `NO_PROXY`, set as variables only), startup cancelled by shutdown, and
//! URL secrets that never reach an error or a log line.

use opencti_sekoia_intel::connector::{SekoiaSink, StartupError};
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};

use crate::{sink_startup, vendor_network};

/// A sink for `url` configured from variables, retrying startup quickly.
fn sink(url: &str, extra: &[(&str, &str)]) -> SekoiaSink {
    SekoiaSink::new(crate::connector::config(url, extra))
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
