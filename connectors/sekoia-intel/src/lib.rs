//! OpenCTI live-stream connector pushing the indicators of a stream into a
//! Sekoia.io Intelligence Center IoC collection, and revoking them there
//! when they are revoked or deleted in OpenCTI.
//!
//! Module roles: [`config`] declares the variables and validates them,
//! [`client`] speaks Sekoia's IoC-collection API, [`mapping`] turns
//! indicators into IoC imports (the pattern reading of the Python
//! connector included), [`connector`] is the stream sink tying them
//! together.

pub mod client;
pub mod config;
pub mod connector;
#[cfg(feature = "fake")]
pub mod fake;
pub mod mapping;

pub use client::ClientError;
pub use config::{SekoiaConfig, VARS};
pub use connector::{SPEC, SekoiaSink};
