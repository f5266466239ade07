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
    /// The only values accepted, when the connector checks against a
    /// fixed set (an `enum` in the configuration schema).
    pub choices: &'static [&'static str],
    /// Required only while another variable has a given value:
    /// `(other variable, value)`.
    pub required_when: Option<(&'static str, &'static str)>,
    /// Variables that must be set too whenever this one is.
    pub required_with: &'static [&'static str],
    /// One of several sets of variables is required: `(choice, option)`;
    /// the variables naming the same option make up one set.
    pub required_in_choice: Option<(&'static str, &'static str)>,
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
            choices: &[],
            required_when: None,
            required_with: &[],
            required_in_choice: None,
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

    /// The accepted values (checked by the connector; listed by the
    /// configuration schema and the README).
    pub const fn choices(self, choices: &'static [&'static str]) -> Self {
        Self { choices, ..self }
    }

    /// Required only while `other` is `value` (its default counting): a
    /// mode's own settings, like the feed URL of a feed read over HTTP.
    pub const fn required_when(self, other: &'static str, value: &'static str) -> Self {
        Self {
            required_when: Some((other, value)),
            ..self
        }
    }

    /// Whenever this variable is set, `others` must be set too (a key id
    /// and its secret).
    pub const fn required_with(self, others: &'static [&'static str]) -> Self {
        Self {
            required_with: others,
            ..self
        }
    }

    /// Part of `option`, one of the sets of variables of which `choice`
    /// needs one complete set (an API key, or a client id and secret).
    pub const fn required_in_choice(self, choice: &'static str, option: &'static str) -> Self {
        Self {
            required_in_choice: Some((choice, option)),
            ..self
        }
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
