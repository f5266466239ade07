//! The template connector's tests: configuration checks, and whole runs
//! against `opencti-sim` and the local RabbitMQ.

mod against_sim;
mod config;
