//! `CONNECTOR_LISTEN_PROTOCOL=API` end to end: the connector serves its job
//! endpoint on loopback, registers its URI, and `opencti-sim` forwards the
//! listen queue to it over HTTP as the platform's worker does.

use std::time::Duration;

use opencti_connector::config::Settings;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::http::testing::TEST_CA_PEM;
use opencti_connector::listen::{
    ENRICHMENT_VARS, Enrichment, ListenProtocol, ListenRunner, listen_protocol,
};
use opencti_connector::tls;
use opencti_sim::{EventInjection, EventKind, Sim, SimConfig, SimHandle, WorkStatus};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::listen::{AsEnricher, TIMEOUT, ipv4, processed, runtime};

const TOKEN: &str = "listen-test";
const MAX_BODY: usize = 4096;
/// The loopback test certificate (for 127.0.0.1, signed by the test CA)
/// and its key, as `http::testing`'s TLS front serves them.
const CERT_PEM: &str = include_str!("../src/http/testing/localhost.pem");
const KEY_PEM: &str = include_str!("../src/http/testing/localhost.key");

async fn platform(version: &str) -> SimHandle {
    let config = SimConfig {
        token: Some(opencti_sim::Secret::new(TOKEN)),
        platform_version: version.to_owned(),
        listen_callback_retry: Duration::from_millis(200),
        ..SimConfig::for_tests()
    };
    Sim::start(config).await.unwrap()
}

fn api_env() -> Vec<(&'static str, String)> {
    vec![
        ("CONNECTOR_LISTEN_PROTOCOL", "api".to_owned()),
        ("CONNECTOR_LISTEN_PROTOCOL_API_HOST", "127.0.0.1".to_owned()),
        ("CONNECTOR_LISTEN_PROTOCOL_API_PORT", "0".to_owned()),
    ]
}

struct Serving {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), opencti_connector::Error>>,
    /// The registered `listen_callback_uri`.
    callback: String,
}

/// Starts an enricher on the API listen protocol and waits for its
/// registration.
async fn serve(sim: &SimHandle, id: &str) -> Serving {
    serve_with(sim, id, &[], |runner| runner).await
}

/// [`serve`] with more variables and the runner adjusted.
async fn serve_with(
    sim: &SimHandle,
    id: &str,
    extra: &[(&'static str, String)],
    adjust: impl FnOnce(ListenRunner<Enrichment<AsEnricher>>) -> ListenRunner<Enrichment<AsEnricher>>,
) -> Serving {
    let mut env = api_env();
    env.extend(extra.iter().cloned());
    let (config, settings) = runtime(sim, id, &env);
    let protocol = listen_protocol(&settings).unwrap();
    assert!(matches!(protocol, ListenProtocol::Api(_)));
    let shutdown = CancellationToken::new();
    let runner = adjust(
        ListenRunner::new(Enrichment::new(AsEnricher::default(), None), config)
            .with_listen_protocol(protocol)
            .with_max_callback_body(MAX_BODY),
    );
    let task = tokio::spawn(runner.run(shutdown.clone()));
    sim.wait_until("the connector to register", TIMEOUT, |sim| {
        sim.connector(id).is_some()
    })
    .await
    .unwrap();
    let callback = sim
        .connector(id)
        .unwrap()
        .listen_callback_uri
        .expect("a registered callback URI");
    Serving {
        shutdown,
        task,
        callback,
    }
}

impl Serving {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(TIMEOUT, self.task)
            .await
            .expect("the runner stops")
            .unwrap()
            .expect("a clean stop");
    }
}

async fn enrich(sim: &SimHandle, connector_id: &str, value: &str) -> opencti_sim::WorkRecord {
    let ip = ipv4(value, None);
    sim.inject_event(EventInjection::new(EventKind::Create, ip.clone()))
        .unwrap();
    let work = sim
        .ask_enrichment(ip["id"].as_str().unwrap(), connector_id)
        .await
        .unwrap()
        .expect("a work");
    processed(sim, &work).await
}

fn texts(messages: &[opencti_sim::WorkMessage]) -> Vec<String> {
    messages.iter().filter_map(|m| m.message.clone()).collect()
}

/// A connector JWT the simulator signs, as the platform's worker presents.
async fn platform_jwt(sim: &SimHandle) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/graphql", sim.url()))
        .bearer_auth(TOKEN)
        .json(&json!({"query": "mutation ConnectorJWT { connectorJWT }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["data"]["connectorJWT"].as_str().unwrap().to_owned()
}

async fn post(url: &str, bearer: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(bearer) = bearer {
        request = request.header("authorization", format!("BEARER {bearer}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_posted_by_a_7x_platform_succeed_or_fail_on_their_work() {
    tls::install_crypto_provider();
    let sim = platform("7.261026.0").await;
    let id = uuid::Uuid::new_v4().to_string();
    let serving = serve(&sim, &id).await;
    assert!(
        serving.callback.starts_with("http://127.0.0.1:")
            && serving.callback.ends_with("/api/callback"),
        "{}",
        serving.callback
    );

    let work = enrich(&sim, &id, "192.0.2.40").await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    assert!(texts(&work.messages).contains(&"Enriched 192.0.2.40".to_owned()));
    assert_eq!(work.status, WorkStatus::Complete);
    assert!(work.received_time.is_some());

    // The connector's error closes the work in error; the answer is still
    // 202, so the platform does not send the job again.
    let failed = enrich(&sim, &id, "192.0.2.66").await;
    assert_eq!(texts(&failed.errors), ["the vendor refused 192.0.2.66"]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let failed = sim.work(&failed.id).unwrap();
    assert_eq!(failed.errors.len(), 1, "handled once: {:?}", failed.errors);
    serving.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_posted_by_a_6x_platform_carry_the_connector_token() {
    tls::install_crypto_provider();
    let sim = platform("6.8.10").await;
    let id = uuid::Uuid::new_v4().to_string();
    let serving = serve(&sim, &id).await;
    let work = enrich(&sim, &id, "192.0.2.41").await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    let (status, _) = post(&serving.callback, Some("another-token"), b"{}".to_vec()).await;
    assert_eq!(status, 401);
    serving.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_refuses_strangers_invalid_json_and_oversized_bodies_then_stops() {
    tls::install_crypto_provider();
    let sim = platform("7.261026.0").await;
    let id = uuid::Uuid::new_v4().to_string();
    let serving = serve(&sim, &id).await;
    let url = serving.callback.clone();
    let jwt = platform_jwt(&sim).await;

    let (status, body) = post(&url, None, b"{}".to_vec()).await;
    assert_eq!(
        (status, body),
        (401, json!({"error": "Invalid credentials"}))
    );
    let (status, _) = post(&url, Some(TOKEN), b"{}".to_vec()).await;
    assert_eq!(status, 401, "7.x: the API token is not a platform JWT");
    let mut forged = jwt.clone();
    forged.pop();
    forged.push(if jwt.ends_with('A') { 'B' } else { 'A' });
    let (status, _) = post(&url, Some(&forged), b"{}".to_vec()).await;
    assert_eq!(status, 401, "a bad signature");

    let (status, body) = post(&url, Some(&jwt), b"{not json".to_vec()).await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "Invalid JSON payload"}))
    );
    let oversized = format!("{{\"pad\": \"{}\"}}", "x".repeat(MAX_BODY));
    let (status, _) = post(&url, Some(&jwt), oversized.into_bytes()).await;
    assert_eq!(status, 413);

    let health = url.replace("/api/callback", "/health");
    let answer: Value = reqwest::get(&health).await.unwrap().json().await.unwrap();
    assert_eq!(answer, json!({"status": "ok"}));

    serving.stop().await;
    let gone = reqwest::Client::new()
        .get(&health)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(gone.is_err(), "the endpoint is closed after the stop");
    sim.shutdown().await.unwrap();
}

/// The HTTPS variables: the certificate as a file, the key inline.
fn https_env(dir: &tempfile::TempDir) -> Vec<(&'static str, String)> {
    let cert = dir.path().join("callback.pem");
    std::fs::write(&cert, CERT_PEM).unwrap();
    vec![
        ("CONNECTOR_LISTEN_PROTOCOL_API_SSL", "true".to_owned()),
        (
            "LISTEN_PROTOCOL_API_SSL_CERT",
            cert.to_string_lossy().into_owned(),
        ),
        ("LISTEN_PROTOCOL_API_SSL_KEY", KEY_PEM.to_owned()),
    ]
}

/// A client that trusts the test CA only.
fn https_client() -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(TEST_CA_PEM.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(TIMEOUT)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_delivered_over_https_when_ssl_is_on() {
    tls::install_crypto_provider();
    let sim = platform("7.261026.0").await;
    let id = uuid::Uuid::new_v4().to_string();
    let dir = tempfile::tempdir().unwrap();
    let serving = serve_with(&sim, &id, &https_env(&dir), |runner| runner).await;
    assert!(
        serving.callback.starts_with("https://127.0.0.1:")
            && serving.callback.ends_with("/api/callback"),
        "{}",
        serving.callback
    );
    let client = https_client();
    let ip = ipv4("192.0.2.70", None);
    sim.inject_event(EventInjection::new(EventKind::Create, ip.clone()))
        .unwrap();
    let job = json!({
        "internal": {"work_id": null, "applicant_id": null},
        "event": {
            "event_type": "INTERNAL_ENRICHMENT",
            "entity_id": ip["id"],
            "entity_type": "IPv4-Addr",
            "stix_entity": ip.to_string(),
            "stix_objects": json!([ip]).to_string(),
        },
    });
    let answer = client
        .post(&serving.callback)
        .bearer_auth(platform_jwt(&sim).await)
        .json(&job)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 202);
    // The enricher ran: its bundle went through the platform.
    sim.wait_until("the enricher's object to be stored", TIMEOUT, |sim| {
        sim.object("autonomous-system--5b2b8c4e-6a38-5a36-9b55-2f0e5d0e6e01")
            .is_some()
    })
    .await
    .unwrap();
    // The same bounds as over plain HTTP.
    let oversized = format!("{{\"pad\": \"{}\"}}", "x".repeat(MAX_BODY));
    let answer = client
        .post(&serving.callback)
        .bearer_auth(platform_jwt(&sim).await)
        .body(oversized)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 413);
    let plain = serving.callback.replacen("https://", "http://", 1);
    let refused = reqwest::Client::new()
        .get(plain.replace("/api/callback", "/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        !refused.is_ok_and(|answer| answer.status().is_success()),
        "plain HTTP is not served"
    );
    serving.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_is_cut_and_holds_no_one_else() {
    use tokio::io::AsyncReadExt as _;
    tls::install_crypto_provider();
    let sim = platform("7.261026.0").await;
    let id = uuid::Uuid::new_v4().to_string();
    let dir = tempfile::tempdir().unwrap();
    let serving = serve_with(&sim, &id, &https_env(&dir), |runner| {
        runner.with_callback_handshake_timeout(Duration::from_secs(2))
    })
    .await;
    let address = serving
        .callback
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    // Connects, then says nothing (not even a ClientHello).
    let mut stalled = tokio::net::TcpStream::connect(&address).await.unwrap();
    let health = serving.callback.replace("/api/callback", "/health");
    let answer: Value = https_client()
        .get(&health)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer, json!({"status": "ok"}), "served beside the stall");
    let mut buffer = [0_u8; 16];
    // Answered while the stalled handshake still waits: not one after the
    // other.
    assert!(
        matches!(stalled.try_read(&mut buffer), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the stalled connection is still open, without an answer"
    );
    let read = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut buffer))
        .await
        .expect("the stalled connection is closed in time");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed without an answer: {read:?}"
    );
    serving.stop().await;
    sim.shutdown().await.unwrap();
}

/// The header timeout the tests serve with: short, so that they run fast.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// The `host:port` of a registered callback URI.
fn authority(callback: &str) -> String {
    let rest = callback.split_once("://").unwrap().1;
    rest.split('/').next().unwrap().to_owned()
}

/// Sends half a request line on `stalled`, then nothing: `health` (a call
/// to `/health` on another connection) is answered meanwhile, and the
/// stalled connection is closed, without an answer, once the header
/// timeout is over.
async fn a_stalled_request_line_is_cut<S>(
    mut stalled: S,
    health: impl std::future::Future<Output = Value>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stalled.write_all(b"POST /api/callback HT").await.unwrap();
    stalled.flush().await.unwrap();
    let sent = std::time::Instant::now();
    assert_eq!(
        health.await,
        json!({"status": "ok"}),
        "served beside the stall"
    );
    let mut buffer = [0_u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), stalled.read(&mut buffer))
            .await
            .is_err(),
        "the stalled connection is still open, without an answer"
    );
    let read = tokio::time::timeout(HEADER_TIMEOUT * 3, stalled.read(&mut buffer))
        .await
        .expect("the stalled connection is closed in time");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed without an answer: {read:?}"
    );
    assert!(
        sent.elapsed() >= HEADER_TIMEOUT - Duration::from_millis(100),
        "closed by the header timeout, not before: {:?}",
        sent.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_line_is_cut_and_holds_no_one_else() {
    use tokio::io::AsyncReadExt as _;
    let sim = platform("7.261026.0").await;
    let id = uuid::Uuid::new_v4().to_string();
    let serving = serve_with(&sim, &id, &[], |runner| {
        runner.with_callback_header_timeout(HEADER_TIMEOUT)
    })
    .await;
    let stalled = tokio::net::TcpStream::connect(authority(&serving.callback))
        .await
        .unwrap();
    // Says nothing at all: bounded just the same.
    let mut silent = tokio::net::TcpStream::connect(authority(&serving.callback))
        .await
        .unwrap();
    let health = serving.callback.replace("/api/callback", "/health");
    let answer = async {
        reqwest::get(&health)
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    a_stalled_request_line_is_cut(stalled, answer).await;
    let mut buffer = [0_u8; 16];
    let read = tokio::time::timeout(HEADER_TIMEOUT, silent.read(&mut buffer))
        .await
        .expect("the silent connection is closed in time");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed without an answer: {read:?}"
    );
    serving.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_line_over_https_is_cut_too() {
    tls::install_crypto_provider();
    let sim = platform("7.261026.0").await;
    let id = uuid::Uuid::new_v4().to_string();
    let dir = tempfile::tempdir().unwrap();
    let serving = serve_with(&sim, &id, &https_env(&dir), |runner| {
        runner.with_callback_header_timeout(HEADER_TIMEOUT)
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(
        rustls::pki_types::pem::PemObject::pem_slice_iter(TEST_CA_PEM.as_bytes())
            .map(Result::unwrap),
    );
    assert_eq!(added, 1);
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(authority(&serving.callback))
        .await
        .unwrap();
    let stalled = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .expect("the handshake itself goes through");
    let health = serving.callback.replace("/api/callback", "/health");
    let answer = async {
        https_client()
            .get(&health)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    a_stalled_request_line_is_cut(stalled, answer).await;
    serving.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_bound_wait_for_a_free_one() {
    /// `callback::MAX_CONNECTIONS`.
    const MAX_CONNECTIONS: usize = 64;
    let sim = platform("7.261026.0").await;
    let id = uuid::Uuid::new_v4().to_string();
    let serving = serve_with(&sim, &id, &[], |runner| {
        runner.with_callback_header_timeout(HEADER_TIMEOUT)
    })
    .await;
    let address = authority(&serving.callback);
    let mut silent = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        silent.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    let health = serving.callback.replace("/api/callback", "/health");
    let asked = std::time::Instant::now();
    let answer: Value = reqwest::get(&health).await.unwrap().json().await.unwrap();
    assert_eq!(answer, json!({"status": "ok"}));
    // Accepted once the header timeout freed the silent ones' places.
    assert!(
        asked.elapsed() >= HEADER_TIMEOUT / 2,
        "answered after {:?}",
        asked.elapsed()
    );
    drop(silent);
    serving.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_headers_are_refused_431() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let sim = platform("7.261026.0").await;
    let id = uuid::Uuid::new_v4().to_string();
    let serving = serve(&sim, &id).await;
    let address = authority(&serving.callback);
    let status_of = |filler: usize| {
        let address = address.clone();
        async move {
            let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
            let request = format!(
                "GET /health HTTP/1.1\r\nhost: test\r\nx-filler: {}\r\nconnection: close\r\n\r\n",
                "a".repeat(filler)
            );
            tokio::time::timeout(TIMEOUT, socket.write_all(request.as_bytes()))
                .await
                .expect("sent in time")
                .unwrap();
            let mut answer = Vec::new();
            tokio::time::timeout(TIMEOUT, socket.read_to_end(&mut answer))
                .await
                .expect("answered in time")
                .unwrap();
            String::from_utf8_lossy(&answer)
                .split(' ')
                .nth(1)
                .unwrap_or_default()
                .to_owned()
        }
    };
    assert_eq!(status_of(8 << 10).await, "200", "headers within the bound");
    // Past the bound by a little: the endpoint has read it all when it
    // refuses, so that its close resets nothing (a reset could drop the
    // answer).
    assert_eq!(status_of(20 << 10).await, "431", "headers past the bound");
    serving.stop().await;
    sim.shutdown().await.unwrap();
}

#[test]
fn https_settings_and_bad_protocols_are_refused_naming_the_variable() {
    let tables: Vec<_> = RUNTIME_TABLES
        .iter()
        .copied()
        .chain([ENRICHMENT_VARS])
        .collect();
    // A complete runtime configuration: the function leaves the settings'
    // own problems to the runtime's check, and then answers AMQP.
    let runtime = [
        ("OPENCTI_URL", "http://127.0.0.1:4000"),
        ("OPENCTI_TOKEN", TOKEN),
        ("CONNECTOR_ID", "5f4c6a64-2a31-4c8e-9d33-6c1b1c2f0a10"),
        ("CONNECTOR_NAME", "listen test"),
        ("CONNECTOR_SCOPE", "IPv4-Addr"),
    ];
    let check = |pairs: &[(&str, &str)]| {
        let settings = Settings::from_env_pairs(&tables, runtime.iter().chain(pairs).copied());
        assert!(settings.problems().is_empty(), "{}", settings.problems());
        listen_protocol(&settings).map_err(|errors| errors.to_string())
    };
    assert_eq!(check(&[]), Ok(ListenProtocol::Amqp));
    let api_ssl = [
        ("CONNECTOR_LISTEN_PROTOCOL", "API"),
        ("CONNECTOR_LISTEN_PROTOCOL_API_SSL", "true"),
    ];
    let with = |more: &[(&'static str, &'static str)]| {
        let pairs: Vec<_> = api_ssl.iter().chain(more).copied().collect();
        check(&pairs)
    };
    let missing = with(&[]).unwrap_err();
    assert!(
        missing.contains("LISTEN_PROTOCOL_API_SSL_CERT")
            && missing.contains("LISTEN_PROTOCOL_API_SSL_KEY"),
        "{missing}"
    );
    let no_key = with(&[("LISTEN_PROTOCOL_API_SSL_CERT", CERT_PEM)]).unwrap_err();
    assert!(
        no_key.contains("LISTEN_PROTOCOL_API_SSL_KEY") && !no_key.contains("_SSL_CERT ("),
        "{no_key}"
    );
    let unreadable = with(&[
        ("LISTEN_PROTOCOL_API_SSL_CERT", "/nonexistent/callback.pem"),
        ("LISTEN_PROTOCOL_API_SSL_KEY", KEY_PEM),
    ])
    .unwrap_err();
    assert!(
        unreadable.contains("LISTEN_PROTOCOL_API_SSL_CERT")
            && unreadable.contains("/nonexistent/callback.pem"),
        "{unreadable}"
    );
    let not_a_key = with(&[
        ("LISTEN_PROTOCOL_API_SSL_CERT", CERT_PEM),
        ("LISTEN_PROTOCOL_API_SSL_KEY", CERT_PEM),
    ])
    .unwrap_err();
    assert!(
        not_a_key.contains("LISTEN_PROTOCOL_API_SSL_KEY"),
        "{not_a_key}"
    );
    // Another key than the certificate's: named, and not shown.
    let other_key = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5IWND+MKC09r72aB
zv3dJGQvppBYfZWZhoTG3w7oYNWhRANCAAQEnXNrXbK7s/h/d65h7do520gRZxXx
WQyLpfmYHp/7ANV9MxsZQJwZbserdDn2FytTGrzk9zPqtW1aduWmMOH8
-----END PRIVATE KEY-----
";
    let mismatch = with(&[
        ("LISTEN_PROTOCOL_API_SSL_CERT", CERT_PEM),
        ("LISTEN_PROTOCOL_API_SSL_KEY", other_key),
    ])
    .unwrap_err();
    assert!(
        mismatch.contains("LISTEN_PROTOCOL_API_SSL_KEY") && !mismatch.contains("zv3dJGQv"),
        "{mismatch}"
    );
    // An encrypted key needs its passphrase (the PKCS#8 key of the broker's
    // unit tests, `openssl pkcs8 -topk8 -v2 aes-256-cbc`).
    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAje18YsohOsMQICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEELKuH8dfHxJWVjRTjiXnCUYEgZBe
EjwnPsr1vEvzUwaNFc/npJHfKKOz175VTP3k8V66a7pHI6PCi+UrT3UOM66wHlUB
SQdSvhygt2pfV94GGota1GOFcF05EVS7dcpbRpxuULrwBEIAvO86QH6906xOKNfp
KrnvEUrTz3ameGD9elyO1khel5oaPufP3KcxlyS9lWnPcHMDpmsHZyVn0yWfEIw=
-----END ENCRYPTED PRIVATE KEY-----
";
    let locked = with(&[
        ("LISTEN_PROTOCOL_API_SSL_CERT", CERT_PEM),
        ("LISTEN_PROTOCOL_API_SSL_KEY", encrypted),
    ])
    .unwrap_err();
    assert!(
        locked.contains("set LISTEN_PROTOCOL_API_SSL_PASSPHRASE"),
        "{locked}"
    );
    let wrong = with(&[
        ("LISTEN_PROTOCOL_API_SSL_CERT", CERT_PEM),
        ("LISTEN_PROTOCOL_API_SSL_KEY", encrypted),
        ("LISTEN_PROTOCOL_API_SSL_PASSPHRASE", "not-it"),
    ])
    .unwrap_err();
    assert!(
        wrong.contains("wrong LISTEN_PROTOCOL_API_SSL_PASSPHRASE") && !wrong.contains("not-it"),
        "{wrong}"
    );
    // The spelling of the connectors' own settings models is read too.
    let served = with(&[
        ("CONNECTOR_LISTEN_PROTOCOL_API_SSL_CERT", CERT_PEM),
        ("CONNECTOR_LISTEN_PROTOCOL_API_SSL_KEY", KEY_PEM),
    ]);
    assert!(
        matches!(&served, Ok(ListenProtocol::Api(api)) if api.tls.is_some()),
        "{served:?}"
    );
    let key_line = KEY_PEM.lines().nth(2).unwrap();
    assert!(
        !format!("{served:?}").contains(key_line),
        "the key is not in Debug"
    );
    // pycti reads the certificate only when it serves HTTP.
    assert_eq!(
        check(&[("CONNECTOR_LISTEN_PROTOCOL_API_SSL", "true")]),
        Ok(ListenProtocol::Amqp)
    );
    let unknown = check(&[("CONNECTOR_LISTEN_PROTOCOL", "SMTP")]).unwrap_err();
    assert!(unknown.contains("CONNECTOR_LISTEN_PROTOCOL"), "{unknown}");
    let path = check(&[
        ("CONNECTOR_LISTEN_PROTOCOL", "API"),
        ("CONNECTOR_LISTEN_PROTOCOL_API_PATH", "callback"),
    ])
    .unwrap_err();
    assert!(
        path.contains("CONNECTOR_LISTEN_PROTOCOL_API_PATH"),
        "{path}"
    );
}

/// Posts a job to an enricher whose gate is opened only when `finish`
/// says so, stops the connector while the job waits, and returns the
/// answer to the job's call.
async fn stop_during_a_job(finish: bool) -> u16 {
    tls::install_crypto_provider();
    let sim = platform("7.261026.0").await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut env = api_env();
    env.push(("CONNECTOR_STOP_GRACE_PERIOD", "PT2S".to_owned()));
    let (config, settings) = runtime(&sim, &id, &env);
    let shutdown = CancellationToken::new();
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut enricher = AsEnricher::default();
    enricher.gate = Some(std::sync::Arc::clone(&gate));
    let runner = ListenRunner::new(Enrichment::new(enricher, None), config)
        .with_listen_protocol(listen_protocol(&settings).unwrap());
    let task = tokio::spawn(runner.run(shutdown.clone()));
    sim.wait_until("the connector to register", TIMEOUT, |sim| {
        sim.connector(&id).is_some()
    })
    .await
    .unwrap();
    let callback = sim.connector(&id).unwrap().listen_callback_uri.unwrap();
    let ip = ipv4("192.0.2.60", None);
    sim.inject_event(EventInjection::new(EventKind::Create, ip.clone()))
        .unwrap();
    let job = json!({
        "internal": {"work_id": null, "applicant_id": null},
        "event": {
            "event_type": "INTERNAL_ENRICHMENT",
            "entity_id": ip["id"],
            "entity_type": "IPv4-Addr",
            "stix_entity": ip.to_string(),
            "stix_objects": json!([ip]).to_string(),
        },
    });
    let jwt = platform_jwt(&sim).await;
    let posted =
        tokio::spawn(
            async move { post(&callback, Some(&jwt), job.to_string().into_bytes()).await },
        );
    sim.wait_until("the entity to be read for the job", TIMEOUT, |sim| {
        sim.graphql_calls()
            .iter()
            .any(|call| call.operation.as_deref() == Some("StixCoreObject"))
    })
    .await
    .unwrap();
    shutdown.cancel();
    if finish {
        gate.notify_one();
    }
    let (status, _) = tokio::time::timeout(TIMEOUT, posted)
        .await
        .expect("answered")
        .unwrap();
    tokio::time::timeout(TIMEOUT, task)
        .await
        .expect("the runner stops")
        .unwrap()
        .expect("a clean stop");
    sim.shutdown().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_the_stop_interrupts_is_answered_503_for_the_platform_to_send_again() {
    assert_eq!(stop_during_a_job(false).await, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_ends_within_the_stop_grace_is_answered_202() {
    assert_eq!(stop_during_a_job(true).await, 202);
}
