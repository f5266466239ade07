//! Declarative configuration variables.

/// How a variable's text is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VarKind {
    /// Kept verbatim; numbers written in `config.yml` are turned back into
    /// their text, so a token made only of digits still loads.
    String,
    /// `yes`/`true`/`on`/`1` or `no`/`false`/`off`/`0` in any case (pycti's
    /// spellings and pydantic's), or a YAML boolean.
    Bool,
    /// A signed integer.
    Int,
    /// A floating-point number.
    Float,
    /// A schedule period: ISO 8601, `HH:MM:SS` or `0` (see [`crate::duration`]).
    Duration,
    /// A comma-separated list (items trimmed, empty items dropped) or a YAML
    /// sequence.
    List,
    /// An absolute URL.
    Url,
}

impl VarKind {
    /// A short lowercase name for help texts.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Bool => "bool",
            Self::Int => "integer",
            Self::Float => "number",
            Self::Duration => "duration",
            Self::List => "list",
            Self::Url => "url",
        }
    }
}

/// One configuration variable: its environment name, its `config.yml`
/// spelling (`section.key`), its type and default.
///
/// Tables of variables are `static` slices built with the `const` builder
/// methods:
///
/// ```
/// use opencti_connector::config::{Var, VarKind};
///
/// static VARS: &[Var] = &[
///     Var::new("MISP_FEED_URL", "misp_feed", "url", VarKind::Url)
///         .required()
///         .help("Base URL of the MISP feed"),
///     Var::new("MISP_FEED_SSL_VERIFY", "misp_feed", "ssl_verify", VarKind::Bool)
///         .default("true")
///         .help("Verify the feed's TLS certificate"),
/// ];
/// # assert_eq!(VARS.len(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    /// Environment variable name, e.g. `MISP_FEED_URL`.
    pub env: &'static str,
    /// `config.yml` section, e.g. `misp_feed`.
    pub section: &'static str,
    /// Key inside the section, e.g. `url`.
    pub key: &'static str,
    /// How the value is interpreted.
    pub kind: VarKind,
    /// Default, written as it would be in the environment.
    pub default: Option<&'static str>,
    /// Whether a missing value is an error.
    pub required: bool,
    /// Whether the value is masked in reports, errors and `--print-config`.
    pub secret: bool,
    /// Legacy environment names, consulted after `env`, in order.
    pub aliases: &'static [&'static str],
    /// One line of help for `--help` and the README tables.
    pub help: &'static str,
}

impl Var {
    /// A variable without default, optional, not secret.
    pub const fn new(
        env: &'static str,
        section: &'static str,
        key: &'static str,
        kind: VarKind,
    ) -> Self {
        Self {
            env,
            section,
            key,
            kind,
            default: None,
            required: false,
            secret: false,
            aliases: &[],
            help: "",
        }
    }

    /// Sets the default (in environment spelling).
    pub const fn default(self, default: &'static str) -> Self {
        Self {
            default: Some(default),
            ..self
        }
    }

    /// Marks the variable as required.
    pub const fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    /// Marks the variable as secret (masked everywhere it is shown).
    pub const fn secret(self) -> Self {
        Self {
            secret: true,
            ..self
        }
    }

    /// Legacy environment names still honoured.
    pub const fn aliases(self, aliases: &'static [&'static str]) -> Self {
        Self { aliases, ..self }
    }

    /// The help line.
    pub const fn help(self, help: &'static str) -> Self {
        Self { help, ..self }
    }

    /// `section.key`, the `config.yml` path.
    pub fn yaml_path(&self) -> String {
        format!("{}.{}", self.section, self.key)
    }

    /// Masks `text` if the variable is secret.
    pub fn display_value(&self, text: &str) -> String {
        if self.secret && !text.is_empty() {
            "********".to_owned()
        } else {
            text.to_owned()
        }
    }
}
