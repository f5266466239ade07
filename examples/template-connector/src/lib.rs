//! A minimal import connector to copy: sends the new lines of a local file
//! of IPv4 addresses as indicators. Walkthrough: `docs/writing-a-connector.md`.
//!
//! One file per role, as in every connector of this repository: [`config`]
//! (the variables and the typed configuration), [`mapping`] (from the
//! source's data to STIX, without I/O) and [`connector`] (the connector's
//! identity and its run). A connector that talks to a vendor adds
//! `client.rs`, and `fake.rs` (a fake vendor for tests, behind a `fake`
//! feature).

pub mod config;
pub mod connector;
pub mod mapping;

pub use config::{TemplateConfig, VARS};
pub use connector::{SPEC, Template, TemplateError};
