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

/// The fields of a report (entity reads and lists in simple mode).
macro_rules! report_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases x_opencti_reliability created modified objectLabel {
    id value color } } ... on Organization { x_opencti_organization_type } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked x_opencti_reliability confidence created modified name description content
    report_types published objects(all: true) { edges { node { ... on BasicObject { id entity_type
    parent_types } ... on BasicRelationship { id entity_type parent_types } ... on StixObject {
    standard_id spec_version created_at updated_at } ... on AttackPattern { name } ... on Campaign {
    name } ... on CourseOfAction { name } ... on Individual { name } ... on Organization { name }
    ... on Sector { name } ... on System { name } ... on Indicator { name } ... on Infrastructure {
    name } ... on IntrusionSet { name } ... on Position { name } ... on City { name } ... on Country
    { name } ... on Region { name } ... on Malware { name } ... on ThreatActor { name } ... on Tool
    { name } ... on Vulnerability { name } ... on Incident { name } ... on Event { name } ... on
    Channel { name } ... on Narrative { name } ... on Language { name } ... on DataComponent { name
    } ... on DataSource { name } ... on Case { name } ... on StixCyberObservable { observable_value
    } ... on StixCoreRelationship { standard_id spec_version created_at updated_at relationship_type
    } ... on StixSightingRelationship { standard_id spec_version created_at updated_at } } } }"
    };
}

/// The fields of a report read for a full export (pycti's `withFiles` fields: no `content`; the files themselves are not fetched).
macro_rules! report_files_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases x_opencti_reliability created modified objectLabel {
    id value color } } ... on Organization { x_opencti_organization_type } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked x_opencti_reliability confidence created modified name description report_types
    published objects(all: true) { edges { node { ... on BasicObject { id entity_type parent_types }
    ... on BasicRelationship { id entity_type parent_types } ... on StixObject { standard_id
    spec_version created_at updated_at } ... on AttackPattern { name } ... on Campaign { name } ...
    on CourseOfAction { name } ... on Individual { name } ... on Organization { name } ... on Sector
    { name } ... on System { name } ... on Indicator { name } ... on Infrastructure { name } ... on
    IntrusionSet { name } ... on Position { name } ... on City { name } ... on Country { name } ...
    on Region { name } ... on Malware { name } ... on ThreatActor { name } ... on Tool { name } ...
    on Vulnerability { name } ... on Incident { name } ... on Event { name } ... on Channel { name }
    ... on Narrative { name } ... on Language { name } ... on DataComponent { name } ... on
    DataSource { name } ... on Case { name } ... on StixCyberObservable { observable_value } ... on
    StixCoreRelationship { standard_id spec_version created_at updated_at relationship_type } ... on
    StixSightingRelationship { standard_id spec_version created_at updated_at } } } }"
    };
}

/// The fields of a malware.
macro_rules! malware_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence x_opencti_score created modified name description aliases malware_types
    is_family first_seen last_seen architecture_execution_envs implementation_languages capabilities
    killChainPhases { id standard_id entity_type kill_chain_name phase_name x_opencti_order created
    modified } samples { id }"
    };
}

/// The fields of an indicator.
macro_rules! indicator_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at creators { id name } createdBy { ... on Identity { id standard_id entity_type
    parent_types spec_version identity_class name description roles contact_information
    x_opencti_aliases created modified objectLabel { id value color } } ... on Organization {
    x_opencti_organization_type x_opencti_reliability } ... on Individual { x_opencti_firstname
    x_opencti_lastname } } objectOrganization { id standard_id name } objectMarking { id standard_id
    entity_type definition_type definition created modified x_opencti_order x_opencti_color }
    objectLabel { id value color } externalReferences { edges { node { id standard_id entity_type
    source_name description url hash external_id created modified } } } revoked confidence created
    modified pattern_type pattern_version pattern name description indicator_types valid_from
    valid_until x_opencti_score x_opencti_detection x_opencti_main_observable_type
    x_opencti_observable_values { type value hashes { algorithm hash } } x_mitre_platforms
    observables { edges { node { id entity_type observable_value } } } killChainPhases { id
    standard_id entity_type kill_chain_name phase_name x_opencti_order created modified }"
    };
}

/// The fields of an intrusion set.
macro_rules! intrusion_set_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified name description aliases first_seen last_seen goals
    resource_level primary_motivation secondary_motivations x_opencti_score"
    };
}

/// The fields of an identity (pycti's identity reader).
macro_rules! identity_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases x_opencti_reliability created modified objectLabel {
    id value color } } ... on Organization { x_opencti_organization_type x_opencti_score } ... on
    Individual { x_opencti_firstname x_opencti_lastname } ... on SecurityPlatform {
    security_platform_type } } objectMarking { id standard_id entity_type definition_type definition
    created modified x_opencti_order x_opencti_color } objectOrganization { id standard_id name }
    objectLabel { id value color } externalReferences { edges { node { id standard_id entity_type
    source_name description url hash external_id created modified } } } revoked confidence created
    modified identity_class name description x_opencti_aliases x_opencti_reliability
    contact_information ... on Individual { x_opencti_firstname x_opencti_lastname } ... on
    Organization { x_opencti_organization_type x_opencti_score } ... on SecurityPlatform {
    security_platform_type }"
    };
}

/// The fields of any domain object (pycti's generic domain object reader).
macro_rules! domain_object_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at objectOrganization { id standard_id name } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectMarking { id standard_id entity_type
    definition_type definition created modified x_opencti_order x_opencti_color } objectLabel { id
    value color } externalReferences { edges { node { id standard_id entity_type source_name
    description url hash external_id created modified } } } revoked confidence created modified ...
    on AttackPattern { name description aliases x_mitre_platforms x_mitre_permissions_required
    x_mitre_detection x_mitre_id killChainPhases { id standard_id entity_type kill_chain_name
    phase_name x_opencti_order created modified } } ... on Campaign { name description aliases
    first_seen last_seen objective } ... on Note { attribute_abstract content authors note_types
    likelihood objects { edges { node { ... on BasicObject { id parent_types entity_type standard_id
    } ... on BasicRelationship { id parent_types entity_type standard_id } } } } } ... on
    ObservedData { first_observed last_observed number_observed objects { edges { node { ... on
    BasicObject { id parent_types entity_type standard_id } ... on BasicRelationship { id
    parent_types entity_type standard_id } } } } } ... on Opinion { explanation authors opinion
    objects { edges { node { ... on BasicObject { id parent_types entity_type standard_id } ... on
    BasicRelationship { id parent_types entity_type standard_id } } } } } ... on Report { name
    description report_types published objects { edges { node { ... on BasicObject { id parent_types
    entity_type standard_id } ... on BasicRelationship { id parent_types entity_type standard_id } }
    } } } ... on Grouping { name description context objects { edges { node { ... on BasicObject {
    id parent_types entity_type standard_id } ... on BasicRelationship { id parent_types entity_type
    standard_id } } } } } ... on CourseOfAction { name description x_opencti_aliases } ... on
    DataComponent { name description dataSource { id standard_id entity_type parent_types
    spec_version created_at updated_at revoked confidence created modified name description
    x_mitre_platforms collection_layers } } ... on DataSource { name description x_mitre_platforms
    collection_layers } ... on Individual { name description x_opencti_aliases contact_information
    x_opencti_firstname x_opencti_lastname } ... on Organization { name description
    x_opencti_aliases contact_information x_opencti_organization_type x_opencti_reliability } ... on
    Sector { name description x_opencti_aliases contact_information } ... on System { name
    description x_opencti_aliases } ... on Indicator { pattern_type pattern_version pattern name
    description indicator_types valid_from valid_until x_opencti_score x_opencti_detection
    x_opencti_main_observable_type } ... on Infrastructure { name description aliases
    infrastructure_types first_seen last_seen } ... on IntrusionSet { name description aliases
    first_seen last_seen goals resource_level primary_motivation secondary_motivations
    x_opencti_score } ... on City { name description latitude longitude precision x_opencti_aliases
    } ... on Country { name description latitude longitude precision x_opencti_aliases } ... on
    Region { name description latitude longitude precision x_opencti_aliases } ... on Position {
    name description latitude longitude precision x_opencti_aliases street_address postal_code } ...
    on Malware { name description aliases malware_types is_family first_seen last_seen
    architecture_execution_envs implementation_languages capabilities killChainPhases { id
    standard_id entity_type kill_chain_name phase_name x_opencti_order created modified } } ... on
    MalwareAnalysis { product version configuration_version modules analysis_engine_version
    analysis_definition_version submitted analysis_started analysis_ended result_name result } ...
    on ThreatActor { name description aliases threat_actor_types first_seen last_seen roles goals
    sophistication resource_level primary_motivation secondary_motivations personal_motivations }
    ... on ThreatActorGroup { x_opencti_score } ... on Tool { name description aliases tool_types
    tool_version killChainPhases { id standard_id entity_type kill_chain_name phase_name
    x_opencti_order created modified } } ... on Event { name description aliases event_types } ...
    on Channel { name description aliases channel_types } ... on Narrative { name description
    aliases narrative_types } ... on DataComponent { name description } ... on DataSource { name
    description } ... on Case { name description objects { edges { node { ... on BasicObject { id
    parent_types entity_type standard_id } ... on BasicRelationship { id parent_types entity_type
    standard_id } } } } } ... on Vulnerability { name description x_opencti_aliases
    x_opencti_cvss_vector_string x_opencti_cvss_base_score x_opencti_cvss_base_severity
    x_opencti_cvss_attack_vector x_opencti_cvss_attack_complexity x_opencti_cvss_privileges_required
    x_opencti_cvss_user_interaction x_opencti_cvss_scope x_opencti_cvss_confidentiality_impact
    x_opencti_cvss_integrity_impact x_opencti_cvss_availability_impact
    x_opencti_cvss_exploit_code_maturity x_opencti_cvss_remediation_level
    x_opencti_cvss_report_confidence x_opencti_cvss_temporal_score x_opencti_cvss_v2_vector_string
    x_opencti_cvss_v2_base_score x_opencti_cvss_v2_access_vector x_opencti_cvss_v2_access_complexity
    x_opencti_cvss_v2_authentication x_opencti_cvss_v2_confidentiality_impact
    x_opencti_cvss_v2_integrity_impact x_opencti_cvss_v2_availability_impact
    x_opencti_cvss_v2_exploitability x_opencti_cvss_v2_remediation_level
    x_opencti_cvss_v2_report_confidence x_opencti_cvss_v2_temporal_score
    x_opencti_cvss_v4_vector_string x_opencti_cvss_v4_base_score x_opencti_cvss_v4_base_severity
    x_opencti_cvss_v4_attack_vector x_opencti_cvss_v4_attack_complexity
    x_opencti_cvss_v4_attack_requirements x_opencti_cvss_v4_privileges_required
    x_opencti_cvss_v4_user_interaction x_opencti_cvss_v4_confidentiality_impact_v
    x_opencti_cvss_v4_confidentiality_impact_s x_opencti_cvss_v4_integrity_impact_v
    x_opencti_cvss_v4_integrity_impact_s x_opencti_cvss_v4_availability_impact_v
    x_opencti_cvss_v4_availability_impact_s x_opencti_cvss_v4_exploit_maturity
    x_opencti_ssvc_exploitation x_opencti_ssvc_automatable x_opencti_ssvc_technical_impact
    x_opencti_cwe x_opencti_cisa_kev x_opencti_epss_score x_opencti_epss_percentile x_opencti_score
    } ... on Incident { name description aliases first_seen last_seen objective }"
    };
}

/// The fields of any core object (pycti's generic core object lister).
macro_rules! core_object_fields {
    () => {
        "id standard_id entity_type parent_types spec_version created_at updated_at objectOrganization {
    id standard_id name } creators { id name } createdBy { ... on Identity { id standard_id
    entity_type parent_types spec_version identity_class name description roles contact_information
    x_opencti_aliases created modified objectLabel { id value color } } ... on Organization {
    x_opencti_organization_type x_opencti_reliability } ... on Individual { x_opencti_firstname
    x_opencti_lastname } } objectMarking { id standard_id entity_type definition_type definition
    created modified x_opencti_order x_opencti_color } objectLabel { id value color }
    externalReferences { edges { node { id standard_id entity_type source_name description url hash
    external_id created modified } } } ... on StixDomainObject { customFieldValues { field_id
    field_name int_value string_value boolean_value date_value select_value select_values } revoked
    confidence created modified } ... on AttackPattern { name description aliases x_mitre_platforms
    x_mitre_permissions_required x_mitre_detection x_mitre_id killChainPhases { id standard_id
    entity_type kill_chain_name phase_name x_opencti_order created modified } } ... on Campaign {
    name description aliases first_seen last_seen objective } ... on Note { attribute_abstract
    content authors note_types likelihood } ... on ObservedData { first_observed last_observed
    number_observed } ... on Opinion { explanation authors opinion } ... on Report { name
    description report_types published } ... on Grouping { name description context objects { edges
    { node { ... on BasicObject { id entity_type standard_id } ... on BasicRelationship { id
    entity_type standard_id } } } } } ... on CourseOfAction { name description x_opencti_aliases }
    ... on DataComponent { name description dataSource { id standard_id entity_type parent_types
    spec_version created_at updated_at revoked confidence created modified name description
    x_mitre_platforms collection_layers } } ... on DataSource { name description x_mitre_platforms
    collection_layers } ... on Individual { name description contact_information x_opencti_aliases
    x_opencti_firstname x_opencti_lastname } ... on Organization { name description
    contact_information x_opencti_aliases x_opencti_organization_type x_opencti_reliability } ... on
    Sector { name description contact_information x_opencti_aliases } ... on System { name
    description contact_information x_opencti_aliases } ... on Indicator { pattern_type
    pattern_version pattern name description indicator_types valid_from valid_until x_opencti_score
    x_opencti_detection x_opencti_main_observable_type } ... on Infrastructure { name description
    aliases infrastructure_types first_seen last_seen } ... on IntrusionSet { name description
    aliases first_seen last_seen goals resource_level primary_motivation secondary_motivations
    x_opencti_score } ... on City { name description latitude longitude precision x_opencti_aliases
    } ... on Country { name description latitude longitude precision x_opencti_aliases } ... on
    Region { name description latitude longitude precision x_opencti_aliases } ... on Position {
    name description latitude longitude precision x_opencti_aliases street_address postal_code } ...
    on Malware { name description aliases malware_types is_family first_seen last_seen
    architecture_execution_envs implementation_languages capabilities killChainPhases { id
    standard_id entity_type kill_chain_name phase_name x_opencti_order created modified } } ... on
    MalwareAnalysis { product version configuration_version modules analysis_engine_version
    analysis_definition_version submitted analysis_started analysis_ended result_name result } ...
    on ThreatActor { name description aliases threat_actor_types first_seen last_seen roles goals
    sophistication resource_level primary_motivation secondary_motivations personal_motivations }
    ... on Tool { name description aliases tool_types tool_version killChainPhases { id standard_id
    entity_type kill_chain_name phase_name x_opencti_order created modified } } ... on Vulnerability
    { name description x_opencti_aliases x_opencti_cvss_vector_string x_opencti_cvss_base_score
    x_opencti_cvss_base_severity x_opencti_cvss_attack_vector x_opencti_cvss_attack_complexity
    x_opencti_cvss_privileges_required x_opencti_cvss_user_interaction x_opencti_cvss_scope
    x_opencti_cvss_confidentiality_impact x_opencti_cvss_integrity_impact
    x_opencti_cvss_availability_impact x_opencti_cvss_exploit_code_maturity
    x_opencti_cvss_remediation_level x_opencti_cvss_report_confidence x_opencti_cvss_temporal_score
    x_opencti_cvss_v2_vector_string x_opencti_cvss_v2_base_score x_opencti_cvss_v2_access_vector
    x_opencti_cvss_v2_access_complexity x_opencti_cvss_v2_authentication
    x_opencti_cvss_v2_confidentiality_impact x_opencti_cvss_v2_integrity_impact
    x_opencti_cvss_v2_availability_impact x_opencti_cvss_v2_exploitability
    x_opencti_cvss_v2_remediation_level x_opencti_cvss_v2_report_confidence
    x_opencti_cvss_v2_temporal_score x_opencti_cvss_v4_vector_string x_opencti_cvss_v4_base_score
    x_opencti_cvss_v4_base_severity x_opencti_cvss_v4_attack_vector
    x_opencti_cvss_v4_attack_complexity x_opencti_cvss_v4_attack_requirements
    x_opencti_cvss_v4_privileges_required x_opencti_cvss_v4_user_interaction
    x_opencti_cvss_v4_confidentiality_impact_v x_opencti_cvss_v4_confidentiality_impact_s
    x_opencti_cvss_v4_integrity_impact_v x_opencti_cvss_v4_integrity_impact_s
    x_opencti_cvss_v4_availability_impact_v x_opencti_cvss_v4_availability_impact_s
    x_opencti_cvss_v4_exploit_maturity x_opencti_ssvc_exploitation x_opencti_ssvc_automatable
    x_opencti_ssvc_technical_impact x_opencti_cwe x_opencti_cisa_kev x_opencti_epss_score
    x_opencti_epss_percentile x_opencti_score } ... on Incident { name description aliases
    first_seen last_seen objective } ... on Event { name description } ... on Channel { name
    description aliases channel_types } ... on Narrative { name description aliases narrative_types
    } ... on Case { name description objects { edges { node { ... on BasicObject { id entity_type
    standard_id } ... on BasicRelationship { id entity_type standard_id } } } } } ... on Feedback {
    name description objects { edges { node { ... on BasicObject { id entity_type standard_id } ...
    on BasicRelationship { id entity_type standard_id } } } } } ... on StixCyberObservable {
    observable_value indicators { edges { node { id pattern pattern_type } } } } ... on
    AutonomousSystem { number name_alt: name rir } ... on Directory { path path_enc ctime mtime
    atime } ... on DomainName { value } ... on EmailAddr { value display_name } ... on EmailMessage
    { is_multipart attribute_date content_type message_id subject received_lines body } ... on
    Artifact { mime_type payload_bin url encryption_algorithm decryption_key hashes { algorithm hash
    } importFiles { edges { node { id name size } } } } ... on StixFile { extensions size name_alt:
    name name_enc magic_number_hex mime_type ctime mtime atime x_opencti_additional_names hashes {
    algorithm hash } } ... on X509Certificate { is_self_signed version serial_number
    signature_algorithm issuer subject subject_public_key_algorithm subject_public_key_modulus
    subject_public_key_exponent validity_not_before validity_not_after hashes { algorithm hash }
    basic_constraints name_constraints policy_constraints key_usage extended_key_usage
    subject_key_identifier authority_key_identifier subject_alternative_name issuer_alternative_name
    subject_directory_attributes crl_distribution_points inhibit_any_policy
    private_key_usage_period_not_before private_key_usage_period_not_after certificate_policies
    policy_mappings } ... on IPv4Addr { value } ... on IPv6Addr { value } ... on MacAddr { value }
    ... on Mutex { name_alt: name } ... on NetworkTraffic { extensions start end is_active src_port
    dst_port protocols src_byte_count dst_byte_count src_packets dst_packets } ... on Process {
    extensions is_hidden pid created_time cwd command_line environment_variables } ... on Software {
    name_alt: name cpe swid languages vendor version } ... on Url { value } ... on UserAccount {
    extensions user_id credential account_login account_type display_name is_service_account
    is_privileged can_escalate_privs is_disabled account_created account_expires
    credential_last_changed account_first_login account_last_login } ... on WindowsRegistryKey {
    attribute_key modified_time number_of_subkeys } ... on WindowsRegistryValueType { name_alt: name
    data data_type } ... on CryptographicKey { value } ... on CryptocurrencyWallet { value } ... on
    Hostname { value } ... on Text { value } ... on UserAgent { value } ... on BankAccount { iban
    bic account_number } ... on PhoneNumber { value } ... on TrackingNumber { value } ... on
    Credential { value } ... on PaymentCard { card_number expiration_date cvv holder_name } ... on
    Persona { persona_name persona_type } ... on MediaContent { title content_alt: content
    media_category url publication_date }"
    };
}

/// The fields of an attack pattern.
macro_rules! attack_pattern_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified name description aliases x_mitre_platforms
    x_mitre_permissions_required x_mitre_detection x_mitre_id killChainPhases { id standard_id
    entity_type kill_chain_name phase_name x_opencti_order created modified }"
    };
}

/// The fields of a vulnerability.
macro_rules! vulnerability_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified name description x_opencti_aliases
    x_opencti_cvss_vector_string x_opencti_cvss_base_score x_opencti_cvss_base_severity
    x_opencti_cvss_attack_vector x_opencti_cvss_attack_complexity x_opencti_cvss_privileges_required
    x_opencti_cvss_user_interaction x_opencti_cvss_scope x_opencti_cvss_confidentiality_impact
    x_opencti_cvss_integrity_impact x_opencti_cvss_availability_impact
    x_opencti_cvss_exploit_code_maturity x_opencti_cvss_remediation_level
    x_opencti_cvss_report_confidence x_opencti_cvss_temporal_score x_opencti_cvss_v2_vector_string
    x_opencti_cvss_v2_base_score x_opencti_cvss_v2_access_vector x_opencti_cvss_v2_access_complexity
    x_opencti_cvss_v2_authentication x_opencti_cvss_v2_confidentiality_impact
    x_opencti_cvss_v2_integrity_impact x_opencti_cvss_v2_availability_impact
    x_opencti_cvss_v2_exploitability x_opencti_cvss_v2_remediation_level
    x_opencti_cvss_v2_report_confidence x_opencti_cvss_v2_temporal_score
    x_opencti_cvss_v4_vector_string x_opencti_cvss_v4_base_score x_opencti_cvss_v4_base_severity
    x_opencti_cvss_v4_attack_vector x_opencti_cvss_v4_attack_complexity
    x_opencti_cvss_v4_attack_requirements x_opencti_cvss_v4_privileges_required
    x_opencti_cvss_v4_user_interaction x_opencti_cvss_v4_confidentiality_impact_v
    x_opencti_cvss_v4_confidentiality_impact_s x_opencti_cvss_v4_integrity_impact_v
    x_opencti_cvss_v4_integrity_impact_s x_opencti_cvss_v4_availability_impact_v
    x_opencti_cvss_v4_availability_impact_s x_opencti_cvss_v4_exploit_maturity
    x_opencti_ssvc_exploitation x_opencti_ssvc_automatable x_opencti_ssvc_technical_impact
    x_opencti_cwe x_opencti_first_seen_active x_opencti_cisa_kev x_opencti_epss_score
    x_opencti_epss_percentile x_opencti_score"
    };
}

/// The fields of a tool.
macro_rules! tool_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified name description aliases tool_types tool_version
    killChainPhases { id standard_id entity_type kill_chain_name phase_name x_opencti_order created
    modified }"
    };
}

/// The fields of a campaign.
macro_rules! campaign_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified name description aliases first_seen last_seen
    objective"
    };
}

/// The fields of a threat actor group.
macro_rules! threat_actor_group_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified name description aliases threat_actor_types first_seen
    last_seen roles goals sophistication resource_level x_opencti_score primary_motivation
    secondary_motivations personal_motivations"
    };
}

/// The fields of an individual threat actor.
macro_rules! threat_actor_individual_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified name description aliases threat_actor_types first_seen
    last_seen roles goals sophistication resource_level primary_motivation secondary_motivations
    personal_motivations"
    };
}

/// The fields of a course of action.
macro_rules! course_of_action_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified name description x_opencti_aliases x_mitre_id"
    };
}

/// The fields of an infrastructure.
macro_rules! infrastructure_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified name description infrastructure_types first_seen
    last_seen killChainPhases { id standard_id entity_type kill_chain_name phase_name
    x_opencti_order created modified }"
    };
}

/// The fields of a location (country, city, region, position, ...).
macro_rules! location_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectMarking { id standard_id entity_type
    definition_type definition created modified x_opencti_order x_opencti_color } objectOrganization
    { id standard_id name } objectLabel { id value color } externalReferences { edges { node { id
    standard_id entity_type source_name description url hash external_id created modified } } }
    revoked confidence created modified name description latitude longitude precision
    x_opencti_aliases"
    };
}

/// The fields of a note.
macro_rules! note_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified attribute_abstract content authors note_types
    likelihood objects(all: true) { edges { node { ... on BasicObject { id entity_type parent_types
    } ... on BasicRelationship { id entity_type parent_types } ... on StixObject { standard_id
    spec_version created_at updated_at } ... on AttackPattern { name } ... on Campaign { name } ...
    on CourseOfAction { name } ... on Individual { name } ... on Organization { name } ... on Sector
    { name } ... on System { name } ... on Indicator { name } ... on Infrastructure { name } ... on
    IntrusionSet { name } ... on Position { name } ... on City { name } ... on Country { name } ...
    on Region { name } ... on Malware { name } ... on ThreatActor { name } ... on Tool { name } ...
    on Vulnerability { name } ... on Incident { name } ... on Event { name } ... on Channel { name }
    ... on Narrative { name } ... on Language { name } ... on DataComponent { name } ... on
    DataSource { name } ... on Case { name } ... on StixCyberObservable { observable_value } ... on
    StixCoreRelationship { standard_id spec_version created_at updated_at relationship_type } ... on
    StixSightingRelationship { standard_id spec_version created_at updated_at } } } }"
    };
}

/// The fields of an opinion.
macro_rules! opinion_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified explanation authors opinion objects(all: true) { edges
    { node { ... on BasicObject { id entity_type parent_types } ... on BasicRelationship { id
    entity_type parent_types } ... on StixObject { standard_id spec_version created_at updated_at }
    ... on AttackPattern { name } ... on Campaign { name } ... on CourseOfAction { name } ... on
    Individual { name } ... on Organization { name } ... on Sector { name } ... on System { name }
    ... on Indicator { name } ... on Infrastructure { name } ... on IntrusionSet { name } ... on
    Position { name } ... on City { name } ... on Country { name } ... on Region { name } ... on
    Malware { name } ... on ThreatActor { name } ... on Tool { name } ... on Vulnerability { name }
    ... on Incident { name } ... on Case { name } ... on StixCyberObservable { observable_value }
    ... on StixCoreRelationship { standard_id spec_version created_at updated_at relationship_type }
    ... on StixSightingRelationship { standard_id spec_version created_at updated_at } } } }"
    };
}

/// The fields of observed data.
macro_rules! observed_data_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified first_observed last_observed number_observed
    number_seen max_distinct_count objects(all: true) { edges { node { ... on BasicObject { id
    entity_type parent_types } ... on BasicRelationship { id entity_type parent_types } ... on
    StixObject { standard_id spec_version created_at updated_at } ... on AttackPattern { name } ...
    on Campaign { name } ... on CourseOfAction { name } ... on Individual { name } ... on
    Organization { name } ... on Sector { name } ... on System { name } ... on Indicator { name }
    ... on Infrastructure { name } ... on IntrusionSet { name } ... on Position { name } ... on City
    { name } ... on Country { name } ... on Region { name } ... on Malware { name } ... on
    ThreatActor { name } ... on Tool { name } ... on Vulnerability { name } ... on Incident { name }
    ... on Event { name } ... on Channel { name } ... on Narrative { name } ... on Language { name }
    ... on DataComponent { name } ... on DataSource { name } ... on Case { name } ... on
    StixCyberObservable { observable_value } ... on StixCoreRelationship { standard_id spec_version
    created_at updated_at } ... on StixSightingRelationship { standard_id spec_version created_at
    updated_at } } } }"
    };
}

/// The fields of a grouping.
macro_rules! grouping_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified name description context x_opencti_aliases
    objects(all: true) { edges { node { ... on BasicObject { id entity_type parent_types } ... on
    BasicRelationship { id entity_type parent_types } ... on StixObject { standard_id spec_version
    created_at updated_at } ... on AttackPattern { name } ... on Campaign { name } ... on
    CourseOfAction { name } ... on Individual { name } ... on Organization { name } ... on Sector {
    name } ... on System { name } ... on Indicator { name } ... on Infrastructure { name } ... on
    IntrusionSet { name } ... on Position { name } ... on City { name } ... on Country { name } ...
    on Region { name } ... on Malware { name } ... on ThreatActor { name } ... on Tool { name } ...
    on Vulnerability { name } ... on Incident { name } ... on StixCyberObservable { observable_value
    } ... on StixCoreRelationship { standard_id spec_version created_at updated_at relationship_type
    } ... on StixSightingRelationship { standard_id spec_version created_at updated_at } } } }"
    };
}

/// The fields of an incident.
macro_rules! incident_fields {
    () => {
        "customFieldValues { field_id field_name int_value string_value boolean_value date_value
    select_value select_values } id standard_id entity_type parent_types spec_version created_at
    updated_at status { id template { id name color } } creators { id name } createdBy { ... on
    Identity { id standard_id entity_type parent_types spec_version identity_class name description
    roles contact_information x_opencti_aliases created modified objectLabel { id value color } }
    ... on Organization { x_opencti_organization_type x_opencti_reliability } ... on Individual {
    x_opencti_firstname x_opencti_lastname } } objectOrganization { id standard_id name }
    objectMarking { id standard_id entity_type definition_type definition created modified
    x_opencti_order x_opencti_color } objectLabel { id value color } externalReferences { edges {
    node { id standard_id entity_type source_name description url hash external_id created modified
    } } } revoked confidence created modified name description aliases first_seen last_seen
    objective incident_type severity source x_opencti_score"
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

/// Core relationships (from or to an object, by search and filters), a
/// page at a time.
pub const LIST_RELATIONSHIPS: &str = concat!(
    "query ExportListRelationships($fromOrToId: [String], $filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: StixCoreRelationshipsOrdering, $orderMode: OrderingMode) {
  stixCoreRelationships(fromOrToId: $fromOrToId, filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
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

/// One core relationship by id.
pub const READ_RELATIONSHIP: &str = concat!(
    "query ExportReadRelationship($id: String!) {\n  stixCoreRelationship(id: $id) {\n    ",
    relationship_fields!(
        "relationship_type description start_time stop_time revoked confidence lang created modified
    coverage_information { coverage_name coverage_score }",
        "creators { id name }
    ",
        "spec_version "
    ),
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

/// One report by id.
pub const READ_REPORT: &str = concat!(
    "query ExportReadReport($id: String!) {\n  report(id: $id) {\n    ",
    report_fields!(),
    "\n  }\n}\n"
);

/// One report by id, for a full export.
pub const READ_REPORT_FULL: &str = concat!(
    "query ExportReadReportFull($id: String!) {\n  report(id: $id) {\n    ",
    report_files_fields!(),
    "\n  }\n}\n"
);

/// One malware by id.
pub const READ_MALWARE: &str = concat!(
    "query ExportReadMalware($id: String!) {\n  malware(id: $id) {\n    ",
    malware_fields!(),
    "\n  }\n}\n"
);

/// One indicator by id.
pub const READ_INDICATOR: &str = concat!(
    "query ExportReadIndicator($id: String!) {\n  indicator(id: $id) {\n    ",
    indicator_fields!(),
    "\n  }\n}\n"
);

/// One intrusion set by id.
pub const READ_INTRUSION_SET: &str = concat!(
    "query ExportReadIntrusionSet($id: String!) {\n  intrusionSet(id: $id) {\n    ",
    intrusion_set_fields!(),
    "\n  }\n}\n"
);

/// One identity by id.
pub const READ_IDENTITY: &str = concat!(
    "query ExportReadIdentity($id: String!) {\n  identity(id: $id) {\n    ",
    identity_fields!(),
    "\n  }\n}\n"
);

/// Reports by search and filters, a page at a time.
pub const LIST_REPORTS: &str = concat!(
    "query ExportListReports($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: ReportsOrdering, $orderMode: OrderingMode) {
  reports(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    report_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Reports by search and filters, for a full export.
pub const LIST_REPORTS_FULL: &str = concat!(
    "query ExportListReportsFull($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: ReportsOrdering, $orderMode: OrderingMode) {
  reports(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    report_files_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Malwares by search and filters, a page at a time.
pub const LIST_MALWARES: &str = concat!(
    "query ExportListMalwares($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: MalwaresOrdering, $orderMode: OrderingMode) {
  malwares(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    malware_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Indicators by search and filters, a page at a time.
pub const LIST_INDICATORS: &str = concat!(
    "query ExportListIndicators($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: IndicatorsOrdering, $orderMode: OrderingMode) {
  indicators(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    indicator_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Intrusion sets by search and filters, a page at a time.
pub const LIST_INTRUSION_SETS: &str = concat!(
    "query ExportListIntrusionSets($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: IntrusionSetsOrdering, $orderMode: OrderingMode) {
  intrusionSets(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    intrusion_set_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Identities by search and filters, a page at a time.
pub const LIST_IDENTITIES: &str = concat!(
    "query ExportListIdentities($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: IdentitiesOrdering, $orderMode: OrderingMode) {
  identities(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    identity_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Domain objects of any type by search and filters, a page at a time.
pub const LIST_DOMAIN_OBJECTS: &str = concat!(
    "query ExportListDomainObjects($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: StixDomainObjectsOrdering, $orderMode: OrderingMode) {
  stixDomainObjects(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    domain_object_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Core objects of any type by search and filters, a page at a time.
pub const LIST_CORE_OBJECTS: &str = concat!(
    "query ExportListCoreObjects($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: StixCoreObjectsOrdering, $orderMode: OrderingMode) {
  stixCoreObjects(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    core_object_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One attack pattern by id.
pub const READ_ATTACK_PATTERN: &str = concat!(
    "query ExportReadAttackPattern($id: String!) {\n  attackPattern(id: $id) {\n    ",
    attack_pattern_fields!(),
    "\n  }\n}\n"
);

/// Attack patterns by search and filters, a page at a time.
pub const LIST_ATTACK_PATTERNS: &str = concat!(
    "query ExportListAttackPatterns($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: AttackPatternsOrdering, $orderMode: OrderingMode) {
  attackPatterns(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    attack_pattern_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One vulnerability by id.
pub const READ_VULNERABILITY: &str = concat!(
    "query ExportReadVulnerability($id: String!) {\n  vulnerability(id: $id) {\n    ",
    vulnerability_fields!(),
    "\n  }\n}\n"
);

/// Vulnerabilities by search and filters, a page at a time.
pub const LIST_VULNERABILITIES: &str = concat!(
    "query ExportListVulnerabilities($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: VulnerabilitiesOrdering, $orderMode: OrderingMode) {
  vulnerabilities(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    vulnerability_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One tool by id.
pub const READ_TOOL: &str = concat!(
    "query ExportReadTool($id: String!) {\n  tool(id: $id) {\n    ",
    tool_fields!(),
    "\n  }\n}\n"
);

/// Tools by search and filters, a page at a time.
pub const LIST_TOOLS: &str = concat!(
    "query ExportListTools($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: ToolsOrdering, $orderMode: OrderingMode) {
  tools(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    tool_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One campaign by id.
pub const READ_CAMPAIGN: &str = concat!(
    "query ExportReadCampaign($id: String!) {\n  campaign(id: $id) {\n    ",
    campaign_fields!(),
    "\n  }\n}\n"
);

/// Campaigns by search and filters, a page at a time.
pub const LIST_CAMPAIGNS: &str = concat!(
    "query ExportListCampaigns($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: CampaignsOrdering, $orderMode: OrderingMode) {
  campaigns(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    campaign_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One threat actor group by id.
pub const READ_THREAT_ACTOR_GROUP: &str = concat!(
    "query ExportReadThreatActorGroup($id: String!) {\n  threatActorGroup(id: $id) {\n    ",
    threat_actor_group_fields!(),
    "\n  }\n}\n"
);

/// Threat actor groups by search and filters, a page at a time.
pub const LIST_THREAT_ACTOR_GROUPS: &str = concat!(
    "query ExportListThreatActorGroups($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: ThreatActorsOrdering, $orderMode: OrderingMode) {
  threatActorsGroup(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    threat_actor_group_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One individual threat actor by id.
pub const READ_THREAT_ACTOR_INDIVIDUAL: &str = concat!(
    "query ExportReadThreatActorIndividual($id: String!) {\n  threatActorIndividual(id: $id) {\n    ",
    threat_actor_individual_fields!(),
    "\n  }\n}\n"
);

/// Individual threat actors by search and filters, a page at a time.
pub const LIST_THREAT_ACTOR_INDIVIDUALS: &str = concat!(
    "query ExportListThreatActorIndividuals($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: ThreatActorsIndividualOrdering, $orderMode: OrderingMode) {
  threatActorsIndividuals(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    threat_actor_individual_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One course of action by id.
pub const READ_COURSE_OF_ACTION: &str = concat!(
    "query ExportReadCourseOfAction($id: String!) {\n  courseOfAction(id: $id) {\n    ",
    course_of_action_fields!(),
    "\n  }\n}\n"
);

/// Courses of action by search and filters, a page at a time.
pub const LIST_COURSES_OF_ACTION: &str = concat!(
    "query ExportListCoursesOfAction($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: CoursesOfActionOrdering, $orderMode: OrderingMode) {
  coursesOfAction(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    course_of_action_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One infrastructure by id.
pub const READ_INFRASTRUCTURE: &str = concat!(
    "query ExportReadInfrastructure($id: String!) {\n  infrastructure(id: $id) {\n    ",
    infrastructure_fields!(),
    "\n  }\n}\n"
);

/// Infrastructures by search and filters, a page at a time.
pub const LIST_INFRASTRUCTURES: &str = concat!(
    "query ExportListInfrastructures($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: InfrastructuresOrdering, $orderMode: OrderingMode) {
  infrastructures(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    infrastructure_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One location by id.
pub const READ_LOCATION: &str = concat!(
    "query ExportReadLocation($id: String!) {\n  location(id: $id) {\n    ",
    location_fields!(),
    "\n  }\n}\n"
);

/// Locations by search and filters, a page at a time.
pub const LIST_LOCATIONS: &str = concat!(
    "query ExportListLocations($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: LocationsOrdering, $orderMode: OrderingMode) {
  locations(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    location_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One note by id.
pub const READ_NOTE: &str = concat!(
    "query ExportReadNote($id: String!) {\n  note(id: $id) {\n    ",
    note_fields!(),
    "\n  }\n}\n"
);

/// Notes by search and filters, a page at a time.
pub const LIST_NOTES: &str = concat!(
    "query ExportListNotes($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: NotesOrdering, $orderMode: OrderingMode) {
  notes(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    note_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One opinion by id.
pub const READ_OPINION: &str = concat!(
    "query ExportReadOpinion($id: String!) {\n  opinion(id: $id) {\n    ",
    opinion_fields!(),
    "\n  }\n}\n"
);

/// Opinions by search and filters, a page at a time.
pub const LIST_OPINIONS: &str = concat!(
    "query ExportListOpinions($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: OpinionsOrdering, $orderMode: OrderingMode) {
  opinions(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    opinion_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One observed data by id.
pub const READ_OBSERVED_DATA: &str = concat!(
    "query ExportReadObservedData($id: String!) {\n  observedData(id: $id) {\n    ",
    observed_data_fields!(),
    "\n  }\n}\n"
);

/// Observed data by search and filters, a page at a time.
pub const LIST_OBSERVED_DATAS: &str = concat!(
    "query ExportListObservedDatas($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: ObservedDatasOrdering, $orderMode: OrderingMode) {
  observedDatas(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    observed_data_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One grouping by id.
pub const READ_GROUPING: &str = concat!(
    "query ExportReadGrouping($id: String!) {\n  grouping(id: $id) {\n    ",
    grouping_fields!(),
    "\n  }\n}\n"
);

/// Groupings by search and filters, a page at a time.
pub const LIST_GROUPINGS: &str = concat!(
    "query ExportListGroupings($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: GroupingsOrdering, $orderMode: OrderingMode) {
  groupings(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    grouping_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// One incident by id.
pub const READ_INCIDENT: &str = concat!(
    "query ExportReadIncident($id: String!) {\n  incident(id: $id) {\n    ",
    incident_fields!(),
    "\n  }\n}\n"
);

/// Incidents by search and filters, a page at a time.
pub const LIST_INCIDENTS: &str = concat!(
    "query ExportListIncidents($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: IncidentsOrdering, $orderMode: OrderingMode) {
  incidents(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node {
    ",
    incident_fields!(),
    "
    } }
    ",
    page_info!(),
    "\n  }\n}\n"
);

/// Every document, named, for the schema check.
pub const ALL: &[(&str, &str)] = &[
    ("READ_OBSERVABLE", READ_OBSERVABLE),
    ("LIST_OBSERVABLES", LIST_OBSERVABLES),
    ("READ_REPORT", READ_REPORT),
    ("READ_REPORT_FULL", READ_REPORT_FULL),
    ("READ_MALWARE", READ_MALWARE),
    ("READ_INDICATOR", READ_INDICATOR),
    ("READ_INTRUSION_SET", READ_INTRUSION_SET),
    ("READ_IDENTITY", READ_IDENTITY),
    ("READ_RELATIONSHIP", READ_RELATIONSHIP),
    ("LIST_REPORTS", LIST_REPORTS),
    ("LIST_REPORTS_FULL", LIST_REPORTS_FULL),
    ("LIST_MALWARES", LIST_MALWARES),
    ("LIST_INDICATORS", LIST_INDICATORS),
    ("LIST_INTRUSION_SETS", LIST_INTRUSION_SETS),
    ("LIST_IDENTITIES", LIST_IDENTITIES),
    ("LIST_DOMAIN_OBJECTS", LIST_DOMAIN_OBJECTS),
    ("LIST_CORE_OBJECTS", LIST_CORE_OBJECTS),
    ("LIST_RELATIONSHIPS", LIST_RELATIONSHIPS),
    ("LIST_SIGHTINGS", LIST_SIGHTINGS),
    (
        "LIST_OBJECTS_OR_RELATIONSHIPS",
        LIST_OBJECTS_OR_RELATIONSHIPS,
    ),
    ("LIST_NESTED_REFS", LIST_NESTED_REFS),
    ("READ_ATTACK_PATTERN", READ_ATTACK_PATTERN),
    ("LIST_ATTACK_PATTERNS", LIST_ATTACK_PATTERNS),
    ("READ_VULNERABILITY", READ_VULNERABILITY),
    ("LIST_VULNERABILITIES", LIST_VULNERABILITIES),
    ("READ_TOOL", READ_TOOL),
    ("LIST_TOOLS", LIST_TOOLS),
    ("READ_CAMPAIGN", READ_CAMPAIGN),
    ("LIST_CAMPAIGNS", LIST_CAMPAIGNS),
    ("READ_THREAT_ACTOR_GROUP", READ_THREAT_ACTOR_GROUP),
    ("LIST_THREAT_ACTOR_GROUPS", LIST_THREAT_ACTOR_GROUPS),
    ("READ_THREAT_ACTOR_INDIVIDUAL", READ_THREAT_ACTOR_INDIVIDUAL),
    (
        "LIST_THREAT_ACTOR_INDIVIDUALS",
        LIST_THREAT_ACTOR_INDIVIDUALS,
    ),
    ("READ_COURSE_OF_ACTION", READ_COURSE_OF_ACTION),
    ("LIST_COURSES_OF_ACTION", LIST_COURSES_OF_ACTION),
    ("READ_INFRASTRUCTURE", READ_INFRASTRUCTURE),
    ("LIST_INFRASTRUCTURES", LIST_INFRASTRUCTURES),
    ("READ_LOCATION", READ_LOCATION),
    ("LIST_LOCATIONS", LIST_LOCATIONS),
    ("READ_NOTE", READ_NOTE),
    ("LIST_NOTES", LIST_NOTES),
    ("READ_OPINION", READ_OPINION),
    ("LIST_OPINIONS", LIST_OPINIONS),
    ("READ_OBSERVED_DATA", READ_OBSERVED_DATA),
    ("LIST_OBSERVED_DATAS", LIST_OBSERVED_DATAS),
    ("READ_GROUPING", READ_GROUPING),
    ("LIST_GROUPINGS", LIST_GROUPINGS),
    ("READ_INCIDENT", READ_INCIDENT),
    ("LIST_INCIDENTS", LIST_INCIDENTS),
];
