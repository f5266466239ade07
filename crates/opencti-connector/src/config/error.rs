//! Configuration errors: each names the variable (environment and
//! `config.yml` spelling), the offending value (masked if secret) and where
//! it came from.

use std::fmt;
use std::path::PathBuf;

use super::value::Origin;
use super::var::Var;

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `config.yml` exists but cannot be read or parsed.
    #[error("cannot load {}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A required variable has no value.
    #[error("{env} (config.yml: {yaml}) is required but not set")]
    Missing {
        /// Environment name.
        env: &'static str,
        /// `section.key`.
        yaml: String,
    },
    /// A value was rejected.
    #[error("{env} (config.yml: {yaml}) = {value:?} from {origin}: {reason}")]
    Invalid {
        /// Environment name.
        env: &'static str,
        /// `section.key`.
        yaml: String,
        /// The value as written, masked if the variable is secret.
        value: String,
        /// Where the value came from.
        origin: Origin,
        /// Why it was rejected.
        reason: String,
    },
    /// A connector's validation produced no value and reported no problem
    /// (it used `?` on an optional value); the message says which config.
    #[error(
        "the {config} configuration is incomplete (a value was expected but none was reported missing)"
    )]
    Incomplete {
        /// The configuration being built.
        config: &'static str,
    },
    /// A connector asked for a variable its tables do not declare (a bug in
    /// the connector, reported rather than panicking).
    #[error("{env} is not declared in the connector's variable tables")]
    Undeclared {
        /// Environment name.
        env: String,
    },
}

impl ConfigError {
    pub(crate) fn missing(var: &Var) -> Self {
        Self::Missing {
            env: var.env,
            yaml: var.yaml_path(),
        }
    }

    pub(crate) fn invalid(var: &Var, raw_text: &str, origin: Origin, reason: String) -> Self {
        Self::Invalid {
            env: var.env,
            yaml: var.yaml_path(),
            value: var.display_value(raw_text),
            origin,
            reason,
        }
    }
}

/// Every problem found in a configuration, reported together.
#[derive(Debug, Clone, Default, PartialEq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// Appends the problems of `other`, skipping exact duplicates and
    /// "required but not set" for a variable already reported invalid (a
    /// rejected value leaves the variable without one, yet it was set).
    pub fn extend(&mut self, other: ConfigErrors) {
        for error in other.0 {
            if !self.0.contains(&error) && !self.reports_invalid(&error) {
                self.0.push(error);
            }
        }
    }

    /// For each problem in order, the environment name of the variable it
    /// is about, or its whole message when it names no variable of the
    /// tables (an unreadable file, an incomplete configuration): what a
    /// check of which variables were refused compares.
    pub fn culprits(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|error| match error {
                ConfigError::Missing { env, .. } | ConfigError::Invalid { env, .. } => {
                    (*env).to_owned()
                }
                other => other.to_string(),
            })
            .collect()
    }

    fn reports_invalid(&self, error: &ConfigError) -> bool {
        let ConfigError::Missing { env: missing, .. } = error else {
            return false;
        };
        self.0
            .iter()
            .any(|known| matches!(known, ConfigError::Invalid { env, .. } if env == missing))
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "{count} configuration problem{}",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn culprits_name_the_variable_or_quote_the_problem() {
        let incomplete = ConfigError::Incomplete { config: "vendor" };
        let errors = ConfigErrors(vec![
            ConfigError::Missing {
                env: "VENDOR_URL",
                yaml: "vendor.url".to_owned(),
            },
            incomplete.clone(),
        ]);
        assert_eq!(
            errors.culprits(),
            ["VENDOR_URL".to_owned(), incomplete.to_string()]
        );
    }
}
