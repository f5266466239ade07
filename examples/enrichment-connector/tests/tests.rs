//! The enrichment connector's tests: configuration checks, `enrich` with a
//! recording context, jobs end to end against `opencti-testkit`'s platform
//! (and the local RabbitMQ), and the binary stopped by signals.

mod against_sim;
#[path = "../../../tests/catalog_metadata.rs"]
mod catalog_metadata;
mod config;
mod enrich;
mod metadata;
#[path = "../../../tests/shipped_binary.rs"]
mod shipped_binary;
mod signals;
mod version;
