//! The connection supervisor: one long-lived connection and one confirm
//! channel, re-established by us (with backoff) whenever they are lost.
//! lapin's own recovery is left off on purpose: we need to know exactly
//! which messages were unconfirmed when a connection died.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use lapin::options::ConfirmSelectOptions;
use lapin::tcp::{AMQPUriTcpExt, OwnedIdentity, OwnedTLSConfig, RustlsConnector, TLSConfig};
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::error::AmqpError;
use super::params::{BrokerParams, BrokerTls};
use crate::metrics::{Metrics, RuntimeEvent};

/// AMQP heartbeat, as pycti's (seconds).
const HEARTBEAT_SECONDS: u16 = 10;

/// A live channel and the connection it belongs to; `epoch` identifies the
/// connection so a failure reported late does not tear down a newer one.
#[derive(Clone)]
pub(crate) struct LiveChannel {
    pub(crate) channel: Channel,
    pub(crate) epoch: u64,
}

struct Live {
    connection: Connection,
    channel: Channel,
    epoch: u64,
}

/// The supervised broker connection.
pub struct BrokerLink {
    params: BrokerParams,
    metrics: Metrics,
    live: Mutex<Option<Live>>,
    epochs: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for BrokerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerLink")
            .field("address", &self.params.address())
            .finish_non_exhaustive()
    }
}

impl BrokerLink {
    /// A link that connects on first use.
    pub fn new(params: BrokerParams, metrics: Metrics) -> Arc<Self> {
        Arc::new(Self {
            params,
            metrics,
            live: Mutex::new(None),
            epochs: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The connection parameters.
    pub fn params(&self) -> &BrokerParams {
        &self.params
    }

    /// A live confirm channel, connecting (and retrying forever with
    /// backoff) if needed. Fails only on shutdown or unusable TLS material.
    pub(crate) async fn channel(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<LiveChannel, AmqpError> {
        let mut live = self.live.lock().await;
        if let Some(current) = live.as_ref()
            && current.connection.status().connected()
            && current.channel.status().connected()
        {
            return Ok(LiveChannel {
                channel: current.channel.clone(),
                epoch: current.epoch,
            });
        }
        if let Some(stale) = live.take() {
            close_quietly(stale.connection).await;
        }
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(30))
            .without_max_times()
            .with_jitter()
            .build();
        loop {
            let attempt = tokio::select! {
                () = shutdown.cancelled() => return Err(AmqpError::Cancelled { unconfirmed: 0 }),
                attempt = self.connect() => attempt,
            };
            match attempt {
                Ok((connection, channel)) => {
                    let epoch = self
                        .epochs
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        + 1;
                    self.metrics.emit(RuntimeEvent::BrokerConnected {
                        host: &self.params.host,
                        port: self.params.port,
                    });
                    *live = Some(Live {
                        connection,
                        channel: channel.clone(),
                        epoch,
                    });
                    return Ok(LiveChannel { channel, epoch });
                }
                Err(error @ AmqpError::Tls { .. }) => return Err(error),
                Err(error) => {
                    let delay = delays.next().unwrap_or(Duration::from_secs(30));
                    self.metrics.emit(RuntimeEvent::BrokerUnreachable {
                        reason: &error.to_string(),
                        delay,
                    });
                    tokio::select! {
                        () = shutdown.cancelled() => return Err(AmqpError::Cancelled { unconfirmed: 0 }),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// Reports that the channel of `epoch` failed: the next
    /// [`BrokerLink::channel`] call reconnects.
    pub(crate) async fn invalidate(&self, epoch: u64) {
        let mut live = self.live.lock().await;
        if live.as_ref().is_some_and(|current| current.epoch == epoch)
            && let Some(stale) = live.take()
        {
            close_quietly(stale.connection).await;
        }
    }

    /// Closes the connection (end of the process).
    pub async fn close(&self) {
        if let Some(live) = self.live.lock().await.take() {
            close_quietly(live.connection).await;
        }
    }

    async fn connect(&self) -> Result<(Connection, Channel), AmqpError> {
        crate::tls::install_crypto_provider();
        let failed = |reason: String| AmqpError::Connect {
            address: self.params.address(),
            reason,
        };
        let properties =
            ConnectionProperties::default().with_connection_name("opencti-connector".into());
        let uri = self.uri();
        let connection = match &self.params.tls {
            None => Connection::connect_uri(uri, properties).await,
            Some(tls) if tls.verify => {
                let runtime =
                    lapin::runtime::default_runtime().map_err(|error| failed(error.to_string()))?;
                Connection::connect_uri_with_config(uri, properties, verified_tls(tls), runtime)
                    .await
            }
            Some(tls) => {
                let connector = RustlsConnector::from(unverified_client_config(tls)?);
                let runtime =
                    lapin::runtime::default_runtime().map_err(|error| failed(error.to_string()))?;
                let host = self.params.host.clone();
                Connection::connector(
                    uri,
                    runtime,
                    async move |uri: AMQPUri, runtime| {
                        let mut plain = uri.clone();
                        plain.scheme = AMQPScheme::AMQP;
                        let stream = plain
                            .connect_with_config_async(TLSConfig::default(), &runtime)
                            .await?;
                        Ok(stream.into_rustls(&connector, &host).await?)
                    },
                    properties,
                )
                .await
            }
        }
        .map_err(|error| failed(error.to_string()))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|error| failed(error.to_string()))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|error| failed(format!("cannot enable publisher confirms: {error}")))?;
        Ok((connection, channel))
    }

    fn uri(&self) -> AMQPUri {
        AMQPUri {
            scheme: if self.params.tls.is_some() {
                AMQPScheme::AMQPS
            } else {
                AMQPScheme::AMQP
            },
            authority: AMQPAuthority {
                userinfo: AMQPUserInfo {
                    username: self.params.user.clone(),
                    password: self.params.pass.expose().to_owned(),
                },
                host: self.params.host.clone(),
                port: self.params.port,
            },
            vhost: self.params.vhost.clone(),
            query: AMQPQueryString {
                heartbeat: Some(HEARTBEAT_SECONDS),
                connection_timeout: Some(30_000),
                ..AMQPQueryString::default()
            },
        }
    }
}

async fn close_quietly(connection: Connection) {
    // The connection may already be dead; there is nothing to do about a
    // failed close.
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        connection.close(200, "closing".into()),
    )
    .await;
}

fn verified_tls(tls: &BrokerTls) -> OwnedTLSConfig {
    OwnedTLSConfig {
        identity: match (&tls.client_cert_pem, &tls.client_key_pem) {
            (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
                pem: cert.as_bytes().to_vec(),
                key: key.expose().as_bytes().to_vec(),
            }),
            _ => None,
        },
        cert_chain: tls.ca_pem.clone(),
    }
}

/// pycti's `MQ_USE_SSL_REJECT_UNAUTHORIZED=false`: encrypted, but neither
/// the certificate nor the host name is checked.
fn unverified_client_config(tls: &BrokerTls) -> Result<rustls::ClientConfig, AmqpError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let tls_error = |reason: String| AmqpError::Tls { reason };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| tls_error(error.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerification(provider)));
    match (&tls.client_cert_pem, &tls.client_key_pem) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| tls_error(format!("MQ_USE_SSL_CERT: {error}")))?;
            let key = PrivateKeyDer::from_pem_slice(key.expose().as_bytes())
                .map_err(|error| tls_error(format!("MQ_USE_SSL_KEY: {error}")))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|error| tls_error(error.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
