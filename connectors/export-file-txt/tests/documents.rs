//! Every GraphQL document the connector sends validates against the
//! platform's schema subset.

use opencti_export_file_txt::documents;

use crate::platform_documents;

#[test]
fn every_document_validates_against_the_platform_schema() {
    platform_documents::assert_all_validate(documents::ALL);
}
