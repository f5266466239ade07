//! The OpenCTI connector runtime: what pycti's `OpenCTIConnectorHelper` does
//! for import and stream connectors, wire-compatible with OpenCTI 6.x and
//! 7.x platforms.
//!
//! # Writing a connector
//!
//! `use opencti_connector::prelude::*;` brings the whole contract in. Every
//! connector implements [`Connector`], its identity: the typed
//! configuration (`TryFrom<&Settings>` with [`config::Check`], every
//! problem reported at once), its variables ([`config::Var`]), its name,
//! version and description, and how to build it. Then one trait per kind,
//! each with one required method and defaulted hooks:
//!
//! * [`ImportSource::run`], called once per scheduled run, for an import
//!   connector; its `main` calls [`run_import`].
//! * [`StreamSink::handle`](stream::StreamSink::handle), called for each
//!   event of a live stream, for a stream connector; its `main` calls
//!   [`run_stream`](stream::run_stream).
//! * [`Enricher::enrich`](listen::Enricher::enrich),
//!   [`FileImporter::import_file`](listen::FileImporter::import_file) and
//!   [`FileExporter::export_file`](listen::FileExporter::export_file),
//!   called for each job the platform puts on the connector's listen
//!   queue, for the internal kinds (see [`listen`]).
//!
//! The `run_*` functions provide the command line (`--config`, `--check`,
//! `--print-config`, `--vars-markdown`), logging, metrics, registration,
//! pings, the schedule or the stream position, and signals.
//! `examples/import_minimal.rs` is a complete import connector; its `main`
//! is:
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
//! Test a connector with `RunContext::for_test` (import) or
//! `StreamEvent::for_test` (stream), and end to end with the
//! `opencti-testkit` crate.
//!
//! # Features
//!
//! * `stream` (default): the live-stream listener and [`StreamSink`](stream::StreamSink).
//! * `test-util`: test support, compiled only when asked for so that
//!   release binaries carry none of it. Enable it in your crate's
//!   `[dev-dependencies]`:
//!   `opencti-connector = { version = "0.1", features = ["test-util"] }`.
//!   It adds `RunContext::for_test` and `for_test_with_api` with their
//!   `TestProbe` (a context recording bundles, work errors and state),
//!   `StreamEvent::for_test`, the stream runtime's `MemoryState`, and
//!   `http::testing` (a TLS front signed by a test CA, a recording proxy,
//!   log capture). Items behind it say "Available with the `test-util`
//!   feature only" in their documentation.
//!
//! # Public contract and internals
//!
//! The [`prelude`] is the contract a connector is written against, with
//! the modules it names ([`config`], [`api`], [`state`], [`stream`], the
//! send options of [`publish`]). The runners ([`import::ImportRunner`],
//! [`stream::StreamRunner`]) and [`cli::run`] are public for end-to-end
//! tests and for new kinds. The session, the run's work and the schedule
//! are internal; [`amqp`] is public only for this crate's own integration
//! tests and benches, and hidden from the documentation.
//!
//! # Module roles
//!
//! One role per module. Only [`api`] speaks GraphQL (every document is a
//! constant in [`api::documents`]) and only `amqp` knows the AMQP client
//! library; every other module goes through them.

// Internal: the broker link and publisher. Public, without documentation,
// only because this crate's integration tests, benches and examples drive
// them directly; connectors send through `RunContext`.
mod allocator;
#[doc(hidden)]
pub mod amqp;
pub mod api;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod connector;
pub mod context;
pub mod duration;
mod error;
pub mod http;
pub mod import;
pub mod listen;
pub mod logging;
pub mod metrics;
pub mod publish;
pub(crate) mod schedule;
pub(crate) mod service_account;
pub(crate) mod session;
pub mod state;
mod stop;
pub mod task;
pub mod tls;
pub(crate) mod work;

pub use amqp::AmqpError;
pub use connector::{Connector, ConnectorSpec, spec};
pub use context::RunContext;
pub use error::{Error, SendError, answer_excerpt, error_chain};
pub use import::{ImportSource, run_import};

#[cfg(feature = "stream")]
pub mod stream;

/// What a connector author needs, in one import: the traits, the contexts
/// and outcomes they hand over, the configuration building blocks and the
/// errors.
pub mod prelude {
    pub use crate::api::{ApiClient, ApiError};
    pub use crate::catalog::{Listing, SolutionCategory, UseCase};
    pub use crate::config::{
        Check, ConfigError, ConfigErrors, NoConfig, Secret, Settings, Var, VarKind,
    };
    pub use crate::connector::{Connector, ConnectorSpec, spec};
    #[cfg(any(test, feature = "test-util"))]
    pub use crate::context::TestProbe;
    pub use crate::context::{PreparedBundle, RunContext};
    pub use crate::error::{Error, SendError};
    pub use crate::import::{ImportSource, run_import};
    #[cfg(any(test, feature = "test-util"))]
    pub use crate::listen::JobProbe;
    pub use crate::listen::{
        Enricher, EnrichmentRequest, ExportRequest, ExportScope, FileExporter, FileImportRequest,
        FileImporter, JobContext, run_enrichment, run_file_export, run_file_import,
    };
    pub use crate::publish::{SendOptions, SendReport};
    pub use crate::state::State;
    #[cfg(feature = "stream")]
    pub use crate::stream::{
        BatchOutcome, Batching, EventKind, Outcome, RetryBackoff, SinkError, StixData, StreamEvent,
        StreamSink, run_stream,
    };
}
