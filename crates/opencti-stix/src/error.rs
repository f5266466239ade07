//! Errors reading STIX objects and bundles.

use crate::object::fields::FieldError;

/// A STIX document that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StixError {
    /// The text is not JSON.
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        /// What the parser reported.
        message: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The document is not a bundle (`type`, `id` or `objects` missing or
    /// of the wrong kind).
    #[error("invalid bundle: `{field}`: {message}")]
    InvalidBundle {
        /// The bundle property at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// An object is malformed.
    #[error("{}", describe_object(*.index, .id.as_deref(), .path, .message))]
    InvalidObject {
        /// Position of the object in its bundle, when read from one.
        index: Option<usize>,
        /// The object's id, when it has one.
        id: Option<String>,
        /// Path of the property at fault (`external_references[0].url`);
        /// empty when the object itself is at fault.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

impl StixError {
    pub(crate) fn object(index: Option<usize>, error: FieldError) -> Self {
        Self::InvalidObject {
            index,
            id: error.id,
            path: error.path,
            message: error.message,
        }
    }

    pub(crate) fn json(error: &serde_json::Error) -> Self {
        Self::Json {
            message: error.to_string(),
            line: error.line(),
            column: error.column(),
        }
    }
}

fn describe_object(index: Option<usize>, id: Option<&str>, path: &str, message: &str) -> String {
    let mut out = String::from("invalid STIX object");
    if let Some(index) = index {
        out.push_str(&format!(" #{index}"));
    }
    if let Some(id) = id {
        out.push_str(&format!(" `{id}`"));
    }
    if !path.is_empty() {
        out.push_str(&format!(" at `{path}`"));
    }
    out.push_str(": ");
    out.push_str(message);
    out
}
