//! The variables and the typed configuration.

use opencti_connector::config::{ConfigErrors, Settings, Var, VarKind};

/// Longest `OBSERVABLE_ENRICHER_LABEL_PREFIX` accepted.
const MAX_PREFIX_CHARS: usize = 32;

/// The variables: defaults for `CONNECTOR_NAME` and `CONNECTOR_SCOPE`,
/// then the connector's own.
pub static VARS: &[Var] = &[
    Var::new("CONNECTOR_NAME", "connector", "name", VarKind::String).default("Observable enricher"),
    Var::new("CONNECTOR_SCOPE", "connector", "scope", VarKind::String)
        .default("IPv4-Addr,IPv6-Addr,Domain-Name,Hostname,Url")
        .help("Entity types offered to the connector (registered with the platform)"),
    Var::new(
        "OBSERVABLE_ENRICHER_LABEL_PREFIX",
        "observable_enricher",
        "label_prefix",
        VarKind::String,
    )
    .default("ip-")
    .help(
        "Prefix of the address-range labels (ip-private, ip-loopback, ...), at most 32 characters",
    ),
    Var::new(
        "OBSERVABLE_ENRICHER_LABEL_PUBLIC",
        "observable_enricher",
        "label_public",
        VarKind::Bool,
    )
    .default("false")
    .help("Also label globally routable addresses (<prefix>global)"),
];

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnricherConfig {
    /// Prefix of the range labels.
    pub label_prefix: String,
    /// Whether globally routable addresses get a label too.
    pub label_public: bool,
}

impl TryFrom<&Settings> for EnricherConfig {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();
        let label_prefix = check.require::<String>("OBSERVABLE_ENRICHER_LABEL_PREFIX");
        if let Some(prefix) = &label_prefix {
            if prefix.chars().count() > MAX_PREFIX_CHARS {
                check.reject(
                    "OBSERVABLE_ENRICHER_LABEL_PREFIX",
                    format!("must be at most {MAX_PREFIX_CHARS} characters"),
                );
            } else if prefix.chars().any(|c| c.is_whitespace() || c == ',') {
                check.reject(
                    "OBSERVABLE_ENRICHER_LABEL_PREFIX",
                    "must not contain spaces or commas",
                );
            }
        }
        let label_public = check.require::<bool>("OBSERVABLE_ENRICHER_LABEL_PUBLIC");
        let build = || Some((label_prefix?, label_public?));
        let (label_prefix, label_public) = check.finish("observable_enricher", build)?;
        Ok(Self {
            label_prefix: label_prefix.to_lowercase(),
            label_public,
        })
    }
}
