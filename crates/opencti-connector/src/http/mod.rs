//! The vendor-HTTP layer: what every HTTP client of a connector (and the
//! runtime's own platform clients) is built on.
//!
//! - [`ClientOptions`] builds a `reqwest::Client`: a user agent from the
//!   connector's name and version, connect and read timeouts and a total
//!   deadline per request, certificate verification ([`Verification`]), and
//!   the container's network settings ([`Network`]: `HTTP_PROXY`,
//!   `HTTPS_PROXY`, `NO_PROXY`, `HTTPS_CA_CERTIFICATES`,
//!   `HTTPS_PROXY_REJECT_UNAUTHORIZED`, the environment OpenCTI's connector
//!   manager gives a container).
//! - [`retry`] runs an attempt again on transient failures, with bounded
//!   exponential backoff and jitter; a server's `Retry-After` (seconds or
//!   HTTP date, [`retry_after`]) replaces the backoff but never beyond
//!   [`RetryPolicy::max_server_delay`]. Every wait ends early on shutdown.
//! - [`send`] and [`Answer`] read an answer with a bounded body;
//!   [`StatusClass`] sorts statuses into transient and permanent classes,
//!   [`Answer::excerpt`] quotes a bounded part of an error body;
//!   [`CallFailure`] sorts a failed vendor call (answer or transport) the
//!   same way for every vendor client's error enum.
//! - [`retry_startup`] is the startup loop of a stream sink (capped
//!   delays, cancellable); [`SinkStartup`] runs it on a vendor client's
//!   [`VendorError`].
//! - [`redact_url`] and [`redact_urls`] strip the query and the user info
//!   from every URL that reaches an error, a log line or a work message:
//!   pre-signed URLs carry their signature in the query. [`error_text`]
//!   is a reqwest error's chain with its URLs redacted.
//!
//! - [`s3::ReqwestHttpClient`] runs aws-sdk-s3 over such a client (the
//!   S3 side output, S3 sources).
//!
//! With the `test-util` feature, `testing` has loopback servers for
//! tests: a TLS front signed by a test CA and a proxy that records what it
//! relays.

mod answer;
mod client;
mod network;
mod redact;
mod retry;
pub mod s3;
mod startup;

#[cfg(feature = "test-util")]
pub mod testing;

pub use answer::{
    Answer, CallFailure, DEFAULT_MAX_ANSWER_BYTES, MAX_ERROR_ANSWER_BYTES, StatusClass,
    TransportError, read_body, retry_after, send,
};
pub use client::{BuildError, ClientOptions, Verification};
pub use network::{
    HTTP_PROXY, HTTPS_CA_CERTIFICATES, HTTPS_PROXY, HTTPS_PROXY_REJECT_UNAUTHORIZED, NO_PROXY,
    Network, parse_ca_certificates,
};
pub use redact::{error_text, redact_url, redact_urls};
pub use retry::{
    DEFAULT_MAX_SERVER_DELAY, LongServerDelay, RetryClass, RetryPolicy, retry, server_delay,
};
pub use startup::{SinkStartup, StartupFailure, StartupRetry, VendorError, retry_startup};

/// Re-exported so that connectors need no direct dependency for it.
pub use tokio_util::sync::CancellationToken;
