//! A scripted live-stream server on 127.0.0.1 for the stream runtime tests:
//! each stream request plays the next [`Reply`], so a test controls
//! statuses, chunking, silences and drops exactly. `POST /graphql` gets the
//! few platform answers a stream connector needs (health check,
//! registration, pings that store the state).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;

/// What one connection does.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Answer 200 with an SSE body played step by step.
    Stream(Vec<Step>),
    /// Accept the request and never answer it (not even headers).
    NoAnswer,
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

/// A GraphQL operation the server answered.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    /// The operation name (`RegisterConnector`, `PingConnector`, ...).
    pub(crate) name: String,
    pub(crate) variables: Value,
}

#[derive(Debug, Default)]
struct Shared {
    /// Stream requests.
    requests: Vec<Recorded>,
    operations: Vec<Operation>,
    /// The connector state as the platform stores it.
    stored_state: Option<String>,
    /// The UI's "reset state" was clicked; consumed by the next ping.
    reset_pending: bool,
    replies: std::collections::VecDeque<Reply>,
    /// GraphQL operations left unanswered, as by a platform that hangs.
    stalled: Vec<String>,
}

/// The running server.
#[derive(Debug, Clone)]
pub(crate) struct ScriptedServer {
    pub(crate) addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    /// Notified after each request.
    pub(crate) activity: Arc<Notify>,
}

impl ScriptedServer {
    /// Serves `replies` to successive stream requests; requests after the
    /// last reply get a stream that stays open and silent.
    pub(crate) async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Mutex::new(Shared {
            replies: replies.into(),
            ..Shared::default()
        }));
        let server = Self {
            addr,
            shared,
            activity: Arc::new(Notify::new()),
        };
        let handler = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(handler.clone().serve(socket));
            }
        });
        server
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The stream requests received.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The GraphQL operations received, in order.
    pub(crate) fn operations(&self) -> Vec<Operation> {
        self.lock().operations.clone()
    }

    /// The state the platform stores.
    pub(crate) fn stored_state(&self) -> Option<Value> {
        self.lock()
            .stored_state
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
    }

    /// Stores a state, as a previous run would have left it.
    pub(crate) fn set_stored_state(&self, state: &str) {
        self.lock().stored_state = Some(state.to_owned());
    }

    /// The UI's "reset state": the state becomes `""` and the next ping
    /// gets that back instead of storing what it sent.
    pub(crate) fn reset_state(&self) {
        let mut shared = self.lock();
        shared.stored_state = Some(String::new());
        shared.reset_pending = true;
    }

    /// From now on, requests for the GraphQL operation `name` are accepted
    /// and never answered.
    pub(crate) fn stall(&self, name: &str) {
        self.lock().stalled.push(name.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().expect("server lock")
    }

    async fn serve(self, socket: TcpStream) {
        serve(socket, &self).await;
        self.activity.notify_one();
    }

    /// Answers a GraphQL document the way the platform does; `None` for a
    /// stalled operation.
    fn graphql(&self, body: &[u8]) -> Option<Value> {
        let body: Value = serde_json::from_slice(body).expect("GraphQL JSON body");
        let document = body["query"].as_str().expect("query");
        let name = document
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|word| !word.is_empty())
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let variables = body["variables"].clone();
        let mut shared = self.lock();
        if shared.stalled.contains(&name) {
            shared.operations.push(Operation { name, variables });
            return None;
        }
        let data = match name.as_str() {
            "healthCheck" => json!({ "about": { "version": "6.8.10" } }),
            "RegisterConnector" => json!({ "registerConnector": {
                "id": variables["input"]["id"],
                "connector_state": shared.stored_state,
                "config": {
                    "connection": { "host": "127.0.0.1", "vhost": "/", "use_ssl": false, "port": 5672, "user": "guest", "pass": "guest" },
                    "listen": "listen", "listen_routing": "listen_routing", "listen_exchange": "amqp.connector.exchange",
                    "push": "push", "push_routing": "push_routing", "push_exchange": "amqp.worker.exchange"
                },
                "connector_user_id": "user"
            } }),
            "PingConnector" => {
                if !std::mem::take(&mut shared.reset_pending) {
                    shared.stored_state = variables["state"].as_str().map(str::to_owned);
                }
                json!({ "pingConnector": { "id": variables["id"], "connector_state": shared.stored_state, "connector_info": variables["connectorInfo"] } })
            }
            other => panic!("unexpected GraphQL operation {other}"),
        };
        shared.operations.push(Operation { name, variables });
        Some(json!({ "data": data }))
    }
}

async fn serve(mut socket: TcpStream, server: &ScriptedServer) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let target = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    if target == "/graphql" {
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = head[end..].to_vec();
        while body.len() < length {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&buffer[..n]),
            }
        }
        let Some(answer) = server.graphql(&body) else {
            // Hold the request until the client goes away.
            let _ = socket.read(&mut buffer).await;
            return;
        };
        let answer = answer.to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
        let _ = socket.write_all(response.as_bytes()).await;
        return;
    }
    let reply = {
        let mut shared = server.lock();
        shared.requests.push(Recorded {
            target,
            headers,
            at: Instant::now(),
        });
        shared
            .replies
            .pop_front()
            .unwrap_or(Reply::Stream(Vec::new()))
    };
    match reply {
        Reply::NoAnswer => {
            let _ = socket.read(&mut buffer).await;
        }
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
