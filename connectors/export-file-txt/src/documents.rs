//! The GraphQL documents the connector sends: the lists it writes, with
//! only what a line needs (an observable's value, an entity's name; a
//! malware analysis's result name). Every document validates against the
//! schema subset (`tests/documents.rs`).

/// The domain object types with a name (a malware analysis has a result
/// name instead).
macro_rules! domain_names {
    () => {
        "... on AttackPattern { name } ... on Campaign { name } ... on Case { name }
      ... on Channel { name } ... on City { name } ... on Country { name }
      ... on CourseOfAction { name } ... on DataComponent { name } ... on DataSource { name }
      ... on Event { name } ... on Grouping { name } ... on Incident { name }
      ... on Indicator { name } ... on Individual { name } ... on Infrastructure { name }
      ... on IntrusionSet { name } ... on Malware { name } ... on MalwareAnalysis { result_name }
      ... on Narrative { name } ... on Organization { name } ... on Position { name }
      ... on Region { name } ... on Report { name } ... on Sector { name } ... on System { name }
      ... on ThreatActor { name } ... on Tool { name } ... on Vulnerability { name }"
    };
}

/// The observable types with a name (aliased `name_alt` among core
/// objects, where domain objects' names have another nullability).
macro_rules! observable_names {
    ($name:literal) => {
        concat!(
            "... on AutonomousSystem { ",
            $name,
            " } ... on Mutex { ",
            $name,
            " }
      ... on Software { ",
            $name,
            " } ... on StixFile { ",
            $name,
            " }
      ... on WindowsRegistryValueType { ",
            $name,
            " }"
        )
    };
}

/// Observables by search and filters, a page at a time.
pub const LIST_OBSERVABLES: &str = concat!(
    "query TxtListObservables($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: StixCyberObservablesOrdering, $orderMode: OrderingMode) {
  stixCyberObservables(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node { id observable_value
      ",
    observable_names!("name"),
    " } }
    pageInfo { endCursor hasNextPage }
  }
}
"
);

/// Domain objects of some types by search and filters, a page at a time.
pub const LIST_DOMAIN_OBJECTS: &str = concat!(
    "query TxtListDomainObjects($types: [String], $filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: StixDomainObjectsOrdering, $orderMode: OrderingMode) {
  stixDomainObjects(types: $types, filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node { id
      ",
    domain_names!(),
    " } }
    pageInfo { endCursor hasNextPage }
  }
}
"
);

/// Core objects by search and filters, a page at a time.
pub const LIST_CORE_OBJECTS: &str = concat!(
    "query TxtListCoreObjects($filters: FilterGroup, $search: String, $first: Int, $after: ID, $orderBy: StixCoreObjectsOrdering, $orderMode: OrderingMode) {
  stixCoreObjects(filters: $filters, search: $search, first: $first, after: $after, orderBy: $orderBy, orderMode: $orderMode) {
    edges { node { id
      ",
    domain_names!(),
    "
      ",
    observable_names!("name_alt: name"),
    " } }
    pageInfo { endCursor hasNextPage }
  }
}
"
);

/// Every document, named, for the schema check.
pub const ALL: &[(&str, &str)] = &[
    ("LIST_OBSERVABLES", LIST_OBSERVABLES),
    ("LIST_DOMAIN_OBJECTS", LIST_DOMAIN_OBJECTS),
    ("LIST_CORE_OBJECTS", LIST_CORE_OBJECTS),
];
