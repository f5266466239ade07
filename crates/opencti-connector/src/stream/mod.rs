//! The live-stream listener and the `StreamSink` runtime.

mod backoff;
pub mod client;
pub mod event;
pub mod metrics;
pub mod position;
pub mod runtime;
pub mod sink;
pub mod sse;
