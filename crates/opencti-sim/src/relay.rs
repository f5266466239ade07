//! A TCP relay on 127.0.0.1 that can cut its connections: put it between a
//! connector and RabbitMQ (`MQ_PORT`) to break the link in the middle of a
//! run and check that nothing is lost. It can also freeze: connections stay
//! open and nothing goes through, as with a peer that accepts and never
//! answers (put it in front of `opencti-sim` for a platform that hangs).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The relay; stops when dropped.
#[derive(Debug)]
pub struct Relay {
    port: u16,
    /// Cancelled to cut every open connection (new ones are still accepted).
    cut: Arc<std::sync::Mutex<CancellationToken>>,
    /// Cancelled to freeze every connection, open or new.
    frozen: CancellationToken,
    forwarded: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        lock(&self.cut).cancel();
    }
}

impl Relay {
    /// Relays a free port of 127.0.0.1 to 127.0.0.1:`target`.
    pub async fn start(target: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let cut = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let forwarded = Arc::new(AtomicU64::new(0));
        let frozen = CancellationToken::new();
        let (cut_for_task, forwarded_for_task) = (Arc::clone(&cut), Arc::clone(&forwarded));
        let frozen_for_task = frozen.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let token = lock(&cut_for_task).clone();
                let forwarded = Arc::clone(&forwarded_for_task);
                let frozen = frozen_for_task.clone();
                tokio::spawn(async move {
                    if frozen.is_cancelled() {
                        // Held open, never connected through, until cut.
                        token.cancelled().await;
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    tokio::select! {
                        () = pump(&mut client, &mut server, forwarded) => {}
                        () = token.cancelled() => {}
                        // Both sockets stay open with nothing relayed.
                        () = frozen.cancelled() => token.cancelled().await,
                    }
                });
            }
        });
        Ok(Self {
            port,
            cut,
            frozen,
            forwarded,
            task,
        })
    }

    /// The relay's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Bytes relayed from clients to the target so far.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }

    /// From now on relays nothing: open connections and new ones are held
    /// open, unanswered, until [`Relay::cut`] (or the relay is dropped).
    pub fn freeze(&self) {
        self.frozen.cancel();
    }

    /// Drops every open connection at once.
    pub fn cut(&self) {
        let mut token = lock(&self.cut);
        token.cancel();
        *token = CancellationToken::new();
    }
}

fn lock(cut: &std::sync::Mutex<CancellationToken>) -> std::sync::MutexGuard<'_, CancellationToken> {
    // A token stays usable whatever a panicking holder left.
    cut.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Copies both ways until either side closes; counts client bytes.
async fn pump(client: &mut TcpStream, server: &mut TcpStream, forwarded: Arc<AtomicU64>) {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let upstream = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    forwarded.fetch_add(n as u64, Ordering::Relaxed);
                    if server_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}
