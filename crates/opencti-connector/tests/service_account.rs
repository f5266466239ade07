//! `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT` end to end: a listening
//! connector against a 7.x `opencti-sim`, which keeps users, groups and
//! tokens and records which token authenticated each call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings};
use opencti_connector::http::testing::capture_logs;
use opencti_connector::listen::{Enrichment, ListenRunner};
use opencti_connector::stream::{Outcome, StreamEvent, StreamRunner, StreamSink};
use opencti_connector::tls;
use opencti_sim::{
    CONNECTORS_GROUP, EventInjection, EventKind, GraphqlCall, Sim, SimConfig, SimHandle,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::listen::{AsEnricher, Running, TIMEOUT, ipv4, processed, runtime};

const ADMIN_TOKEN: &str = "admin-token-of-the-test";
/// pycti's e-mail for a connector named "listen test".
const EMAIL: &str = "listen-test@connector.octi.filigran.io";
const TOKEN_NAME: &str = "Connector auto generated token";
/// Calls a listening connector makes for a job, besides the work's.
const JOB_CALLS: &[&str] = &["PingConnector", "StixCoreObject"];

async fn platform_7x() -> SimHandle {
    let config = SimConfig {
        token: Some(opencti_sim::Secret::new(ADMIN_TOKEN)),
        platform_version: "7.261026.0".to_owned(),
        ..SimConfig::for_tests()
    };
    Sim::start(config).await.unwrap()
}

fn service_account_env(confidence: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OPENCTI_TOKEN", ADMIN_TOKEN.to_owned()),
        ("CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT", "true".to_owned()),
        (
            "CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT_CONFIDENCE_LEVEL",
            confidence.to_owned(),
        ),
    ]
}

/// Sends `query` to the simulator with `token`, returns the answer.
async fn graphql_as(sim: &SimHandle, token: &str, query: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/graphql", sim.url()))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn user_of(call: &GraphqlCall) -> Option<&str> {
    call.user_id.as_deref()
}

/// Every call of the connector from the registration on was made with
/// the service account's token, every call before with the admin's (the
/// test's own `Me` probes left out).
fn assert_runs_as(sim: &SimHandle, user_id: &str, expected: &[&str]) {
    let calls: Vec<GraphqlCall> = sim
        .graphql_calls()
        .into_iter()
        .filter(|call| call.operation.as_deref() != Some("Me"))
        .collect();
    let registration = calls
        .iter()
        .position(|call| call.operation.as_deref() == Some("RegisterConnector"))
        .expect("a registration");
    let (before, after) = calls.split_at(registration);
    assert!(
        before.iter().all(|call| user_of(call).is_none()),
        "{before:?}"
    );
    assert!(
        after.iter().all(|call| user_of(call) == Some(user_id)),
        "{after:?}"
    );
    for operation in expected {
        assert!(
            after
                .iter()
                .any(|call| call.operation.as_deref() == Some(*operation)),
            "no {operation} in {after:?}"
        );
    }
}

/// One enrichment through the connector: works, reads and bundles all go
/// through with the token in use.
async fn enrich_once(sim: &SimHandle, connector_id: &str) {
    let ip = ipv4("192.0.2.30", None);
    sim.inject_event(EventInjection::new(EventKind::Create, ip.clone()))
        .unwrap();
    let work = sim
        .ask_enrichment(ip["id"].as_str().unwrap(), connector_id)
        .await
        .unwrap()
        .expect("a work");
    let work = processed(sim, &work).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_service_account_is_created_and_its_token_used_for_everything_after() {
    tls::install_crypto_provider();
    let sim = platform_7x().await;
    let id = uuid::Uuid::new_v4().to_string();
    let (config, _) = runtime(&sim, &id, &service_account_env("70"));
    let running = Running::start(
        &sim,
        &id,
        Enrichment::new(AsEnricher::default(), None),
        config,
    )
    .await;
    enrich_once(&sim, &id).await;

    let user = sim.user_by_email(EMAIL).expect("the service account");
    assert_eq!(user.name, "[C] listen test");
    assert!(user.service_account);
    assert_eq!(user.max_confidence, Some(70));
    let connectors: Vec<String> = sim
        .groups()
        .into_iter()
        .filter(|group| group.name == CONNECTORS_GROUP)
        .map(|group| group.id)
        .collect();
    assert_eq!(user.groups, connectors);
    let names: Vec<&str> = user.api_tokens.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, [TOKEN_NAME]);
    assert_runs_as(&sim, &user.id, JOB_CALLS);
    let created = sim
        .graphql_calls()
        .into_iter()
        .filter_map(|call| call.operation)
        .take_while(|operation| operation != "RegisterConnector")
        .collect::<Vec<_>>();
    assert_eq!(
        created,
        [
            "healthCheck",
            "Groups",
            "UserList",
            "UserAdd",
            "userAdminTokenAdd"
        ]
    );
    running.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_service_account_is_reused_and_its_old_token_revoked() {
    tls::install_crypto_provider();
    let sim = platform_7x().await;
    let (existing, old_token) = sim.add_user("[C] listen test", EMAIL, TOKEN_NAME).unwrap();
    let me = "query Me { me { id } }";
    assert!(
        graphql_as(&sim, &old_token, me).await["errors"].is_null(),
        "the old token works before the start"
    );
    let id = uuid::Uuid::new_v4().to_string();
    let (config, _) = runtime(&sim, &id, &service_account_env("50"));
    let running = Running::start(
        &sim,
        &id,
        Enrichment::new(AsEnricher::default(), None),
        config,
    )
    .await;
    enrich_once(&sim, &id).await;

    assert_eq!(sim.users().len(), 1, "no second account");
    let user = sim.user_by_email(EMAIL).unwrap();
    assert_eq!(user.id, existing.id);
    assert_eq!(user.api_tokens.len(), 1);
    assert_eq!(user.api_tokens[0].name, TOKEN_NAME);
    assert_ne!(user.api_tokens[0].id, existing.api_tokens[0].id);
    let refused = graphql_as(&sim, &old_token, me).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "AUTH_REQUIRED");
    assert_runs_as(&sim, &user.id, JOB_CALLS);
    running.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_without_the_connectors_group_stops_the_start_naming_it() {
    tls::install_crypto_provider();
    let sim = platform_7x().await;
    assert!(sim.remove_group(CONNECTORS_GROUP));
    let id = uuid::Uuid::new_v4().to_string();
    let (config, _) = runtime(&sim, &id, &service_account_env("50"));
    let runner = ListenRunner::new(Enrichment::new(AsEnricher::default(), None), config);
    let error = tokio::time::timeout(TIMEOUT, runner.run(CancellationToken::new()))
        .await
        .expect("the start ends")
        .expect_err("no group, no start");
    let message = error.to_string();
    assert!(
        message.contains("CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT")
            && message.contains("\"Connectors\""),
        "{message}"
    );
    assert!(sim.connector(&id).is_none(), "not registered");
    assert!(sim.users().is_empty());
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_6x_platform_is_refused_before_anything_is_created() {
    tls::install_crypto_provider();
    let config = SimConfig {
        token: Some(opencti_sim::Secret::new(ADMIN_TOKEN)),
        ..SimConfig::for_tests()
    };
    let sim = Sim::start(config).await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let (config, _) = runtime(&sim, &id, &service_account_env("50"));
    let runner = ListenRunner::new(Enrichment::new(AsEnricher::default(), None), config);
    let error = tokio::time::timeout(TIMEOUT, runner.run(CancellationToken::new()))
        .await
        .expect("the start ends")
        .expect_err("6.x has no service accounts");
    assert!(error.to_string().contains("7.x"), "{error}");
    assert!(sim.users().is_empty() && sim.connector(&id).is_none());
    sim.shutdown().await.unwrap();
}

/// Counts the events it handles.
#[derive(Default)]
struct CountingSink {
    handled: Arc<AtomicUsize>,
}

test_sink_identity!(CountingSink, CountingSink::default());

impl StreamSink for CountingSink {
    async fn handle(&mut self, _: &StreamEvent) -> Outcome {
        self.handled.fetch_add(1, Ordering::SeqCst);
        Outcome::Done
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_connector_reads_the_stream_as_its_service_account_and_never_logs_the_token() {
    tls::install_crypto_provider();
    let (logs, _capture) = capture_logs();
    let sim = platform_7x().await;
    sim.inject_event(EventInjection::new(
        EventKind::Create,
        ipv4("192.0.2.50", None),
    ))
    .unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let mut env = service_account_env("50");
    env.extend([
        ("OPENCTI_URL", sim.url()),
        ("CONNECTOR_ID", id.clone()),
        ("CONNECTOR_NAME", "listen test".to_owned()),
        ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
        ("CONNECTOR_LIVE_STREAM_START_TIMESTAMP", "0".to_owned()),
    ]);
    let config = RuntimeConfig::try_from(&Settings::from_env_pairs(RUNTIME_TABLES, env)).unwrap();
    let sink = CountingSink::default();
    let handled = Arc::clone(&sink.handled);
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(StreamRunner::new(sink, config).run(shutdown.clone()));
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while handled.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no event handled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(TIMEOUT, run)
        .await
        .expect("the runner stops")
        .unwrap()
        .unwrap();

    let user = sim.user_by_email(EMAIL).expect("the service account");
    let streams = sim.stream_connections();
    assert!(!streams.is_empty());
    assert!(
        streams
            .iter()
            .all(|stream| stream.user_id.as_deref() == Some(user.id.as_str())),
        "{streams:?}"
    );
    assert_runs_as(&sim, &user.id, &["PingConnector"]);
    let token = &user.api_tokens[0].plaintext;
    assert!(
        !logs.text().contains(token.as_str()),
        "the token in the logs"
    );
    sim.shutdown().await.unwrap();
}
