//! The network checks the connectors' vendor clients pass, shared by their
//! `tests/network.rs` with `#[path]`: a vendor behind TLS that only the
//! extra CA (`HTTPS_CA_CERTIFICATES`) vouches for, and a proxy set as a
//! variable with `NO_PROXY` exempting the vendor (`sink_startup.rs` holds
//! the stream sinks' startup checks).
//!
//! Each connector passes how it reaches its vendor, `reach(url, extra
//! variables)`, with its errors as text (the whole chain), and what its
//! vendor's requests look like through a proxy.

use opencti_connector::http::testing::{RecordingProxy, TEST_CA_PEM, TlsFront, address_of};

/// `reach` fails on a certificate through a TLS front to `vendor_url`
/// (the front's URL, then `path`), and succeeds once the extra CA is given.
pub(crate) async fn only_the_extra_ca_vouches(
    vendor_url: &str,
    path: &str,
    extra: &[(&str, &str)],
    reach: impl AsyncFn(&str, &[(&str, &str)]) -> Result<(), String>,
) {
    let front = TlsFront::start(address_of(vendor_url)).await;
    let url = front.url().join(path).unwrap().to_string();
    let error = reach(&url, extra).await.unwrap_err();
    assert!(error.contains("certificate"), "{error}");
    let mut trusting = extra.to_vec();
    trusting.push(("HTTPS_CA_CERTIFICATES", TEST_CA_PEM));
    reach(&url, &trusting).await.unwrap();
}

/// `reach` goes through the proxy in `HTTP_PROXY` (which sees a request
/// line `seen` accepts), and around it when `NO_PROXY` names the vendor.
pub(crate) async fn proxied_unless_exempted(
    vendor_url: &str,
    reach: impl AsyncFn(&str, &[(&str, &str)]) -> Result<(), String>,
    seen: impl Fn(&str) -> bool,
) {
    let proxy = RecordingProxy::start().await;
    let proxy_url = proxy.url().to_string();
    reach(vendor_url, &[("HTTP_PROXY", &proxy_url)])
        .await
        .unwrap();
    let requests = proxy.requests();
    assert!(requests.iter().any(|line| seen(line)), "{requests:?}");

    let bypassed = RecordingProxy::start().await;
    let bypassed_url = bypassed.url().to_string();
    let exempt = [
        ("HTTP_PROXY", bypassed_url.as_str()),
        ("NO_PROXY", "127.0.0.1"),
    ];
    reach(vendor_url, &exempt).await.unwrap();
    assert!(bypassed.requests().is_empty(), "{:?}", bypassed.requests());
}
