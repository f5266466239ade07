//! A minimal import connector to copy: sends the new lines of a list of
//! IPv4 addresses, read from a local file or a vendor's HTTP address, as
//! indicators. Walkthrough: `docs/writing-a-connector.md`.
//!
//! One file per role, as in every connector of this repository: [`config`]
//! (the variables and the typed configuration), [`client`] (the vendor's
//! API, on the runtime's HTTP layer), [`mapping`] (from the source's data
//! to STIX, without I/O) and [`connector`] (the connector's identity and
//! its run). Its tests run it against `opencti-testkit`'s simulated
//! platform and fake vendor.

pub mod client;
pub mod config;
pub mod connector;
pub mod mapping;

pub use client::{FetchError, ListClient};
pub use config::{ListSource, TemplateConfig, VARS};
pub use connector::{SPEC, Template, TemplateError};
