//! The live-stream listener and the `StreamSink` runtime.
//!
//! A stream connector implements [`StreamSink`] (one required method,
//! [`StreamSink::handle`]) and [`StreamConnector`] (how to build it from
//! its configuration), and its `main` calls [`run_stream`]. The runtime
//! registers the connector as `STREAM`, reads the live stream with
//! reconnection, and keeps the position in the connector state the way
//! pycti does, advancing it only past events the sink has finished with.
//!
//! ```no_run
//! use opencti_connector::config::{ConfigErrors, Settings};
//! use opencti_connector::stream::{Outcome, StreamConnector, StreamEvent, StreamSink};
//!
//! struct Printer;
//!
//! impl StreamSink for Printer {
//!     async fn handle(&mut self, event: &StreamEvent) -> Outcome {
//!         println!("{} {} {}", event.id, event.kind, event.object.id());
//!         Outcome::Done
//!     }
//! }
//!
//! struct NoConfig;
//!
//! impl TryFrom<&Settings> for NoConfig {
//!     type Error = ConfigErrors;
//!     fn try_from(_: &Settings) -> Result<Self, ConfigErrors> {
//!         Ok(NoConfig)
//!     }
//! }
//!
//! impl StreamConnector for Printer {
//!     type Config = NoConfig;
//!     type Error = std::convert::Infallible;
//!     const NAME: &'static str = "opencti-printer";
//!     fn from_config(_: NoConfig) -> Result<Self, Self::Error> {
//!         Ok(Printer)
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     opencti_connector::stream::run_stream::<Printer>()
//! }
//! ```

mod backoff;
pub mod client;
pub mod event;
pub mod metrics;
pub mod position;
pub mod runner;
pub mod runtime;
pub mod sink;
pub mod sse;

pub use event::{EventContext, EventKind, StixData, StreamEvent, previous_fields};
pub use runner::{StreamConnector, StreamRunner, connector_spec, run_stream};
pub use runtime::{MemoryState, StateStore, StreamError, StreamRuntime};
pub use sink::{BatchOutcome, Batching, Outcome, RetryBackoff, SinkError, StreamSink};
