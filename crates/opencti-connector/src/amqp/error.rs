//! Errors of the broker side.

/// A broker operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmqpError {
    /// TLS material is unusable.
    #[error("broker TLS configuration: {reason}")]
    Tls {
        /// Why.
        reason: String,
    },
    /// The TLS handshake failed: the broker's certificate did not verify,
    /// or the broker refused ours. A configuration problem, not retried.
    #[error("TLS handshake with the broker at {address} failed: {reason}")]
    TlsHandshake {
        /// `host:port`.
        address: String,
        /// Why, as the TLS library reports it.
        reason: String,
    },
    /// Connecting failed (the supervisor retries; this is what it logs).
    #[error("cannot connect to the broker at {address}: {reason}")]
    Connect {
        /// `host:port`.
        address: String,
        /// Why.
        reason: String,
    },
    /// Shutdown was requested before every message was confirmed; the
    /// unconfirmed ones may or may not have reached the queue.
    #[error("publishing interrupted by shutdown ({unconfirmed} messages unconfirmed)")]
    Cancelled {
        /// Messages without a positive confirm.
        unconfirmed: usize,
    },
}
