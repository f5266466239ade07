//! A self-contained enrichment connector to copy: given an IPv4, IPv6,
//! domain name, hostname or URL observable, it labels addresses of the
//! special-purpose ranges (private, loopback, documentation, ...) and adds
//! the observable's other forms (refanged, canonical, punycode or Unicode,
//! a URL's host) as observables related to it. It needs no outside
//! service. Walkthrough: `docs/writing-a-connector.md`.
//!
//! One file per role, as in every connector of this repository: [`config`]
//! (the variables and the typed configuration), [`mapping`] (what an
//! observable's value says, and the STIX objects that say it, without I/O)
//! and [`connector`] (the connector's identity and its `enrich`).

pub mod config;
pub mod connector;
pub mod mapping;

pub use config::{EnricherConfig, VARS};
pub use connector::{EnrichError, ObservableEnricher, SPEC};
