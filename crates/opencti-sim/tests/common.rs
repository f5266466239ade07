//! Helpers shared by the integration tests: a GraphQL client speaking like
//! pycti (uploads included), an AMQP publisher producing pycti's envelopes,
//! a listen-queue reader, and an SSE reader.

use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt as _;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use opencti_sim::{Sim, SimConfig, SimHandle};
use serde_json::{Value, json};

pub(crate) const TOKEN: &str = "test-token";
/// Every wait in these tests is bounded by this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(20);

/// The python of the venv made by `scripts/setup-pycti-venv.sh` (pycti and
/// PyJWT installed). `None` lets a developer run `cargo test` without it; in
/// CI its absence fails the test, so these checks cannot silently vanish.
pub(crate) fn pycti_python() -> Option<String> {
    match std::env::var("OPENCTI_SIM_PYTHON") {
        Ok(path) if !path.is_empty() => Some(path),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "OPENCTI_SIM_PYTHON must point at a python with pycti in CI (scripts/setup-pycti-venv.sh)"
            )
        }
        _ => None,
    }
}

pub(crate) async fn start() -> SimHandle {
    start_with(SimConfig::for_tests()).await
}

pub(crate) async fn start_with(config: SimConfig) -> SimHandle {
    tokio::time::timeout(TIMEOUT, Sim::start(config))
        .await
        .expect("simulator starts in time")
        .expect("simulator starts")
}

/// POSTs a document the way pycti does: no `operationName`, bearer token.
pub(crate) async fn graphql(sim: &SimHandle, query: &str, variables: Value) -> Value {
    graphql_with_token(sim, Some(TOKEN), query, variables).await
}

pub(crate) async fn graphql_with_token(
    sim: &SimHandle,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("{}/graphql", sim.url()))
        .header("User-Agent", "pycti/6.8.10")
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = tokio::time::timeout(TIMEOUT, request.send())
        .await
        .expect("GraphQL answers in time")
        .expect("GraphQL request");
    assert_eq!(
        response.status(),
        200,
        "the platform answers 200 even with errors"
    );
    response.json().await.expect("JSON body")
}

/// The data of a call that must succeed.
pub(crate) async fn graphql_ok(sim: &SimHandle, query: &str, variables: Value) -> Value {
    let response = graphql(sim, query, variables).await;
    assert!(
        response.get("errors").is_none(),
        "unexpected errors: {response}"
    );
    response["data"].clone()
}

pub(crate) async fn sim_api(sim: &SimHandle, path: &str) -> Value {
    reqwest::get(format!("{}/sim/api/{path}", sim.url()))
        .await
        .expect("inspection call")
        .json()
        .await
        .expect("JSON body")
}

/// Reads a connector's listen queue as pycti does (here without acks).
pub(crate) struct ListenQueue {
    connection: lapin::Connection,
    consumer: lapin::Consumer,
}

impl ListenQueue {
    pub(crate) async fn open(sim: &SimHandle, connector_id: &str) -> Self {
        let connection = lapin::Connection::connect(
            opencti_sim::DEFAULT_AMQP_URL,
            lapin::ConnectionProperties::default(),
        )
        .await
        .expect("broker");
        let channel = connection.create_channel().await.expect("channel");
        let consumer = channel
            .basic_consume(
                sim.queue_names(connector_id).listen.as_str().into(),
                "listen-test".into(),
                lapin::options::BasicConsumeOptions {
                    no_ack: true,
                    ..lapin::options::BasicConsumeOptions::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("consume");
        Self {
            connection,
            consumer,
        }
    }

    pub(crate) async fn next(&mut self) -> Value {
        let delivery = tokio::time::timeout(TIMEOUT, self.consumer.next())
            .await
            .expect("a listen message in time")
            .expect("stream open")
            .expect("delivery");
        serde_json::from_slice(&delivery.data).expect("JSON message")
    }

    pub(crate) async fn close(self) {
        self.connection
            .close(200, "done".into())
            .await
            .expect("close");
    }
}

/// Sends a GraphQL multipart upload as pycti and the UI do: `operations`,
/// `map`, and the file as part `0` bound to `variables.<file_variable>`.
pub(crate) async fn graphql_upload(
    sim: &SimHandle,
    query: &str,
    mut variables: Value,
    file_variable: &str,
    (name, mime, content): (&str, &str, &[u8]),
) -> Value {
    variables[file_variable] = Value::Null;
    let operations = json!({"query": query, "variables": variables});
    let map = json!({"0": [format!("variables.{file_variable}")]});
    let mut body = Vec::new();
    for (field, value) in [("operations", operations), ("map", map)] {
        body.extend_from_slice(
            format!(
                "--b0undary\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--b0undary\r\nContent-Disposition: form-data; name=\"0\"; filename=\"{name}\"\r\nContent-Type: {mime}\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(b"\r\n--b0undary--\r\n");
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", sim.url()))
        .bearer_auth(TOKEN)
        .header("Content-Type", "multipart/form-data; boundary=b0undary")
        .body(body)
        .send()
        .await
        .expect("upload");
    response.json().await.expect("JSON body")
}

pub(crate) const REGISTER_6_8: &str = r"
            mutation RegisterConnector($input: RegisterConnectorInput) {
                registerConnector(input: $input) {
                    id
                    connector_state
                    config {
                        connection {
                            host
                            vhost
                            use_ssl
                            port
                            user
                            pass
                        }
                        listen
                        listen_routing
                        listen_exchange
                        push
                        push_routing
                        push_exchange
                    }
                    connector_user_id
                }
            }
        ";

pub(crate) const PING: &str = r"
            mutation PingConnector($id: ID!, $state: String, $connectorInfo: ConnectorInfoInput ) {
                pingConnector(id: $id, state: $state, connectorInfo: $connectorInfo) {
                    id
                    connector_state
                    connector_info {
                        run_and_terminate
                        buffering
                        queue_threshold
                        queue_messages_size
                        next_run_datetime
                        last_run_datetime
                    }
                }
            }
           ";

pub(crate) const WORK_ADD_6_8: &str = r"
                mutation workAdd($connectorId: String!, $friendlyName: String) {
                    workAdd(connectorId: $connectorId, friendlyName: $friendlyName) {
                      id
                    }
                }
               ";

pub(crate) const ADD_EXPECTATIONS: &str = r"
            mutation addExpectations($id: ID!, $expectations: Int) {
                workEdit(id: $id) {
                    addExpectations(expectations: $expectations)
                }
            }
           ";

pub(crate) const WORK_QUERY: &str = r"
            query WorkQuery($id: ID!) {
                work(id: $id) {
                    id
                    name
                    user {
                        name
                    }
                    timestamp
                    status
                    event_source_id
                    received_time
                    processed_time
                    completed_time
                    tracking {
                        import_expected_number
                        import_processed_number
                    }
                    messages {
                        timestamp
                        message
                        sequence
                        source
                    }
                    errors {
                        timestamp
                        message
                        sequence
                        source
                    }
                }
            }
            ";

pub(crate) const GET_CONNECTOR: &str = r"
            query GetConnector($id: String!) {
                connector(id: $id) {
                    id
                    name
                    active
                    auto
                    only_contextual
                    connector_type
                    connector_scope
                    connector_state
                    connector_queue_details {
                        messages_number
                        messages_size
                    }
                    updated_at
                    created_at
                    config {
                        listen
                        listen_exchange
                        push
                        push_exchange
                        push_routing
                    }
                    built_in
                }
            }
        ";

/// Registers an external-import connector with pycti 6.8's text and input.
pub(crate) async fn register(sim: &SimHandle, id: &str) -> Value {
    let data = graphql_ok(
        sim,
        REGISTER_6_8,
        json!({"input": {
            "id": id,
            "name": "Test connector",
            "type": "EXTERNAL_IMPORT",
            "scope": ["indicator", "identity"],
            "auto": false,
            "auto_update": false,
            "enrichment_resolution": "none",
            "only_contextual": false,
            "playbook_compatible": false,
            "listen_callback_uri": null,
        }}),
    )
    .await;
    data["registerConnector"].clone()
}

pub(crate) async fn work_add(sim: &SimHandle, connector_id: &str, name: &str) -> String {
    let data = graphql_ok(
        sim,
        WORK_ADD_6_8,
        json!({"connectorId": connector_id, "friendlyName": name}),
    )
    .await;
    data["workAdd"]["id"].as_str().expect("work id").to_owned()
}

/// Publishes pycti-identical envelopes (keys in pycti's order) to the push
/// exchange named by the registration config.
pub(crate) async fn publish_bundles(
    config: &Value,
    bundles: &[Value],
    work_id: Option<&str>,
    applicant_id: &str,
) {
    let messages: Vec<Value> = bundles
        .iter()
        .enumerate()
        .map(|(index, bundle)| {
            let mut message = json!({
                "bundle_type": "QUEUE_BUNDLE",
                "applicant_id": applicant_id,
                "action_sequence": index + 1,
                "entities_types": [],
                "content": base64::engine::general_purpose::STANDARD.encode(bundle.to_string()),
                "update": false,
                "draft_id": null,
            });
            if let Some(work_id) = work_id {
                message["work_id"] = json!(work_id);
            }
            message
        })
        .collect();
    publish_messages(config, &messages).await;
}

/// Publishes push messages as given, persistent and confirmed as pycti does.
pub(crate) async fn publish_messages(config: &Value, messages: &[Value]) {
    let connection = Connection::connect(
        opencti_sim::DEFAULT_AMQP_URL,
        ConnectionProperties::default(),
    )
    .await
    .expect("RabbitMQ at 127.0.0.1:5672");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let exchange = config["push_exchange"].as_str().expect("push_exchange");
    let routing = config["push_routing"].as_str().expect("push_routing");
    for message in messages {
        channel
            .basic_publish(
                exchange.into(),
                routing.into(),
                BasicPublishOptions::default(),
                message.to_string().as_bytes(),
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_encoding("utf-8".into()),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
    }
    connection.close(200, "done".into()).await.expect("close");
}

/// A small bundle: author, indicator, relationship to a malware.
pub(crate) fn sample_bundle() -> Value {
    json!({
        "type": "bundle",
        "id": "bundle--5b6a3a8c-6c1f-4b8e-9a11-0f6a2b7e1c01",
        "objects": [
            {
                "type": "relationship",
                "spec_version": "2.1",
                "id": "relationship--1d9f0d0e-1f4a-4c55-8d3e-7a1b2c3d4e5f",
                "relationship_type": "indicates",
                "source_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "target_ref": "malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5",
                "created_by_ref": "identity--3f8a2c1e-2b7d-4e5f-9a6b-1c2d3e4f5a6b"
            },
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "name": "1.2.3.4",
                "pattern": "[ipv4-addr:value = '1.2.3.4']",
                "pattern_type": "stix",
                "created_by_ref": "identity--3f8a2c1e-2b7d-4e5f-9a6b-1c2d3e4f5a6b"
            },
            {
                "type": "malware",
                "spec_version": "2.1",
                "id": "malware--0b0d2fd2-5bd2-4b49-8f2b-9df0f5fbc7d5",
                "name": "Evil",
                "is_family": true
            },
            {
                "type": "identity",
                "spec_version": "2.1",
                "id": "identity--3f8a2c1e-2b7d-4e5f-9a6b-1c2d3e4f5a6b",
                "name": "Author",
                "identity_class": "organization"
            }
        ]
    })
}

/// One SSE event as the client sees it.
#[derive(Debug, Clone)]
pub(crate) struct SseEvent {
    pub(crate) id: Option<String>,
    pub(crate) event: String,
    pub(crate) data: String,
}

/// Reads server-sent events from a streamed response.
pub(crate) struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: String::new(),
        }
    }

    pub(crate) async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: None,
                    event: "message".to_owned(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        event.id = Some(id.to_owned());
                    } else if let Some(name) = line.strip_prefix("event: ") {
                        name.clone_into(&mut event.event);
                    } else if let Some(data) = line.strip_prefix("data: ") {
                        event.data.push_str(data);
                    }
                }
                return event;
            }
            let chunk = tokio::time::timeout(TIMEOUT, self.response.chunk())
                .await
                .expect("stream event in time")
                .expect("stream chunk")
                .expect("stream still open");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8 stream"));
        }
    }

    /// The next event that is not a heartbeat.
    pub(crate) async fn next_data(&mut self) -> SseEvent {
        loop {
            let event = self.next().await;
            if event.event != "heartbeat" {
                return event;
            }
        }
    }
}

/// Opens `/stream/<collection>` as pycti does.
pub(crate) async fn open_stream(
    sim: &SimHandle,
    collection: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("{}/stream/{collection}", sim.url()))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("Accept", "text/event-stream")
        .header("Cache-Control", "no-cache");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    tokio::time::timeout(TIMEOUT, request.send())
        .await
        .expect("stream answers in time")
        .expect("stream request")
}
