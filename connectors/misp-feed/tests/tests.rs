//! Integration tests of the MISP feed connector (one binary, see the modules).

#[path = "../../../tests/catalog_metadata.rs"]
mod catalog_metadata;
mod config;
mod connector_run;
mod convert_golden;
mod convert_options;
mod end_to_end;
#[path = "../../../tests/hostile_answers.rs"]
mod hostile_answers;
mod metadata;
mod network;
#[path = "../../../tests/shipped_binary.rs"]
mod shipped_binary;
mod shipped_examples;
mod signals;
mod source_http;
mod source_s3;
mod support;
mod vendor_drills;
mod version;
