//! A stream connector end to end: registration, stream, position in pings.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opencti_connector::api::{ApiClient, RetryPolicy};
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{PlatformTls, RuntimeConfig, Secret, Settings};
use opencti_connector::metrics::Metrics;
use opencti_connector::state::PingSchedule;
use opencti_connector::stream::{Outcome, StreamEvent, StreamRunner, StreamSink};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::stream_server::{Reply, ScriptedServer, Step, connected, heartbeat, indicator_event};

/// Records the ids it handles, and whether it was stopped.
#[derive(Default)]
struct IdSink {
    ids: Arc<Mutex<Vec<String>>>,
    stopped: bool,
    /// `on_stop` never returns (a remote system that hangs).
    stuck_on_stop: bool,
}

test_sink_identity!(IdSink, IdSink::default());

impl StreamSink for IdSink {
    async fn handle(&mut self, event: &StreamEvent) -> Outcome {
        self.ids.lock().unwrap().push(event.id.clone());
        Outcome::Done
    }

    async fn on_stop(&mut self) {
        if self.stuck_on_stop {
            std::future::pending::<()>().await;
        }
        self.stopped = true;
    }
}

fn config(server: &ScriptedServer, extra: &[(&str, &str)]) -> RuntimeConfig {
    let mut env = vec![
        ("OPENCTI_URL".to_owned(), server.url()),
        ("OPENCTI_TOKEN".to_owned(), "token".to_owned()),
        (
            "CONNECTOR_ID".to_owned(),
            "b5a0c2d4-3a4e-4d4f-9d62-0f3a1f7c2e11".to_owned(),
        ),
        ("CONNECTOR_NAME".to_owned(), "Stream test".to_owned()),
        ("CONNECTOR_LIVE_STREAM_ID".to_owned(), "live".to_owned()),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    RuntimeConfig::try_from(&Settings::from_env_pairs(RUNTIME_TABLES, env)).unwrap()
}

fn api(server: &ScriptedServer) -> ApiClient {
    ApiClient::build(
        &server.url().parse().unwrap(),
        &Secret::new("token"),
        &[],
        &PlatformTls::Verify,
        RetryPolicy::none(),
    )
    .unwrap()
}

fn start_from(server: &ScriptedServer) -> Option<String> {
    server
        .stored_state()
        .and_then(|state| state["start_from"].as_str().map(str::to_owned))
}

/// Runs `runner` until `done` holds after some server activity.
async fn run_until(
    runner: StreamRunner<IdSink>,
    server: &ScriptedServer,
    mut done: impl FnMut(&ScriptedServer) -> bool,
) -> IdSink {
    let shutdown = CancellationToken::new();
    let watcher = async {
        loop {
            server.activity.notified().await;
            assert!(
                server.operations().len() < 50,
                "runaway: {:?}",
                server.operations()
            );
            if done(server) {
                shutdown.cancel();
                return;
            }
        }
    };
    let (result, ()) = tokio::join!(runner.run(shutdown.clone()), watcher);
    result.unwrap()
}

#[tokio::test(start_paused = true)]
async fn registers_as_stream_and_pings_the_position() {
    let server = ScriptedServer::start(vec![Reply::Stream(vec![
        Step::Send(connected()),
        Step::Send(indicator_event("create", "1-0")),
        Step::Send(indicator_event("delete", "2-0")),
        Step::Send(heartbeat("3-0")),
    ])])
    .await;
    let config = config(
        &server,
        &[
            ("CONNECTOR_LIVE_STREAM_LISTEN_DELETE", "false"),
            ("CONNECTOR_LIVE_STREAM_WITH_INFERENCES", "true"),
        ],
    );
    let metrics = Metrics::new("");
    let runner = StreamRunner::new(IdSink::default(), config)
        .with_api(api(&server))
        .with_http(reqwest::Client::new())
        .with_metrics(metrics.clone());
    let sink = run_until(runner, &server, |server| {
        start_from(server).as_deref() == Some("3-0")
    })
    .await;

    assert_eq!(*sink.ids.lock().unwrap(), ["1-0", "2-0"]);
    assert!(sink.stopped, "on_stop runs at shutdown");
    let exposed = metrics.encode();
    for line in [
        "stream_events_received_total{type=\"create\"} 1",
        "stream_events_received_total{type=\"heartbeat\"} 1",
        "stream_events_handled_total 2",
        "stream_events_rejected_total 0",
        "stream_reconnects_total 0",
    ] {
        assert!(
            exposed.lines().any(|l| l == line),
            "{line} missing from\n{exposed}"
        );
    }
    assert!(exposed.contains("stream_lag_seconds"), "{exposed}");
    let operations = server.operations();
    assert_eq!(operations[0].name, "healthCheck");
    assert_eq!(operations[1].name, "RegisterConnector");
    assert_eq!(operations[1].variables["input"]["type"], "STREAM");
    assert!(operations[2..].iter().all(|op| op.name == "PingConnector"));
    let last: Value = serde_json::from_str(
        operations.last().unwrap().variables["state"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        last["start_from"], "3-0",
        "the final ping carries the final position"
    );
    let request = &server.requests()[0];
    assert_eq!(request.header("listen-delete"), Some("false"));
    assert_eq!(request.header("no-dependencies"), Some("true"));
    assert_eq!(request.header("with-inferences"), Some("true"));
    assert_eq!(request.header("last-event-id"), Some("0-0"));
}

#[tokio::test(start_paused = true)]
async fn resumes_from_the_stored_state_and_restarts_after_a_ui_reset() {
    let server = ScriptedServer::start(vec![
        Reply::Stream(vec![Step::Send(indicator_event("create", "8-0"))]),
        Reply::Stream(vec![Step::Send(indicator_event(
            "create",
            "1718010586000-0",
        ))]),
    ])
    .await;
    server.set_stored_state(
        r#"{"connectorLastEventId": "7-0", "connectorStartTime": "2025-01-01T00:00:00Z"}"#,
    );
    let config = config(
        &server,
        &[("CONNECTOR_LIVE_STREAM_START_TIMESTAMP", "1718010586000")],
    );
    let runner = StreamRunner::new(IdSink::default(), config)
        .with_api(api(&server))
        .with_http(reqwest::Client::new())
        .with_pings(PingSchedule {
            interval: Duration::from_secs(10),
            debounce: Duration::from_secs(1),
        });
    let mut reset = false;
    let sink = run_until(runner, &server, |server| {
        if !reset && start_from(server).as_deref() == Some("8-0") {
            server.reset_state();
            reset = true;
        }
        start_from(server).as_deref() == Some("1718010586000-0")
    })
    .await;

    assert_eq!(*sink.ids.lock().unwrap(), ["8-0", "1718010586000-0"]);
    let requests = server.requests();
    assert_eq!(
        requests[0].target,
        "/stream/live?recover=2025-01-01T00:00:00Z"
    );
    assert_eq!(requests[0].header("last-event-id"), Some("7-0"));
    assert_eq!(requests[1].header("last-event-id"), Some("1718010586000-0"));
    assert!(
        requests[1].target.starts_with("/stream/live?recover="),
        "a reset recovers again: {}",
        requests[1].target
    );
    let stored = server.stored_state().unwrap();
    assert_eq!(
        stored,
        json!({"start_from": "1718010586000-0", "recover_until": stored["recover_until"]})
    );
}

#[tokio::test(start_paused = true)]
async fn an_event_over_the_configured_size_drops_the_connection_and_resumes() {
    // Two MiB without a line ending, against a limit of one.
    let endless = format!("id: 2-0\nevent: create\ndata: {}", "x".repeat(2 << 20));
    let server = ScriptedServer::start(vec![
        Reply::Stream(vec![
            Step::Send(indicator_event("create", "1-0")),
            Step::Send(endless),
            Step::Sleep(Duration::from_secs(600)),
        ]),
        Reply::Stream(vec![Step::Send(indicator_event("create", "3-0"))]),
    ])
    .await;
    let config = config(&server, &[("CONNECTOR_LIVE_STREAM_MAX_EVENT_SIZE_MB", "1")]);
    let metrics = Metrics::new("");
    let runner = StreamRunner::new(IdSink::default(), config)
        .with_api(api(&server))
        .with_http(reqwest::Client::new())
        .with_metrics(metrics.clone());
    let sink = run_until(runner, &server, |server| {
        start_from(server).as_deref() == Some("3-0")
    })
    .await;

    assert_eq!(*sink.ids.lock().unwrap(), ["1-0", "3-0"]);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].header("last-event-id"), Some("1-0"));
    assert!(
        requests[1].at - requests[0].at < Duration::from_secs(45),
        "dropped at once, not after the silence timeout"
    );
    let exposed = metrics.encode();
    assert!(
        exposed
            .lines()
            .any(|line| line == "stream_events_oversized_total 1"),
        "{exposed}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_within_the_grace_when_the_sink_and_the_platform_hang() {
    let server = ScriptedServer::start(vec![Reply::Stream(vec![Step::Send(indicator_event(
        "create", "1-0",
    ))])])
    .await;
    let config = config(&server, &[("CONNECTOR_STOP_GRACE_PERIOD", "PT10S")]);
    let sink = IdSink {
        stuck_on_stop: true,
        ..IdSink::default()
    };
    let runner = StreamRunner::new(sink, config)
        .with_api(api(&server))
        .with_http(reqwest::Client::new());
    let mut stop_requested = None;
    let run = run_until(runner, &server, |server| {
        if start_from(server).as_deref() != Some("1-0") {
            return false;
        }
        server.stall("PingConnector");
        stop_requested = Some(tokio::time::Instant::now());
        true
    });
    let sink = tokio::time::timeout(Duration::from_secs(3600), run)
        .await
        .expect("the stop ended");
    let took = stop_requested.unwrap().elapsed();
    assert!(took <= Duration::from_secs(10), "{took:?}");
    assert!(!sink.stopped);
    let operations = server.operations();
    assert_eq!(
        operations.last().unwrap().name,
        "PingConnector",
        "the last ping was tried"
    );
    assert_eq!(
        start_from(&server).as_deref(),
        Some("1-0"),
        "the platform keeps the last confirmed position"
    );
}
