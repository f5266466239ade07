//! `POST /graphql`: parsing, schema validation, operation identification
//! and error shaping. Field resolution lives in [`resolve`].

pub(crate) mod lists;
mod multipart;
mod resolve;
pub(crate) mod views;

use std::sync::Arc;

use apollo_compiler::ast::Document;
use apollo_compiler::executable::OperationType;
use apollo_compiler::resolvers::Execution;
use apollo_compiler::response::JsonMap;
use apollo_compiler::{Schema, validation::Valid};
use serde_json::{Map, Value, json};

use crate::accounts::Principal;
use crate::core::Core;
use crate::error::SimError;
use crate::model::{GraphqlCall, RejectedRequest, now};

pub(crate) use multipart::parse_multipart_request;
pub(crate) use resolve::{from_bytes, to_bytes};

/// The schema subset every document is validated against.
const SCHEMA: &str = include_str!("../../schema/opencti-connector-schema.graphql");

/// Line edits giving what a 6.x platform accepts (the schema file's header
/// lists the differences): `(line, replacement, occurrences)`.
const SIX_X_EDITS: &[(&str, Option<&str>, usize)] = &[
    ("  version: String", None, 2),
    ("  slug: String", None, 2),
    ("  xtm_one_intent: String", None, 2),
    ("  jwks: String!", None, 1),
    ("  last_seen_at: DateTime", None, 1),
    ("  s3: S3Connection! @auth(for: [CONNECTORAPI])", None, 1),
    (
        "  connectorJWT: String! @auth(for: [SETTINGS_SETACCESSES])",
        None,
        1,
    ),
    (
        "  workAdd(connectorId: String!, friendlyName: String, isMultiPartWork: Boolean = false): Work! @auth(for: [CONNECTORAPI, MODULES_MODMANAGE, KNOWLEDGE_KNASKIMPORT, KNOWLEDGE_KNGETEXPORT_KNASKEXPORT])",
        Some(
            "  workAdd(connectorId: String!, friendlyName: String): Work! @auth(for: [CONNECTORAPI, MODULES_MODMANAGE, KNOWLEDGE_KNASKIMPORT, KNOWLEDGE_KNGETEXPORT_KNASKEXPORT])",
        ),
        1,
    ),
    (
        "  api_tokens: [ApiToken!]! @auth(for: [SETTINGS_SETACCESSES, VIRTUAL_ORGANIZATION_ADMIN])",
        Some("  api_token: String!"),
        1,
    ),
];

/// Where the generated listening-connector section of the schema starts:
/// the 6.x edits concern the connector part above it only.
const LISTEN_SECTION: &str = "# LISTENING CONNECTORS";

fn six_x_schema_text() -> Result<String, String> {
    let (connector_part, listen_part) = SCHEMA
        .find(LISTEN_SECTION)
        .map_or((SCHEMA, ""), |at| SCHEMA.split_at(at));
    let mut counts = vec![0_usize; SIX_X_EDITS.len()];
    let mut text = String::with_capacity(SCHEMA.len());
    for line in connector_part.lines() {
        match SIX_X_EDITS
            .iter()
            .position(|(from, _, _)| line.trim_end() == *from)
        {
            Some(index) => {
                counts[index] += 1;
                if let Some(replacement) = SIX_X_EDITS[index].1 {
                    text.push_str(replacement);
                    text.push('\n');
                }
            }
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    for ((line, _, expected), found) in SIX_X_EDITS.iter().zip(counts) {
        if found != *expected {
            return Err(format!(
                "6.x schema edit `{line}` matched {found} lines, expected {expected}"
            ));
        }
    }
    text.push_str(listen_part);
    Ok(text)
}

/// The schema documents are validated against: the 7.x-era subset (which
/// both pycti generations' documents satisfy), or with `six_x_only` what a
/// 6.x platform accepts (7.x-only fields and arguments refused).
pub(crate) fn load_schema(six_x_only: bool) -> Result<Valid<Schema>, SimError> {
    let invalid = |reason: String| SimError::InvalidConfig {
        field: "schema",
        reason,
    };
    let text = if six_x_only {
        six_x_schema_text().map_err(invalid)?
    } else {
        SCHEMA.to_owned()
    };
    Schema::parse_and_validate(text, "opencti-connector-schema.graphql")
        .map_err(|errors| invalid(errors.errors.to_string()))
}

/// A GraphQL request as received (JSON body or multipart upload).
#[derive(Debug, Default)]
pub(crate) struct GraphqlRequest {
    pub(crate) query: String,
    pub(crate) variables: Map<String, Value>,
    pub(crate) operation_name: Option<String>,
    /// `opencti-applicant-id`: the user a connector acts for.
    pub(crate) applicant_id: Option<String>,
    /// `opencti-draft-id`: the draft the request runs in.
    pub(crate) draft_id: Option<String>,
}

impl GraphqlRequest {
    /// Parses a JSON body `{"query", "variables"?, "operationName"?}`.
    pub(crate) fn from_json(body: &[u8]) -> Result<Self, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|error| format!("body is not JSON: {error}"))?;
        Self::from_value(value)
    }

    pub(crate) fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(mut map) = value else {
            return Err("body is not a JSON object".to_owned());
        };
        let Some(Value::String(query)) = map.remove("query") else {
            return Err("GraphQL operations must contain a non-empty `query`".to_owned());
        };
        let variables = match map.remove("variables") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(variables)) => variables,
            Some(_) => return Err("`variables` must be an object".to_owned()),
        };
        let operation_name = match map.remove("operationName") {
            Some(Value::String(name)) => Some(name),
            _ => None,
        };
        Ok(Self {
            query,
            variables,
            operation_name,
            applicant_id: None,
            draft_id: None,
        })
    }
}

/// A platform-style error: `extensions.code` plus the legacy top-level `name`.
pub(crate) fn platform_error(code: &str, message: &str, data: &Value) -> Value {
    json!({
        "message": message,
        "name": code,
        "extensions": {"code": code, "data": data},
    })
}

/// Answers a request with its HTTP status (200 but for a status fault). Runs
/// on a blocking thread: resolvers block on broker calls.
pub(crate) fn execute(
    core: &Arc<Core>,
    runtime: &tokio::runtime::Handle,
    request: &GraphqlRequest,
    principal: Option<&Principal>,
) -> (u16, Value) {
    let authenticated = principal.is_some();
    let reject = |code: &str, messages: Vec<(String, Value)>| {
        core.store.write(|state| {
            state.record_rejection(RejectedRequest {
                at: now(),
                query: request.query.clone(),
                variables: Value::Object(request.variables.clone()),
                errors: messages
                    .iter()
                    .map(|(message, _)| message.clone())
                    .collect(),
            });
        });
        tracing::warn!(code, errors = ?messages.iter().map(|(m, _)| m).collect::<Vec<_>>(), "GraphQL document rejected");
        let errors: Vec<Value> = messages
            .into_iter()
            .map(|(message, locations)| {
                let mut error = json!({"message": message, "extensions": {"code": code}});
                if !locations.is_null() {
                    error["locations"] = locations;
                }
                error
            })
            .collect();
        json!({"errors": errors})
    };

    let ast = match Document::parse(&request.query, "request.graphql") {
        Ok(ast) => ast,
        Err(with_errors) => {
            let messages = diagnostics(&with_errors.errors, "Syntax Error: ");
            return (200, reject("GRAPHQL_PARSE_FAILED", messages));
        }
    };
    let document = match ast.to_executable_validate(&core.schema) {
        Ok(document) => document,
        Err(with_errors) => {
            let messages = diagnostics(&with_errors.errors, "");
            return (200, reject("GRAPHQL_VALIDATION_FAILED", messages));
        }
    };
    let operation = match document.operations.get(request.operation_name.as_deref()) {
        Ok(operation) => operation,
        Err(error) => {
            return (
                200,
                reject(
                    "OPERATION_RESOLUTION_FAILURE",
                    vec![(error.message().to_string(), Value::Null)],
                ),
            );
        }
    };
    let operation_name = operation.name.as_ref().map(|name| name.to_string());
    let kind = match operation.operation_type {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    tracing::debug!(
        operation = operation_name.as_deref().unwrap_or("<anonymous>"),
        kind,
        "GraphQL operation"
    );

    let fault = authenticated
        .then(|| {
            core.faults
                .check(operation_name.as_deref().unwrap_or_default())
        })
        .flatten();
    let status = fault.as_ref().map_or(200, |fault| fault.status);
    let response = if let Some(fault) = fault {
        fault.body
    } else if authenticated {
        run(
            core,
            runtime,
            &document,
            operation,
            request,
            principal.cloned(),
        )
    } else {
        json!({
            "errors": [platform_error(
                "AUTH_REQUIRED",
                "You must be logged in to do this.",
                &json!({"http_status": 401, "genre": "TECHNICAL"}),
            )],
            "data": null,
        })
    };
    let errors: Vec<String> = response
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|error| {
            error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .chain((status != 200).then(|| format!("HTTP {status}: {}", crate::faults::FAULT_MESSAGE)))
        .collect();
    core.store.write(|state| {
        state.record_call(GraphqlCall {
            at: now(),
            operation: operation_name,
            kind: kind.to_owned(),
            errors,
            applicant_id: request.applicant_id.clone(),
            draft_id: request.draft_id.clone(),
            user_id: principal.and_then(Principal::user_id),
        });
    });
    (status, response)
}

fn run(
    core: &Arc<Core>,
    runtime: &tokio::runtime::Handle,
    document: &Valid<apollo_compiler::ExecutableDocument>,
    operation: &apollo_compiler::executable::Operation,
    request: &GraphqlRequest,
    principal: Option<Principal>,
) -> Value {
    let ctx = resolve::Ctx::new(
        Arc::clone(core),
        runtime.clone(),
        request.draft_id.clone(),
        principal.unwrap_or(Principal::Admin),
    );
    let variables = &request.variables;
    let root = match operation.operation_type {
        OperationType::Mutation => resolve::GqlObject::Mutation(&ctx),
        _ => resolve::GqlObject::Query(&ctx),
    };
    let variables: JsonMap = variables
        .iter()
        .map(|(name, value)| (name.as_str().into(), to_bytes(value)))
        .collect();
    let executed = Execution::new(&core.schema, document)
        .operation(operation)
        .raw_variable_values(&variables)
        .execute_sync(&root);
    match executed {
        Ok(response) => {
            let errors: Vec<Value> = response
                .errors
                .iter()
                .map(|error| {
                    // The executor prefixes resolver messages; the platform does not.
                    let message = error
                        .message
                        .strip_prefix("resolver error: ")
                        .unwrap_or(&error.message);
                    let mut shaped = serde_json::to_value(error).unwrap_or_else(|_| json!({}));
                    shaped["message"] = json!(message);
                    match ctx.platform_error_for(message) {
                        Some(platform) => {
                            shaped["name"] = json!(platform.code);
                            shaped["extensions"] =
                                json!({"code": platform.code, "data": platform.data});
                        }
                        None => {
                            shaped["extensions"] = json!({"code": "INTERNAL_SERVER_ERROR"});
                        }
                    }
                    shaped
                })
                .collect();
            let data = response.data.map_or(Value::Null, |data| {
                from_bytes(&apollo_compiler::response::JsonValue::Object(data))
            });
            if errors.is_empty() {
                json!({"data": data})
            } else {
                json!({"errors": errors, "data": data})
            }
        }
        Err(error) => json!({
            "errors": [{"message": error.message().to_string(), "extensions": {"code": "BAD_USER_INPUT"}}],
        }),
    }
}

fn diagnostics(
    list: &apollo_compiler::validation::DiagnosticList,
    prefix: &str,
) -> Vec<(String, Value)> {
    list.iter()
        .map(|diagnostic| {
            let error = diagnostic.to_json();
            let locations = if error.locations.is_empty() {
                Value::Null
            } else {
                serde_json::to_value(&error.locations).unwrap_or(Value::Null)
            };
            (format!("{prefix}{}", error.message), locations)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_subset_is_valid() {
        let schema = load_schema(false).expect("schema validates");
        assert!(schema.get_object("Connector").is_some());
    }

    fn validates(schema: &Valid<Schema>, document: &str) -> bool {
        apollo_compiler::ExecutableDocument::parse_and_validate(schema, document, "test.graphql")
            .is_ok()
    }

    #[test]
    fn a_strict_6x_schema_refuses_7x_documents_and_accepts_6_8_ones() {
        let full = load_schema(false).expect("full schema");
        let six = load_schema(true).expect("6.x schema");
        let register_7x = "mutation RegisterConnector($input: RegisterConnectorInput) { registerConnector(input: $input) { id connector_state jwks config { connection { host } s3 { endpoint } push } connector_user_id } }";
        let register_6_8 = "mutation RegisterConnector($input: RegisterConnectorInput) { registerConnector(input: $input) { id connector_state config { connection { host } push } connector_user_id } }";
        let work_add_7x = "mutation workAdd($connectorId: String!, $friendlyName: String, $isMultiPartWork: Boolean) { workAdd(connectorId: $connectorId, friendlyName: $friendlyName, isMultiPartWork: $isMultiPartWork) { id } }";
        let worker_6x =
            "query GetConnectors { connectorsForWorker { id connector_user { api_token } } }";
        assert!(
            validates(&full, register_7x)
                && validates(&full, register_6_8)
                && validates(&full, work_add_7x)
        );
        assert!(!validates(&six, register_7x));
        assert!(validates(&six, register_6_8));
        assert!(!validates(&six, work_add_7x));
        assert!(validates(&six, worker_6x) && !validates(&full, worker_6x));
    }

    #[test]
    fn the_uis_job_requests_validate_against_both_generations() {
        let documents = [
            include_str!("../../tests/documents/ui_ask_enrichment.graphql"),
            include_str!("../../tests/documents/ui_upload_import.graphql"),
            include_str!("../../tests/documents/ui_ask_job_import.graphql"),
            include_str!("../../tests/documents/ui_entity_export_ask.graphql"),
            include_str!("../../tests/documents/ui_core_object_export_ask.graphql"),
            include_str!("../../tests/documents/ui_list_export_ask.graphql"),
        ];
        for schema in [load_schema(false), load_schema(true)] {
            let schema = schema.expect("schema");
            for document in documents {
                assert!(validates(&schema, document), "{document}");
            }
        }
    }

    #[test]
    fn request_bodies_are_checked() {
        let request =
            GraphqlRequest::from_json(br#"{"query": "query healthCheck { about { version } }"}"#)
                .expect("valid");
        assert!(request.variables.is_empty());
        assert!(request.operation_name.is_none());
        assert!(GraphqlRequest::from_json(b"[]").is_err());
        assert!(GraphqlRequest::from_json(br#"{"variables": {}}"#).is_err());
        assert!(
            GraphqlRequest::from_json(br#"{"query": "{ me { id } }", "variables": 3}"#).is_err()
        );
    }
}
