//! Integration tests of `opencti-connector` (one test binary).

mod amqp;
mod api;
mod broker;
mod broker_tls;
mod config;
mod import;
mod network;
mod platform;
mod stream_runner;
mod stream_runtime;
mod stream_server;
mod stream_sse;
