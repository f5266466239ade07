//! The template connector's tests: configuration checks, runs with a
//! recording context, and whole runs against `opencti-sim` and the local
//! RabbitMQ, and the binary stopped by signals.

mod against_sim;
mod config;
mod drills;
mod run;
#[path = "../../../tests/shipped_binary.rs"]
mod shipped_binary;
mod signals;
mod version;
