//! OpenCTI internal export connector (`INTERNAL_EXPORT_FILE`) writing STIX
//! 2.1 bundles: one entity (simple: the entity, its author and markings;
//! full: with its relationships, sightings and their other ends), the rows
//! checked in a list, or everything a list's query gives, within the
//! markings the asking user may export. The bundle is uploaded back to the
//! platform as the Python connector does.
//!
//! Module roles: [`config`] declares the variables, [`documents`] holds the
//! GraphQL documents, [`mapping`] turns the platform's answers into STIX
//! (pure, no I/O), [`reader`] reads the platform, [`connector`] is the
//! [`opencti_connector::listen::FileExporter`] tying them together.

pub mod config;
pub mod connector;
pub mod documents;
pub mod mapping;
pub mod reader;

pub use config::VARS;
pub use connector::{ExportError, ExportFileStix, SPEC};
