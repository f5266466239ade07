//! Every GraphQL document the runtime sends, as constants.
//!
//! Texts follow pycti's (whitespace aside) so a platform sees the same
//! operations it sees from Python connectors. Where the platform generations
//! differ, a `_V6` and a `_V7` constant exist and [`super::Generation`]
//! picks one.

/// `about.version`, used as health check and to detect the generation.
pub const HEALTH_CHECK: &str = "query healthCheck { about { version } }";

/// Registration, 6.x text (no `jwks`, no `config.s3`).
pub const REGISTER_CONNECTOR_V6: &str =
    "mutation RegisterConnector($input: RegisterConnectorInput) {
  registerConnector(input: $input) {
    id
    connector_state
    config {
      connection { host vhost use_ssl port user pass }
      listen
      listen_routing
      listen_exchange
      push
      push_routing
      push_exchange
    }
    connector_user_id
  }
}";

/// Registration, 7.x text (adds `jwks` and `config.s3`).
pub const REGISTER_CONNECTOR_V7: &str =
    "mutation RegisterConnector($input: RegisterConnectorInput) {
  registerConnector(input: $input) {
    id
    connector_state
    jwks
    config {
      connection { host vhost use_ssl port user pass }
      s3 { endpoint port use_ssl bucket_name bucket_region access_key secret_key }
      listen
      listen_routing
      listen_exchange
      push
      push_routing
      push_exchange
    }
    connector_user_id
  }
}";

/// Liveness ping carrying the state and `connector_info`.
pub const PING_CONNECTOR: &str =
    "mutation PingConnector($id: ID!, $state: String, $connectorInfo: ConnectorInfoInput) {
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
}";

/// The connector as the platform sees it, including its queue size
/// (buffering decisions).
pub const GET_CONNECTOR: &str = "query GetConnector($id: String!) {
  connector(id: $id) {
    id
    name
    active
    auto
    only_contextual
    connector_type
    connector_scope
    connector_state
    connector_queue_details { messages_number messages_size }
    updated_at
    created_at
    config { listen listen_exchange push push_exchange push_routing }
    built_in
  }
}";

/// Creates a work, 6.x text.
pub const WORK_ADD_V6: &str = "mutation workAdd($connectorId: String!, $friendlyName: String) {
  workAdd(connectorId: $connectorId, friendlyName: $friendlyName) { id }
}";

/// Creates a work, 7.x text (multipart flag).
pub const WORK_ADD_V7: &str = "mutation workAdd($connectorId: String!, $friendlyName: String, $isMultiPartWork: Boolean) {
  workAdd(connectorId: $connectorId, friendlyName: $friendlyName, isMultiPartWork: $isMultiPartWork) { id }
}";

/// Marks a work received.
pub const WORK_TO_RECEIVED: &str = "mutation workToReceived($id: ID!, $message: String) {
  workEdit(id: $id) { toReceived(message: $message) }
}";

/// Marks a work processed (maybe in error).
pub const WORK_TO_PROCESSED: &str =
    "mutation workToProcessed($id: ID!, $message: String, $inError: Boolean) {
  workEdit(id: $id) { toProcessed(message: $message, inError: $inError) }
}";

/// Keeps a work alive.
pub const WORK_PING: &str = "mutation pingWork($id: ID!) {
  workEdit(id: $id) { ping }
}";

/// Reports one processed element (with an error or not).
pub const REPORT_EXPECTATION: &str =
    "mutation reportExpectation($id: ID!, $error: WorkErrorInput) {
  workEdit(id: $id) { reportExpectation(error: $error) }
}";

/// Announces how many elements will be reported.
pub const ADD_EXPECTATIONS: &str = "mutation addExpectations($id: ID!, $expectations: Int) {
  workEdit(id: $id) { addExpectations(expectations: $expectations) }
}";

/// Sends a whole bundle through the API (`CONNECTOR_QUEUE_PROTOCOL=api`).
pub const STIX_BUNDLE_PUSH: &str =
    "mutation StixBundlePush($connectorId: String!, $bundle: String!, $work_id: String) {
  stixBundlePush(connectorId: $connectorId, bundle: $bundle, work_id: $work_id)
}";

/// Uploads a bundle as a pending file awaiting human validation (6.x
/// workbench validation). Sent as a multipart upload: `file` travels as a
/// form part.
pub const UPLOAD_PENDING: &str =
    "mutation UploadPending($file: Upload!, $entityId: String, $file_markings: [String!]) {
  uploadPending(file: $file, entityId: $entityId, file_markings: $file_markings) { id name }
}";

/// Creates a draft workspace that receives the bundle (7.x draft
/// validation).
pub const DRAFT_WORKSPACE_ADD: &str =
    "mutation draftWorkspaceAdd($input: DraftWorkspaceAddInput!) {
  draftWorkspaceAdd(input: $input) { id }
}";

/// Attaches a draft to a work.
pub const ADD_DRAFT_CONTEXT: &str = "mutation addDraftContext($id: ID!, $draftContext: String) {
  workEdit(id: $id) { addDraftContext(draftContext: $draftContext) }
}";

/// A live stream collection (stream connectors).
pub const STREAM_COLLECTION: &str = "query StreamCollection($id: String!) {
  streamCollection(id: $id) { id name description stream_live stream_public }
}";

/// Reads the entity an enrichment job is about, with the markings the
/// `CONNECTOR_MAX_TLP` check needs (pycti's `Stix-Core-Object` reader, cut
/// to what the runtime hands the connector).
pub const STIX_CORE_OBJECT: &str = "query StixCoreObject($id: String!) {
  stixCoreObject(id: $id) {
    id standard_id entity_type parent_types
    createdBy { id standard_id entity_type name }
    objectMarking { id standard_id entity_type definition_type definition x_opencti_order x_opencti_color }
    objectLabel { id value color }
    ... on StixCyberObservable { observable_value x_opencti_score x_opencti_description }
  }
}";

/// Hands a playbook step's new bundle back to the platform.
pub const PLAYBOOK_STEP_EXECUTION: &str = "mutation PlaybookStepExecution($execution_id: ID!, $event_id: ID!, $execution_start: DateTime!, $data_instance_id: ID!, $playbook_id: ID!, $previous_step_id: ID!, $step_id: ID!, $previous_bundle: String!, $bundle: String!) {
  playbookStepExecution(execution_id: $execution_id, event_id: $event_id, execution_start: $execution_start, data_instance_id: $data_instance_id, playbook_id: $playbook_id, previous_step_id: $previous_step_id, step_id: $step_id, previous_bundle: $previous_bundle, bundle: $bundle)
}";

/// Uploads the export of one entity (multipart: `file` is a form part).
pub const ENTITY_EXPORT_PUSH: &str =
    "mutation StixDomainObjectEdit($id: ID!, $file: Upload!, $file_markings: [String]!) {
  stixDomainObjectEdit(id: $id) { exportPush(file: $file, file_markings: $file_markings) }
}";

/// Uploads the export of a list of objects of any kind.
pub const CORE_OBJECTS_EXPORT_PUSH: &str = "mutation StixCoreObjectsExportPush($entity_id: String, $entity_type: String!, $file: Upload!, $file_markings: [String]!, $listFilters: String) {
  stixCoreObjectsExportPush(entity_id: $entity_id, entity_type: $entity_type, file: $file, file_markings: $file_markings, listFilters: $listFilters)
}";

/// Uploads the export of a list of domain objects.
pub const DOMAIN_OBJECTS_EXPORT_PUSH: &str = "mutation StixDomainObjectsExportPush($entity_id: String, $entity_type: String!, $file: Upload!, $file_markings: [String]!, $listFilters: String) {
  stixDomainObjectsExportPush(entity_id: $entity_id, entity_type: $entity_type, file: $file, file_markings: $file_markings, listFilters: $listFilters)
}";

/// Uploads the export of a list of observables.
pub const OBSERVABLES_EXPORT_PUSH: &str = "mutation StixCyberObservablesExportPush($entity_id: String, $entity_type: String!, $file: Upload!, $file_markings: [String]!, $listFilters: String) {
  stixCyberObservablesExportPush(entity_id: $entity_id, entity_type: $entity_type, file: $file, file_markings: $file_markings, listFilters: $listFilters)
}";

/// `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT` (7.x): the group service
/// accounts go in, found by name (pycti's `group.list`, fewer fields).
pub const GROUPS_BY_NAME: &str = "query Groups($first: Int, $filters: FilterGroup) {
  groups(first: $first, filters: $filters) {
    edges { node { id name } }
  }
}";

/// `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT` (7.x): the service account,
/// found by e-mail, with its tokens' ids and names (pycti's `user.read`
/// with `include_tokens`).
pub const USERS_BY_EMAIL: &str = "query UserList($first: Int, $filters: FilterGroup) {
  users(first: $first, filters: $filters) {
    edges { node { id name user_email api_tokens { id name } } }
  }
}";

/// `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT` (7.x): creates the service
/// account (pycti's `user.create`).
pub const USER_ADD: &str = "mutation UserAdd($input: UserAddInput!) {
  userAdd(input: $input) { id name user_email api_tokens { id name } }
}";

/// `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT` (7.x): revokes one token of a
/// user (pycti's `user.remove_token`).
pub const USER_ADMIN_TOKEN_REVOKE: &str = "mutation userAdminTokenRevoke($userId: ID!, $id: ID!) {
  userAdminTokenRevoke(userId: $userId, id: $id)
}";

/// `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT` (7.x): creates a token for a
/// user; the answer holds its plaintext, shown this once (pycti's
/// `user.create_token`).
pub const USER_ADMIN_TOKEN_ADD: &str =
    "mutation userAdminTokenAdd($userId: ID!, $input: UserTokenAddInput!) {
  userAdminTokenAdd(userId: $userId, input: $input) {
    token_id
    plaintext_token
    expires_at
  }
}";

/// Every document, for schema validation.
pub const ALL: &[(&str, &str)] = &[
    ("HEALTH_CHECK", HEALTH_CHECK),
    ("REGISTER_CONNECTOR_V6", REGISTER_CONNECTOR_V6),
    ("REGISTER_CONNECTOR_V7", REGISTER_CONNECTOR_V7),
    ("PING_CONNECTOR", PING_CONNECTOR),
    ("GET_CONNECTOR", GET_CONNECTOR),
    ("WORK_ADD_V6", WORK_ADD_V6),
    ("WORK_ADD_V7", WORK_ADD_V7),
    ("WORK_TO_RECEIVED", WORK_TO_RECEIVED),
    ("WORK_TO_PROCESSED", WORK_TO_PROCESSED),
    ("WORK_PING", WORK_PING),
    ("REPORT_EXPECTATION", REPORT_EXPECTATION),
    ("ADD_EXPECTATIONS", ADD_EXPECTATIONS),
    ("STIX_BUNDLE_PUSH", STIX_BUNDLE_PUSH),
    ("UPLOAD_PENDING", UPLOAD_PENDING),
    ("DRAFT_WORKSPACE_ADD", DRAFT_WORKSPACE_ADD),
    ("ADD_DRAFT_CONTEXT", ADD_DRAFT_CONTEXT),
    ("STREAM_COLLECTION", STREAM_COLLECTION),
    ("STIX_CORE_OBJECT", STIX_CORE_OBJECT),
    ("PLAYBOOK_STEP_EXECUTION", PLAYBOOK_STEP_EXECUTION),
    ("ENTITY_EXPORT_PUSH", ENTITY_EXPORT_PUSH),
    ("CORE_OBJECTS_EXPORT_PUSH", CORE_OBJECTS_EXPORT_PUSH),
    ("DOMAIN_OBJECTS_EXPORT_PUSH", DOMAIN_OBJECTS_EXPORT_PUSH),
    ("OBSERVABLES_EXPORT_PUSH", OBSERVABLES_EXPORT_PUSH),
    ("GROUPS_BY_NAME", GROUPS_BY_NAME),
    ("USERS_BY_EMAIL", USERS_BY_EMAIL),
    ("USER_ADD", USER_ADD),
    ("USER_ADMIN_TOKEN_REVOKE", USER_ADMIN_TOKEN_REVOKE),
    ("USER_ADMIN_TOKEN_ADD", USER_ADMIN_TOKEN_ADD),
];
