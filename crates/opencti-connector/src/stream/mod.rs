//! The live-stream listener and the `StreamSink` runtime.

pub mod sse;
