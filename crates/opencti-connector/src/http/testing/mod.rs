//! Loopback servers for tests of HTTP clients built on this layer (feature
//! `test-util`): a TLS front whose certificate only a test CA vouches for,
//! and a proxy that records what it relays. Both bind 127.0.0.1 and stop
//! when dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use reqwest::Url;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The test CA (PEM), the only issuer of [`TlsFront`]'s certificate: give it
/// as `HTTPS_CA_CERTIFICATES`.
pub const TEST_CA_PEM: &str = include_str!("test-ca.pem");
const LOCALHOST_CERT_PEM: &str = include_str!("localhost.pem");
const LOCALHOST_KEY_PEM: &str = include_str!("localhost.key");

/// Largest request head the proxy reads.
const MAX_HEAD: usize = 64 << 10;

/// An HTTPS front for a plain-HTTP test server: it terminates TLS on
/// 127.0.0.1 with a certificate for `127.0.0.1` and `localhost` signed by
/// [`TEST_CA_PEM`], and relays each connection to the backend.
#[derive(Debug)]
pub struct TlsFront {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsFront {
    /// Starts a front for `backend`.
    ///
    /// # Panics
    /// When the loopback port or the test certificate cannot be set up.
    pub async fn start(backend: SocketAddr) -> Self {
        crate::tls::install_crypto_provider();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(LOCALHOST_CERT_PEM.as_bytes())
                .collect::<Result<_, _>>()
                .expect("the test certificate is PEM");
        let key = PrivateKeyDer::from_pem_slice(LOCALHOST_KEY_PEM.as_bytes())
            .expect("the test key is PEM");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the test certificate matches its key");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port");
        let addr = listener.local_addr().expect("bound address");
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A refused handshake (an untrusting client) just ends here.
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let Ok(mut upstream) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        Self { addr, task }
    }

    /// `https://127.0.0.1:<port>/`.
    pub fn url(&self) -> Url {
        Url::parse(&format!("https://{}/", self.addr)).expect("a loopback URL")
    }

    /// The front's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTP proxy on 127.0.0.1 that relays plain requests (absolute form)
/// and `CONNECT` tunnels, and records the first request line of each
/// connection (`GET http://host:port/path HTTP/1.1`, `CONNECT host:port
/// HTTP/1.1`).
#[derive(Debug)]
pub struct RecordingProxy {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl RecordingProxy {
    /// Starts the proxy.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port");
        let addr = listener.local_addr().expect("bound address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let _ = relay(socket, &recorded).await;
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> Url {
        Url::parse(&format!("http://{}", self.addr)).expect("a loopback URL")
    }

    /// The first request line of every connection relayed so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(mut client: TcpStream, recorded: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    let end = loop {
        let read = client.read(&mut buffer).await?;
        if read == 0 || head.len() > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..read]);
        if let Some(end) = head.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let line = text.lines().next().unwrap_or_default().to_owned();
    recorded.lock().expect("not poisoned").push(line.clone());
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        let mut upstream = TcpStream::connect(target).await?;
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        upstream.write_all(&head[end..]).await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    let Ok(url) = Url::parse(target) else {
        client
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let authority = format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(80)
    );
    let mut upstream = TcpStream::connect(authority).await?;
    // Origin form for the server; the rest of the head and body unchanged.
    let origin_form = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let rewritten = text.replacen(target, &origin_form, 1);
    upstream.write_all(rewritten.as_bytes()).await?;
    upstream.write_all(&head[end..]).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// A loopback address nothing listens on (bound, then released): a
/// request there is refused.
///
/// # Panics
/// When no loopback port can be bound.
pub fn refusing_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback port");
    listener.local_addr().expect("bound address")
}

/// A shutdown token cancelled `delay` from now (call inside a Tokio
/// runtime).
pub fn cancelled_after(delay: std::time::Duration) -> tokio_util::sync::CancellationToken {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let cancel = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        cancel.cancel();
    });
    shutdown
}

/// The socket address of a loopback `http://` test server's URL.
///
/// # Panics
/// When `url` does not name a socket address.
pub fn address_of(url: &str) -> SocketAddr {
    Url::parse(url)
        .ok()
        .and_then(|url| url.socket_addrs(|| None).ok())
        .and_then(|addresses| addresses.into_iter().next())
        .expect("a loopback URL")
}

/// Log lines captured by [`capture_logs`], to check what they show.
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl CapturedLogs {
    /// Everything logged so far, one line per event (fields included).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().expect("not poisoned")).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every event of the current thread (a `#[tokio::test]` runs its
/// tasks there) at every level until the guard is dropped.
///
/// Events go through one process-wide subscriber that writes to the buffer
/// of the thread that logged them. A scoped subscriber per test
/// (`set_default`) loses events at random when tests run in parallel: a
/// callsite first hit by another thread while this one registers its
/// subscriber keeps the interest it computed without it.
pub fn capture_logs() -> (CapturedLogs, CaptureGuard) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| ThreadCapture)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other process-wide subscriber in a test binary that captures logs");
    });
    let logs = CapturedLogs::default();
    CAPTURE.with(|capture| *capture.borrow_mut() = Some(logs.clone()));
    (
        logs,
        CaptureGuard {
            _not_send: std::marker::PhantomData,
        },
    )
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<CapturedLogs>> = const { std::cell::RefCell::new(None) };
}

/// Writes to the capture of the logging thread, if it has one.
struct ThreadCapture;

impl std::io::Write for ThreadCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(logs) = capture.borrow_mut().as_mut() {
                std::io::Write::write_all(logs, bytes)?;
            }
            Ok(bytes.len())
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops [`capture_logs`] on this thread when dropped.
#[derive(Debug)]
#[must_use = "the capture stops when the guard is dropped"]
pub struct CaptureGuard {
    // The capture belongs to the thread that started it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

/// The test CA as certificates, for [`super::Network::with_extra_roots`].
///
/// # Panics
/// Never: the PEM is part of the crate.
pub fn test_ca() -> Vec<reqwest::Certificate> {
    reqwest::Certificate::from_pem_bundle(TEST_CA_PEM.as_bytes()).expect("the test CA is PEM")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{ClientOptions, Network, Verification};

    async fn backend() -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    let _ = socket.read(&mut buffer).await;
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                });
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn the_front_is_trusted_only_with_the_test_ca() {
        let (addr, _backend) = backend().await;
        let front = TlsFront::start(addr).await;
        let plain = ClientOptions::new("t", "1").build().unwrap();
        let refused = plain.get(front.url()).send().await.unwrap_err();
        assert!(
            crate::error_chain(&refused).contains("certificate"),
            "{refused:?}"
        );
        let trusting = ClientOptions::new("t", "1")
            .network(Network::default().with_extra_roots(test_ca()))
            .build()
            .unwrap();
        let answer = trusting.get(front.url()).send().await.unwrap();
        assert_eq!(answer.text().await.unwrap(), "ok");
        // Extra roots add to a bundle that alone would not do either.
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other.pem");
        std::fs::write(&other, LOCALHOST_CERT_PEM).unwrap();
        let only = ClientOptions::new("t", "1")
            .verification(Verification::OnlyBundle(other))
            .network(Network::default().with_extra_roots(test_ca()))
            .build()
            .unwrap();
        assert!(only.get(front.url()).send().await.is_ok());
    }

    #[tokio::test]
    async fn the_proxy_records_plain_requests_and_tunnels() {
        let (addr, _backend) = backend().await;
        let front = TlsFront::start(addr).await;
        let proxy = RecordingProxy::start().await;
        let client = ClientOptions::new("t", "1")
            .network(
                Network::default()
                    .with_http_proxy(proxy.url())
                    .with_https_proxy(proxy.url())
                    .with_extra_roots(test_ca()),
            )
            .build()
            .unwrap();
        let plain = client
            .get(format!("http://{addr}/x?y=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(plain.text().await.unwrap(), "ok");
        let tunnelled = client.get(front.url()).send().await.unwrap();
        assert_eq!(tunnelled.text().await.unwrap(), "ok");
        let requests = proxy.requests();
        assert!(
            requests.contains(&format!("GET http://{addr}/x?y=1 HTTP/1.1")),
            "{requests:?}"
        );
        assert!(
            requests.contains(&format!("CONNECT {} HTTP/1.1", front.addr())),
            "{requests:?}"
        );
    }

    #[tokio::test]
    async fn no_proxy_hosts_are_reached_directly() {
        let (addr, _backend) = backend().await;
        let proxy = RecordingProxy::start().await;
        let client = ClientOptions::new("t", "1")
            .network(
                Network::default()
                    .with_http_proxy(proxy.url())
                    .with_no_proxy("localhost,127.0.0.1"),
            )
            .build()
            .unwrap();
        let answer = client.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(answer.text().await.unwrap(), "ok");
        assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
    }

    #[tokio::test]
    async fn an_unverified_proxy_setting_turns_checks_off() {
        let (addr, _backend) = backend().await;
        let front = TlsFront::start(addr).await;
        let proxy = RecordingProxy::start().await;
        let client = ClientOptions::new("t", "1")
            .network(
                Network::default()
                    .with_https_proxy(proxy.url())
                    .with_proxy_verify(false),
            )
            .build()
            .unwrap();
        let answer = client.get(front.url()).send().await.unwrap();
        assert_eq!(answer.text().await.unwrap(), "ok");
    }
}
