//! Integration tests (one binary): the connector end to end through
//! RabbitMQ and opencti-sim against the Python connector's golden files,
//! the error path, the configuration, the documents and the metadata.

#[path = "../../../tests/catalog_metadata.rs"]
mod catalog_metadata;
mod config;
mod documents;
mod end_to_end;
#[path = "../../../tests/export_goldens.rs"]
mod export_goldens;
mod metadata;
#[path = "../../../tests/platform_documents.rs"]
mod platform_documents;
mod support;
