//! TLS plumbing shared by the platform client and the broker connection:
//! the process-wide rustls crypto provider, and the start-up warnings when
//! certificates go unverified.
//!
//! pycti's defaults verify neither the platform's certificate
//! (`OPENCTI_SSL_VERIFY=false`) nor the broker's
//! (`MQ_USE_SSL_REJECT_UNAUTHORIZED=false`); the defaults stay, so that a
//! configuration behaves as it did with pycti, but an encrypted connection
//! that is not verified is named once at start, with what to set.

use crate::amqp::BrokerParams;
use crate::config::{OpenctiConfig, PlatformTls};

/// Installs aws-lc-rs as the process-default rustls provider (idempotent).
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Warns when the platform is reached over `https` without verifying its
/// certificate (anyone on the path could then read the token).
pub fn warn_if_platform_unverified(config: &OpenctiConfig) {
    if config.url.scheme() == "https" && config.tls == PlatformTls::NoVerify {
        tracing::warn!(
            attributes.url = %config.url,
            "OPENCTI_SSL_VERIFY is false: the platform's TLS certificate is not verified, so a \
             machine in the middle could read the token and the data; set OPENCTI_SSL_VERIFY=true, \
             or to the path of the CA bundle that signed the platform's certificate"
        );
    }
}

/// Warns when the broker is reached over `amqps` without verifying its
/// certificate and host name.
pub fn warn_if_broker_unverified(params: &BrokerParams) {
    if params.tls.as_ref().is_some_and(|tls| !tls.verify) {
        tracing::warn!(
            attributes.host = %params.host,
            attributes.port = params.port,
            "MQ_USE_SSL_REJECT_UNAUTHORIZED is false: the broker's TLS certificate and host name \
             are not verified, so a machine in the middle could read the broker password and the \
             bundles; set MQ_USE_SSL_REJECT_UNAUTHORIZED=true (with MQ_USE_SSL_CA for a private CA)"
        );
    }
}
