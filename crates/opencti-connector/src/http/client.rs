//! Building a `reqwest::Client` the same way for every remote system.

use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use reqwest::header::HeaderMap;

use super::network::{HTTPS_PROXY_REJECT_UNAUTHORIZED, Network};

/// Connection set-up never needs longer than this, whatever else is set.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the server's certificate is checked. Wherever it is checked, the CAs
/// of `HTTPS_CA_CERTIFICATES` ([`Network`]) are trusted too.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Verification {
    /// Against the system's roots.
    #[default]
    System,
    /// Not at all.
    Off,
    /// Against the system's roots and the CAs of this PEM bundle
    /// (`OPENCTI_SSL_VERIFY=/path`).
    AlsoBundle(PathBuf),
    /// Against the CAs of this PEM bundle only (`PTNAD_SSL_VERIFY=/path`).
    OnlyBundle(PathBuf),
}

/// A client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The CA bundle cannot be read or holds no certificate.
    #[error("cannot use the CA bundle {path}: {reason}")]
    CaBundle {
        /// The bundle's path.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A proxy setting cannot be used.
    #[error("cannot use the proxy {0}")]
    Proxy(String),
    /// The TLS stack or the client could not start.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Everything a `reqwest::Client` is built from; [`ClientOptions::build`]
/// makes it.
///
/// ```
/// use std::time::Duration;
/// use opencti_connector::http::{ClientOptions, Network, Verification};
///
/// let client = ClientOptions::new("opencti-example", "1.2.3")
///     .read_timeout(Duration::from_secs(30))
///     .total_timeout(Duration::from_secs(300))
///     .verification(Verification::System)
///     .network(Network::default())
///     .build()
///     .unwrap();
/// # drop(client);
/// ```
#[derive(Debug, Clone)]
pub struct ClientOptions {
    user_agent: String,
    connect_timeout: Duration,
    read_timeout: Option<Duration>,
    total_timeout: Option<Duration>,
    verification: Verification,
    network: Network,
    default_headers: HeaderMap,
}

impl ClientOptions {
    /// Options for the connector `name` at `version` (the user agent is
    /// `name/version`): a 30 s connect timeout, no read timeout or
    /// deadline, the system's roots, a direct connection.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            user_agent: format!("{name}/{version}"),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: None,
            total_timeout: None,
            verification: Verification::System,
            network: Network::default(),
            default_headers: HeaderMap::new(),
        }
    }

    /// Longest wait for a connection (TCP and TLS).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest silence while reading an answer.
    #[must_use]
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// Deadline of a whole request, from sending to the end of the body.
    #[must_use]
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = Some(timeout);
        self
    }

    /// How certificates are checked.
    #[must_use]
    pub fn verification(mut self, verification: Verification) -> Self {
        self.verification = verification;
        self
    }

    /// Proxies and extra roots.
    #[must_use]
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// Headers sent with every request (mark secret values sensitive).
    #[must_use]
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        self.default_headers = headers;
        self
    }

    /// Builds the client (installing the process's rustls provider first).
    pub fn build(&self) -> Result<reqwest::Client, BuildError> {
        crate::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(&self.user_agent)
            .default_headers(self.default_headers.clone())
            .connect_timeout(self.connect_timeout);
        if let Some(timeout) = self.read_timeout {
            builder = builder.read_timeout(timeout);
        }
        if let Some(timeout) = self.total_timeout {
            builder = builder.timeout(timeout);
        }
        builder = self
            .network
            .apply_proxies(builder)
            .map_err(BuildError::Proxy)?;
        let extra = self.network.extra_roots().iter().cloned();
        let verification = if self.network.skips_verification() {
            PROXY_UNVERIFIED.call_once(|| {
                tracing::warn!(
                    "{HTTPS_PROXY_REJECT_UNAUTHORIZED}=false: certificates are not checked \
                     on connections of clients that use the HTTPS proxy"
                );
            });
            &Verification::Off
        } else {
            &self.verification
        };
        builder = match verification {
            Verification::System => builder.tls_certs_merge(extra),
            Verification::Off => builder.tls_danger_accept_invalid_certs(true),
            Verification::AlsoBundle(path) => {
                builder.tls_certs_merge(read_bundle(path)?.into_iter().chain(extra))
            }
            Verification::OnlyBundle(path) => {
                builder.tls_certs_only(read_bundle(path)?.into_iter().chain(extra))
            }
        };
        builder
            .build()
            .map_err(|error| BuildError::Client(crate::error_chain(&error)))
    }
}

/// The warning about `HTTPS_PROXY_REJECT_UNAUTHORIZED=false` is logged once.
static PROXY_UNVERIFIED: Once = Once::new();

fn read_bundle(path: &PathBuf) -> Result<Vec<reqwest::Certificate>, BuildError> {
    let error = |reason: String| BuildError::CaBundle {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let certificates =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| error(e.to_string()))?;
    if certificates.is_empty() {
        return Err(error("no PEM certificate in it".to_owned()));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_bundles_are_named() {
        let error = ClientOptions::new("t", "1")
            .verification(Verification::OnlyBundle("/no/such/ca.pem".into()))
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("/no/such/ca.pem"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let error = ClientOptions::new("t", "1")
            .verification(Verification::AlsoBundle(empty))
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
    }
}
