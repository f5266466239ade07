//! Broker connection parameters: the platform's, with `MQ_*` overrides.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::api::BrokerConnection;
use crate::config::{MqOverrides, Secret};

use super::error::AmqpError;

/// TLS material for `amqps`.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct BrokerTls {
    /// Extra trusted CA certificates (PEM).
    pub ca_pem: Option<String>,
    /// Client certificate chain (PEM).
    pub client_cert_pem: Option<String>,
    /// Client private key (unencrypted PEM: PKCS#8, PKCS#1 or SEC1).
    pub client_key_pem: Option<Secret>,
    /// Verify the broker's certificate and host name.
    pub verify: bool,
}

impl fmt::Debug for BrokerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerTls")
            .field("ca", &self.ca_pem.is_some())
            .field("client_cert", &self.client_cert_pem.is_some())
            .field("verify", &self.verify)
            .finish()
    }
}

/// Where and how to connect to RabbitMQ.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BrokerParams {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Virtual host.
    pub vhost: String,
    /// User.
    pub user: String,
    /// Password.
    pub pass: Secret,
    /// TLS, if `amqps`.
    pub tls: Option<BrokerTls>,
    /// How long a publish waits on a broker that makes no progress before
    /// it fails (`MQ_OUTAGE_TIMEOUT`).
    pub outage_timeout: Duration,
}

/// `MQ_OUTAGE_TIMEOUT`'s default: long enough for a broker restart or a
/// fail-over, short enough that a connector whose broker is gone reports
/// its run in error instead of looking busy.
pub const DEFAULT_OUTAGE_TIMEOUT: Duration = Duration::from_secs(300);

impl BrokerParams {
    /// Plain AMQP parameters.
    pub fn plain(
        host: impl Into<String>,
        port: u16,
        vhost: impl Into<String>,
        user: impl Into<String>,
        pass: Secret,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            vhost: vhost.into(),
            user: user.into(),
            pass,
            tls: None,
            outage_timeout: DEFAULT_OUTAGE_TIMEOUT,
        }
    }

    /// The registration's parameters with the local `MQ_*` overrides applied;
    /// certificate inputs (paths or inline PEM) are read here, and an
    /// encrypted client key is decrypted with `MQ_USE_SSL_PASSPHRASE`.
    pub fn resolve(
        platform: &BrokerConnection,
        overrides: &MqOverrides,
    ) -> Result<Self, AmqpError> {
        let use_ssl = overrides.use_ssl.unwrap_or(platform.use_ssl);
        let tls = if use_ssl {
            Some(BrokerTls {
                ca_pem: overrides
                    .ca
                    .as_deref()
                    .map(|value| read_pem("MQ_USE_SSL_CA", value))
                    .transpose()?,
                client_cert_pem: overrides
                    .cert
                    .as_deref()
                    .map(|value| read_pem("MQ_USE_SSL_CERT", value))
                    .transpose()?,
                client_key_pem: overrides
                    .key
                    .as_ref()
                    .map(|value| {
                        let pem = read_pem("MQ_USE_SSL_KEY", value.expose())?;
                        unlock_client_key(pem, overrides.passphrase.as_ref()).map(Secret::new)
                    })
                    .transpose()?,
                verify: overrides.reject_unauthorized,
            })
        } else {
            None
        };
        Ok(Self {
            host: overrides
                .host
                .clone()
                .unwrap_or_else(|| platform.host.clone()),
            port: overrides.port.unwrap_or(platform.port),
            vhost: overrides
                .vhost
                .clone()
                .unwrap_or_else(|| platform.vhost.clone()),
            user: overrides
                .user
                .clone()
                .unwrap_or_else(|| platform.user.clone()),
            pass: overrides
                .pass
                .clone()
                .unwrap_or_else(|| platform.pass.clone()),
            tls,
            outage_timeout: overrides.outage_timeout,
        })
    }

    /// `host:port` for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// PEM given inline (starts with `-----BEGIN`) or as a file path.
fn read_pem(variable: &'static str, value: &str) -> Result<String, AmqpError> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.to_owned());
    }
    std::fs::read_to_string(value.trim()).map_err(|error| AmqpError::Tls {
        reason: format!("{variable}: cannot read {}: {error}", value.trim()),
    })
}

/// The client key as unencrypted PEM. An encrypted PKCS#8 key (PBES2, as
/// `openssl pkcs8 -topk8` and `openssl genpkey -aes256` write them) is
/// decrypted with the passphrase; an unencrypted key passes through and
/// the passphrase is ignored, as Python's `load_cert_chain` does.
fn unlock_client_key(pem: String, passphrase: Option<&Secret>) -> Result<String, AmqpError> {
    let refuse = |reason: String| AmqpError::Tls { reason };
    if pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(refuse(
            "MQ_USE_SSL_KEY: keys encrypted in the legacy OpenSSL format are not supported; \
             convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
                .to_owned(),
        ));
    }
    let Some(encrypted) = pem_block(&pem, "ENCRYPTED PRIVATE KEY")
        .map_err(|reason| refuse(format!("MQ_USE_SSL_KEY: {reason}")))?
    else {
        return Ok(pem);
    };
    let passphrase = passphrase
        .filter(|passphrase| !passphrase.is_empty())
        .ok_or_else(|| {
            refuse("MQ_USE_SSL_KEY is encrypted: set MQ_USE_SSL_PASSPHRASE".to_owned())
        })?;
    let key = decrypt_pkcs8(&encrypted, passphrase.expose())
        .map_err(|reason| refuse(format!("MQ_USE_SSL_KEY: {reason}")))?;
    Ok(pem_encode("PRIVATE KEY", &key))
}

/// Decrypts a DER `EncryptedPrivateKeyInfo` and checks the result is a
/// private key rustls can use: a wrong passphrase usually fails the
/// padding check, and rarely yields garbage that this check catches.
fn decrypt_pkcs8(der: &[u8], passphrase: &str) -> Result<Vec<u8>, String> {
    use pkcs5::der::asn1::OctetStringRef;
    use pkcs5::der::{Decode as _, Reader as _, SliceReader};

    let unreadable = |error: pkcs5::der::Error| format!("not an encrypted PKCS#8 key: {error}");
    let mut reader = SliceReader::new(der).map_err(unreadable)?;
    let (scheme, ciphertext) = reader
        .sequence(|fields| {
            Ok((
                pkcs5::EncryptionScheme::decode(fields)?,
                OctetStringRef::decode(fields)?,
            ))
        })
        .map_err(unreadable)?;
    reader.finish(()).map_err(unreadable)?;
    let wrong_passphrase =
        || "cannot decrypt it: wrong MQ_USE_SSL_PASSPHRASE or unsupported encryption".to_owned();
    let key = scheme
        .decrypt(passphrase, ciphertext.as_bytes())
        .map_err(|_| wrong_passphrase())?;
    let usable = rustls::pki_types::PrivateKeyDer::Pkcs8(key.clone().into());
    rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(usable)
        .map_err(|_| wrong_passphrase())?;
    Ok(key)
}

/// The DER bytes of the first `label` block of `pem`, if there is one.
fn pem_block(pem: &str, label: &str) -> Result<Option<Vec<u8>>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some(start) = pem.find(&begin).map(|at| at + begin.len()) else {
        return Ok(None);
    };
    let stop = pem[start..]
        .find(&end)
        .ok_or_else(|| format!("`{begin}` without `{end}`"))?
        + start;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(body)
        .map(Some)
        .map_err(|error| format!("invalid Base64 in the {label} block: {error}"))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    // Base64 is ASCII: every 64-byte chunk is valid UTF-8.
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> BrokerConnection {
        serde_json::from_value(serde_json::json!({
            "host": "rabbitmq", "vhost": "/", "use_ssl": false, "port": 5672, "user": "opencti", "pass": "platform-pass"
        }))
        .unwrap()
    }

    #[test]
    fn local_overrides_win_over_the_platform() {
        let kept = BrokerParams::resolve(&platform(), &MqOverrides::default()).unwrap();
        assert_eq!(
            (kept.host.as_str(), kept.port, kept.user.as_str()),
            ("rabbitmq", 5672, "opencti")
        );
        assert_eq!(kept.pass.expose(), "platform-pass");
        assert!(kept.tls.is_none());

        let overrides = MqOverrides {
            host: Some("127.0.0.1".to_owned()),
            port: Some(5671),
            use_ssl: Some(true),
            pass: Some(Secret::new("local-pass")),
            ca: Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_owned()),
            ..MqOverrides::default()
        };
        let local = BrokerParams::resolve(&platform(), &overrides).unwrap();
        assert_eq!((local.host.as_str(), local.port), ("127.0.0.1", 5671));
        assert_eq!(local.pass.expose(), "local-pass");
        let tls = local.tls.as_ref().unwrap();
        assert!(
            tls.ca_pem
                .as_deref()
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(
            !tls.verify,
            "pycti's default: encrypted without verification"
        );
        assert!(!format!("{local:?}").contains("local-pass"));
    }

    #[test]
    fn unreadable_certificate_files_are_reported_by_variable() {
        let overrides = MqOverrides {
            use_ssl: Some(true),
            cert: Some("/nonexistent/client.pem".to_owned()),
            ..MqOverrides::default()
        };
        let error = BrokerParams::resolve(&platform(), &overrides).unwrap_err();
        assert!(error.to_string().contains("MQ_USE_SSL_CERT"), "{error}");
    }

    /// A throwaway P-256 key, and the same key encrypted by
    /// `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256`.
    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5IWND+MKC09r72aB
zv3dJGQvppBYfZWZhoTG3w7oYNWhRANCAAQEnXNrXbK7s/h/d65h7do520gRZxXx
WQyLpfmYHp/7ANV9MxsZQJwZbserdDn2FytTGrzk9zPqtW1aduWmMOH8
-----END PRIVATE KEY-----
";
    const ENCRYPTED_KEY: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAje18YsohOsMQICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEELKuH8dfHxJWVjRTjiXnCUYEgZBe
EjwnPsr1vEvzUwaNFc/npJHfKKOz175VTP3k8V66a7pHI6PCi+UrT3UOM66wHlUB
SQdSvhygt2pfV94GGota1GOFcF05EVS7dcpbRpxuULrwBEIAvO86QH6906xOKNfp
KrnvEUrTz3ameGD9elyO1khel5oaPufP3KcxlyS9lWnPcHMDpmsHZyVn0yWfEIw=
-----END ENCRYPTED PRIVATE KEY-----
";
    const PASSPHRASE: &str = "unit-test-passphrase";

    fn with_key(key: &str, passphrase: Option<&str>) -> Result<BrokerParams, AmqpError> {
        let overrides = MqOverrides {
            use_ssl: Some(true),
            key: Some(Secret::new(key)),
            passphrase: passphrase.map(Secret::new),
            ..MqOverrides::default()
        };
        BrokerParams::resolve(&platform(), &overrides)
    }

    fn client_key(params: &BrokerParams) -> String {
        let tls = params.tls.as_ref().unwrap();
        tls.client_key_pem.as_ref().unwrap().expose().to_owned()
    }

    #[test]
    fn encrypted_client_keys_are_decrypted_with_the_passphrase() {
        let params = with_key(ENCRYPTED_KEY, Some(PASSPHRASE)).unwrap();
        assert_eq!(client_key(&params), KEY);
        assert!(!format!("{params:?}").contains(PASSPHRASE));
        // Unencrypted keys ignore the passphrase.
        let params = with_key(KEY, Some(PASSPHRASE)).unwrap();
        assert_eq!(client_key(&params), KEY);
    }

    #[test]
    fn unusable_encrypted_keys_are_reported_by_variable() {
        for (passphrase, expected) in [
            (Some("wrong"), "wrong MQ_USE_SSL_PASSPHRASE"),
            (None, "set MQ_USE_SSL_PASSPHRASE"),
            (Some(""), "set MQ_USE_SSL_PASSPHRASE"),
        ] {
            let error = with_key(ENCRYPTED_KEY, passphrase).unwrap_err();
            assert!(
                matches!(error, AmqpError::Tls { .. }) && error.to_string().contains(expected),
                "{passphrase:?}: {error}"
            );
        }
        let legacy = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,F31CFE27BAE73F39C58712E7BBB323A1\n\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let error = with_key(legacy, Some(PASSPHRASE)).unwrap_err();
        assert!(
            error.to_string().contains("legacy OpenSSL format"),
            "{error}"
        );
        let truncated = ENCRYPTED_KEY.replace("-----END ENCRYPTED PRIVATE KEY-----", "");
        let error = with_key(&truncated, Some(PASSPHRASE)).unwrap_err();
        assert!(error.to_string().contains("MQ_USE_SSL_KEY"), "{error}");
    }
}
