//! Measures the memory of an idle stream connector: registered, pinging,
//! connected to a live stream that only sends heartbeats.
//!
//! `cargo run --release --example stream_idle -- [seconds] [--multi-thread]`
//! starts a scripted platform in a child process (so its memory is not
//! counted), runs a stream connector against it (on the current-thread tokio
//! runtime `run_stream` uses by default, or on two workers, as with
//! `CONNECTOR_WORKER_THREADS=2`, with `--multi-thread`), and prints
//! `VmRSS`/`VmHWM` from `/proc/self/status` along the way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opencti_connector::Connector;
use opencti_connector::cli::RuntimeFlavor;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{ConnectorType, NoConfig, RuntimeConfig, Settings};
use opencti_connector::metrics::Metrics;
use opencti_connector::stream::{Outcome, StreamEvent, StreamRunner, StreamSink};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Heartbeat period of the scripted platform (the platform's default).
const HEARTBEAT: Duration = Duration::from_secs(5);

struct IdleSink;

impl Connector for IdleSink {
    type Config = NoConfig;
    type Error = std::convert::Infallible;
    const NAME: &'static str = "stream_idle";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "idle stream connector";

    fn from_config(_: NoConfig) -> Result<Self, Self::Error> {
        Ok(Self)
    }
}

impl StreamSink for IdleSink {
    async fn handle(&mut self, _event: &StreamEvent) -> Outcome {
        Outcome::Done
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        serve();
        return;
    }
    let seconds: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(60);
    let multi_thread = args.iter().any(|a| a == "--multi-thread");
    let mut platform = Command::new(std::env::current_exe().expect("own path"))
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the scripted platform");
    let mut port = String::new();
    BufReader::new(platform.stdout.take().expect("child stdout"))
        .read_line(&mut port)
        .expect("read the port");
    let env = [
        ("OPENCTI_URL", format!("http://127.0.0.1:{}", port.trim())),
        ("OPENCTI_TOKEN", "token".to_owned()),
        (
            "CONNECTOR_ID",
            "0e0b2a55-8a8f-4a53-a0a5-8cf6a3f0b7d4".to_owned(),
        ),
        ("CONNECTOR_NAME", "Idle stream".to_owned()),
        ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
    ];
    let settings = Settings::from_env_pairs(RUNTIME_TABLES, env);
    let config = RuntimeConfig::try_from(&settings).expect("configuration");

    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let tokio = RuntimeFlavor::choose(ConnectorType::Stream, multi_thread.then_some(2))
        .build()
        .expect("tokio runtime");
    tokio.block_on(async {
        let shutdown = CancellationToken::new();
        let metrics = Metrics::new("");
        let runner = StreamRunner::new(IdleSink, config).with_metrics(metrics.clone());
        let report = async {
            let mut elapsed = 0;
            while elapsed < seconds {
                println!("t={elapsed:>4}s {}", memory());
                let step = 10.min(seconds - elapsed);
                tokio::time::sleep(Duration::from_secs(step)).await;
                elapsed += step;
            }
            shutdown.cancel();
        };
        let (result, ()) = tokio::join!(runner.run(shutdown.clone()), report);
        result.expect("stream connector");
        let heartbeats = metrics
            .encode()
            .lines()
            .find(|line| line.starts_with("stream_events_received_total{type=\"heartbeat\"}"))
            .unwrap_or_default()
            .to_owned();
        println!("{heartbeats}; final {}", memory());
    });
    let _ = platform.kill();
    let _ = platform.wait();
}

/// `VmRSS` and `VmHWM` of this process.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|line| line.starts_with("VmRSS") || line.starts_with("VmHWM"))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The scripted platform: GraphQL answers for registration and pings, and
/// a live stream of heartbeats.
fn serve() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    println!("{}", listener.local_addr().expect("address").port());
    std::io::stdout().flush().expect("flush");
    for socket in listener.incoming().flatten() {
        std::thread::spawn(move || answer(socket));
    }
}

fn answer(mut socket: TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match socket.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    if head.starts_with("post /graphql") {
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        while request.len() < head_end + length {
            match socket.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buffer[..n]),
            }
        }
        let body: serde_json::Value =
            serde_json::from_slice(&request[head_end..]).unwrap_or_default();
        let query = body["query"].as_str().unwrap_or_default();
        let data = if query.contains("healthCheck") {
            json!({"about": {"version": "6.8.10"}})
        } else if query.contains("registerConnector") {
            json!({"registerConnector": {
                "id": body["variables"]["input"]["id"], "connector_state": null, "connector_user_id": "u",
                "config": {
                    "connection": {"host": "127.0.0.1", "vhost": "/", "use_ssl": false, "port": 5672, "user": "guest", "pass": "guest"},
                    "listen": "l", "listen_routing": "lr", "listen_exchange": "le", "push": "p", "push_routing": "pr", "push_exchange": "pe"
                }
            }})
        } else {
            // The platform stores the pinged state and echoes it.
            json!({"pingConnector": {"id": body["variables"]["id"], "connector_state": body["variables"]["state"]}})
        };
        let answer = json!({ "data": data }).to_string();
        let _ = write!(
            socket,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
        return;
    }
    let mut reply = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\nconnection: close\r\n\r\n\
         event: connected\ndata: {\"lastEventId\":\"0-0\",\"connectionId\":\"idle\"}\n\n",
    );
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        reply.push_str(&format!(
            "id: {now}-0\nevent: heartbeat\ndata: \"{now}\"\n\n"
        ));
        if socket.write_all(reply.as_bytes()).is_err() {
            return;
        }
        reply.clear();
        std::thread::sleep(HEARTBEAT);
    }
}
