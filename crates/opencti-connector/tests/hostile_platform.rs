//! Drills (issue #13): the stream runtime against hostile live-stream
//! servers, raw TCP on 127.0.0.1 and the real clock. A server that drips a
//! byte every 100 ms without ever completing an event, and one that sends a
//! 100 MiB line without a newline: the runtime reconnects within its
//! deadlines, stops promptly on shutdown, and buffers no more than the
//! event cap. (A platform that never answers and a `retry:` of a day are
//! in `stream_runtime.rs`, on the paused clock.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings, Var};
use opencti_connector::stream::client::StreamSettings;
use opencti_connector::stream::event::StreamEvent;
use opencti_connector::stream::position::StartSettings;
use opencti_connector::stream::runtime::{MemoryState, StreamRuntime};
use opencti_connector::stream::sink::{Outcome, StreamSink};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Re-run as a child process for a clean RSS measurement.
const CHILD: &str = "HOSTILE_PLATFORM_RSS_CHILD";
/// The line the hostile server sends: 100 MiB without a newline.
const HUGE_LINE: usize = 100 << 20;
/// No heartbeat or event for this long drops the connection.
const SILENCE: Duration = Duration::from_secs(1);
/// First reconnection delay.
const BACKOFF: Duration = Duration::from_millis(200);
/// A stop must take no longer than this.
const PROMPT_STOP: Duration = Duration::from_secs(2);

/// A sink that never expects an event from these servers.
#[derive(Debug, Default)]
struct NoEvents {
    handled: Arc<Mutex<usize>>,
}

test_sink_identity!(NoEvents, NoEvents::default());

impl StreamSink for NoEvents {
    async fn handle(&mut self, _event: &StreamEvent) -> Outcome {
        *self.handled.lock().unwrap() += 1;
        Outcome::Done
    }
}

/// How a hostile server answers each stream request, once its headers are
/// sent.
#[derive(Debug, Clone, Copy)]
enum Hostility {
    /// One byte of an endless line every 100 ms.
    Drip,
    /// 100 MiB of one line, then silence.
    HugeLine,
}

/// A raw TCP server answering every request with `hostility`; records when
/// each connection came.
struct HostileServer {
    url: String,
    connections: Arc<Mutex<Vec<Instant>>>,
    /// Most bytes of the huge line one connection took before the drop.
    written: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl HostileServer {
    async fn start(hostility: Hostility) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(Mutex::new(0));
        let task = tokio::spawn({
            let connections = Arc::clone(&connections);
            let written = Arc::clone(&written);
            async move {
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        return;
                    };
                    connections.lock().unwrap().push(Instant::now());
                    tokio::spawn(serve(socket, hostility, Arc::clone(&written)));
                }
            }
        });
        Self {
            url,
            connections,
            written,
            task,
        }
    }

    fn connections(&self) -> Vec<Instant> {
        self.connections.lock().unwrap().clone()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut socket: TcpStream, hostility: Hostility, written: Arc<Mutex<usize>>) {
    // The request head, bounded: the client's is well under 8 KiB.
    let mut head = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < 8192 {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
    }
    let headers = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    if socket.write_all(headers.as_bytes()).await.is_err() {
        return;
    }
    match hostility {
        Hostility::Drip => {
            let line = b"data: {\"never\": \"ending";
            for byte in line.iter().cycle() {
                if socket.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Hostility::HugeLine => {
            let chunk = vec![b'a'; 64 << 10];
            let mut sent = 0;
            let mut first = b"data: ".to_vec();
            first.extend_from_slice(&chunk[6..]);
            while sent < HUGE_LINE {
                let part = if sent == 0 { &first } else { &chunk };
                if socket.write_all(part).await.is_err() {
                    return;
                }
                sent += part.len();
                let mut most = written.lock().unwrap();
                *most = (*most).max(sent);
            }
            // Then silence, the line never ends.
            std::future::pending::<()>().await;
        }
    }
}

/// Stream settings as the runtime builds them from the configuration, with
/// the `CONNECTOR_LIVE_STREAM_MAX_EVENT_SIZE_MB` given (its default when
/// `None`), and deadlines short enough for a test.
fn stream_settings(server: &HostileServer, max_event_mib: Option<&str>) -> StreamSettings {
    let tables: Vec<&[Var]> = RUNTIME_TABLES.to_vec();
    let mut pairs = vec![
        ("OPENCTI_URL", server.url.clone()),
        ("OPENCTI_TOKEN", "hostile-test-token".to_owned()),
        ("CONNECTOR_ID", uuid::Uuid::new_v4().to_string()),
        ("CONNECTOR_NAME", "hostile-platform-drill".to_owned()),
        ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
    ];
    if let Some(mib) = max_event_mib {
        pairs.push(("CONNECTOR_LIVE_STREAM_MAX_EVENT_SIZE_MB", mib.to_owned()));
    }
    let settings = Settings::from_env_pairs(&tables, pairs);
    let config = RuntimeConfig::try_from(&settings).unwrap();
    let mut stream = StreamSettings::from_config(&config.opencti, &config.connector.live_stream)
        .expect("stream settings");
    stream.reconnect.silence_timeout = SILENCE;
    stream.reconnect.initial = BACKOFF;
    stream
}

/// Runs the runtime until `until` holds (checked every 20 ms, at most
/// `bound`), then shuts it down and checks that the stop is prompt.
async fn run_until(
    server: &HostileServer,
    settings: StreamSettings,
    bound: Duration,
    mut until: impl FnMut() -> bool,
) -> Arc<opencti_connector::stream::metrics::StreamMetrics> {
    let shutdown = CancellationToken::new();
    let runtime = StreamRuntime::new(
        settings,
        StartSettings::default(),
        reqwest::Client::new(),
        Arc::new(MemoryState::default()),
        shutdown.clone(),
    );
    let metrics = Arc::clone(runtime.metrics());
    let mut sink = NoEvents::default();
    let handled = Arc::clone(&sink.handled);
    let task = tokio::spawn(async move { runtime.run(&mut sink).await });
    let started = Instant::now();
    while !until() {
        assert!(
            started.elapsed() < bound,
            "not within {bound:?}; connections {:?}",
            server.connections().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    let stopping = Instant::now();
    tokio::time::timeout(PROMPT_STOP, task)
        .await
        .expect("the runtime stops promptly on shutdown")
        .unwrap()
        .expect("a clean stop");
    println!("stopped in {:?}", stopping.elapsed());
    assert_eq!(*handled.lock().unwrap(), 0, "no event was ever completed");
    metrics
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_dripping_an_endless_line_is_dropped_after_the_silence_deadline() {
    let server = HostileServer::start(Hostility::Drip).await;
    let settings = stream_settings(&server, None);
    let metrics = run_until(&server, settings, Duration::from_secs(15), || {
        server.connections().len() >= 3
    })
    .await;
    let connections = server.connections();
    for pair in connections.windows(2) {
        let gap = pair[1] - pair[0];
        println!("reconnected after {gap:?}");
        // The drip never resets the deadline: silence, then the backoff.
        assert!(gap >= SILENCE, "{gap:?}");
        assert!(
            gap < SILENCE + BACKOFF * 4 + Duration::from_secs(2),
            "{gap:?}"
        );
    }
    assert!(metrics.reconnects() >= 2);
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// In a child process (alone, so that no other test's memory counts): the
/// runtime reads a 100 MiB line under `max_event_mib`; returns the peak RSS
/// growth in MiB.
async fn huge_line_peak_growth(max_event_mib: Option<&str>) -> u64 {
    let server = HostileServer::start(Hostility::HugeLine).await;
    let settings = stream_settings(&server, max_event_mib);
    let cap = settings.max_event_bytes;
    let baseline = status_kib("VmRSS:");
    let metrics = run_until(&server, settings, Duration::from_secs(20), || {
        server.connections().len() >= 2
    })
    .await;
    let peak = status_kib("VmHWM:");
    let written = *server.written.lock().unwrap();
    println!(
        "cap {} MiB: the server got {} MiB out before the drop; RSS {} MiB -> peak {} MiB",
        cap >> 20,
        written >> 20,
        baseline >> 10,
        peak >> 10
    );
    assert_eq!(metrics.oversized(), 1, "the line was refused at the cap");
    assert!(written < HUGE_LINE, "the connection was dropped mid-line");
    peak.saturating_sub(baseline) >> 10
}

/// Runs `test` in a child process with `CHILD` set; the child runs the
/// measurement.
fn in_child(test: &str) {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .status()
        .unwrap();
    assert!(status.success(), "the child measurement failed: {status}");
}

#[test]
fn a_100_mib_line_is_refused_at_a_4_mib_cap_without_buffering_it() {
    let test = "hostile_platform::a_100_mib_line_is_refused_at_a_4_mib_cap_without_buffering_it";
    if std::env::var_os(CHILD).is_none() {
        return in_child(test);
    }
    let growth = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(huge_line_peak_growth(Some("4")));
    println!("peak RSS growth {growth} MiB");
    assert!(growth < 24, "buffered {growth} MiB for a 4 MiB cap");
}

#[test]
fn a_100_mib_line_is_refused_at_the_default_cap_buffering_at_most_the_cap() {
    let test =
        "hostile_platform::a_100_mib_line_is_refused_at_the_default_cap_buffering_at_most_the_cap";
    if std::env::var_os(CHILD).is_none() {
        return in_child(test);
    }
    let growth = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(huge_line_peak_growth(None));
    println!("peak RSS growth {growth} MiB");
    // The default cap is 64 MiB: the line buffer may reach it, not more.
    assert!(growth < 90, "buffered {growth} MiB for the 64 MiB cap");
}
