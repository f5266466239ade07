//! OpenCTI internal export connector (`INTERNAL_EXPORT_FILE`) writing a
//! list as plain text, one line per row: the observables' values for a
//! list of observables, the names otherwise. It exports lists only (the
//! checked rows, or the whole query), within the markings the asking user
//! may export, and uploads the file back to the platform as the Python
//! `export-file-txt` connector does.
//!
//! Module roles: [`config`] declares the variables, [`documents`] holds the
//! GraphQL documents, [`mapping`] decides what to list and what each row
//! writes (pure), [`connector`] reads the platform and uploads the file.

pub mod config;
pub mod connector;
pub mod documents;
pub mod mapping;

pub use config::VARS;
pub use connector::{ExportError, ExportFileTxt, SPEC};
