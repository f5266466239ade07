//! A string that never shows up in logs or `Debug` output.

use std::fmt;

use super::value::{FromValue, Value};

/// A secret (token, password, key passphrase). `Debug` and `Display` print
/// `********`; [`Secret::expose`] is the only way to read it.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret text, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl FromValue for Secret {
    fn from_value(value: &Value) -> Result<Self, String> {
        Ok(Self(value.to_string()))
    }
}
