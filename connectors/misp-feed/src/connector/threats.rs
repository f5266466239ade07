//! The threat look-up of `guess_threats_from_tags`: each tag value is
//! looked up once among the platform's intrusion sets, malware, tools and
//! attack patterns.

use std::collections::HashMap;

use opencti_connector::RunContext;
use serde_json::json;

use super::RunError;
use crate::convert::{KnownThreat, ThreatGuesses};

/// The platform query pycti's `stix_domain_object.list` sends for a tag
/// value (only the fields the connector reads).
const GUESS_QUERY: &str = r#"query StixDomainObjects($types: [String], $filters: FilterGroup, $first: Int) {
  stixDomainObjects(types: $types, filters: $filters, first: $first) {
    edges {
      node {
        id
        entity_type
        ... on IntrusionSet { name }
        ... on Malware { name }
        ... on Tool { name }
        ... on AttackPattern { name }
      }
    }
  }
}"#;

#[derive(serde::Deserialize)]
struct GuessAnswer {
    #[serde(rename = "stixDomainObjects")]
    objects: Option<GuessEdges>,
}

#[derive(serde::Deserialize)]
struct GuessEdges {
    edges: Vec<GuessEdge>,
}

#[derive(serde::Deserialize)]
struct GuessEdge {
    node: GuessNode,
}

#[derive(serde::Deserialize)]
struct GuessNode {
    entity_type: String,
    #[serde(default)]
    name: Option<String>,
}

/// Looks every distinct tag value up once (the Python connector asks once
/// per tag per attribute).
pub async fn guess_threats(ctx: &RunContext, values: &[String]) -> Result<ThreatGuesses, RunError> {
    let mut guesses = HashMap::new();
    for value in values {
        let variables = json!({
            "types": ["Intrusion-Set", "Malware", "Tool", "Attack-Pattern"],
            "filters": {
                "mode": "and",
                "filters": [{
                    "key": ["name", "x_mitre_id", "aliases", "x_opencti_aliases"],
                    "values": [value],
                }],
                "filterGroups": [],
            },
            "first": 1,
        });
        let answer: GuessAnswer =
            ctx.api()
                .query(GUESS_QUERY, variables)
                .await
                .map_err(|error| RunError::Platform {
                    value: value.clone(),
                    reason: error.to_string(),
                })?;
        let found = answer
            .objects
            .and_then(|objects| objects.edges.into_iter().next())
            .and_then(|edge| {
                Some(KnownThreat {
                    name: edge.node.name?,
                    entity_type: edge.node.entity_type,
                })
            });
        guesses.insert(value.clone(), found);
    }
    Ok(guesses)
}
