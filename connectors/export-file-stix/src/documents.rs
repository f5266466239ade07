//! The GraphQL documents the connector sends. Each selects the fields the
//! Python connector's readers select, in the same order: the exported
//! objects keep the order of the platform's answer, so the files match
//! key for key. Every document validates against the schema subset
//! (`tests/documents.rs`).

/// The author of an object, as a STIX identity (sightings' readers leave
/// out its `spec_version`).
macro_rules! author_fields {
    () => {
        author_fields!("spec_version ")
    };
    ($spec_version:literal) => {
        concat!(
            "createdBy {
      ... on Identity { id standard_id entity_type parent_types ",
            $spec_version,
            "identity_class name
        description roles contact_information x_opencti_aliases created modified
        objectLabel { id value color } }
      ... on Organization { x_opencti_organization_type x_opencti_reliability }
      ... on Individual { x_opencti_firstname x_opencti_lastname }
    }"
        )
    };
}

macro_rules! marking_fields {
    () => {
        "objectMarking { id standard_id entity_type definition_type definition created modified
      x_opencti_order x_opencti_color }"
    };
}

macro_rules! reference_fields {
    () => {
        "externalReferences { edges { node { id standard_id entity_type source_name description url
      hash external_id created modified } } }"
    };
}

/// The fields of a cyber observable, every observable type's own included.
macro_rules! observable_fields {
    () => {
        concat!(
            "id standard_id entity_type parent_types spec_version created_at updated_at
    objectOrganization { id standard_id name }
    creators { id name }
    ",
            author_fields!(),
            "
    ",
            marking_fields!(),
            "
    objectLabel { id value color }
    ",
            reference_fields!(),
            "
    observable_value x_opencti_description x_opencti_score
    indicators { edges { node { id pattern pattern_type } } }
    ... on AutonomousSystem { number name rir }
    ... on Directory { path path_enc ctime mtime atime }
    ... on DomainName { value }
    ... on EmailAddr { value display_name }
    ... on EmailMessage { is_multipart attribute_date content_type message_id subject received_lines body }
    ... on Artifact { mime_type payload_bin url encryption_algorithm decryption_key
      hashes { algorithm hash } }
    ... on StixFile { extensions size name name_enc magic_number_hex mime_type ctime mtime atime
      x_opencti_additional_names hashes { algorithm hash } }
    ... on X509Certificate { is_self_signed version serial_number signature_algorithm issuer subject
      subject_public_key_algorithm subject_public_key_modulus subject_public_key_exponent
      validity_not_before validity_not_after hashes { algorithm hash } basic_constraints
      name_constraints policy_constraints key_usage extended_key_usage subject_key_identifier
      authority_key_identifier subject_alternative_name issuer_alternative_name
      subject_directory_attributes crl_distribution_points inhibit_any_policy
      private_key_usage_period_not_before private_key_usage_period_not_after
      certificate_policies policy_mappings }
    ... on SSHKey { key_type public_key fingerprint_sha256 fingerprint_md5 key_length
      expiration_date comment created }
    ... on AIPrompt { value }
    ... on IPv4Addr { value }
    ... on IPv6Addr { value }
    ... on MacAddr { value }
    ... on Mutex { name }
    ... on NetworkTraffic { extensions start end is_active src_port dst_port protocols
      src_byte_count dst_byte_count src_packets dst_packets }
    ... on Process { extensions is_hidden pid created_time cwd command_line environment_variables }
    ... on Software { name cpe swid languages vendor version x_opencti_product }
    ... on Url { value }
    ... on UserAccount { extensions user_id credential account_login account_type display_name
      is_service_account is_privileged can_escalate_privs is_disabled account_created
      account_expires credential_last_changed account_first_login account_last_login }
    ... on WindowsRegistryKey { attribute_key modified_time number_of_subkeys }
    ... on WindowsRegistryValueType { name data data_type }
    ... on CryptographicKey { value }
    ... on CryptocurrencyWallet { value }
    ... on Hostname { value }
    ... on Text { value }
    ... on UserAgent { value }
    ... on BankAccount { iban bic account_number }
    ... on PhoneNumber { value }
    ... on TrackingNumber { value }
    ... on Credential { value }
    ... on PaymentCard { card_number expiration_date cvv holder_name }
    ... on Persona { persona_name persona_type }
    ... on MediaContent { title content media_category url publication_date }
    ... on IMEI { value }
    ... on ICCID { value }
    ... on IMSI { value }"
        )
    };
}

/// The fields of a relationship (core or sighting) and of its two ends.
macro_rules! relationship_fields {
    ($own:literal, $creators:literal, $author_spec_version:literal) => {
        concat!(
            "id entity_type parent_types spec_version created_at updated_at standard_id ",
            $own,
            "
    customFieldValues { field_id field_name int_value string_value boolean_value date_value
      select_value select_values }
    status { id template { id name color } }
    ",
            $creators,
            author_fields!($author_spec_version),
            "
    ",
            marking_fields!(),
            "
    objectOrganization { id standard_id name }
    objectLabel { id value color }
    ",
            reference_fields!(),
            "
    from { ... on BasicObject { id entity_type parent_types } ... on BasicRelationship { id entity_type parent_types }
      ... on StixObject { standard_id } ... on StixCoreRelationship { standard_id } }
    to { ... on BasicObject { id entity_type parent_types } ... on BasicRelationship { id entity_type parent_types }
      ... on StixObject { standard_id } ... on StixCoreRelationship { standard_id } }"
        )
    };
}

macro_rules! page_info {
    () => {
        "pageInfo { endCursor hasNextPage }"
    };
}

/// One cyber observable by id.
pub const READ_OBSERVABLE: &str = concat!(
    "query ExportReadObservable($id: String!) {\n  stixCyberObservable(id: $id) {\n    ",
    observable_fields!(),
    "\n  }\n}\n"
);

/// Cyber observables by search and filters, a page at a time.
pub const LIST_OBSERVABLES: &str = concat!(
    "query ExportListObservables($types: [String], $filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: StixCyberObservablesOrdering, $orderMode: OrderingMode) {
  stixCyberObservables(types: $types, filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    observable_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Core relationships from or to an object, a page at a time.
pub const LIST_RELATIONSHIPS: &str = concat!(
    "query ExportListRelationships($fromOrToId: [String], $filters: FilterGroup, $first: Int, $after: ID) {
  stixCoreRelationships(fromOrToId: $fromOrToId, filters: $filters, first: $first, after: $after) {
    edges { node {
    ",
    relationship_fields!(
        "relationship_type description start_time stop_time revoked confidence lang created modified
    coverage_information { coverage_name coverage_score }",
        "creators { id name }
    ",
        "spec_version "
    ),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Sightings of or where an object was sighted, a page at a time.
pub const LIST_SIGHTINGS: &str = concat!(
    "query ExportListSightings($fromOrToId: String, $filters: FilterGroup, $first: Int, $after: ID) {
  stixSightingRelationships(fromOrToId: $fromOrToId, filters: $filters, first: $first, after: $after) {
    edges { node {
    ",
    relationship_fields!(
        "description first_seen last_seen attribute_count x_opencti_negative created modified
    confidence",
        "",
        ""
    ),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Objects and relationships matching filters (a selection, or the access
/// check of a relationship's end), a page at a time.
pub const LIST_OBJECTS_OR_RELATIONSHIPS: &str =
    "query ExportListObjectsOrRelationships($filters: FilterGroup, $first: Int, $after: ID) {
  stixObjectOrStixRelationships(filters: $filters, first: $first, after: $after) {
    edges { node {
      ... on BasicObject { id entity_type parent_types }
      ... on BasicRelationship { id entity_type parent_types }
    } }
    pageInfo { endCursor hasNextPage }
  }
}
";

/// The nested references of an object (`resolves_to_refs`, `src_ref`, ...).
pub const LIST_NESTED_REFS: &str =
    "query ExportListNestedRefs($fromId: StixRef, $filters: FilterGroup, $first: Int, $after: ID) {
  stixNestedRefRelationships(fromId: $fromId, filters: $filters, first: $first, after: $after) {
    edges { node {
      relationship_type
      to { ... on StixObject { standard_id } ... on StixCoreRelationship { standard_id } }
    } }
    pageInfo { endCursor hasNextPage }
  }
}
";

/// Domain objects by filters, with the fields of identities (the order of
/// the Python connector's domain object reader).
pub const LIST_IDENTITIES: &str = concat!(
    "query ExportListIdentities($filters: FilterGroup, $first: Int, $after: ID) {
  stixDomainObjects(filters: $filters, first: $first, after: $after) {
    edges { node {
    customFieldValues { field_id field_name int_value string_value boolean_value date_value
      select_value select_values }
    id standard_id entity_type parent_types spec_version created_at updated_at
    objectOrganization { id standard_id name }
    creators { id name }
    ",
    author_fields!(),
    "
    ",
    marking_fields!(),
    "
    objectLabel { id value color }
    ",
    reference_fields!(),
    "
    revoked confidence created modified
    ... on Individual { name description x_opencti_aliases contact_information x_opencti_firstname x_opencti_lastname }
    ... on Organization { name description x_opencti_aliases contact_information x_opencti_organization_type x_opencti_reliability }
    ... on Sector { name description x_opencti_aliases contact_information }
    ... on System { name description x_opencti_aliases }
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Every document, named, for the schema check.
pub const ALL: &[(&str, &str)] = &[
    ("READ_OBSERVABLE", READ_OBSERVABLE),
    ("LIST_OBSERVABLES", LIST_OBSERVABLES),
    ("LIST_IDENTITIES", LIST_IDENTITIES),
    ("LIST_RELATIONSHIPS", LIST_RELATIONSHIPS),
    ("LIST_SIGHTINGS", LIST_SIGHTINGS),
    (
        "LIST_OBJECTS_OR_RELATIONSHIPS",
        LIST_OBJECTS_OR_RELATIONSHIPS,
    ),
    ("LIST_NESTED_REFS", LIST_NESTED_REFS),
];
