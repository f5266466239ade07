//! The connector's variables: the runtime's, with the Python connector's
//! defaults (its docker-compose file) for type, name and scope. It has no
//! variables of its own.

use opencti_connector::config::{Var, VarKind};

/// The MIME type the connector exports, registered as its scope.
pub const TEXT_MIME_TYPE: &str = "text/plain";

/// Runtime variables whose defaults differ for this connector.
pub static VARS: &[Var] = &[
    Var::new("CONNECTOR_TYPE", "connector", "type", VarKind::String)
        .default("INTERNAL_EXPORT_FILE")
        .help("Connector type; always INTERNAL_EXPORT_FILE"),
    Var::new("CONNECTOR_NAME", "connector", "name", VarKind::String)
        .default("ExportFileTxt")
        .help("Name shown in the platform; the exported files are named after it"),
    Var::new("CONNECTOR_SCOPE", "connector", "scope", VarKind::String)
        .default(TEXT_MIME_TYPE)
        .help("Export formats offered; text/plain"),
];
