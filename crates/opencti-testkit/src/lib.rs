//! A test kit for OpenCTI connector authors.
//!
//! Add it to your connector's `[dev-dependencies]` and test the connector
//! the way it runs in production, inside the test process:
//!
//! * [`TestPlatform`] starts `opencti-sim` (GraphQL API, works, the
//!   connector state, a worker importing from RabbitMQ, the live stream)
//!   on a loopback port, with random queue and exchange names that the
//!   broker deletes when the test ends. It needs RabbitMQ on
//!   `127.0.0.1:5672` (guest/guest), or the broker named in the
//!   [`SimConfig`] given to [`TestPlatform::start_with`].
//! * [`ConnectorHarness`] runs an import connector once through the
//!   runtime's real runner (registration, works, splitting, publishing,
//!   pings) and gives back what the platform stored ([`ImportRun`]), or
//!   runs a stream connector over events injected into the platform's live
//!   stream until a condition holds ([`StreamRun`]). A stream test that
//!   needs steps (inject, change the vendor, stop, start again) drives a
//!   [`RunningStream`] from [`ConnectorHarness::start_stream`] (or
//!   [`ConnectorHarness::build_and_start`]); a restart
//!   in the middle of the stream is
//!   [`ConnectorHarness::run_stream_across_restart`] (with the vendor
//!   slowed for the first run:
//!   [`ConnectorHarness::run_stream_across_restart_slowed`]); a benchmark
//!   replays the stream from its start with
//!   [`ConnectorHarness::replay_stream`].
//! * [`events`] writes the live-stream events such tests inject:
//!   indicators with ids derived from a number, their creations, updates,
//!   revocations and deletions, and a 10,000-event churn for benchmarks.
//! * `bench::StreamBench` (feature `criterion`) measures a stream
//!   connector's throughput with criterion: the churn injected once,
//!   replayed into the connector against a fresh fake vendor per sample.
//! * [`vendor::FakeVendor`] serves the routes you write for your vendor on
//!   a loopback port, and plays faults in front of them: error statuses
//!   with `Retry-After`, your vendor's own error answers
//!   ([`vendor::Answer`]), dropped, truncated or hung-up connections, slow
//!   answers, oversized bodies; with a gate, only on requests that pass
//!   your vendor's credential check. It records every request. A fake
//!   that holds state (lists, tokens, sessions) is a
//!   [`vendor::StatefulVendor`], whose routes, gate and handle share it.
//! * [`drill::RefusalDrill`] makes the platform refuse each call of an
//!   import run in turn and checks that nothing is lost (issue #13);
//!   [`drill::OutputDrill`] breaks an import run's output at each of its
//!   steps in turn: the broker nacks from the k-th message on
//!   ([`drill::NackingQueue`]), the directory copy fails from the k-th
//!   write on.
//! * [`process::ConnectorProcess`] runs the connector's built binary with
//!   the environment given, sends it signals, waits for its exit status
//!   and reads its log, for tests of how the binary stops.
//! * [`memory::measure_in_a_fresh_process`] is the `main` of an example
//!   measuring the peak memory of one step (a huge event converted, a
//!   large file read): the input written by a first run, the step measured
//!   in a second one.
//!
//! Every wait is bounded ([`DEFAULT_TIMEOUT`] unless set otherwise) and
//! every server binds `127.0.0.1` only.
//!
//! ```no_run
//! # async fn demo() -> Result<(), opencti_testkit::KitError> {
//! # #[derive(Debug)] struct MyConnector;
//! # impl opencti_connector::Connector for MyConnector {
//! #     type Config = opencti_connector::config::NoConfig;
//! #     type Error = std::convert::Infallible;
//! #     const NAME: &'static str = "my-connector";
//! #     const VERSION: &'static str = "1.0.0";
//! #     const ABOUT: &'static str = "demo";
//! #     fn from_config(_: Self::Config) -> Result<Self, Self::Error> { Ok(Self) }
//! # }
//! # impl opencti_connector::ImportSource for MyConnector {
//! #     async fn run(&mut self, _: &opencti_connector::RunContext) -> Result<String, Self::Error> { Ok(String::new()) }
//! # }
//! use opencti_testkit::vendor::{FakeVendor, Fault};
//! use opencti_testkit::{ConnectorHarness, TestPlatform};
//! use opencti_testkit::axum::{Router, routing::get};
//!
//! let platform = TestPlatform::start().await?;
//! let vendor = FakeVendor::start(Router::new().route(
//!     "/v1/indicators",
//!     get(|| async { "198.51.100.7\n" }),
//! ))
//! .await?;
//! vendor.fail_next([Fault::too_many_requests(1)]);
//!
//! let run = ConnectorHarness::new(&platform)
//!     .var("MY_VENDOR_URL", vendor.url())
//!     .run_import::<MyConnector>()
//!     .await?;
//! assert!(run.succeeded(), "{run:?}");
//! assert_eq!(run.objects_of_type("indicator").len(), 1);
//! assert!(run.errors().is_empty());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

#[cfg(feature = "criterion")]
pub mod bench;
mod built;
pub mod drill;
pub mod events;
mod harness;
pub mod memory;
mod nacking;
mod platform;
pub mod process;
pub mod vendor;

use std::time::Duration;

pub use harness::{ConnectorHarness, ImportRun, Restart, RunningStream, StreamRun};
pub use platform::TestPlatform;

/// The web framework [`vendor::FakeVendor`] serves routes with, so that a
/// test writes its vendor's routes without a dependency of its own.
pub use axum;

/// What the kit hands back from the simulated platform, re-exported so
/// that tests need no direct dependency on `opencti-sim`.
pub use opencti_sim::{
    EventInjection, EventKind, SimConfig, StoredObject, WorkMessage, WorkRecord, WorkStatus,
};

/// How long any wait of the kit lasts at most unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the kit could not do what a test asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KitError {
    /// The simulated platform failed to start or to answer.
    #[error("simulated platform: {0}")]
    Platform(#[from] opencti_sim::SimError),
    /// The connector's configuration (or the runtime's) was refused.
    #[error("configuration: {0}")]
    Config(#[from] opencti_connector::config::ConfigErrors),
    /// The connector could not be built from its configuration.
    #[error("cannot build the connector: {0}")]
    Build(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stream connector stopped on an error before the condition held.
    #[error("the connector stopped: {0}")]
    Stopped(#[source] opencti_connector::Error),
    /// The connector's task panicked.
    #[error("the connector panicked: {0}")]
    Panicked(String),
    /// Something did not happen in time.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
    },
    /// A loopback server could not be started.
    #[error("cannot start a loopback server: {0}")]
    Io(#[from] std::io::Error),
    /// A connector's process could not be started, signalled or waited
    /// for.
    #[error("connector process: cannot {what}: {source}")]
    Process {
        /// What the kit tried.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}
