//! The connector's catalog metadata (`__metadata__/`, `--config-schema`,
//! `--manifest`): the checks of `tests/catalog_metadata.rs` at the
//! workspace root. `UPDATE_METADATA=1 cargo test -p opencti-import-file-stix
//! --test tests metadata` rewrites the files.

use opencti_connector::config::ConnectorType;

use crate::catalog_metadata::Subject;

static SUBJECT: Subject = Subject {
    spec: &opencti_import_file_stix::SPEC,
    connector_type: ConnectorType::InternalImportFile,
    binary: env!("CARGO_BIN_EXE_opencti-import-file-stix"),
    directory: env!("CARGO_MANIFEST_DIR"),
};

crate::catalog_metadata_tests!(SUBJECT);
