//! The PT NAD client in the network a container is given (extra CA, proxy,
//! `NO_PROXY`, set as variables only), startup cancelled by shutdown, and
//! URL secrets that never reach an error or a log line.

use opencti_connector::config::Settings;
use opencti_connector::config::runtime::OPENCTI_VARS;
use opencti_ptnad::config::{PtnadConfig, VARS};
use opencti_ptnad::connector::{PtnadSink, StartupError};
use opencti_ptnad::fake::{FakePtnad, FakeSettings};

use crate::{sink_startup, vendor_network};

/// A sink for `url` configured from variables, retrying startup quickly.
fn sink(url: &str, extra: &[(&str, &str)]) -> PtnadSink {
    let mut pairs = vec![
        ("OPENCTI_URL", "http://127.0.0.1:1"),
        ("OPENCTI_TOKEN", "t"),
        ("PTNAD_URL", url),
        ("PTNAD_USERNAME", "opencti"),
        ("PTNAD_PASSWORD", "S3cret!"),
        ("PTNAD_TIMEOUT", "5"),
    ];
    pairs.extend_from_slice(extra);
    let settings = Settings::from_env_pairs(&[OPENCTI_VARS, VARS], pairs);
    PtnadSink::new(PtnadConfig::try_from(&settings).unwrap())
        .unwrap()
        .with_startup_retry(sink_startup::quick_retry())
}

/// A sink's startup against `url`, its error chain as text.
async fn reach(url: &str, extra: &[(&str, &str)]) -> Result<(), String> {
    sink_startup::chained(sink(url, extra).start().await)
}

#[tokio::test]
async fn a_server_only_the_extra_ca_vouches_for_is_reached() {
    // Token mode: the fake's same-origin check would refuse a session's
    // writes through the front, which changes the origin.
    let fake = FakePtnad::start(FakeSettings {
        token: Some("t0ken".to_owned()),
        ..FakeSettings::default()
    })
    .await
    .unwrap();
    let token = [("PTNAD_SSL_VERIFY", "true"), ("PTNAD_TOKEN", "t0ken")];
    vendor_network::only_the_extra_ca_vouches(&fake.url(), "", &token, reach).await;
}

#[tokio::test]
async fn requests_go_through_the_proxy_unless_exempted() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let login = format!("POST {}/api/v2/auth/login ", fake.url());
    vendor_network::proxied_unless_exempted(&fake.url(), reach, |line| line.starts_with(&login))
        .await;
}

crate::sink_startup_tests! {
    sink: sink,
    error: StartupError,
    tail: "/nad/",
    shown: "/nad/api/v2/auth/login",
}
