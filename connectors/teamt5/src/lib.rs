//! OpenCTI external-import connector for TeamT5 ThreatVision: lists new
//! reports and IoC bundles, downloads each one's STIX 2.1 bundle and sends
//! it to the platform with the connector's author and TLP marking (plus a
//! Report object for reports).
//!
//! Module roles: [`config`] declares the variables and validates them,
//! [`client`] speaks the ThreatVision API (OAuth2 token, listings, bundle
//! downloads), [`mapping`] rewrites bundles (pure, no I/O), [`connector`]
//! is the [`opencti_connector::ImportSource`] tying them together.

pub mod client;
pub mod config;
pub mod connector;
#[cfg(feature = "fake")]
pub mod fake;
pub mod mapping;

pub use config::{Teamt5Config, VARS};
pub use connector::{RunError, SPEC, Teamt5};
