//! `CONNECTOR_LISTEN_PROTOCOL=API` end to end: the connector serves its job
//! endpoint on loopback, registers its URI, and `opencti-sim` forwards the
//! listen queue to it over HTTP as the platform's worker does.

use std::time::Duration;

use opencti_connector::config::Settings;
use opencti_connector::config::runtime::RUNTIME_TABLES;
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
    let (config, settings) = runtime(sim, id, &api_env());
    let protocol = listen_protocol(&settings).unwrap();
    assert!(matches!(protocol, ListenProtocol::Api(_)));
    let shutdown = CancellationToken::new();
    let runner = ListenRunner::new(Enrichment::new(AsEnricher::default(), None), config)
        .with_listen_protocol(protocol)
        .with_max_callback_body(MAX_BODY);
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

#[test]
fn https_and_bad_protocols_are_refused_naming_the_variable() {
    let tables: Vec<_> = RUNTIME_TABLES
        .iter()
        .copied()
        .chain([ENRICHMENT_VARS])
        .collect();
    let check = |pairs: &[(&str, &str)]| {
        let settings = Settings::from_env_pairs(&tables, pairs.iter().copied());
        listen_protocol(&settings).map_err(|errors| errors.to_string())
    };
    assert_eq!(check(&[]), Ok(ListenProtocol::Amqp));
    let ssl = check(&[
        ("CONNECTOR_LISTEN_PROTOCOL", "API"),
        ("CONNECTOR_LISTEN_PROTOCOL_API_SSL", "true"),
    ])
    .unwrap_err();
    assert!(ssl.contains("CONNECTOR_LISTEN_PROTOCOL_API_SSL"), "{ssl}");
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
