//! The check that every GraphQL document a connector sends validates
//! against the platform's schema subset, shared with `#[path]` by the
//! connectors that write documents of their own (the file exporters).

use apollo_compiler::{ExecutableDocument, Schema};

/// The schema subset `opencti-sim` validates every document against.
const SCHEMA: &str = include_str!("../crates/opencti-sim/schema/opencti-connector-schema.graphql");

/// Panics, naming the document and its errors, unless every one of
/// `documents` (`(name, text)`) validates against the schema subset.
pub(crate) fn assert_all_validate(documents: &[(&str, &str)]) {
    let schema = Schema::parse_and_validate(SCHEMA, "opencti-connector-schema.graphql")
        .expect("schema is valid");
    for (name, document) in documents {
        if let Err(errors) = ExecutableDocument::parse_and_validate(&schema, *document, *name) {
            panic!("{name} does not validate:\n{errors}");
        }
    }
}
