//! The connection supervisor: one long-lived lapin connection and channel
//! for consuming, and the connection messages are published on
//! (`publish_connection`), each re-established by us (with backoff)
//! whenever lost. lapin's own recovery is left off on purpose: we need to
//! know exactly which messages were unconfirmed when a connection died.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use lapin::tcp::{AMQPUriTcpExt, RustlsConnector, RustlsConnectorConfig, TLSConfig};
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Channel, Connection, ConnectionProperties};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::AmqpError;
use super::params::{BrokerParams, BrokerTls};
use super::publish_connection::PublishConnection;
use crate::metrics::{Metrics, RuntimeEvent};

/// AMQP heartbeat, as pycti's (seconds), on every connection.
pub(super) const HEARTBEAT_SECONDS: u16 = 10;
/// Bound on opening a connection (TCP, TLS, the AMQP handshake).
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest frame asked of the broker for lapin's connection. lapin keeps
/// send and receive buffers of 32 frames each, which a long stream of
/// frames writes all over: at the broker's usual 128 KiB that is 8 MiB of
/// a connector's memory; at 8 KiB, 512 KiB (docs/performance.md).
const FRAME_MAX: u32 = 8 * 1024;
/// How long closing a connection may take.
const CLOSE_PATIENCE: Duration = Duration::from_secs(2);
/// Publishing connections kept open between publishes: one per publish
/// running at once (a connector sends one bundle at a time; the listen
/// half and the benchmarks a few).
const IDLE_PUBLISHING: usize = 4;

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
    /// Publishing connections between two publishes.
    idle_publishing: std::sync::Mutex<Vec<PublishConnection>>,
    tls_connector: tokio::sync::OnceCell<RustlsConnector>,
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
            idle_publishing: std::sync::Mutex::new(Vec::new()),
            tls_connector: tokio::sync::OnceCell::new(),
        })
    }

    /// The connection parameters.
    pub fn params(&self) -> &BrokerParams {
        &self.params
    }

    /// A live channel, connecting (and retrying with backoff) if
    /// needed. Fails on shutdown, on unusable TLS material or a refused TLS
    /// handshake (retrying cannot fix those), and with
    /// [`AmqpError::Unavailable`] when `deadline` passes without a
    /// connection.
    pub(crate) async fn channel(
        &self,
        shutdown: &CancellationToken,
        deadline: Instant,
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
        let (connection, channel) = self.retrying(shutdown, deadline, || self.connect()).await?;
        let epoch = self
            .epochs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        *live = Some(Live {
            connection,
            channel: channel.clone(),
            epoch,
        });
        Ok(LiveChannel { channel, epoch })
    }

    /// The connection to publish on, for the caller's sole use until it
    /// hands it back ([`BrokerLink::keep_publishing`]): one kept from an
    /// earlier publish while the broker still holds it open, or a new one
    /// (retried with backoff, failing as [`BrokerLink::channel`]).
    pub(crate) async fn publishing(
        &self,
        shutdown: &CancellationToken,
        deadline: Instant,
    ) -> Result<PublishConnection, AmqpError> {
        loop {
            let idle = self.idle_pool().pop();
            match idle {
                Some(connection) if connection.fresh() => return Ok(connection),
                Some(stale) => stale.close(CLOSE_PATIENCE).await,
                None => break,
            }
        }
        self.retrying(shutdown, deadline, || async {
            let tls = match &self.params.tls {
                None => None,
                Some(tls) => Some(self.tls_connector(tls).await?),
            };
            PublishConnection::open(&self.params, tls.as_ref()).await
        })
        .await
    }

    /// Keeps a publishing connection that is still sound for a later
    /// publish.
    pub(crate) async fn keep_publishing(&self, connection: PublishConnection) {
        let surplus = {
            let mut pool = self.idle_pool();
            if pool.len() < IDLE_PUBLISHING {
                pool.push(connection);
                None
            } else {
                Some(connection)
            }
        };
        if let Some(connection) = surplus {
            connection.close(CLOSE_PATIENCE).await;
        }
    }

    fn idle_pool(&self) -> std::sync::MutexGuard<'_, Vec<PublishConnection>> {
        self.idle_publishing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `connect` until it succeeds, with backoff; TLS failures end it
    /// at once (retrying cannot fix them), as do shutdown and `deadline`.
    async fn retrying<T, F: Future<Output = Result<T, AmqpError>>>(
        &self,
        shutdown: &CancellationToken,
        deadline: Instant,
        connect: impl Fn() -> F,
    ) -> Result<T, AmqpError> {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(30))
            .without_max_times()
            .with_jitter()
            .build();
        let unavailable = |reason: String| AmqpError::Unavailable {
            address: self.params.address(),
            waited: self.params.outage_timeout,
            reason,
        };
        loop {
            let attempt = tokio::select! {
                () = shutdown.cancelled() => return Err(AmqpError::Cancelled { unconfirmed: 0 }),
                () = tokio::time::sleep_until(deadline) => {
                    return Err(unavailable("still connecting".to_owned()));
                }
                attempt = connect() => attempt,
            };
            match attempt {
                Ok(connected) => {
                    self.metrics.emit(RuntimeEvent::BrokerConnected {
                        host: &self.params.host,
                        port: self.params.port,
                    });
                    return Ok(connected);
                }
                Err(error @ (AmqpError::Tls { .. } | AmqpError::TlsHandshake { .. })) => {
                    return Err(error);
                }
                Err(error) => {
                    let delay = delays.next().unwrap_or(Duration::from_secs(30));
                    let reason = error.to_string();
                    if Instant::now() + delay >= deadline {
                        return Err(unavailable(reason));
                    }
                    self.metrics.emit(RuntimeEvent::BrokerUnreachable {
                        reason: &reason,
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

    /// Closes the connections (end of the process).
    pub async fn close(&self) {
        let idle = std::mem::take(&mut *self.idle_pool());
        for connection in idle {
            connection.close(CLOSE_PATIENCE).await;
        }
        if let Some(live) = self.live.lock().await.take() {
            close_quietly(live.connection).await;
        }
    }

    /// The TLS client, built on first use and then shared by every
    /// connection (building it reads the system's trust store).
    async fn tls_connector(&self, tls: &BrokerTls) -> Result<RustlsConnector, AmqpError> {
        crate::tls::install_crypto_provider();
        self.tls_connector
            .get_or_try_init(|| async { tls_connector(tls) })
            .await
            .cloned()
    }

    async fn connect(&self) -> Result<(Connection, Channel), AmqpError> {
        let failed = |reason: String| AmqpError::Connect {
            address: self.params.address(),
            reason,
        };
        let properties =
            ConnectionProperties::default().with_connection_name("opencti-connector".into());
        let uri = self.uri();
        let connection = match &self.params.tls {
            None => Connection::connect_uri(uri, properties).await,
            Some(tls) => {
                // Built here rather than by lapin so that unusable material
                // is reported as such instead of retried as a connect error.
                let connector = self.tls_connector(tls).await?;
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
        .map_err(|error| match tls_failure(&error) {
            Some(reason) => AmqpError::TlsHandshake {
                address: self.params.address(),
                reason,
            },
            None => failed(error.to_string()),
        })?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|error| failed(error.to_string()))?;
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
                connection_timeout: Some(CONNECT_TIMEOUT.as_millis() as u64),
                frame_max: Some(FRAME_MAX),
                ..AMQPQueryString::default()
            },
        }
    }
}

async fn close_quietly(connection: Connection) {
    // The connection may already be dead; there is nothing to do about a
    // failed close.
    let _ = tokio::time::timeout(CLOSE_PATIENCE, connection.close(200, "closing".into())).await;
}

/// The TLS client for `tls`. Verifying: the system's trust store plus the
/// given CA, and the host name, as pycti's default context. Not verifying
/// (pycti's `MQ_USE_SSL_REJECT_UNAUTHORIZED=false`): encrypted, but neither
/// the certificate nor the host name is checked.
fn tls_connector(tls: &BrokerTls) -> Result<RustlsConnector, AmqpError> {
    let tls_error = |reason: String| AmqpError::Tls { reason };
    let identity = client_identity(tls)?;
    if tls.verify {
        let mut config = RustlsConnectorConfig::new_with_platform_verifier();
        if let Some(ca) = &tls.ca_pem {
            config.add_parsable_certificates(certificates("MQ_USE_SSL_CA", ca)?);
        }
        return match identity {
            Some((certs, key)) => config.connector_with_single_cert(certs, key),
            None => config.connector_with_no_client_auth(),
        }
        .map_err(|error| {
            tls_error(format!(
                "MQ_USE_SSL_CA, MQ_USE_SSL_CERT or MQ_USE_SSL_KEY unusable: {error}"
            ))
        });
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| tls_error(error.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerification(provider)));
    let config = match identity {
        Some((certs, key)) => builder.with_client_auth_cert(certs, key).map_err(|error| {
            tls_error(format!(
                "MQ_USE_SSL_CERT or MQ_USE_SSL_KEY unusable: {error}"
            ))
        })?,
        None => builder.with_no_client_auth(),
    };
    Ok(RustlsConnector::from(config))
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client certificate chain and key, when both are configured.
fn client_identity(tls: &BrokerTls) -> Result<Option<Identity>, AmqpError> {
    let (Some(cert), Some(key)) = (&tls.client_cert_pem, &tls.client_key_pem) else {
        return Ok(None);
    };
    let key =
        PrivateKeyDer::from_pem_slice(key.expose().as_bytes()).map_err(|error| AmqpError::Tls {
            reason: format!("MQ_USE_SSL_KEY: no usable private key ({error})"),
        })?;
    Ok(Some((certificates("MQ_USE_SSL_CERT", cert)?, key)))
}

/// Every certificate of `pem`; none at all is an error (a key or a typo
/// given where certificates are expected).
fn certificates(variable: &str, pem: &str) -> Result<Vec<CertificateDer<'static>>, AmqpError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| AmqpError::Tls {
            reason: format!("{variable}: {error}"),
        })?;
    if certs.is_empty() {
        return Err(AmqpError::Tls {
            reason: format!("{variable}: no PEM certificate found"),
        });
    }
    Ok(certs)
}

/// Why the TLS handshake failed, when the I/O error `error` says so.
pub(super) fn tls_io_failure(error: &std::io::Error) -> Option<String> {
    rustls_error(error).map(explain)
}

/// The TLS library's error an I/O error wraps, if any.
fn rustls_error(error: &std::io::Error) -> Option<&rustls::Error> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Why the TLS handshake failed, when that is why connecting failed (lapin
/// wraps the TLS library's error in an I/O error), with the variables to
/// look at.
fn tls_failure(error: &lapin::Error) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        let tls = error.downcast_ref::<rustls::Error>().or_else(|| {
            error
                .downcast_ref::<std::io::Error>()
                .and_then(rustls_error)
        });
        if let Some(tls) = tls {
            return Some(explain(tls));
        }
        current = error.source();
    }
    None
}

fn explain(error: &rustls::Error) -> String {
    use rustls::AlertDescription as Alert;
    match error {
        rustls::Error::InvalidCertificate(_) => format!(
            "the broker's certificate is not trusted ({error}); check MQ_USE_SSL_CA, \
             or set MQ_USE_SSL_REJECT_UNAUTHORIZED=false to encrypt without verifying"
        ),
        rustls::Error::AlertReceived(
            Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnsupportedCertificate
            | Alert::CertificateRevoked
            | Alert::CertificateExpired
            | Alert::CertificateUnknown
            | Alert::UnknownCA,
        ) => format!(
            "the broker refused the client certificate ({error}); \
             check MQ_USE_SSL_CERT and MQ_USE_SSL_KEY"
        ),
        _ => error.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn link(tls: BrokerTls) -> Arc<BrokerLink> {
        let mut params = BrokerParams::plain("127.0.0.1", 1, "/", "guest", Secret::new("guest"));
        params.tls = Some(tls);
        BrokerLink::new(params, Metrics::default())
    }

    /// Bad material fails at once, before any connection attempt (port 1
    /// is never reached), instead of being retried as a connect error.
    #[tokio::test]
    async fn unusable_tls_material_is_reported_not_retried() {
        let garbage_certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let cases = [
            (
                BrokerTls {
                    ca_pem: Some(garbage_certificate.to_owned()),
                    verify: true,
                    ..BrokerTls::default()
                },
                "MQ_USE_SSL_CA",
            ),
            (
                BrokerTls {
                    ca_pem: Some("/etc/ssl/ca.pem is a path, not PEM".to_owned()),
                    verify: true,
                    ..BrokerTls::default()
                },
                "MQ_USE_SSL_CA: no PEM certificate found",
            ),
            (
                BrokerTls {
                    client_cert_pem: Some(garbage_certificate.to_owned()),
                    client_key_pem: Some(Secret::new(garbage_certificate)),
                    ..BrokerTls::default()
                },
                "MQ_USE_SSL_KEY: no usable private key",
            ),
        ];
        for (tls, expected) in cases {
            let outcome = tokio::time::timeout(
                Duration::from_secs(5),
                link(tls).channel(
                    &CancellationToken::new(),
                    Instant::now() + Duration::from_secs(60),
                ),
            )
            .await
            .expect("reported, not retried");
            match outcome {
                Err(error @ AmqpError::Tls { .. }) => {
                    assert!(error.to_string().contains(expected), "{error}");
                }
                Err(other) => panic!("{expected}: {other}"),
                Ok(_) => panic!("{expected}: connected"),
            }
        }
    }
}
