//! The connector's variables (same env names, `config.yml` keys and defaults
//! as the Python connector) and the configuration built from them.

use opencti_connector::config::{ConfigErrors, Settings, Var, VarKind};

/// The runtime variables whose defaults differ for this connector. It has
/// no variables of its own, as the Python one (`import_file_stix: {}`).
pub static VARS: &[Var] = &[
    Var::new("CONNECTOR_TYPE", "connector", "type", VarKind::String)
        .default("INTERNAL_IMPORT_FILE")
        .help("Connector type; always INTERNAL_IMPORT_FILE"),
    Var::new("CONNECTOR_ID", "connector", "id", VarKind::String)
        .default("f2637f59-2103-4e1b-b250-7825e3033122")
        .help("Unique id (UUID v4) of this connector instance (the Python connector's default)"),
    Var::new("CONNECTOR_NAME", "connector", "name", VarKind::String)
        .default("ImportFileStix")
        .help("Name shown in the platform"),
    Var::new("CONNECTOR_SCOPE", "connector", "scope", VarKind::String)
        .default("application/json,text/xml")
        .help("MIME types the platform hands the connector (text/xml files are refused, see the README)"),
    Var::new(
        "CONNECTOR_VALIDATE_BEFORE_IMPORT",
        "connector",
        "validate_before_import",
        VarKind::Bool,
    )
    .default("true")
    .help("Send imported bundles for validation (a draft or a workbench) unless the import bypasses it"),
];

/// The validated configuration: what the connector's work message depends
/// on (the runtime reads the same variables for the sends themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportFileStixConfig {
    /// `CONNECTOR_VALIDATE_BEFORE_IMPORT`.
    pub validate_before_import: bool,
}

impl TryFrom<&Settings> for ImportFileStixConfig {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();
        let validate_before_import: Option<bool> = check.get("CONNECTOR_VALIDATE_BEFORE_IMPORT");
        if let Some(connector_type) = check.get::<String>("CONNECTOR_TYPE")
            && !connector_type
                .trim()
                .eq_ignore_ascii_case("INTERNAL_IMPORT_FILE")
        {
            check.reject("CONNECTOR_TYPE", "this connector is INTERNAL_IMPORT_FILE");
        }
        check.finish("import_file_stix", || {
            Some(Self {
                validate_before_import: validate_before_import?,
            })
        })
    }
}
