//! The GraphQL documents and the typed client against a faked platform.

use apollo_compiler::{ExecutableDocument, Schema};
use opencti_connector::api::{
    ApiClient, ApiError, ConnectorInfo, Generation, RegisterInput, RetryPolicy, documents,
};
use opencti_connector::config::{ConnectorType, PlatformTls, Secret};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SCHEMA: &str = include_str!("../../opencti-sim/schema/opencti-connector-schema.graphql");

#[test]
fn every_document_validates_against_the_platform_schema() {
    let schema = Schema::parse_and_validate(SCHEMA, "opencti-connector-schema.graphql")
        .expect("schema is valid");
    for (name, document) in documents::ALL {
        if let Err(errors) = ExecutableDocument::parse_and_validate(&schema, *document, *name) {
            panic!("{name} does not validate:\n{errors}");
        }
    }
}

pub(crate) fn client_for(server: &MockServer) -> ApiClient {
    ApiClient::build(
        &server.uri().parse().unwrap(),
        &Secret::new("secret-token-1234"),
        &[("x-extra".to_owned(), "yes".to_owned())],
        &PlatformTls::Verify,
        RetryPolicy::none(),
    )
    .unwrap()
}

fn operation(request: &Request) -> String {
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let query = body["query"].as_str().unwrap();
    query
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .nth(1)
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn health_check_detects_the_generation_and_sends_the_matching_texts() {
    for (version, generation) in [("6.8.10", Generation::V6), ("7.261026.0", Generation::V7)] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(header("authorization", "Bearer secret-token-1234"))
            .and(header("x-extra", "yes"))
            .and(body_partial_json(
                json!({ "query": documents::HEALTH_CHECK }),
            ))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "data": { "about": { "version": version } } })),
            )
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(body_partial_json(
                json!({ "variables": { "connectorId": "c1" } }),
            ))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "data": { "workAdd": { "id": "work_1" } } })),
            )
            .mount(&server)
            .await;
        let client = client_for(&server);
        let found = client.health_check().await.unwrap();
        assert_eq!(found.version, version);
        assert_eq!(client.generation(), generation);
        assert_eq!(client.work_add("c1", "run").await.unwrap(), "work_1");
        let requests = server.received_requests().await.unwrap();
        let work_add: Value = serde_json::from_slice(&requests[1].body).unwrap();
        let expected = match generation {
            Generation::V6 => documents::WORK_ADD_V6,
            _ => documents::WORK_ADD_V7,
        };
        assert_eq!(work_add["query"], expected);
        assert!(work_add.get("operationName").is_none());
        assert_eq!(
            work_add["variables"].get("isMultiPartWork").is_some(),
            generation == Generation::V7
        );
    }
}

#[tokio::test]
async fn registration_input_differs_by_generation() {
    let server = MockServer::start().await;
    let registration = json!({ "data": { "registerConnector": {
        "id": "c1", "connector_state": "{\"last_run\": 1}", "jwks": null,
        "config": {
            "connection": { "host": "127.0.0.1", "vhost": "/", "use_ssl": false, "port": 5672, "user": "guest", "pass": "guest" },
            "listen": "listen_c1", "listen_routing": "listen_routing_c1", "listen_exchange": "amqp.connector.exchange",
            "push": "push_c1", "push_routing": "push_routing_c1", "push_exchange": "amqp.worker.exchange"
        },
        "connector_user_id": "user-1"
    } } });
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(registration))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let mut input = RegisterInput::new("c1", "Test", ConnectorType::ExternalImport);
    input.scope = vec!["not-applicable".to_owned()];
    input.version = Some("0.1.0".to_owned());
    for generation in [Generation::V6, Generation::V7] {
        client.set_generation(generation);
        let registered = client.register(&input).await.unwrap();
        assert_eq!(registered.config.push_exchange, "amqp.worker.exchange");
        assert_eq!(registered.connector_user_id.as_deref(), Some("user-1"));
        assert_eq!(registered.config.connection.pass.expose(), "guest");
    }
    let requests = server.received_requests().await.unwrap();
    let v6: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let v7: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(v6["query"], documents::REGISTER_CONNECTOR_V6);
    assert_eq!(v7["query"], documents::REGISTER_CONNECTOR_V7);
    assert!(v6["variables"]["input"].get("version").is_none());
    assert_eq!(v7["variables"]["input"]["version"], "0.1.0");
    assert_eq!(v7["variables"]["input"]["slug"], Value::Null);
    assert_eq!(v6["variables"]["input"]["type"], "EXTERNAL_IMPORT");
    assert_eq!(v6["variables"]["input"]["listen_callback_uri"], Value::Null);
}

#[tokio::test]
async fn graphql_errors_are_surfaced_with_their_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "errors": [{ "message": "You are not allowed to do this.", "extensions": { "code": "FORBIDDEN_ACCESS" } }],
            "data": null
        })))
        .mount(&server)
        .await;
    let error = client_for(&server)
        .ping("c1", "null", &ConnectorInfo::default())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ApiError::GraphQl {
            operation: "PingConnector".to_owned(),
            name: "FORBIDDEN_ACCESS".to_owned(),
            message: "You are not allowed to do this.".to_owned(),
        }
    );
}

#[tokio::test]
async fn transport_failures_are_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "about": { "version": "6.8.10" } } })),
        )
        .mount(&server)
        .await;
    let retrying = client_for(&server).with_retry(RetryPolicy {
        retries: 3,
        first_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(20),
    });
    assert_eq!(retrying.health_check().await.unwrap().version, "6.8.10");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);

    let unreachable = ApiClient::build(
        &"http://127.0.0.1:9".parse().unwrap(),
        &Secret::new("t"),
        &[],
        &PlatformTls::Verify,
        RetryPolicy::none(),
    )
    .unwrap();
    assert!(matches!(
        unreachable.health_check().await,
        Err(ApiError::Transport { .. })
    ));
}

#[tokio::test]
async fn the_token_never_shows_in_debug_output() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    let shown = format!("{client:?}");
    assert!(!shown.contains("secret-token-1234"), "{shown}");
    assert!(!format!("{:?}", Secret::new("secret-token-1234")).contains("secret"));
}

#[tokio::test]
async fn queue_details_and_generic_queries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|request: &Request| {
            let data = match operation(request).as_str() {
                "GetConnector" => json!({ "connector": { "id": "c1", "connector_queue_details": { "messages_number": 3, "messages_size": 2500000 } } }),
                _ => json!({ "stixCoreObjects": { "edges": [] } }),
            };
            ResponseTemplate::new(200).set_body_json(json!({ "data": data }))
        })
        .mount(&server)
        .await;
    let client = client_for(&server);
    let details = client.queue_details("c1").await.unwrap();
    assert_eq!(details.size_mb(), 2.5);
    let found: Value = client
        .query("query Lookup($name: String) { stixCoreObjects(search: $name) { edges { node { id } } } }", json!({ "name": "APT28" }))
        .await
        .unwrap();
    assert_eq!(found, json!({ "stixCoreObjects": { "edges": [] } }));
}

#[tokio::test(start_paused = true)]
async fn a_platform_that_never_answers_a_call_fails_it_within_a_minute() {
    let server = crate::stream_server::ScriptedServer::start(Vec::new()).await;
    server.stall("PingConnector");
    let client = ApiClient::build(
        &server.url().parse().unwrap(),
        &Secret::new("token"),
        &[],
        &PlatformTls::Verify,
        RetryPolicy::none(),
    )
    .unwrap();
    let started = tokio::time::Instant::now();
    let info = ConnectorInfo::default();
    let ping = client.ping("c", "null", &info);
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(3600), ping)
        .await
        .expect("the call gave up");
    assert!(
        matches!(outcome, Err(ApiError::Transport { .. })),
        "{outcome:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(60) && waited < std::time::Duration::from_secs(61),
        "{waited:?}"
    );
}
