//! The live-stream listener and the `StreamSink` runtime.
//!
//! A stream connector implements [`Connector`](crate::Connector) (its
//! identity and how to build it from its configuration) and [`StreamSink`]
//! (one required method, [`StreamSink::handle`]), and its `main` calls
//! [`run_stream`]. The runtime registers the connector as `STREAM`, reads
//! the live stream with reconnection, and keeps the position in the
//! connector state the way pycti does, advancing it only past events the
//! sink has finished with.
//!
//! ```no_run
//! use opencti_connector::prelude::*;
//!
//! struct Printer;
//!
//! impl Connector for Printer {
//!     type Config = NoConfig;
//!     type Error = std::convert::Infallible;
//!     const NAME: &'static str = "opencti-printer";
//!     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
//!     const ABOUT: &'static str = "Prints the events of a live stream";
//!
//!     fn from_config(_: NoConfig) -> Result<Self, Self::Error> {
//!         Ok(Printer)
//!     }
//! }
//!
//! impl StreamSink for Printer {
//!     async fn handle(&mut self, event: &StreamEvent) -> Outcome {
//!         println!("{} {} {}", event.id, event.kind, event.object.id());
//!         Outcome::Done
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
pub use runner::{StreamRunner, run_stream};
#[cfg(any(test, feature = "test-util"))]
pub use runtime::MemoryState;
pub use runtime::{StateStore, StreamError, StreamRuntime};
pub use sink::{
    BatchOutcome, Batching, Outcome, RetryBackoff, SinkError, SinkTuning, SinkVars, StreamSink,
};
