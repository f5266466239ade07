//! The live-stream listener and the `StreamSink` runtime.
//!
//! A stream connector implements [`StreamSink`] (one required method,
//! [`StreamSink::handle`]) and hands it to [`StreamRunner`], which
//! registers the connector as `STREAM`, reads the live stream with
//! reconnection, and keeps the position in the connector state the way
//! pycti does.

mod backoff;
pub mod client;
pub mod event;
pub mod metrics;
pub mod position;
pub mod runner;
pub mod runtime;
pub mod sink;
pub mod sse;

pub use event::{EventContext, EventKind, StixData, StreamEvent};
pub use runner::StreamRunner;
pub use runtime::{MemoryState, StateStore, StreamError, StreamRuntime};
pub use sink::{BatchOutcome, Batching, Outcome, RetryBackoff, SinkError, StreamSink};
