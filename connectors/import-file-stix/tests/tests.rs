//! Integration tests of the import-file-stix connector (one binary, see the
//! modules).

#[path = "../../../tests/catalog_metadata.rs"]
mod catalog_metadata;
mod config;
mod end_to_end;
mod golden;
mod metadata;
#[path = "../../../tests/shipped_binary.rs"]
mod shipped_binary;
mod support;
mod version;
