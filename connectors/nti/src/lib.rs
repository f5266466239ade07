//! OpenCTI external-import connector for NSFOCUS Threat Intelligence (NTI):
//! downloads the daily feed package (a ZIP of JSON-Lines files), turns its
//! IOC, IP, domain, URL and sample records into STIX 2.1 and sends them to
//! OpenCTI.
//!
//! Module roles: [`config`] declares the variables and validates them,
//! [`client`] downloads the package, [`package`] reads it entry by entry
//! without holding it in memory and [`record`] types its lines, [`convert`] maps records to STIX (with the
//! vendor's code tables in [`codes`]), [`connector`] is the import source
//! tying them together.

pub mod client;
pub mod codes;
pub mod config;
pub mod connector;
pub mod convert;
#[cfg(feature = "fake")]
pub mod fake;
pub mod package;
pub mod record;

pub use config::{NtiConfig, VARS};
pub use connector::{Nti, RunError, SPEC};
