//! OpenCTI external-import connector for MISP feeds: reads a feed
//! (`manifest.json` + one JSON file per event) over HTTP(S), from a local
//! directory or from an S3 bucket, and sends one STIX 2.1 bundle per event.

pub mod config;
pub mod connector;
pub mod convert;
pub mod source;

pub use config::{MispFeedConfig, VARS};
pub use connector::{MispFeed, RunError, SPEC};
