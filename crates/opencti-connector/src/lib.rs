//! The OpenCTI connector runtime: what pycti's `OpenCTIConnectorHelper` does
//! for import and stream connectors, wire-compatible with OpenCTI 6.x and
//! 7.x platforms.
//!
//! # Writing an import connector
//!
//! Declare the connector's variables ([`config::Var`]), validate them into a
//! typed configuration (`TryFrom<&Settings>` with [`config::Check`], every
//! problem reported at once), implement [`ImportSource`] (one required
//! method: a run) and hand it to [`run_import`], which provides the command
//! line (`--config`, `--check`, `--print-config`, `--vars-markdown`),
//! logging, metrics, registration, pings, the schedule and signals.
//! `examples/import_minimal.rs` is a complete connector; its `main` is:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     opencti_connector::run_import::<Minimal>()
//! }
//! ```
//!
//! Inside a run, [`RunContext`] gives the state (`state`/`set_state`, pycti
//! semantics, pushed to the platform within a second), `send_bundle` (split,
//! expectations, publish, wait for every broker confirm), `api()` for extra
//! GraphQL, `report_error`, `wait_while_buffering` and the shutdown signal.
//! Test a connector with [`RunContext::for_test`].
//!
//! # Other runtimes (live stream)
//!
//! [`session::PlatformSession`] is the shared start: health check and
//! platform generation, metrics endpoint, registration, state and pings.
//! [`cli::run`] is the shared process driver. See the [`session`] module.
//!
//! # Module roles
//!
//! One role per module. Only [`api`] speaks GraphQL (every document is a
//! constant in [`api::documents`]) and only [`amqp`] knows the AMQP client
//! library; every other module goes through them.

pub mod amqp;
pub mod api;
pub mod cli;
pub mod config;
pub mod context;
pub mod duration;
mod error;
pub mod http;
pub mod import;
pub mod logging;
pub mod metrics;
pub mod publish;
pub mod schedule;
pub mod session;
pub mod state;
pub mod task;
pub mod tls;
pub mod work;

pub use context::RunContext;
pub use error::{Error, SendError, answer_excerpt, error_chain};
pub use import::{ImportSource, run_import};

#[cfg(feature = "stream")]
pub mod stream;
