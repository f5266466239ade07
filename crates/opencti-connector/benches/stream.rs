//! Live-stream throughput on a recorded stream of 100,000 indicator events:
//! `parse` = SSE parsing plus event decoding; `runtime` = the whole stream
//! runtime (HTTP over loopback, reader task, dispatch to a sink that does
//! nothing, position tracking).

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opencti_connector::Connector;
use opencti_connector::config::NoConfig;
use opencti_connector::stream::client::StreamSettings;
use opencti_connector::stream::event::{EventKind, StreamEvent};
use opencti_connector::stream::position::StartSettings;
use opencti_connector::stream::runtime::{MemoryState, StreamRuntime};
use opencti_connector::stream::sink::{Outcome, StreamSink};
use opencti_connector::stream::sse::SseParser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const EVENTS: usize = 100_000;
/// Typical read size of a TCP stream.
const CHUNK: usize = 16 * 1024;

/// A recorded stream: a `connected` event, then indicator creations with a
/// heartbeat every 1,000 events, as the platform sends them.
fn recorded_stream() -> Vec<u8> {
    let mut out = String::from("event: connected\ndata: {\"lastEventId\":\"0-0\"}\n\n");
    for i in 0..EVENTS {
        let id = format!("{}-{}", 1_718_000_000_000u64 + (i / 10) as u64, i % 10);
        let octet = i % 250;
        out.push_str(&format!(
            "id: {id}\nevent: create\ndata: {{\"version\":\"4\",\"type\":\"create\",\"scope\":\"external\",\
             \"message\":\"creates a Indicator `198.51.{octet}.7`\",\"origin\":{{\"user_id\":\"88ec0c6a-13ce-5e39-b486-354fe4a7084f\",\"socket\":\"query\"}},\
             \"data\":{{\"id\":\"indicator--{i:08}-7289-5fda-8a85-02d057ba0968\",\"spec_version\":\"2.1\",\"type\":\"indicator\",\
             \"extensions\":{{\"extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba\":{{\"extension_type\":\"property-extension\",\
             \"id\":\"a1b2c3d4-0000-4000-8000-{i:012}\",\"type\":\"Indicator\",\"created_at\":\"2026-01-15T10:30:00.000Z\",\
             \"updated_at\":\"2026-01-15T10:30:00.000Z\",\"is_inferred\":false,\"score\":75,\"detection\":false,\"main_observable_type\":\"IPv4-Addr\"}}}},\
             \"created\":\"2026-01-15T10:30:00.000Z\",\"modified\":\"2026-01-15T10:30:00.000Z\",\"revoked\":false,\"confidence\":100,\
             \"lang\":\"en\",\"name\":\"198.51.{octet}.7\",\"pattern\":\"[ipv4-addr:value = '198.51.{octet}.7']\",\"pattern_type\":\"stix\",\
             \"valid_from\":\"2026-01-15T10:30:00.000Z\",\"valid_until\":\"2027-01-15T10:30:00.000Z\",\"x_opencti_score\":75,\
             \"x_opencti_detection\":false,\"x_opencti_main_observable_type\":\"IPv4-Addr\",\"labels\":[\"malicious-activity\"]}}}}\n\n"
        ));
        if i % 1000 == 999 {
            out.push_str(&format!(
                "id: {id}\nevent: heartbeat\ndata: \"2026-01-15T10:30:05.123Z\"\n\n"
            ));
        }
    }
    out.into_bytes()
}

fn parse(c: &mut Criterion, stream: &[u8]) {
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.bench_function("parse", |b| {
        b.iter(|| {
            let mut parser = SseParser::new();
            let mut messages = Vec::new();
            let mut decoded = 0;
            for chunk in stream.chunks(CHUNK) {
                parser
                    .feed(chunk, &mut messages)
                    .expect("events within the limit");
                for message in messages.drain(..) {
                    if let (Some(id), "create") = (&message.id, message.event.as_str()) {
                        let event = StreamEvent::parse(id, EventKind::Create, &message.data)
                            .expect("valid event");
                        decoded += usize::from(event.object.stix_type() == "indicator");
                    }
                }
            }
            assert_eq!(decoded, EVENTS);
        });
    });
    group.finish();
}

/// Counts events and stops the runtime after the last one.
struct CountingSink {
    handled: usize,
    shutdown: CancellationToken,
}

impl Connector for CountingSink {
    type Config = NoConfig;
    type Error = std::convert::Infallible;
    const NAME: &'static str = "stream-bench";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Counts the events of the benchmark";

    fn from_config(_: NoConfig) -> Result<Self, Self::Error> {
        Ok(Self {
            handled: 0,
            shutdown: CancellationToken::new(),
        })
    }
}

impl StreamSink for CountingSink {
    async fn handle(&mut self, event: &StreamEvent) -> Outcome {
        self.handled += 1;
        if self.handled == EVENTS {
            self.shutdown.cancel();
        }
        std::hint::black_box(event);
        Outcome::Done
    }
}

/// Serves `stream` to every connection over loopback, then keeps it open.
async fn serve(stream: Arc<Vec<u8>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let stream = Arc::clone(&stream);
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = socket.read(&mut head).await;
                let response = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.write_all(&stream).await;
                let _ = socket.read(&mut head).await;
            });
        }
    });
    url
}

fn runtime(c: &mut Criterion, stream: Vec<u8>) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let url = tokio.block_on(serve(Arc::new(stream)));
    let http = reqwest::Client::new();
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("runtime", |b| {
        b.iter(|| {
            tokio.block_on(async {
                let shutdown = CancellationToken::new();
                let settings = StreamSettings::new(&url, "token", Some("live")).expect("settings");
                let state = MemoryState::default();
                let runtime = StreamRuntime::new(
                    settings,
                    StartSettings::default(),
                    http.clone(),
                    state,
                    shutdown.clone(),
                );
                let mut sink = CountingSink {
                    handled: 0,
                    shutdown,
                };
                runtime.run(&mut sink).await.expect("runtime");
                assert_eq!(sink.handled, EVENTS);
            });
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let stream = recorded_stream();
    parse(c, &stream);
    runtime(c, stream);
}

criterion_group!(stream, benches);
criterion_main!(stream);
