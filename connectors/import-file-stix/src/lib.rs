//! OpenCTI internal-import-file connector for STIX 2.1 JSON bundles, a
//! drop-in replacement for the Python `import-file-stix` connector: the
//! platform hands it each uploaded file of its scope; it downloads the file
//! and sends the bundle in it, adding the imported objects to the container
//! the file was imported on.
//!
//! Module roles: [`config`] declares the variables (the Python connector's
//! names and defaults), [`mapping`] rewrites a bundle for a container
//! (pure, no I/O), [`connector`] is the
//! [`opencti_connector::listen::FileImporter`] tying them together.

pub mod config;
pub mod connector;
pub mod mapping;

pub use config::{ImportFileStixConfig, VARS};
pub use connector::{ImportError, ImportFileStix, SPEC};
