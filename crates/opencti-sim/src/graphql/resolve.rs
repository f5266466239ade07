//! Field resolution. Root fields and `workEdit` act on the simulator; every
//! other object is a JSON view whose fields are picked by the selection set,
//! so responses hold exactly the requested fields.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};

use apollo_compiler::ast::Type;
use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::JsonValue;
use serde_json::{Map, Value, json};

use super::views;
use crate::accounts::{self, Principal};
use crate::core::{Core, PushError, RegisterInput};
use crate::error::SimError;
use crate::model::{UploadedFile, WorkRecord, now};
use crate::works::ExpectationError;

/// An error the platform would raise, attached to the field error by message.
#[derive(Debug, Clone)]
pub(crate) struct PlatformError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) data: Value,
}

/// Per-request resolution context.
#[derive(Debug)]
pub(crate) struct Ctx {
    core: Arc<Core>,
    runtime: tokio::runtime::Handle,
    errors: Mutex<Vec<PlatformError>>,
    /// The draft the request runs in (`opencti-draft-id`, non-empty).
    draft_id: Option<String>,
    /// Who the request's token authenticates.
    principal: Principal,
}

impl Ctx {
    pub(crate) fn new(
        core: Arc<Core>,
        runtime: tokio::runtime::Handle,
        draft_id: Option<String>,
        principal: Principal,
    ) -> Self {
        Self {
            core,
            runtime,
            errors: Mutex::new(Vec::new()),
            draft_id: draft_id.filter(|d| !d.is_empty()),
            principal,
        }
    }

    /// Refuses a user-management call from anyone but the admin, as the
    /// platform's `SETTINGS_SETACCESSES` capability does.
    fn require_admin(&self) -> Result<(), FieldError> {
        match self.principal {
            Principal::Admin => Ok(()),
            Principal::User(_) => Err(self.fail(
                "FORBIDDEN_ACCESS",
                "You are not allowed to do this.",
                serde_json::json!({"http_status": 403, "genre": "TECHNICAL"}),
            )),
        }
    }

    /// The platform error raised with this message, if a resolver raised one.
    pub(crate) fn platform_error_for(&self, message: &str) -> Option<PlatformError> {
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|error| error.message == message)
            .cloned()
    }

    fn fail(&self, code: &'static str, message: impl Into<String>, data: Value) -> FieldError {
        let message = message.into();
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(PlatformError {
                code,
                message: message.clone(),
                data,
            });
        FieldError { message }
    }

    fn functional(&self, message: impl Into<String>) -> FieldError {
        self.fail(
            "FUNCTIONAL_ERROR",
            message,
            json!({"http_status": 400, "genre": "BUSINESS"}),
        )
    }

    fn sim_error(&self, error: SimError) -> FieldError {
        match error {
            SimError::UnknownConnector { .. } => {
                self.functional("No connector found with the specified ID")
            }
            SimError::InvalidRequest { reason } => self.functional(reason),
            other => self.fail(
                "DATABASE_ERROR",
                other.to_string(),
                json!({"http_status": 500, "genre": "TECHNICAL"}),
            ),
        }
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

/// The objects the executor walks.
pub(crate) enum GqlObject<'a> {
    Query(&'a Ctx),
    Mutation(&'a Ctx),
    WorkEdit(&'a Ctx, String),
    /// `stixCoreObjectEdit(id)` / `stixDomainObjectEdit(id)`: the type name
    /// of the edit object and the entity id.
    EntityEdit(&'a Ctx, &'static str, String),
    Json {
        ctx: &'a Ctx,
        type_name: &'a str,
        map: Cow<'a, Map<String, Value>>,
    },
}

impl ObjectValue for GqlObject<'_> {
    fn type_name(&self) -> &str {
        match self {
            Self::Query(_) => "Query",
            Self::Mutation(_) => "Mutation",
            Self::WorkEdit(..) => "WorkEditMutations",
            Self::EntityEdit(_, type_name, _) => type_name,
            Self::Json { type_name, .. } => type_name,
        }
    }

    fn resolve_field<'b>(
        &'b self,
        info: &'b ResolveInfo<'b>,
    ) -> Result<ResolvedValue<'b>, FieldError> {
        match self {
            Self::Query(ctx) => query_field(ctx, info),
            Self::Mutation(ctx) => mutation_field(ctx, info),
            Self::WorkEdit(ctx, id) => work_edit_field(ctx, id, info),
            Self::EntityEdit(ctx, _, id) => entity_edit_field(ctx, id, info),
            Self::Json {
                ctx,
                type_name,
                map,
            } => json_field(ctx, type_name, map, info),
        }
    }
}

/// serde_json -> the executor's JSON.
pub(crate) fn to_bytes(value: &Value) -> JsonValue {
    match value {
        Value::Null => JsonValue::Null,
        Value::Bool(flag) => JsonValue::Bool(*flag),
        Value::Number(number) => JsonValue::Number(number.clone()),
        Value::String(text) => JsonValue::from(text.as_str()),
        Value::Array(items) => JsonValue::Array(items.iter().map(to_bytes).collect()),
        Value::Object(map) => JsonValue::Object(
            map.iter()
                .map(|(key, value)| (key.as_str().into(), to_bytes(value)))
                .collect(),
        ),
    }
}

/// The executor's JSON -> serde_json.
pub(crate) fn from_bytes(value: &JsonValue) -> Value {
    match value {
        JsonValue::Null => Value::Null,
        JsonValue::Bool(flag) => Value::Bool(*flag),
        JsonValue::Number(number) => Value::Number(number.clone()),
        JsonValue::String(text) => Value::String(text.as_str().to_owned()),
        JsonValue::Array(items) => Value::Array(items.iter().map(from_bytes).collect()),
        JsonValue::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.as_str().to_owned(), from_bytes(value)))
                .collect(),
        ),
    }
}

/// Turns JSON into what the field's declared type expects.
fn to_resolved<'b>(ctx: &'b Ctx, value: Cow<'b, Value>, ty: &'b Type) -> ResolvedValue<'b> {
    if value.is_null() {
        return ResolvedValue::null();
    }
    match ty {
        Type::List(item_type) | Type::NonNullList(item_type) => {
            let items: Vec<Cow<'b, Value>> = match value {
                Cow::Borrowed(Value::Array(items)) => items.iter().map(Cow::Borrowed).collect(),
                Cow::Owned(Value::Array(items)) => items.into_iter().map(Cow::Owned).collect(),
                single => vec![single],
            };
            ResolvedValue::list(
                items
                    .into_iter()
                    .map(move |item| to_resolved(ctx, item, item_type)),
            )
        }
        Type::Named(name) | Type::NonNullNamed(name) => {
            let schema = &ctx.core.schema;
            let abstract_type =
                schema.get_interface(name).is_some() || schema.get_union(name).is_some();
            if schema.get_object(name).is_none() && !abstract_type {
                return ResolvedValue::leaf(to_bytes(&value));
            }
            let map = match value {
                Cow::Borrowed(Value::Object(map)) => Cow::Borrowed(map),
                Cow::Owned(Value::Object(map)) => Cow::Owned(map),
                _ => return ResolvedValue::null(),
            };
            // Values of an interface or union type name their concrete type.
            let type_name = if abstract_type {
                let concrete = map.get("__typename").and_then(Value::as_str);
                match concrete.and_then(|t| schema.get_object(t)) {
                    Some(object) => object.name.as_str(),
                    None => return ResolvedValue::null(),
                }
            } else {
                name.as_str()
            };
            ResolvedValue::object(GqlObject::Json {
                ctx,
                type_name,
                map,
            })
        }
    }
}

fn owned<'b>(
    ctx: &'b Ctx,
    info: &'b ResolveInfo<'b>,
    value: Value,
) -> Result<ResolvedValue<'b>, FieldError> {
    Ok(to_resolved(
        ctx,
        Cow::Owned(value),
        &info.field_definition().ty,
    ))
}

fn arguments(info: &ResolveInfo<'_>) -> Map<String, Value> {
    info.arguments()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), from_bytes(value)))
        .collect()
}

/// The strings of a JSON list (nothing for anything else).
fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn string_arg(args: &Map<String, Value>, name: &str) -> Option<String> {
    args.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn json_field<'b>(
    ctx: &'b Ctx,
    type_name: &str,
    map: &'b Map<String, Value>,
    info: &'b ResolveInfo<'b>,
) -> Result<ResolvedValue<'b>, FieldError> {
    let field = info.field_name();
    match (type_name, field) {
        ("Connector", "connector_queue_details") => {
            let id = map.get("id").and_then(Value::as_str).unwrap_or_default();
            let details = ctx
                .block_on(ctx.core.queue_details(id))
                .map_err(|e| ctx.sim_error(e))?;
            owned(
                ctx,
                info,
                json!({"messages_number": details.messages_number, "messages_size": details.messages_size}),
            )
        }
        ("Connector", "works") => {
            let id = map.get("id").and_then(Value::as_str).unwrap_or_default();
            let status = string_arg(&arguments(info), "status");
            let works: Vec<Value> = ctx.core.store.read(|state| {
                state
                    .works
                    .values()
                    .filter(|w| {
                        w.connector_id == id
                            && status.as_deref().is_none_or(|s| s == w.status.as_str())
                    })
                    .map(views::work)
                    .collect()
            });
            owned(ctx, info, Value::Array(works))
        }
        ("File", "works") => {
            let id = map.get("id").and_then(Value::as_str).unwrap_or_default();
            let works: Vec<Value> = ctx.core.store.read(|state| {
                state
                    .works
                    .values()
                    .filter(|w| w.event_source_id.as_deref() == Some(id))
                    .map(views::work)
                    .collect()
            });
            owned(ctx, info, Value::Array(works))
        }
        ("Work", "connector") => {
            let id = map
                .get("connector_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let connector = ctx.core.store.read(|state| {
                state
                    .connectors
                    .get(id)
                    .map(|c| views::connector(c, &ctx.core.config, ctx.core.signer.jwks()))
            });
            owned(ctx, info, connector.unwrap_or(Value::Null))
        }
        _ => {
            let value = map
                .get(field)
                .map_or(Cow::Owned(Value::Null), Cow::Borrowed);
            Ok(to_resolved(ctx, value, &info.field_definition().ty))
        }
    }
}

fn query_field<'b>(
    ctx: &'b Ctx,
    info: &'b ResolveInfo<'b>,
) -> Result<ResolvedValue<'b>, FieldError> {
    let args = arguments(info);
    let core = &ctx.core;
    let id = string_arg(&args, "id").unwrap_or_default();
    let value = match info.field_name() {
        "about" => views::about(&core.config),
        "settings" => views::settings(),
        "me" => views::user(),
        "work" => core
            .store
            .read(|state| state.works.get(&id).map(views::work))
            .unwrap_or(Value::Null),
        "isWorkAlive" => json!(core.store.read(|state| state.works.contains_key(&id))),
        "works" => works_query(ctx, &args),
        "stix" => core
            .store
            .read(|state| {
                state
                    .objects
                    .get(&id)
                    .map(|object| json!(crate::objects::stream_data(object).to_string()))
            })
            .unwrap_or(Value::Null),
        "connector" => core
            .store
            .read(|state| {
                state
                    .connectors
                    .get(&id)
                    .map(|c| views::connector(c, &core.config, core.signer.jwks()))
            })
            .unwrap_or(Value::Null),
        "connectors" | "connectorsForWorker" => Value::Array(core.store.read(|state| {
            state
                .connectors
                .values()
                .map(|c| views::connector(c, &core.config, core.signer.jwks()))
                .collect()
        })),
        "stixCyberObservable" | "stixCoreObject" => {
            let observables_only = info.field_name() == "stixCyberObservable";
            core.store.read(|state| {
                crate::entity::find(state, &id)
                    .filter(|stored| {
                        crate::entity::is_core(&stored.stix_type)
                            && (!observables_only
                                || crate::entity::is_observable(&stored.stix_type))
                    })
                    .map_or(Value::Null, |stored| {
                        crate::entity::view(state, stored, true)
                    })
            })
        }
        "stixNestedRefRelationships" => {
            let from = string_arg(&args, "fromId").unwrap_or_default();
            let edges = core.store.read(|state| {
                crate::entity::find(state, &from)
                    .map(|stored| crate::entity::nested_refs(state, stored))
                    .unwrap_or_default()
            });
            json!({
                "edges": edges,
                "pageInfo": {"startCursor": "", "endCursor": "", "hasNextPage": false,
                             "hasPreviousPage": false, "globalCount": edges.len()},
            })
        }
        read if super::lists::TYPED_READS
            .iter()
            .any(|(name, _)| *name == read) =>
        {
            core.store
                .read(|state| super::lists::read(state, read, &id))
                .map_err(|reason| ctx.functional(reason))?
        }
        list if super::lists::LIST_QUERIES.contains(&list) => core
            .store
            .read(|state| super::lists::list(state, list, &args))
            .map_err(|reason| ctx.functional(reason))?,
        "streamCollection" => core
            .store
            .read(|state| state.collections.get(&id).map(views::stream_collection))
            .unwrap_or(Value::Null),
        "groups" => {
            ctx.require_admin()?;
            let names = accounts::filter_values(args.get("filters"), "name");
            let groups: Vec<Value> = core.store.read(|state| {
                state
                    .groups
                    .values()
                    .filter(|group| {
                        names
                            .as_ref()
                            .is_none_or(|names| names.contains(&group.name))
                    })
                    .map(views::group)
                    .collect()
            });
            views::connection(groups)
        }
        "users" => {
            ctx.require_admin()?;
            let emails = accounts::filter_values(args.get("filters"), "user_email");
            let users: Vec<Value> = core.store.read(|state| {
                state
                    .users
                    .values()
                    .filter(|user| {
                        emails
                            .as_ref()
                            .is_none_or(|emails| emails.contains(&user.user_email))
                    })
                    .map(views::platform_user)
                    .collect()
            });
            views::connection(users)
        }
        other => {
            return Err(ctx.functional(format!("Query.{other} is not served by the simulator")));
        }
    };
    owned(ctx, info, value)
}

/// `works(first, after, orderBy, orderMode, search, filters)`.
fn works_query(ctx: &Ctx, args: &Map<String, Value>) -> Value {
    let filters: Vec<(Vec<String>, Vec<String>)> = args
        .get("filters")
        .and_then(|group| group.get("filters"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|filter| {
            let strings = |key: &str| -> Vec<String> {
                match filter.get(key) {
                    Some(Value::Array(items)) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    Some(Value::String(single)) => vec![single.clone()],
                    _ => Vec::new(),
                }
            };
            (strings("key"), strings("values"))
        })
        .collect();
    let search = string_arg(args, "search").map(|s| s.to_lowercase());
    let descending = args.get("orderMode").and_then(Value::as_str) != Some("asc");
    let order_by = string_arg(args, "orderBy").unwrap_or_else(|| "timestamp".to_owned());
    ctx.core.store.read(|state| {
        let mut works: Vec<&WorkRecord> = state
            .works
            .values()
            .filter(|work| {
                filters.iter().all(|(keys, values)| {
                    keys.iter().any(|key| {
                        let field = match key.as_str() {
                            "connector_id" => Some(work.connector_id.as_str()),
                            "status" => Some(work.status.as_str()),
                            "id" => Some(work.id.as_str()),
                            "event_type" => Some(work.event_type.as_str()),
                            _ => None,
                        };
                        field.is_some_and(|field| values.iter().any(|v| v == field))
                    })
                })
            })
            .filter(|work| {
                search.as_ref().is_none_or(|search| {
                    work.name
                        .as_deref()
                        .is_some_and(|name| name.to_lowercase().contains(search))
                })
            })
            .collect();
        works.sort_by(|a, b| {
            let ordering = match order_by.as_str() {
                "status" => a.status.as_str().cmp(b.status.as_str()),
                _ => a.timestamp.cmp(&b.timestamp),
            };
            if descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
        if let Some(after) = args.get("after").and_then(Value::as_str)
            && let Some(position) = works.iter().position(|w| w.id == after)
        {
            works.drain(..=position);
        }
        let total = works.len();
        if let Some(first) = args.get("first").and_then(Value::as_u64) {
            works.truncate(usize::try_from(first).unwrap_or(usize::MAX));
        }
        views::work_connection(&works, total)
    })
}

fn mutation_field<'b>(
    ctx: &'b Ctx,
    info: &'b ResolveInfo<'b>,
) -> Result<ResolvedValue<'b>, FieldError> {
    let args = arguments(info);
    let core = &ctx.core;
    let value = match info.field_name() {
        "registerConnector" => {
            let input: RegisterInput = serde_json::from_value(
                args.get("input").cloned().unwrap_or(Value::Null),
            )
            .map_err(|error| ctx.functional(format!("Invalid registration input: {error}")))?;
            if input.name.trim().chars().count() < 2 {
                return Err(ctx.fail(
                    "VALIDATION_ERROR",
                    "Validation error",
                    json!({"http_status": 500, "genre": "BUSINESS", "field": "name",
                           "reason": "Invalid field name: at least 2 non-blank characters"}),
                ));
            }
            let record = ctx
                .block_on(core.register(input))
                .map_err(|e| ctx.sim_error(e))?;
            views::connector(&record, &core.config, core.signer.jwks())
        }
        "pingConnector" => {
            let id = string_arg(&args, "id").unwrap_or_default();
            let state = string_arg(&args, "state");
            let info_value = args.get("connectorInfo").cloned().filter(|v| !v.is_null());
            let record = ctx
                .block_on(core.ping(&id, state, info_value))
                .map_err(|e| ctx.sim_error(e))?;
            views::connector(&record, &core.config, core.signer.jwks())
        }
        "resetStateConnector" => {
            let id = string_arg(&args, "id").unwrap_or_default();
            let record = ctx
                .block_on(core.reset_state(&id))
                .map_err(|e| ctx.sim_error(e))?;
            views::connector(&record, &core.config, core.signer.jwks())
        }
        "deleteConnector" => {
            let id = string_arg(&args, "id").unwrap_or_default();
            ctx.block_on(core.delete_connector(&id))
                .map_err(|e| ctx.sim_error(e))?;
            json!(id)
        }
        "workAdd" => {
            let connector_id = string_arg(&args, "connectorId").unwrap_or_default();
            let multipart = args
                .get("isMultiPartWork")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let work = core
                .create_work(&connector_id, string_arg(&args, "friendlyName"), multipart)
                .map_err(|e| ctx.sim_error(e))?;
            views::work(&work)
        }
        "workEdit" => {
            let id = string_arg(&args, "id").unwrap_or_default();
            return Ok(ResolvedValue::object(GqlObject::WorkEdit(ctx, id)));
        }
        "workDelete" => {
            let connector_id = string_arg(&args, "connectorId").unwrap_or_default();
            core.store.write(|state| {
                state
                    .works
                    .retain(|_, work| work.connector_id != connector_id);
            });
            json!(true)
        }
        "stixBundlePush" => {
            let connector_id = string_arg(&args, "connectorId").unwrap_or_default();
            let bundle = string_arg(&args, "bundle").unwrap_or_default();
            match ctx.block_on(core.push_bundle(
                &connector_id,
                &bundle,
                string_arg(&args, "work_id"),
            )) {
                Ok(()) => json!(true),
                Err(PushError::NotABundle) => {
                    return Err(
                        ctx.functional("Bundle must be a STIX bundle holding at least one object")
                    );
                }
                Err(PushError::Sim(error)) => return Err(ctx.sim_error(error)),
            }
        }
        "uploadPending" => {
            let mut file = uploaded(&args, "file", &["file_markings"]);
            file.id = format!("import/pending/{}", file.name);
            file.entity_id = string_arg(&args, "entityId");
            let view = views::file(&file);
            core.store.write(|state| {
                state.files.retain(|f| f.id != file.id);
                state.files.push(file);
            });
            view
        }
        "uploadImport" => {
            let file = uploaded(&args, "file", &["fileMarkings"]);
            let no_trigger = args
                .get("noTriggerImport")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let (file, _) = ctx
                .block_on(core.upload_import(file, no_trigger))
                .map_err(|e| ctx.sim_error(e))?;
            views::file(&file)
        }
        "askJobImport" => {
            let request = crate::jobs::ImportRequest {
                file_id: string_arg(&args, "fileName").unwrap_or_default(),
                connector_id: string_arg(&args, "connectorId"),
                configuration: string_arg(&args, "configuration"),
                bypass_entity_id: string_arg(&args, "bypassEntityId"),
                bypass_validation: args
                    .get("bypassValidation")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                validation_mode: string_arg(&args, "validationMode"),
                force_validation: args
                    .get("forceValidation")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                draft_id: ctx.draft_id.clone(),
            };
            let (file, _) = ctx
                .block_on(core.ask_job_import(&request))
                .map_err(|e| ctx.sim_error(e))?;
            views::file(&file)
        }
        edit @ ("stixCoreObjectEdit" | "stixDomainObjectEdit") => {
            let type_name = if edit == "stixCoreObjectEdit" {
                "StixCoreObjectEditMutations"
            } else {
                "StixDomainObjectEditMutations"
            };
            let id = string_arg(&args, "id").unwrap_or_default();
            return Ok(ResolvedValue::object(GqlObject::EntityEdit(
                ctx, type_name, id,
            )));
        }
        "stixCoreObjectsExportAsk" => {
            let input = args.get("input").cloned().unwrap_or(Value::Null);
            let strings = |key: &str| string_list(input.get(key));
            let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::to_owned);
            let context = input.get("exportContext").cloned().unwrap_or(Value::Null);
            let request = crate::jobs::ListExportRequest {
                entity_type: context
                    .get("entity_type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                entity_id: context
                    .get("entity_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                format: text("format").unwrap_or_default(),
                export_type: text("exportType").unwrap_or_default(),
                selected_ids: strings("selectedIds"),
                search: text("search"),
                filters: input.get("filters").cloned().filter(|f| !f.is_null()),
                order_by: text("orderBy"),
                order_mode: text("orderMode"),
                content_max_markings: strings("contentMaxMarkings"),
                file_markings: strings("fileMarkings"),
            };
            let works = ctx
                .block_on(core.ask_list_export(&request))
                .map_err(|e| ctx.sim_error(e))?;
            Value::Array(works.iter().map(views::export_file).collect())
        }
        "stixCoreObjectsExportPush"
        | "stixDomainObjectsExportPush"
        | "stixCyberObservablesExportPush" => {
            let mut file = uploaded(&args, "file", &["file_markings"]);
            file.list_filters = string_arg(&args, "listFilters");
            let entity_type = string_arg(&args, "entity_type");
            core.store_export(
                string_arg(&args, "entity_id").as_deref(),
                entity_type.as_deref(),
                file,
            )
            .map_err(|e| ctx.sim_error(e))?;
            json!(true)
        }
        "draftWorkspaceAdd" => {
            let input = args.get("input").cloned().unwrap_or(Value::Null);
            let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::to_owned);
            views::draft(&core.add_draft(text("name").unwrap_or_default(), text("entity_id")))
        }
        "playbookStepExecution" => json!(core.playbook_step_execution(args)),
        "connectorJWT" => json!(core.signer.issue(chrono::Utc::now().timestamp())),
        "userAdd" => {
            ctx.require_admin()?;
            let input = args
                .get("input")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let user = core
                .store
                .write(|state| accounts::add_user(state, &input, now()))
                .map_err(|refusal| ctx.functional(refusal.0))?;
            views::platform_user(&user)
        }
        "userAdminTokenAdd" => {
            ctx.require_admin()?;
            let user_id = string_arg(&args, "userId").unwrap_or_default();
            let input = args.get("input");
            let field = |key: &str| {
                input
                    .and_then(|input| input.get(key))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let token = core
                .store
                .write(|state| {
                    accounts::add_token(state, &user_id, &field("name"), &field("duration"), now())
                })
                .map_err(|refusal| ctx.functional(refusal.0))?;
            views::token_generated(&token)
        }
        "userAdminTokenRevoke" => {
            ctx.require_admin()?;
            let user_id = string_arg(&args, "userId").unwrap_or_default();
            let token_id = string_arg(&args, "id").unwrap_or_default();
            core.store
                .write(|state| accounts::revoke_token(state, &user_id, &token_id))
                .map_err(|refusal| ctx.functional(refusal.0))?;
            json!(token_id)
        }
        other => {
            return Err(ctx.functional(format!("Mutation.{other} is not served by the simulator")));
        }
    };
    owned(ctx, info, value)
}

/// A file given to a mutation (`{filename, mimetype, content, encoding?}`
/// as the multipart parser leaves it) with the markings of `marking_keys`.
fn uploaded(args: &Map<String, Value>, key: &str, marking_keys: &[&str]) -> UploadedFile {
    let file = args.get(key).cloned().unwrap_or(Value::Null);
    let text = |key: &str| file.get(key).and_then(Value::as_str).map(str::to_owned);
    let name = text("filename").unwrap_or_else(|| "upload".to_owned());
    UploadedFile {
        id: name.clone(),
        mime_type: text("mimetype"),
        content: text("content").unwrap_or_default(),
        base64: text("encoding").as_deref() == Some("base64"),
        entity_id: None,
        markings: marking_keys
            .iter()
            .flat_map(|key| string_list(args.get(*key)))
            .collect(),
        list_filters: None,
        uploaded_at: now(),
        name,
    }
}

fn entity_edit_field<'b>(
    ctx: &'b Ctx,
    id: &str,
    info: &'b ResolveInfo<'b>,
) -> Result<ResolvedValue<'b>, FieldError> {
    let args = arguments(info);
    let core = &ctx.core;
    let value = match info.field_name() {
        "askEnrichment" => {
            let connector_id = string_arg(&args, "connectorId").unwrap_or_default();
            let work = ctx
                .block_on(core.ask_enrichment(id, &connector_id, ctx.draft_id.clone()))
                .map_err(|e| ctx.sim_error(e))?;
            work.as_ref().map_or(Value::Null, views::work)
        }
        "exportAsk" => {
            let input = args.get("input").cloned().unwrap_or(Value::Null);
            let strings = |key: &str| string_list(input.get(key));
            let request = crate::jobs::ExportRequest {
                entity_id: id.to_owned(),
                format: input
                    .get("format")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                export_type: input
                    .get("exportType")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                content_max_markings: strings("contentMaxMarkings"),
                file_markings: strings("fileMarkings"),
            };
            let works = ctx
                .block_on(core.ask_entity_export(&request))
                .map_err(|e| ctx.sim_error(e))?;
            Value::Array(works.iter().map(views::export_file).collect())
        }
        "exportPush" => {
            let file = uploaded(&args, "file", &["file_markings"]);
            core.store_export(Some(id), None, file)
                .map_err(|e| ctx.sim_error(e))?;
            json!(true)
        }
        other => {
            return Err(ctx.functional(format!("{other} is not served by the simulator")));
        }
    };
    owned(ctx, info, value)
}

fn work_edit_field<'b>(
    ctx: &'b Ctx,
    id: &str,
    info: &'b ResolveInfo<'b>,
) -> Result<ResolvedValue<'b>, FieldError> {
    let args = arguments(info);
    let at = now();
    let field = info.field_name();
    let found = ctx.core.store.write(|state| {
        if field == "delete" {
            return state.works.remove(id).is_some();
        }
        let Some(work) = state.works.get_mut(id) else {
            return false;
        };
        match field {
            "ping" => work.ping(at),
            "reportExpectation" => {
                let error = args
                    .get("error")
                    .filter(|e| !e.is_null())
                    .map(|e| ExpectationError {
                        error: e.get("error").and_then(Value::as_str).map(str::to_owned),
                        source: e.get("source").and_then(Value::as_str).map(str::to_owned),
                    });
                work.report_expectation(error, at);
            }
            "addExpectations" => {
                let count = args
                    .get("expectations")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                work.add_expectations(count, at);
            }
            "addDraftContext" => work.draft_context = string_arg(&args, "draftContext"),
            "toReceived" => work.mark_received(string_arg(&args, "message"), at),
            "toProcessed" => {
                let in_error = args
                    .get("inError")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                work.mark_processed(string_arg(&args, "message"), in_error, at);
            }
            _ => return false,
        }
        true
    });
    if !found {
        match field {
            // The platform counts these in Redis and only warns about unknown works.
            "reportExpectation" | "addExpectations" => {
                tracing::warn!(
                    work_id = id,
                    field,
                    "expectation change on an unknown work ignored"
                );
            }
            "ping" | "addDraftContext" | "toReceived" | "toProcessed" | "delete" => {
                return Err(ctx.functional(format!("Work {id} not found")));
            }
            other => {
                return Err(ctx.functional(format!(
                    "WorkEditMutations.{other} is not served by the simulator"
                )));
            }
        }
    }
    owned(ctx, info, json!(id))
}
