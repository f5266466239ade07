//! OpenCTI live-stream connector keeping Positive Technologies NAD reputation
//! lists in sync with the indicators of a stream.
//!
//! Module roles: [`config`] declares the variables and validates them,
//! [`client`] speaks PT NAD's REST API, [`mapping`] turns stream events into
//! list changes, [`connector`] is the stream sink tying them together.

pub mod client;
pub mod config;
pub mod connector;
#[cfg(feature = "fake")]
pub mod fake;
pub mod mapping;

pub use client::ClientError;
pub use config::{PtnadConfig, VARS};
pub use connector::{PtnadSink, SPEC};
