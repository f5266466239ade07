//! The template connector's tests: configuration checks, runs with a
//! recording context, whole runs against `opencti-testkit`'s platform and
//! fake vendor (and the local RabbitMQ), and the binary stopped by signals.

mod against_sim;
#[path = "../../../tests/catalog_metadata.rs"]
mod catalog_metadata;
mod config;
mod drills;
mod metadata;
mod run;
#[path = "../../../tests/shipped_binary.rs"]
mod shipped_binary;
mod signals;
mod version;
