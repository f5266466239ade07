//! The OpenCTI connector runtime: what pycti's `OpenCTIConnectorHelper` does
//! for import and stream connectors, wire-compatible with OpenCTI 6.x and
//! 7.x platforms.
//!
//! Module roles (one per module): [`config`] resolves variables,
//! [`duration`] parses periods. Only [`api`] speaks GraphQL and only
//! [`amqp`] knows the AMQP client library; every other module goes through
//! them.

pub mod amqp;
pub mod api;
pub mod cli;
pub mod config;
pub mod context;
pub mod duration;
mod error;
pub mod import;
pub mod logging;
pub mod metrics;
pub mod publish;
pub mod schedule;
pub mod session;
pub mod state;
pub mod tls;
pub mod work;

pub use context::RunContext;
pub use error::{Error, SendError};
pub use import::{ImportSource, run_import};

#[cfg(feature = "stream")]
pub mod stream;
