//! Every GraphQL document the connector sends validates against the
//! platform's schema subset.

use apollo_compiler::{ExecutableDocument, Schema};
use opencti_export_file_stix::documents;

const SCHEMA: &str =
    include_str!("../../../crates/opencti-sim/schema/opencti-connector-schema.graphql");

#[test]
fn every_document_validates_against_the_platform_schema() {
    let schema = Schema::parse_and_validate(SCHEMA, "opencti-connector-schema.graphql")
        .expect("schema is valid");
    for (name, document) in documents::ALL {
        if let Err(errors) = ExecutableDocument::parse_and_validate(&schema, *document, *name) {
            panic!("{name} does not validate:\n{errors}");
        }
    }
}
