//! Broker connection parameters: the platform's, with `MQ_*` overrides.

use std::fmt;
use std::time::Duration;

use crate::api::BrokerConnection;
use crate::config::{MqOverrides, Secret};

use super::error::AmqpError;
use crate::tls::{read_pem, unlock_key};

fn refused(reason: String) -> AmqpError {
    AmqpError::Tls { reason }
}

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
                    .transpose()
                    .map_err(refused)?,
                client_cert_pem: overrides
                    .cert
                    .as_deref()
                    .map(|value| read_pem("MQ_USE_SSL_CERT", value))
                    .transpose()
                    .map_err(refused)?,
                client_key_pem: overrides
                    .key
                    .as_ref()
                    .map(|value| {
                        let pem = read_pem("MQ_USE_SSL_KEY", value.expose())?;
                        unlock_key(
                            pem,
                            overrides.passphrase.as_ref(),
                            "MQ_USE_SSL_KEY",
                            "MQ_USE_SSL_PASSPHRASE",
                        )
                        .map(Secret::new)
                    })
                    .transpose()
                    .map_err(refused)?,
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
