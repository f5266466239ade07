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
    /// The broker made no progress (unreachable, refusing messages, or not
    /// confirming them) for longer than `MQ_OUTAGE_TIMEOUT`: the send
    /// fails, so the run fails and is retried on the connector's schedule.
    #[error(
        "the broker at {address} made no progress for {} s: {reason} (MQ_OUTAGE_TIMEOUT bounds this wait)",
        waited.as_secs()
    )]
    Unavailable {
        /// `host:port`.
        address: String,
        /// The bound that was reached.
        waited: std::time::Duration,
        /// The last failure seen.
        reason: String,
    },
    /// Shutdown was requested before every message was confirmed; the
    /// unconfirmed ones may or may not have reached the queue.
    #[error("publishing interrupted by shutdown ({unconfirmed} messages unconfirmed)")]
    Cancelled {
        /// Messages without a positive confirm.
        unconfirmed: usize,
    },
    /// A message could not be acknowledged (its channel is gone): the
    /// broker delivers it again.
    #[error("cannot acknowledge a message: {reason}")]
    Ack {
        /// Why.
        reason: String,
    },
}
