//! Measures the memory of an idle stream connector: connected to a live
//! stream that only sends heartbeats.
//!
//! `cargo run --release --example stream_idle -- [seconds]` starts a
//! scripted platform in a child process (so its memory is not counted),
//! runs the stream runtime against it on a current-thread tokio runtime,
//! and prints `VmRSS`/`VmHWM` from `/proc/self/status` along the way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use opencti_connector::config::PlatformTls;
use opencti_connector::stream::client::{StreamSettings, http_client};
use opencti_connector::stream::event::StreamEvent;
use opencti_connector::stream::position::StartSettings;
use opencti_connector::stream::runtime::{MemoryState, StreamRuntime};
use opencti_connector::stream::sink::{Outcome, StreamSink};
use tokio_util::sync::CancellationToken;

/// Heartbeat period of the scripted platform (the platform's default).
const HEARTBEAT: Duration = Duration::from_secs(5);

struct IdleSink;

impl StreamSink for IdleSink {
    async fn handle(&mut self, _event: &StreamEvent) -> Outcome {
        Outcome::Done
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("serve") {
        serve();
        return;
    }
    let seconds: u64 = first.and_then(|s| s.parse().ok()).unwrap_or(60);
    let mut server = Command::new(std::env::current_exe().expect("own path"))
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the scripted platform");
    let mut port = String::new();
    BufReader::new(server.stdout.take().expect("child stdout"))
        .read_line(&mut port)
        .expect("read the port");
    let url = format!("http://127.0.0.1:{}", port.trim());

    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    tokio.block_on(async {
        let shutdown = CancellationToken::new();
        let settings = StreamSettings::new(&url, "token", Some("live")).expect("settings");
        let http = http_client(&PlatformTls::NoVerify).expect("http client");
        let runtime = StreamRuntime::new(
            settings,
            StartSettings::default(),
            http,
            MemoryState::default(),
            shutdown.clone(),
        );
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
        let mut sink = IdleSink;
        let (result, ()) = tokio::join!(runtime.run(&mut sink), report);
        result.expect("stream runtime");
        println!(
            "heartbeats received: {}; final {}",
            runtime.metrics().received("heartbeat"),
            memory()
        );
    });
    let _ = server.kill();
    let _ = server.wait();
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

/// The scripted platform: every connection gets a stream of heartbeats.
fn serve() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    println!("{}", listener.local_addr().expect("address").port());
    std::io::stdout().flush().expect("flush");
    for socket in listener.incoming() {
        let Ok(mut socket) = socket else { continue };
        std::thread::spawn(move || {
            let mut head = [0u8; 4096];
            let _ = socket.read(&mut head);
            let mut reply = String::from(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\nconnection: close\r\n\r\n\
                 event: connected\ndata: {\"lastEventId\":\"0-0\",\"connectionId\":\"idle\"}\n\n",
            );
            for beat in 1u64.. {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                reply.push_str(&format!(
                    "id: {now}-0\nevent: heartbeat\ndata: \"{beat}\"\n\n"
                ));
                if socket.write_all(reply.as_bytes()).is_err() {
                    return;
                }
                reply.clear();
                std::thread::sleep(HEARTBEAT);
            }
        });
    }
}
