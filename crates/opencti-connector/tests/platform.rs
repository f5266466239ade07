//! A faked OpenCTI platform (wiremock) answering the operations the runtime
//! sends, recording what it received.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opencti_connector::api::{ApiClient, RetryPolicy};
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{PlatformTls, RuntimeConfig, Secret, Settings};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// One received operation.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) operation: String,
    pub(crate) variables: Value,
}

/// A file received through a multipart upload.
#[derive(Debug, Clone)]
pub(crate) struct UploadedFile {
    pub(crate) file_name: String,
    pub(crate) mime_type: String,
    pub(crate) content: Vec<u8>,
}

#[derive(Debug, Default)]
struct Shared {
    calls: Vec<Call>,
    uploads: Vec<UploadedFile>,
    stored_state: Option<String>,
    /// Answers of `GetConnector`, in order; the last one repeats.
    queue_sizes: Vec<f64>,
    queue_checks: usize,
    /// Requests are recorded and left unanswered, as by a platform that
    /// hangs.
    stalled: bool,
    /// Health checks answered 503 before the platform is up.
    health_checks_refused: usize,
}

pub(crate) struct FakePlatform {
    pub(crate) server: MockServer,
    shared: Arc<Mutex<Shared>>,
}

pub(crate) struct BrokerTarget {
    pub(crate) port: u16,
    pub(crate) exchange: String,
    pub(crate) routing_key: String,
}

/// Splits a `multipart/form-data` body into (headers, content) parts.
fn multipart_parts(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type.split_once("boundary=").unwrap().1;
    let delimiter = format!("--{boundary}");
    let text = body.to_vec();
    let mut parts = Vec::new();
    let mut rest = &text[..];
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let rest_of_part = &rest[2..];
        let headers_end = find(rest_of_part, b"\r\n\r\n").unwrap();
        let end = find(rest_of_part, format!("\r\n{delimiter}").as_bytes()).unwrap();
        parts.push((
            String::from_utf8(rest_of_part[..headers_end].to_vec()).unwrap(),
            rest_of_part[headers_end + 4..end].to_vec(),
        ));
        rest = &rest_of_part[end + 2..];
    }
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The GraphQL body of a request; for a multipart upload, its
/// `operations` field, with the file part recorded in `uploads`.
fn graphql_body(request: &Request, uploads: &mut Vec<UploadedFile>) -> Value {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("multipart/form-data") {
        return serde_json::from_slice(&request.body).unwrap();
    }
    let parts = multipart_parts(content_type, &request.body);
    let field = |name: &str| {
        parts
            .iter()
            .find(|(headers, _)| headers.contains(&format!("name=\"{name}\"")))
            .unwrap_or_else(|| panic!("no `{name}` part"))
    };
    let map: Value = serde_json::from_slice(&field("map").1).unwrap();
    assert_eq!(map, json!({ "0": ["variables.file"] }));
    let (headers, content) = field("0");
    let file_name = headers
        .split_once("filename=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .unwrap()
        .0
        .to_owned();
    let mime_type = headers
        .lines()
        .find_map(|line| line.strip_prefix("Content-Type: "))
        .unwrap()
        .to_owned();
    uploads.push(UploadedFile {
        file_name,
        mime_type,
        content: content.clone(),
    });
    serde_json::from_slice(&field("operations").1).unwrap()
}

fn operation_of(document: &str) -> String {
    document
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

impl FakePlatform {
    pub(crate) async fn start(
        version: &str,
        broker: BrokerTarget,
        stored_state: Option<&str>,
    ) -> Self {
        let server = MockServer::start().await;
        let shared = Arc::new(Mutex::new(Shared {
            stored_state: stored_state.map(str::to_owned),
            queue_sizes: vec![0.0],
            ..Shared::default()
        }));
        let recorder = Arc::clone(&shared);
        let version = version.to_owned();
        Mock::given(wiremock::matchers::method("POST"))
            .respond_with(move |request: &Request| {
                let mut shared = recorder.lock().unwrap();
                let body = graphql_body(request, &mut shared.uploads);
                let operation = operation_of(body["query"].as_str().unwrap());
                let variables = body["variables"].clone();
                shared.calls.push(Call {
                    operation: operation.clone(),
                    variables: variables.clone(),
                });
                if shared.stalled {
                    return ResponseTemplate::new(200).set_delay(Duration::from_secs(3600));
                }
                if operation == "healthCheck" && shared.health_checks_refused > 0 {
                    shared.health_checks_refused -= 1;
                    return ResponseTemplate::new(503).set_body_string("starting");
                }
                let data = match operation.as_str() {
                    "healthCheck" => json!({ "about": { "version": version } }),
                    "RegisterConnector" => json!({ "registerConnector": {
                        "id": variables["input"]["id"],
                        "connector_state": shared.stored_state,
                        "jwks": null,
                        "config": {
                            "connection": { "host": "127.0.0.1", "vhost": "/", "use_ssl": false, "port": broker.port, "user": "guest", "pass": "guest" },
                            "listen": "listen", "listen_routing": "listen_routing", "listen_exchange": "amqp.connector.exchange",
                            "push": "push", "push_routing": broker.routing_key, "push_exchange": broker.exchange
                        },
                        "connector_user_id": "user--applicant"
                    } }),
                    "PingConnector" => {
                        shared.stored_state = variables["state"].as_str().map(str::to_owned);
                        json!({ "pingConnector": { "id": variables["id"], "connector_state": shared.stored_state, "connector_info": variables["connectorInfo"] } })
                    }
                    "GetConnector" => {
                        let index = shared.queue_checks.min(shared.queue_sizes.len() - 1);
                        let size = shared.queue_sizes[index];
                        shared.queue_checks += 1;
                        json!({ "connector": { "id": variables["id"], "connector_queue_details": { "messages_number": 1, "messages_size": size } } })
                    }
                    "workAdd" => json!({ "workAdd": { "id": format!("work_{}", shared.calls.iter().filter(|call| call.operation == "workAdd").count()) } }),
                    "workToProcessed" => json!({ "workEdit": { "toProcessed": variables["id"] } }),
                    "addExpectations" => json!({ "workEdit": { "addExpectations": variables["id"] } }),
                    "StixBundlePush" => json!({ "stixBundlePush": true }),
                    "reportExpectation" => json!({ "workEdit": { "reportExpectation": variables["id"] } }),
                    "UploadPending" => json!({ "uploadPending": { "id": "import/pending/upload", "name": "upload" } }),
                    "draftWorkspaceAdd" => json!({ "draftWorkspaceAdd": { "id": "draft-1" } }),
                    "addDraftContext" => json!({ "workEdit": { "addDraftContext": variables["id"] } }),
                    other => panic!("unexpected operation {other}"),
                };
                ResponseTemplate::new(200).set_body_json(json!({ "data": data }))
            })
            .mount(&server)
            .await;
        Self { server, shared }
    }

    /// From now on, every request is left unanswered (and changes nothing).
    pub(crate) fn stall(&self) {
        self.shared.lock().unwrap().stalled = true;
    }

    /// The next `count` health checks are answered 503, as by a platform
    /// still starting.
    pub(crate) fn refuse_health_checks(&self, count: usize) {
        self.shared.lock().unwrap().health_checks_refused = count;
    }

    /// Sizes (bytes) `GetConnector` reports, in order; the last repeats.
    pub(crate) fn set_queue_sizes(&self, sizes: &[f64]) {
        self.shared.lock().unwrap().queue_sizes = sizes.to_vec();
    }

    pub(crate) fn calls(&self, operation: &str) -> Vec<Value> {
        self.shared
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|call| call.operation == operation)
            .map(|call| call.variables.clone())
            .collect()
    }

    pub(crate) fn operations(&self) -> Vec<String> {
        self.shared
            .lock()
            .unwrap()
            .calls
            .iter()
            .map(|call| call.operation.clone())
            .collect()
    }

    /// Files received through multipart uploads, in order.
    pub(crate) fn uploads(&self) -> Vec<UploadedFile> {
        self.shared.lock().unwrap().uploads.clone()
    }

    pub(crate) fn stored_state(&self) -> Option<String> {
        self.shared.lock().unwrap().stored_state.clone()
    }

    pub(crate) fn api(&self) -> ApiClient {
        ApiClient::build(
            &self.server.uri().parse().unwrap(),
            &Secret::new("token"),
            &[],
            &PlatformTls::Verify,
            RetryPolicy::none(),
        )
        .unwrap()
    }

    /// A runtime configuration pointing at this platform.
    pub(crate) fn runtime_config(&self, extra: &[(&str, &str)]) -> RuntimeConfig {
        let mut env = vec![
            ("OPENCTI_URL".to_owned(), self.server.uri()),
            ("OPENCTI_TOKEN".to_owned(), "token".to_owned()),
            ("CONNECTOR_ID".to_owned(), uuid::Uuid::new_v4().to_string()),
            ("CONNECTOR_NAME".to_owned(), "Test import".to_owned()),
        ];
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        RuntimeConfig::try_from(&Settings::from_env_pairs(RUNTIME_TABLES, env)).unwrap()
    }
}
