//! Broker connection parameters: the platform's, with `MQ_*` overrides.

use std::fmt;

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
    /// Client private key (PKCS#8 PEM).
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
}

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
        }
    }

    /// The registration's parameters with the local `MQ_*` overrides applied;
    /// certificate inputs (paths or inline PEM) are read here.
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
                    .map(|value| read_pem("MQ_USE_SSL_KEY", value.expose()).map(Secret::new))
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
}
