//! The platform clients (GraphQL and live stream) in the network OpenCTI's
//! connector manager gives a container: `HTTPS_CA_CERTIFICATES`,
//! `HTTP_PROXY`/`HTTPS_PROXY`, `NO_PROXY`, `HTTPS_PROXY_REJECT_UNAUTHORIZED`,
//! set as variables and nothing else.

use opencti_connector::api::ApiClient;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{OpenctiConfig, RuntimeConfig, Settings};
use opencti_connector::http::testing::{RecordingProxy, TEST_CA_PEM, TlsFront};
use opencti_connector::stream::client::http_client;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A platform answering the health check and a stream URL.
async fn platform() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "about": { "version": "6.8.10" } } })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/stream/live"))
        .respond_with(ResponseTemplate::new(200).set_body_string(": hello\n\n"))
        .mount(&server)
        .await;
    server
}

fn opencti(url: &str, extra: &[(&str, &str)]) -> OpenctiConfig {
    let mut env = vec![
        ("OPENCTI_URL", url),
        ("OPENCTI_TOKEN", "1234"),
        ("CONNECTOR_ID", "5ad9b7d2-9e8f-4d0a-9f0e-2a7d1f4f6c11"),
        ("CONNECTOR_NAME", "Test connector"),
    ];
    env.extend_from_slice(extra);
    let settings = Settings::from_env_pairs(RUNTIME_TABLES, env);
    RuntimeConfig::try_from(&settings).unwrap().opencti
}

/// Health check with the GraphQL client, then one stream request with the
/// live-stream client; the error of the first that fails.
async fn both_clients(config: &OpenctiConfig) -> Result<(), String> {
    let api = ApiClient::new(config)
        .map_err(|e| e.to_string())?
        .with_retry(opencti_connector::api::RetryPolicy::none());
    api.health_check().await.map_err(|e| e.to_string())?;
    let stream = http_client(&config.tls, &config.network).map_err(|e| e.to_string())?;
    let url = config.url.join("stream/live").unwrap();
    let answer = stream
        .get(url)
        .send()
        .await
        .map_err(|e| opencti_connector::error_chain(&e))?;
    assert!(answer.status().is_success());
    Ok(())
}

#[tokio::test]
async fn a_platform_only_the_extra_ca_vouches_for_is_accepted() {
    let server = platform().await;
    let front = TlsFront::start(*server.address()).await;
    let url = front.url().to_string();
    let verified = [("OPENCTI_SSL_VERIFY", "true")];
    let error = both_clients(&opencti(&url, &verified)).await.unwrap_err();
    assert!(error.contains("certificate"), "{error}");
    let trusting = [
        ("OPENCTI_SSL_VERIFY", "true"),
        ("HTTPS_CA_CERTIFICATES", TEST_CA_PEM),
    ];
    both_clients(&opencti(&url, &trusting)).await.unwrap();
    // As a file path too.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, TEST_CA_PEM).unwrap();
    let from_file = [
        ("OPENCTI_SSL_VERIFY", "true"),
        ("HTTPS_CA_CERTIFICATES", ca.to_str().unwrap()),
    ];
    both_clients(&opencti(&url, &from_file)).await.unwrap();
}

#[tokio::test]
async fn platform_requests_go_through_the_proxy_unless_exempted() {
    let server = platform().await;
    let proxy = RecordingProxy::start().await;
    let proxy_url = proxy.url().to_string();
    both_clients(&opencti(&server.uri(), &[("HTTP_PROXY", &proxy_url)]))
        .await
        .unwrap();
    let requests = proxy.requests();
    let base = server.uri();
    assert!(
        requests
            .iter()
            .any(|line| line == &format!("POST {base}/graphql HTTP/1.1")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|line| line == &format!("GET {base}/stream/live HTTP/1.1")),
        "{requests:?}"
    );

    let bypass = RecordingProxy::start().await;
    let bypass_url = bypass.url().to_string();
    both_clients(&opencti(
        &server.uri(),
        &[("http_proxy", &bypass_url), ("NO_PROXY", "127.0.0.1")],
    ))
    .await
    .unwrap();
    assert!(bypass.requests().is_empty(), "{:?}", bypass.requests());
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_and_may_skip_checks() {
    let server = platform().await;
    let front = TlsFront::start(*server.address()).await;
    let proxy = RecordingProxy::start().await;
    let proxy_url = proxy.url().to_string();
    let url = front.url().to_string();
    let tunnelled = [
        ("OPENCTI_SSL_VERIFY", "true"),
        ("HTTPS_PROXY", proxy_url.as_str()),
        ("HTTPS_CA_CERTIFICATES", TEST_CA_PEM),
    ];
    both_clients(&opencti(&url, &tunnelled)).await.unwrap();
    assert!(
        proxy
            .requests()
            .contains(&format!("CONNECT {} HTTP/1.1", front.addr())),
        "{:?}",
        proxy.requests()
    );
    // An intercepting proxy whose CA is not given: refused, unless
    // HTTPS_PROXY_REJECT_UNAUTHORIZED=false says not to check.
    let unchecked = [
        ("OPENCTI_SSL_VERIFY", "true"),
        ("HTTPS_PROXY", proxy_url.as_str()),
    ];
    assert!(both_clients(&opencti(&url, &unchecked)).await.is_err());
    let exempted = [
        ("OPENCTI_SSL_VERIFY", "true"),
        ("HTTPS_PROXY", proxy_url.as_str()),
        ("HTTPS_PROXY_REJECT_UNAUTHORIZED", "false"),
    ];
    both_clients(&opencti(&url, &exempted)).await.unwrap();
}
