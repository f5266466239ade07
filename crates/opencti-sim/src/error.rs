//! Errors returned by the simulator's public API.

use std::path::PathBuf;

/// Everything that can go wrong while starting, driving or stopping the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A configuration value was rejected before anything was started.
    #[error("invalid configuration `{field}`: {reason}")]
    InvalidConfig {
        /// The configuration field (or CLI option) at fault.
        field: &'static str,
        /// Why the value was rejected.
        reason: String,
    },
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address that was asked for.
        addr: std::net::SocketAddr,
        /// The operating system's reason.
        reason: String,
    },
    /// A RabbitMQ operation failed.
    #[error("RabbitMQ {operation} failed: {reason}")]
    Broker {
        /// What the simulator was doing (`connect`, `declare queue push_x`, ...).
        operation: String,
        /// The broker's or the client library's reason.
        reason: String,
    },
    /// Reading or writing the data file failed.
    #[error("data file {path}: {reason}")]
    DataFile {
        /// The data file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A stream-event file (`--events`) could not be read or has a bad line.
    #[error("events file {path}, line {line}: {reason}")]
    EventsFile {
        /// The JSONL file.
        path: PathBuf,
        /// 1-based line number (0 when the file itself could not be read).
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// An injected stream event was rejected.
    #[error("invalid stream event: {reason}")]
    InvalidEvent {
        /// What is wrong with the event.
        reason: String,
    },
    /// An inspection or admin call named a connector that is not registered.
    #[error("no connector registered with id {id}")]
    UnknownConnector {
        /// The id that was looked up.
        id: String,
    },
    /// A platform request was refused, as the platform's functional errors
    /// refuse it (unknown entity or file, missing argument).
    #[error("{reason}")]
    InvalidRequest {
        /// The platform's message.
        reason: String,
    },
    /// A stream collection could not be added.
    #[error("invalid stream collection `{id}`: {reason}")]
    InvalidCollection {
        /// The collection id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Ed25519 key that signs connector JWTs could not be generated.
    #[error("cannot generate the connector JWT signing key: {reason}")]
    SigningKey {
        /// Why the key pair could not be generated.
        reason: String,
    },
    /// A `wait_until` condition did not become true in time.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the caller waited.
        waited: std::time::Duration,
    },
}

impl SimError {
    pub(crate) fn broker(operation: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Broker {
            operation: operation.into(),
            reason: reason.to_string(),
        }
    }
}
