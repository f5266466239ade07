//! The typed GraphQL client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::documents;
use super::error::ApiError;
use super::types::{
    ConnectorInfo, Generation, PingReply, PlatformUser, PlatformVersion, QueueDetails,
    RegisterInput, Registration, StreamCollection, WorkError,
};
use crate::config::{OpenctiConfig, PlatformTls, Secret};
use crate::http::{ClientOptions, Network};

/// How transport failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub retries: usize,
    /// First delay (doubled each time, with jitter).
    pub first_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// No retry (fail fast: `--check`, tests).
    pub fn none() -> Self {
        Self {
            retries: 0,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(100),
        }
    }
}

impl Default for RetryPolicy {
    /// Six retries from 1 s up to 30 s: about a minute and a half, enough to
    /// ride out a platform restart.
    fn default() -> Self {
        Self {
            retries: 6,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// The platform's GraphQL API. Cheap to clone (shared connection pool).
///
/// The token is sent as a bearer header and never appears in `Debug`
/// output or logs.
#[derive(Clone)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Url,
    retry: RetryPolicy,
    generation: AtomicU8,
    /// Headers of this client only, over the shared connection pool's
    /// (impersonation and draft headers of a listen job).
    extra_headers: HeaderMap,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

/// The runtime's name in its user agent (`opencti-connector-rs/<version>`).
const USER_AGENT_NAME: &str = "opencti-connector-rs";

/// Longest wait for the answer to one platform call, retries apart, other
/// than a bundle push or a file upload (which carry data and keep the
/// client's 300 s): the platform answers these in well under a second, so
/// a minute of silence means it hangs, and the call is tried again or fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

impl ApiClient {
    /// A client for the platform at `config.url`, through the configured
    /// proxies and trusting the configured extra CAs.
    pub fn new(config: &OpenctiConfig) -> Result<Self, ApiError> {
        Self::with_network(
            &config.url,
            &config.token,
            &config.custom_headers,
            &config.tls,
            &config.network,
            RetryPolicy::default(),
        )
    }

    /// A client with explicit parts and a direct connection (tests, tools).
    pub fn build(
        base_url: &Url,
        token: &Secret,
        custom_headers: &[(String, String)],
        tls: &PlatformTls,
        retry: RetryPolicy,
    ) -> Result<Self, ApiError> {
        Self::with_network(
            base_url,
            token,
            custom_headers,
            tls,
            &Network::default(),
            retry,
        )
    }

    fn with_network(
        base_url: &Url,
        token: &Secret,
        custom_headers: &[(String, String)],
        tls: &PlatformTls,
        network: &Network,
        retry: RetryPolicy,
    ) -> Result<Self, ApiError> {
        let client_error = |reason: String| ApiError::Client { reason };
        let mut headers = HeaderMap::new();
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                client_error("the token contains characters not allowed in a header".to_owned())
            })?;
        bearer.set_sensitive(true);
        headers.insert(AUTHORIZATION, bearer);
        for (name, value) in custom_headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| client_error(format!("invalid header name `{name}`")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| client_error(format!("invalid value for header `{name}`")))?;
            headers.insert(name, value);
        }
        let http = ClientOptions::new(USER_AGENT_NAME, env!("CARGO_PKG_VERSION"))
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(30))
            .total_timeout(Duration::from_secs(300))
            .verification(tls.verification())
            .network(network.clone())
            .build()
            .map_err(|error| client_error(error.to_string()))?;
        let base = base_url.as_str().trim_end_matches('/');
        let endpoint = Url::parse(&format!("{base}/graphql"))
            .map_err(|error| client_error(format!("bad platform URL: {error}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                retry,
                generation: AtomicU8::new(0),
                extra_headers: HeaderMap::new(),
            }),
        })
    }

    /// Same client with another retry policy.
    pub fn with_retry(&self, retry: RetryPolicy) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                endpoint: self.inner.endpoint.clone(),
                retry,
                generation: AtomicU8::new(self.inner.generation.load(Ordering::Relaxed)),
                extra_headers: self.inner.extra_headers.clone(),
            }),
        }
    }

    /// Same client (and connection pool) sending these headers with every
    /// call besides its own: `opencti-applicant-id` to act as another
    /// user, `opencti-draft-id` to work in a draft. An empty value sends
    /// an empty header, a `None` value none (as pycti).
    pub fn with_job_headers(
        &self,
        applicant_id: Option<&str>,
        draft_id: Option<&str>,
    ) -> Result<Self, ApiError> {
        let mut extra_headers = self.inner.extra_headers.clone();
        for (name, value) in [
            ("opencti-applicant-id", applicant_id),
            ("opencti-draft-id", draft_id),
        ] {
            let name = HeaderName::from_static(name);
            match value {
                Some(value) => {
                    let value = HeaderValue::from_str(value).map_err(|_| ApiError::Client {
                        reason: format!("invalid value for header `{name}`"),
                    })?;
                    extra_headers.insert(name, value);
                }
                None => {
                    extra_headers.remove(name);
                }
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                endpoint: self.inner.endpoint.clone(),
                retry: self.inner.retry,
                generation: AtomicU8::new(self.inner.generation.load(Ordering::Relaxed)),
                extra_headers,
            }),
        })
    }

    /// Same client (and connection pool) authenticating with `token`
    /// instead of the configured one: the service account's token of
    /// `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT`. Clients derived from it
    /// (job headers, retry policy) keep it.
    pub fn with_token(&self, token: &Secret) -> Result<Self, ApiError> {
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                ApiError::Client {
                    reason: "the token contains characters not allowed in a header".to_owned(),
                }
            })?;
        bearer.set_sensitive(true);
        let mut extra_headers = self.inner.extra_headers.clone();
        extra_headers.insert(AUTHORIZATION, bearer);
        Ok(Self {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                endpoint: self.inner.endpoint.clone(),
                retry: self.inner.retry,
                generation: AtomicU8::new(self.inner.generation.load(Ordering::Relaxed)),
                extra_headers,
            }),
        })
    }

    /// The platform's base URL (the GraphQL endpoint without `/graphql`).
    pub fn base_url(&self) -> Url {
        let mut base = self.inner.endpoint.clone();
        let path = base.path().trim_end_matches("/graphql").to_owned();
        base.set_path(&path);
        base
    }

    /// Downloads a file of the platform's storage (`/storage/get/<id>`, or
    /// the `file_fetch` path of an import message) with this client's
    /// token and headers. Refuses a file over `max_bytes` (announced or
    /// received) and gives up after `timeout`.
    pub async fn download(
        &self,
        path: &str,
        max_bytes: u64,
        timeout: Duration,
    ) -> Result<Vec<u8>, ApiError> {
        let operation = "download";
        let base = self.base_url();
        let url = format!(
            "{}/{}",
            base.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        let url = Url::parse(&url).map_err(|error| ApiError::Client {
            reason: format!("bad file path `{path}`: {error}"),
        })?;
        let transport = |reason: String| ApiError::Transport {
            operation: operation.to_owned(),
            reason,
        };
        let fetch = async {
            let mut response = self
                .inner
                .http
                .get(url)
                .headers(self.inner.extra_headers.clone())
                .send()
                .await
                .map_err(|error| transport(describe(&error)))?;
            let status = response.status();
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                return Err(ApiError::Http {
                    operation: operation.to_owned(),
                    status: status.as_u16(),
                    body: body.chars().take(500).collect(),
                });
            }
            let too_large = || ApiError::Decode {
                operation: operation.to_owned(),
                reason: format!("the file `{path}` is larger than {max_bytes} bytes"),
            };
            if response
                .content_length()
                .is_some_and(|length| length > max_bytes)
            {
                return Err(too_large());
            }
            let mut content = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|error| transport(describe(&error)))?
            {
                if (content.len() + chunk.len()) as u64 > max_bytes {
                    return Err(too_large());
                }
                content.extend_from_slice(&chunk);
            }
            Ok(content)
        };
        tokio::time::timeout(timeout, fetch)
            .await
            .map_err(|_| transport(format!("no complete answer within {timeout:?}")))?
    }

    /// The GraphQL endpoint.
    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    /// The platform generation learned by [`ApiClient::health_check`]
    /// (6.x until then).
    pub fn generation(&self) -> Generation {
        match self.inner.generation.load(Ordering::Relaxed) {
            7 => Generation::V7,
            _ => Generation::V6,
        }
    }

    /// Forces the generation (tests, or when the version is known).
    pub fn set_generation(&self, generation: Generation) {
        let code = match generation {
            Generation::V6 => 6,
            Generation::V7 => 7,
        };
        self.inner.generation.store(code, Ordering::Relaxed);
    }

    /// Sends `document` with `variables` and returns its `data`, decoded.
    ///
    /// Transport failures (and 502/503/504 answers) are retried with
    /// exponential backoff; GraphQL errors are returned with their message.
    pub async fn query<T: DeserializeOwned>(
        &self,
        document: &str,
        variables: Value,
    ) -> Result<T, ApiError> {
        let operation = operation_name(document);
        let body = json!({ "query": document, "variables": variables });
        let carries_data = document == documents::STIX_BUNDLE_PUSH;
        let data = self
            .with_retries(&operation, || {
                let request = self
                    .inner
                    .http
                    .post(self.inner.endpoint.clone())
                    .headers(self.inner.extra_headers.clone())
                    .json(&body);
                if carries_data {
                    request
                } else {
                    request.timeout(CALL_TIMEOUT)
                }
            })
            .await?;
        serde_json::from_value(data).map_err(|error| ApiError::Decode {
            operation: operation.clone(),
            reason: error.to_string(),
        })
    }

    /// Sends `document` as a GraphQL multipart upload (the
    /// graphql-multipart-request-spec layout): the `file` variable is
    /// `null` in `operations` and `map` points it at the form part holding
    /// `upload`.
    async fn upload(
        &self,
        document: &str,
        mut variables: Value,
        upload: &Upload<'_>,
    ) -> Result<Value, ApiError> {
        let operation = operation_name(document);
        if let Some(variables) = variables.as_object_mut() {
            variables.insert("file".to_owned(), Value::Null);
        }
        let operations = json!({ "query": document, "variables": variables });
        let (content_type, body) = multipart_body(&operations, upload);
        self.with_retries(&operation, || {
            self.inner
                .http
                .post(self.inner.endpoint.clone())
                .headers(self.inner.extra_headers.clone())
                .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                .body(body.clone())
        })
        .await
    }

    /// Sends the request `build` makes, retrying transport failures, and
    /// returns the answer's `data`.
    async fn with_retries(
        &self,
        operation: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, ApiError> {
        let policy = self.inner.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.first_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.retries)
            .with_jitter();
        (|| self.send_once(operation, build()))
            .retry(backoff)
            .when(|error| matches!(error, ApiError::Transport { .. }))
            .notify(|error, delay| {
                tracing::warn!(
                    attributes.operation = %operation,
                    attributes.retry_in_ms = delay.as_millis() as u64,
                    "platform call failed, retrying: {error}"
                );
            })
            .await
    }

    async fn send_once(
        &self,
        operation: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, ApiError> {
        let transport = |reason: String| ApiError::Transport {
            operation: operation.to_owned(),
            reason,
        };
        let response = request
            .send()
            .await
            .map_err(|error| transport(describe(&error)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| transport(describe(&error)))?;
        if matches!(
            status,
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
        ) {
            return Err(transport(format!("HTTP {status}")));
        }
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if let Some(error) = parsed
            .as_ref()
            .and_then(|reply| reply.get("errors"))
            .and_then(|errors| errors.get(0))
        {
            return Err(graphql_error(operation, error));
        }
        if !status.is_success() {
            return Err(ApiError::Http {
                operation: operation.to_owned(),
                status: status.as_u16(),
                body: text.chars().take(500).collect(),
            });
        }
        parsed
            .and_then(|mut reply| reply.get_mut("data").map(Value::take))
            .ok_or_else(|| ApiError::Decode {
                operation: operation.to_owned(),
                reason: "no `data` in the answer".to_owned(),
            })
    }

    /// `about.version`; also records the platform generation.
    pub async fn health_check(&self) -> Result<PlatformVersion, ApiError> {
        let data: Value = self.query(documents::HEALTH_CHECK, json!({})).await?;
        let version = data
            .pointer("/about/version")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::Decode {
                operation: "healthCheck".to_owned(),
                reason: "no about.version".to_owned(),
            })?
            .to_owned();
        let generation = Generation::from_version(&version);
        self.set_generation(generation);
        Ok(PlatformVersion {
            version,
            generation,
        })
    }

    /// The id of the group named `name`, if the platform has one.
    pub async fn group_id_by_name(&self, name: &str) -> Result<Option<String>, ApiError> {
        let variables = json!({ "first": 1, "filters": equality_filter("name", name) });
        let data: Value = self.query(documents::GROUPS_BY_NAME, variables).await?;
        Ok(first_node(&data, "groups")
            .and_then(|node| node.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// The user whose e-mail is `email`, with its tokens, if any.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<PlatformUser>, ApiError> {
        let variables = json!({ "first": 1, "filters": equality_filter("user_email", email) });
        let data: Value = self.query(documents::USERS_BY_EMAIL, variables).await?;
        first_node(&data, "users")
            .map(|node| {
                serde_json::from_value(node.clone()).map_err(|error| ApiError::Decode {
                    operation: "UserList".to_owned(),
                    reason: error.to_string(),
                })
            })
            .transpose()
    }

    /// Creates a user (`userAdd`) from the platform's `UserAddInput`.
    pub async fn user_add(&self, input: Value) -> Result<PlatformUser, ApiError> {
        let data: Field<PlatformUser> = self
            .query_field(documents::USER_ADD, json!({ "input": input }), "userAdd")
            .await?;
        Ok(data.0)
    }

    /// Revokes the token `token_id` of user `user_id`.
    pub async fn user_admin_token_revoke(
        &self,
        user_id: &str,
        token_id: &str,
    ) -> Result<(), ApiError> {
        let variables = json!({ "userId": user_id, "id": token_id });
        let _: Value = self
            .query(documents::USER_ADMIN_TOKEN_REVOKE, variables)
            .await?;
        Ok(())
    }

    /// Creates a token named `name` that never expires for user `user_id`
    /// and returns its plaintext.
    pub async fn user_admin_token_add(
        &self,
        user_id: &str,
        name: &str,
    ) -> Result<Secret, ApiError> {
        let variables = json!({
            "userId": user_id,
            "input": { "name": name, "duration": "UNLIMITED" },
        });
        let data: Value = self
            .query(documents::USER_ADMIN_TOKEN_ADD, variables)
            .await?;
        data.pointer("/userAdminTokenAdd/plaintext_token")
            .and_then(Value::as_str)
            .filter(|token| !token.is_empty())
            .map(Secret::new)
            .ok_or_else(|| ApiError::Decode {
                operation: "userAdminTokenAdd".to_owned(),
                reason: "no plaintext_token in the answer".to_owned(),
            })
    }

    /// Registers (or updates) the connector.
    pub async fn register(&self, input: &RegisterInput) -> Result<Registration, ApiError> {
        let generation = self.generation();
        let document = match generation {
            Generation::V6 => documents::REGISTER_CONNECTOR_V6,
            Generation::V7 => documents::REGISTER_CONNECTOR_V7,
        };
        let data: Field<Registration> = self
            .query_field(
                document,
                input.to_variables(generation),
                "registerConnector",
            )
            .await?;
        Ok(data.0)
    }

    /// Pings with the state (raw JSON text or `"null"`) and connector info.
    pub async fn ping(
        &self,
        connector_id: &str,
        state: &str,
        info: &ConnectorInfo,
    ) -> Result<PingReply, ApiError> {
        let variables = json!({ "id": connector_id, "state": state, "connectorInfo": info });
        let reply: Field<PingReply> = self
            .query_field(documents::PING_CONNECTOR, variables, "pingConnector")
            .await?;
        Ok(reply.0)
    }

    /// The size of the connector's queues on the platform.
    pub async fn queue_details(&self, connector_id: &str) -> Result<QueueDetails, ApiError> {
        let data: Value = self
            .query(documents::GET_CONNECTOR, json!({ "id": connector_id }))
            .await?;
        let details = data
            .pointer("/connector/connector_queue_details")
            .cloned()
            .ok_or_else(|| ApiError::Decode {
                operation: "GetConnector".to_owned(),
                reason: format!("connector {connector_id} not found"),
            })?;
        serde_json::from_value(details).map_err(|error| ApiError::Decode {
            operation: "GetConnector".to_owned(),
            reason: error.to_string(),
        })
    }

    /// Creates a work and returns its id.
    pub async fn work_add(
        &self,
        connector_id: &str,
        friendly_name: &str,
    ) -> Result<String, ApiError> {
        let (document, variables) = match self.generation() {
            Generation::V6 => (
                documents::WORK_ADD_V6,
                json!({ "connectorId": connector_id, "friendlyName": friendly_name }),
            ),
            Generation::V7 => (
                documents::WORK_ADD_V7,
                json!({
                    "connectorId": connector_id,
                    "friendlyName": friendly_name,
                    "isMultiPartWork": false,
                }),
            ),
        };
        let data: Value = self.query(document, variables).await?;
        data.pointer("/workAdd/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Decode {
                operation: "workAdd".to_owned(),
                reason: "no workAdd.id".to_owned(),
            })
    }

    /// Marks a work received.
    pub async fn work_to_received(&self, work_id: &str, message: &str) -> Result<(), ApiError> {
        let _: Value = self
            .query(
                documents::WORK_TO_RECEIVED,
                json!({ "id": work_id, "message": message }),
            )
            .await?;
        Ok(())
    }

    /// Marks a work processed.
    pub async fn work_to_processed(
        &self,
        work_id: &str,
        message: &str,
        in_error: bool,
    ) -> Result<(), ApiError> {
        let variables = json!({ "id": work_id, "message": message, "inError": in_error });
        let _: Value = self.query(documents::WORK_TO_PROCESSED, variables).await?;
        Ok(())
    }

    /// Keeps a work alive.
    pub async fn work_ping(&self, work_id: &str) -> Result<(), ApiError> {
        let _: Value = self
            .query(documents::WORK_PING, json!({ "id": work_id }))
            .await?;
        Ok(())
    }

    /// Announces `expectations` more elements on a work.
    pub async fn add_expectations(&self, work_id: &str, expectations: u64) -> Result<(), ApiError> {
        let variables = json!({ "id": work_id, "expectations": expectations });
        let _: Value = self.query(documents::ADD_EXPECTATIONS, variables).await?;
        Ok(())
    }

    /// Reports one element of a work, successful (`None`) or failed.
    pub async fn report_expectation(
        &self,
        work_id: &str,
        error: Option<&WorkError>,
    ) -> Result<(), ApiError> {
        let variables = json!({ "id": work_id, "error": error });
        let _: Value = self.query(documents::REPORT_EXPECTATION, variables).await?;
        Ok(())
    }

    /// Sends a whole bundle with `stixBundlePush`.
    pub async fn stix_bundle_push(
        &self,
        connector_id: &str,
        bundle: &str,
        work_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let variables =
            json!({ "connectorId": connector_id, "bundle": bundle, "work_id": work_id });
        let _: Value = self.query(documents::STIX_BUNDLE_PUSH, variables).await?;
        Ok(())
    }

    /// Uploads `content` as a pending file named `file_name`
    /// (`application/json`) for validation in the workbench; returns the
    /// file id.
    pub async fn upload_pending(
        &self,
        file_name: &str,
        content: &[u8],
        entity_id: Option<&str>,
        file_markings: &[String],
    ) -> Result<String, ApiError> {
        let markings = (!file_markings.is_empty()).then_some(file_markings);
        let variables = json!({ "entityId": entity_id, "file_markings": markings });
        let upload = Upload {
            file_name,
            mime_type: "application/json",
            content,
        };
        let data = self
            .upload(documents::UPLOAD_PENDING, variables, &upload)
            .await?;
        data.pointer("/uploadPending/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Decode {
                operation: "UploadPending".to_owned(),
                reason: format!("no uploadPending.id for the file {file_name}"),
            })
    }

    /// Creates a draft workspace named `name` and returns its id.
    pub async fn draft_workspace_add(
        &self,
        name: &str,
        entity_id: Option<&str>,
    ) -> Result<String, ApiError> {
        let variables = json!({ "input": { "name": name, "entity_id": entity_id } });
        let data: Value = self
            .query(documents::DRAFT_WORKSPACE_ADD, variables)
            .await?;
        data.pointer("/draftWorkspaceAdd/id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Decode {
                operation: "draftWorkspaceAdd".to_owned(),
                reason: format!("no draft id for the draft `{name}`"),
            })
    }

    /// Attaches the draft `draft_id` to a work.
    pub async fn add_draft_context(&self, work_id: &str, draft_id: &str) -> Result<(), ApiError> {
        let variables = json!({ "id": work_id, "draftContext": draft_id });
        let _: Value = self.query(documents::ADD_DRAFT_CONTEXT, variables).await?;
        Ok(())
    }

    /// An entity as the enrichment reader returns it (`None` when the
    /// platform does not find it or does not let this user see it).
    pub async fn read_stix_core_object(&self, id: &str) -> Result<Option<Value>, ApiError> {
        let reply: Field<Option<Value>> = self
            .query_field(
                documents::STIX_CORE_OBJECT,
                json!({ "id": id }),
                "stixCoreObject",
            )
            .await?;
        Ok(reply.0)
    }

    /// Answers a playbook step: `step` holds the six ids of the message's
    /// `internal.playbook` and `execution_start`; the bundles are JSON text.
    /// Returns the platform's answer (`false` for an unknown step).
    pub async fn playbook_step_execution(
        &self,
        step: &Value,
        previous_bundle: &str,
        bundle: &str,
    ) -> Result<bool, ApiError> {
        let mut variables = step.clone();
        if let Some(variables) = variables.as_object_mut() {
            variables.insert("previous_bundle".to_owned(), json!(previous_bundle));
            variables.insert("bundle".to_owned(), json!(bundle));
        }
        let reply: Field<Option<bool>> = self
            .query_field(
                documents::PLAYBOOK_STEP_EXECUTION,
                variables,
                "playbookStepExecution",
            )
            .await?;
        Ok(reply.0.unwrap_or(false))
    }

    /// Uploads an export file: `document` is one of the export push
    /// mutations of [`documents`], `variables` its variables but `file`.
    pub async fn export_push(
        &self,
        document: &str,
        variables: Value,
        file_name: &str,
        mime_type: &str,
        content: &[u8],
    ) -> Result<(), ApiError> {
        let upload = Upload {
            file_name,
            mime_type,
            content,
        };
        self.upload(document, variables, &upload).await?;
        Ok(())
    }

    /// A live stream collection by id.
    pub async fn stream_collection(&self, id: &str) -> Result<Option<StreamCollection>, ApiError> {
        let reply: Field<Option<StreamCollection>> = self
            .query_field(
                documents::STREAM_COLLECTION,
                json!({ "id": id }),
                "streamCollection",
            )
            .await?;
        Ok(reply.0)
    }

    async fn query_field<T: DeserializeOwned>(
        &self,
        document: &str,
        variables: Value,
        field: &str,
    ) -> Result<Field<T>, ApiError> {
        let mut data: Value = self.query(document, variables).await?;
        let value = data.get_mut(field).map(Value::take).unwrap_or(Value::Null);
        serde_json::from_value(value)
            .map(Field)
            .map_err(|error| ApiError::Decode {
                operation: operation_name(document),
                reason: format!("{field}: {error}"),
            })
    }
}

/// A file sent with a multipart upload.
struct Upload<'a> {
    file_name: &'a str,
    mime_type: &'a str,
    content: &'a [u8],
}

/// The `Content-Type` header and body of a multipart upload: the
/// `operations` and `map` fields, then the file as part `0`.
fn multipart_body(operations: &Value, upload: &Upload<'_>) -> (String, Vec<u8>) {
    let operations = operations.to_string();
    // A boundary must not occur in any part; the counter makes one that
    // does not.
    let boundary = (0u64..)
        .map(|attempt| format!("opencti-connector-upload-{attempt}"))
        .find(|boundary| {
            let needle = boundary.as_bytes();
            !operations.contains(boundary.as_str())
                && !upload
                    .content
                    .windows(needle.len())
                    .any(|window| window == needle)
        })
        .unwrap_or_default();
    let file_name = upload
        .file_name
        .replace('"', "%22")
        .replace(['\r', '\n'], " ");
    let mut body = Vec::with_capacity(upload.content.len() + operations.len() + 512);
    for (name, value) in [
        ("operations", operations.as_str()),
        ("map", r#"{"0": ["variables.file"]}"#),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"{file_name}\"\r\nContent-Type: {}\r\n\r\n",
            upload.mime_type
        )
        .as_bytes(),
    );
    body.extend_from_slice(upload.content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The value of one root field.
struct Field<T>(T);

/// A `FilterGroup` asking `key` to equal `value`.
fn equality_filter(key: &str, value: &str) -> Value {
    json!({
        "mode": "and",
        "filters": [{ "key": key, "values": [value] }],
        "filterGroups": [],
    })
}

/// The first node of the connection at root field `field`.
fn first_node<'a>(data: &'a Value, field: &str) -> Option<&'a Value> {
    data.get(field)?.get("edges")?.get(0)?.get("node")
}

/// The operation name inside a document (`mutation workAdd(...)` → `workAdd`).
pub(crate) fn operation_name(document: &str) -> String {
    let mut words = document
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty());
    match words.next() {
        Some("query" | "mutation" | "subscription") => {
            words.next().unwrap_or("anonymous").to_owned()
        }
        _ => "anonymous".to_owned(),
    }
}

fn graphql_error(operation: &str, error: &Value) -> ApiError {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("unknown error")
        .to_owned();
    let name = error
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| error.pointer("/extensions/code").and_then(Value::as_str))
        .unwrap_or("GraphQL error")
        .to_owned();
    ApiError::GraphQl {
        operation: operation.to_owned(),
        name,
        message,
    }
}

/// A transport error's description, without the URL (which is fine) and
/// without anything from the request headers (which reqwest never prints).
fn describe(error: &reqwest::Error) -> String {
    crate::error::error_chain(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(content: &[u8]) -> Upload<'_> {
        Upload {
            file_name: "work_1.json",
            mime_type: "application/json",
            content,
        }
    }

    #[test]
    fn multipart_uploads_follow_the_graphql_multipart_layout() {
        let operations =
            json!({ "query": "mutation UploadPending", "variables": { "file": null } });
        let (content_type, body) = multipart_body(&operations, &upload(b"{}"));
        assert_eq!(
            content_type,
            "multipart/form-data; boundary=opencti-connector-upload-0"
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "--opencti-connector-upload-0\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n\
             {\"query\":\"mutation UploadPending\",\"variables\":{\"file\":null}}\r\n\
             --opencti-connector-upload-0\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n\
             {\"0\": [\"variables.file\"]}\r\n\
             --opencti-connector-upload-0\r\nContent-Disposition: form-data; name=\"0\"; filename=\"work_1.json\"\r\n\
             Content-Type: application/json\r\n\r\n{}\r\n--opencti-connector-upload-0--\r\n"
        );
    }

    #[test]
    fn the_boundary_never_occurs_in_the_file() {
        let content = b"opencti-connector-upload-0 opencti-connector-upload-1";
        let (content_type, _) = multipart_body(&json!({}), &upload(content));
        assert!(content_type.ends_with("boundary=opencti-connector-upload-2"));
    }
}
