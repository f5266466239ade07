//! The network a container is given: proxies and extra trusted CAs, as
//! OpenCTI's connector manager passes them (`HTTP_PROXY`, `HTTPS_PROXY`,
//! `NO_PROXY`, `HTTPS_CA_CERTIFICATES`, `HTTPS_PROXY_REJECT_UNAUTHORIZED`).
//!
//! They are runtime variables (declared with the `opencti.*` ones), so they
//! are read with the configuration and reach every client through its
//! settings: the platform client, the live-stream reader and every vendor
//! client apply the same [`Network`].

use std::fmt;
use std::sync::Arc;

use reqwest::{ClientBuilder, NoProxy, Proxy, Url};

use super::redact::redact_url;
use crate::config::Check;

/// Proxy for `http://` URLs.
pub const HTTP_PROXY: &str = "HTTP_PROXY";
/// Proxy for `https://` URLs.
pub const HTTPS_PROXY: &str = "HTTPS_PROXY";
/// Hosts reached directly, comma-separated (`.example.org`, `10.0.0.0/8`, `*`).
pub const NO_PROXY: &str = "NO_PROXY";
/// Extra trusted CA certificates: inline PEM, or the path of a PEM file.
pub const HTTPS_CA_CERTIFICATES: &str = "HTTPS_CA_CERTIFICATES";
/// `false`: certificates are not checked on connections through the HTTPS proxy.
pub const HTTPS_PROXY_REJECT_UNAUTHORIZED: &str = "HTTPS_PROXY_REJECT_UNAUTHORIZED";

const PEM_CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----";

/// Proxies and extra trusted roots for every HTTP client of the process.
///
/// [`Network::default`] is a direct connection with the system's roots.
/// `Debug` shows proxy URLs without credentials.
#[derive(Clone)]
pub struct Network {
    http_proxy: Option<Url>,
    https_proxy: Option<Url>,
    no_proxy: Option<String>,
    extra_roots: Arc<[reqwest::Certificate]>,
    proxy_verify: bool,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            http_proxy: None,
            https_proxy: None,
            no_proxy: None,
            extra_roots: Arc::new([]),
            proxy_verify: true,
        }
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("http_proxy", &self.http_proxy.as_ref().map(redact_url))
            .field("https_proxy", &self.https_proxy.as_ref().map(redact_url))
            .field("no_proxy", &self.no_proxy)
            .field("extra_roots", &self.extra_roots.len())
            .field("proxy_verify", &self.proxy_verify)
            .finish()
    }
}

impl Network {
    /// Reads the five variables from `check` (those the settings do not
    /// declare count as unset), recording a problem for each bad value.
    pub fn check(check: &mut Check<'_>) -> Self {
        let mut network = Self::default();
        let proxy = |check: &mut Check<'_>, env: &str| {
            if !check.declares(env) {
                return None;
            }
            check
                .parse(env, |value| parse_proxy(&value.to_string()))
                .flatten()
        };
        network.http_proxy = proxy(check, HTTP_PROXY);
        network.https_proxy = proxy(check, HTTPS_PROXY);
        if check.declares(NO_PROXY) {
            network.no_proxy = check
                .get::<String>(NO_PROXY)
                .filter(|text| !text.trim().is_empty());
        }
        if check.declares(HTTPS_CA_CERTIFICATES)
            && let Some(roots) = check
                .parse(HTTPS_CA_CERTIFICATES, |value| {
                    parse_ca_certificates(&value.to_string())
                })
                .flatten()
        {
            network.extra_roots = roots.into();
        }
        if check.declares(HTTPS_PROXY_REJECT_UNAUTHORIZED) {
            network.proxy_verify = check.get(HTTPS_PROXY_REJECT_UNAUTHORIZED).unwrap_or(true);
        }
        network
    }

    /// Sends `http://` requests through `proxy` (credentials in its URL
    /// are sent as basic proxy authentication).
    #[must_use]
    pub fn with_http_proxy(mut self, proxy: Url) -> Self {
        self.http_proxy = Some(proxy);
        self
    }

    /// Sends `https://` requests through `proxy` (a `CONNECT` tunnel).
    #[must_use]
    pub fn with_https_proxy(mut self, proxy: Url) -> Self {
        self.https_proxy = Some(proxy);
        self
    }

    /// Hosts reached directly, in `NO_PROXY` syntax.
    #[must_use]
    pub fn with_no_proxy(mut self, hosts: &str) -> Self {
        self.no_proxy = Some(hosts.to_owned());
        self
    }

    /// Trusts these CAs too, wherever certificates are verified.
    #[must_use]
    pub fn with_extra_roots(mut self, roots: Vec<reqwest::Certificate>) -> Self {
        self.extra_roots = roots.into();
        self
    }

    /// `HTTPS_PROXY_REJECT_UNAUTHORIZED`: `false` turns certificate checks
    /// off for clients whose requests go through the HTTPS proxy.
    #[must_use]
    pub fn with_proxy_verify(mut self, verify: bool) -> Self {
        self.proxy_verify = verify;
        self
    }

    /// The CAs of `HTTPS_CA_CERTIFICATES`.
    pub fn extra_roots(&self) -> &[reqwest::Certificate] {
        &self.extra_roots
    }

    /// Whether some requests go through a proxy.
    pub fn has_proxy(&self) -> bool {
        self.http_proxy.is_some() || self.https_proxy.is_some()
    }

    /// Whether certificates must not be checked because an HTTPS proxy that
    /// `HTTPS_PROXY_REJECT_UNAUTHORIZED=false` exempts is in the way.
    pub(crate) fn skips_verification(&self) -> bool {
        self.https_proxy.is_some() && !self.proxy_verify
    }

    /// Sets the proxies on `builder` (and nothing from the process
    /// environment: the configuration is the only source).
    pub(crate) fn apply_proxies(&self, builder: ClientBuilder) -> Result<ClientBuilder, String> {
        let mut builder = builder.no_proxy();
        let no_proxy = || self.no_proxy.as_deref().and_then(NoProxy::from_string);
        if let Some(url) = &self.http_proxy {
            let proxy = Proxy::http(url.as_str())
                .map_err(|error| format!("{HTTP_PROXY}: {error}"))?
                .no_proxy(no_proxy());
            builder = builder.proxy(proxy);
        }
        if let Some(url) = &self.https_proxy {
            let proxy = Proxy::https(url.as_str())
                .map_err(|error| format!("{HTTPS_PROXY}: {error}"))?
                .no_proxy(no_proxy());
            builder = builder.proxy(proxy);
        }
        Ok(builder)
    }
}

/// A proxy URL (`http://[user:password@]host:port`); blank is unset.
fn parse_proxy(text: &str) -> Result<Option<Url>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let url = Url::parse(text).map_err(|error| format!("not a proxy URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") || !url.has_host() {
        return Err("expected http://host:port (or https://, socks5://)".to_owned());
    }
    Ok(Some(url))
}

/// `HTTPS_CA_CERTIFICATES` as pycti reads it: inline PEM when the value
/// starts with a certificate's header, otherwise the path of a PEM file;
/// blank is unset. Every certificate of the bundle is returned.
pub fn parse_ca_certificates(text: &str) -> Result<Option<Vec<reqwest::Certificate>>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let pem = if trimmed.starts_with(PEM_CERTIFICATE) {
        trimmed.as_bytes().to_vec()
    } else if std::path::Path::new(trimmed).is_file() {
        let pem =
            std::fs::read(trimmed).map_err(|error| format!("cannot read {trimmed}: {error}"))?;
        if !String::from_utf8_lossy(&pem).contains(PEM_CERTIFICATE) {
            return Err(format!("{trimmed} holds no PEM certificate"));
        }
        pem
    } else {
        return Err("neither a PEM certificate nor the path of a PEM file".to_owned());
    };
    let roots = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|error| format!("invalid PEM certificate: {error}"))?;
    if roots.is_empty() {
        return Err("no certificate in the PEM text".to_owned());
    }
    Ok(Some(roots))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Settings, Var, VarKind};

    const TEST_CA: &str = include_str!("testing/test-ca.pem");

    static VARS: &[Var] = &[
        Var::new(HTTP_PROXY, "proxy", "http_proxy", VarKind::String),
        Var::new(HTTPS_PROXY, "proxy", "https_proxy", VarKind::String),
        Var::new(NO_PROXY, "proxy", "no_proxy", VarKind::String),
        Var::new(
            HTTPS_CA_CERTIFICATES,
            "proxy",
            "https_ca_certificates",
            VarKind::String,
        ),
        Var::new(
            HTTPS_PROXY_REJECT_UNAUTHORIZED,
            "proxy",
            "https_proxy_reject_unauthorized",
            VarKind::Bool,
        ),
    ];

    fn network(pairs: &[(&str, &str)]) -> Result<Network, String> {
        let settings = Settings::from_env_pairs(&[VARS], pairs.iter().copied());
        let mut check = settings.check();
        let network = Network::check(&mut check);
        check
            .finish("network", || Some(network))
            .map_err(|errors| errors.to_string())
    }

    #[test]
    fn nothing_set_is_a_direct_connection() {
        let direct = network(&[]).unwrap();
        assert!(!direct.has_proxy() && direct.extra_roots().is_empty());
        assert!(!direct.skips_verification());
        // Undeclared variables (a connector's own tests) are unset too.
        let settings = Settings::from_env_pairs(&[], [("HTTP_PROXY", "http://p:1")]);
        assert!(!Network::check(&mut settings.check()).has_proxy());
    }

    #[test]
    fn ca_certificates_are_read_inline_or_from_a_file() {
        let inline = network(&[(HTTPS_CA_CERTIFICATES, TEST_CA)]).unwrap();
        assert_eq!(inline.extra_roots().len(), 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, format!("{TEST_CA}\n{TEST_CA}")).unwrap();
        let from_file =
            network(&[(HTTPS_CA_CERTIFICATES, &format!(" {} ", path.display()))]).unwrap();
        assert_eq!(from_file.extra_roots().len(), 2);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let error = network(&[(HTTPS_CA_CERTIFICATES, "/no/such/file.pem")]).unwrap_err();
        assert!(error.contains(HTTPS_CA_CERTIFICATES), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-ca.txt");
        std::fs::write(&path, "hello").unwrap();
        let error = network(&[(HTTPS_CA_CERTIFICATES, path.to_str().unwrap())]).unwrap_err();
        assert!(error.contains("holds no PEM certificate"), "{error}");
        let error = network(&[(HTTPS_PROXY, "proxy.example.org:3128")]).unwrap_err();
        assert!(error.contains(HTTPS_PROXY), "{error}");
        let error = network(&[(HTTPS_PROXY_REJECT_UNAUTHORIZED, "maybe")]).unwrap_err();
        assert!(error.contains(HTTPS_PROXY_REJECT_UNAUTHORIZED), "{error}");
    }

    #[test]
    fn proxies_keep_their_credentials_out_of_debug() {
        let network = network(&[
            (HTTPS_PROXY, "http://alice:s3cret@proxy.example.org:3128"),
            (HTTP_PROXY, " "),
            (NO_PROXY, "localhost,.internal"),
            (HTTPS_PROXY_REJECT_UNAUTHORIZED, "false"),
        ])
        .unwrap();
        assert!(network.has_proxy() && network.skips_verification());
        assert!(network.http_proxy.is_none(), "blank is unset");
        let debug = format!("{network:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("proxy.example.org"), "{debug}");
    }
}
