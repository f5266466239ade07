//! The connector's catalog metadata (`__metadata__/`, `--config-schema`,
//! `--manifest`): the checks of `tests/catalog_metadata.rs` at the
//! workspace root. `UPDATE_METADATA=1 cargo test -p opencti-export-file-stix
//! --test tests metadata` rewrites the files.

use opencti_connector::config::ConnectorType;

use crate::catalog_metadata::Subject;

static SUBJECT: Subject = Subject {
    spec: &opencti_export_file_stix::SPEC,
    connector_type: ConnectorType::InternalExportFile,
    binary: env!("CARGO_BIN_EXE_opencti-export-file-stix"),
    directory: env!("CARGO_MANIFEST_DIR"),
};

crate::catalog_metadata_tests!(SUBJECT);
