//! Errors of platform operations.

/// A platform operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The HTTP client could not be built (bad TLS material, bad header).
    #[error("cannot build the platform client: {reason}")]
    Client {
        /// Why.
        reason: String,
    },
    /// The platform could not be reached (after retries).
    #[error("{operation}: cannot reach the platform: {reason}")]
    Transport {
        /// Operation name.
        operation: String,
        /// Why.
        reason: String,
    },
    /// The platform answered with an HTTP error.
    #[error("{operation}: HTTP {status}: {body}")]
    Http {
        /// Operation name.
        operation: String,
        /// HTTP status.
        status: u16,
        /// Response body (truncated).
        body: String,
    },
    /// The platform answered with a GraphQL error.
    #[error("{operation}: {name}: {message}")]
    GraphQl {
        /// Operation name.
        operation: String,
        /// Error name or code (e.g. `FORBIDDEN_ACCESS`).
        name: String,
        /// Error message.
        message: String,
    },
    /// The answer did not have the expected shape.
    #[error("{operation}: unexpected answer: {reason}")]
    Decode {
        /// Operation name.
        operation: String,
        /// Why.
        reason: String,
    },
}

impl ApiError {
    /// Whether the error text carries `needle` (used to recognise platform
    /// error codes such as `WORK_NOT_ALIVE`).
    pub fn mentions(&self, needle: &str) -> bool {
        self.to_string().contains(needle)
    }
}
