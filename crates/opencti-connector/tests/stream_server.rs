//! A scripted live-stream server on 127.0.0.1 for the stream runtime tests:
//! each incoming connection plays the next [`Reply`], so a test controls
//! statuses, chunking, silences and drops exactly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// What one connection does.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Answer 200 with an SSE body played step by step.
    Stream(Vec<Step>),
}

/// One step of a streamed body.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Write these bytes (one write, usually one network chunk).
    Send(String),
    /// Wait (on tokio's clock, paused in tests).
    Sleep(Duration),
    /// Close the connection.
    Close,
}

/// A request the server received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// Path and query.
    pub(crate) target: String,
    /// Header names lower-cased.
    pub(crate) headers: HashMap<String, String>,
    /// When it arrived.
    pub(crate) at: Instant,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// The running server.
#[derive(Debug, Clone)]
pub(crate) struct ScriptedServer {
    pub(crate) addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl ScriptedServer {
    /// Serves `replies` to successive connections; connections after the
    /// last reply get a stream that stays open and silent.
    pub(crate) async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            let mut replies = replies.into_iter();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let reply = replies.next().unwrap_or(Reply::Stream(Vec::new()));
                tokio::spawn(serve(socket, reply, Arc::clone(&recorded)));
            }
        });
        Self { addr, requests }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests lock").clone()
    }
}

async fn serve(mut socket: TcpStream, reply: Reply, requests: Arc<Mutex<Vec<Recorded>>>) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let target = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    requests.lock().expect("requests lock").push(Recorded {
        target,
        headers,
        at: Instant::now(),
    });
    match reply {
        Reply::Status(status) => {
            let response = format!(
                "HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
        Reply::Stream(steps) => {
            // No content-length: the body lasts until the connection closes.
            let mut pending = String::from(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\nconnection: close\r\n\r\n",
            );
            for step in steps {
                match step {
                    Step::Send(bytes) => pending.push_str(&bytes),
                    Step::Sleep(duration) => {
                        if flush(&mut socket, &mut pending).await.is_err() {
                            return;
                        }
                        // A client that goes away ends the pause (and its timer).
                        tokio::select! {
                            () = tokio::time::sleep(duration) => {}
                            _ = socket.read(&mut buffer) => return,
                        }
                    }
                    Step::Close => {
                        let _ = flush(&mut socket, &mut pending).await;
                        return;
                    }
                }
            }
            if flush(&mut socket, &mut pending).await.is_err() {
                return;
            }
            // Stay open until the client goes away.
            let _ = socket.read(&mut buffer).await;
        }
    }
}

async fn flush(socket: &mut TcpStream, pending: &mut String) -> std::io::Result<()> {
    if !pending.is_empty() {
        socket.write_all(pending.as_bytes()).await?;
        pending.clear();
    }
    Ok(())
}

/// An SSE data event with the platform's envelope around an indicator.
pub(crate) fn indicator_event(kind: &str, id: &str) -> String {
    format!(
        "id: {id}\nevent: {kind}\ndata: {{\"version\":\"4\",\"type\":\"{kind}\",\"scope\":\"external\",\"message\":\"{kind}s an indicator\",\"origin\":{{\"user_id\":\"u\"}},\"data\":{{\"id\":\"indicator--{id}\",\"type\":\"indicator\",\"pattern\":\"[ipv4-addr:value = '198.51.100.7']\",\"revoked\":false}}}}\n\n"
    )
}

/// A heartbeat at position `id`.
pub(crate) fn heartbeat(id: &str) -> String {
    format!("id: {id}\nevent: heartbeat\ndata: \"2026-01-15T10:30:05.123Z\"\n\n")
}

/// The `connected` event that opens every stream (no id).
pub(crate) fn connected() -> String {
    "event: connected\ndata: {\"lastEventId\":\"9-0\",\"connectionId\":\"c\"}\n\n".to_owned()
}
