//! Integration tests of `opencti-connector` (one test binary).

mod api;
mod config;
mod stream_runtime;
mod stream_server;
mod stream_sse;
