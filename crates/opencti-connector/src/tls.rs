//! TLS plumbing shared by the platform client and the broker connection:
//! the process-wide rustls crypto provider.

/// Installs aws-lc-rs as the process-default rustls provider (idempotent).
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
