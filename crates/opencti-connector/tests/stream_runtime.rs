//! The stream runtime against a scripted SSE server, on tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opencti_connector::http::testing::capture_logs;
use opencti_connector::stream::client::StreamSettings;
use opencti_connector::stream::event::StreamEvent;
use opencti_connector::stream::position::StartSettings;
use opencti_connector::stream::runtime::{MemoryState, StateStore, StreamError, StreamRuntime};
use opencti_connector::stream::sink::{BatchOutcome, Batching, Outcome, SinkError, StreamSink};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::stream_server::{Reply, ScriptedServer, Step, connected, heartbeat, indicator_event};

/// What a [`RecordingSink`] saw.
#[derive(Debug, Default)]
struct Seen {
    /// Every event id handed over, in order (retries included).
    ids: Vec<String>,
    /// The ids of each `handle_batch` call.
    batches: Vec<Vec<String>>,
    /// `start_from` in the state when each event was handed over.
    state_at_handling: Vec<(String, Option<String>)>,
    /// When each `handle_batch` call came.
    batch_times: Vec<tokio::time::Instant>,
}

type Decide = Box<dyn FnMut(&StreamEvent, usize) -> Outcome + Send>;

/// A sink that records what it gets and answers with `decide(event, attempt)`.
struct RecordingSink {
    seen: Arc<Mutex<Seen>>,
    changed: Arc<Notify>,
    state: Arc<MemoryState>,
    batching: Batching,
    decide: Decide,
}

impl RecordingSink {
    fn new(state: &Arc<MemoryState>) -> Self {
        Self {
            seen: Arc::default(),
            changed: Arc::default(),
            state: Arc::clone(state),
            batching: Batching::SINGLE,
            decide: Box::new(|_, _| Outcome::Done),
        }
    }

    fn handled_ids(&self) -> Vec<String> {
        self.seen.lock().unwrap().ids.clone()
    }
}

test_sink_identity!(RecordingSink, RecordingSink::new(&Arc::default()));

impl StreamSink for RecordingSink {
    async fn handle(&mut self, event: &StreamEvent) -> Outcome {
        match self.handle_batch(std::slice::from_ref(event)).await {
            BatchOutcome::PerEvent(mut outcomes) => outcomes.remove(0),
            BatchOutcome::All(outcome) => outcome,
            other => panic!("unexpected {other:?}"),
        }
    }

    async fn handle_batch(&mut self, events: &[StreamEvent]) -> BatchOutcome {
        let start_from = start_from(&self.state);
        let mut outcomes = Vec::new();
        {
            let mut seen = self.seen.lock().unwrap();
            seen.batches
                .push(events.iter().map(|e| e.id.clone()).collect());
            seen.batch_times.push(tokio::time::Instant::now());
            for event in events {
                let attempt = seen.ids.iter().filter(|id| **id == event.id).count();
                seen.ids.push(event.id.clone());
                seen.state_at_handling
                    .push((event.id.clone(), start_from.clone()));
                outcomes.push((self.decide)(event, attempt));
            }
        }
        self.changed.notify_one();
        BatchOutcome::PerEvent(outcomes)
    }

    fn batching(&self) -> Batching {
        self.batching
    }
}

fn start_from(state: &MemoryState) -> Option<String> {
    state.load().and_then(|s| {
        s.get("start_from")
            .and_then(Value::as_str)
            .map(str::to_owned)
    })
}

fn state(value: Value) -> Option<Map<String, Value>> {
    match value {
        Value::Object(object) => Some(object),
        other => panic!("not an object: {other}"),
    }
}

fn settings(server: &ScriptedServer) -> StreamSettings {
    StreamSettings::new(&server.url(), "s3cret-token", Some("live")).unwrap()
}

/// Runs the runtime until `done` holds for the sink's record (checked after
/// each sink call), then shuts it down. Fails if the server sees more than
/// `max_requests` connections (a runaway reconnect loop on the paused clock).
async fn run_until(
    runtime: &StreamRuntime<Arc<MemoryState>>,
    shutdown: &CancellationToken,
    sink: &mut RecordingSink,
    server: &ScriptedServer,
    mut done: impl FnMut(&Seen) -> bool,
) {
    let seen = Arc::clone(&sink.seen);
    let changed = Arc::clone(&sink.changed);
    let watcher = async {
        loop {
            changed.notified().await;
            assert!(
                server.requests().len() <= 10,
                "runaway reconnections: {:?}",
                server.requests()
            );
            if done(&seen.lock().unwrap()) {
                shutdown.cancel();
                return;
            }
        }
    };
    let (result, ()) = tokio::join!(runtime.run(sink), watcher);
    result.unwrap();
}

fn new_runtime(
    server: &ScriptedServer,
    start: StartSettings,
    state: &Arc<MemoryState>,
) -> (StreamRuntime<Arc<MemoryState>>, CancellationToken) {
    let shutdown = CancellationToken::new();
    let runtime = StreamRuntime::new(
        settings(server),
        start,
        reqwest::Client::new(),
        Arc::clone(state),
        shutdown.clone(),
    );
    (runtime, shutdown)
}

#[tokio::test(start_paused = true)]
async fn resumes_after_a_drop_with_last_event_id_delivering_each_event_once() {
    let server = ScriptedServer::start(vec![
        Reply::Stream(vec![
            Step::Send(connected()),
            Step::Send(indicator_event("create", "100-0")),
            Step::Send(indicator_event("update", "100-1")),
            // Half an event, then the connection drops.
            Step::Send("id: 101-0\nevent: create\ndata: {\"version\"".to_owned()),
            Step::Close,
        ]),
        Reply::Stream(vec![
            Step::Send(connected()),
            Step::Send(indicator_event("create", "101-0")),
            Step::Send(heartbeat("102-0")),
            Step::Send(indicator_event("delete", "103-0")),
        ]),
    ])
    .await;
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        seen.ids.len() >= 4
    })
    .await;

    assert_eq!(sink.handled_ids(), ["100-0", "100-1", "101-0", "103-0"]);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert!(
        first.target.starts_with("/stream/live?recover="),
        "{}",
        first.target
    );
    assert_eq!(first.header("last-event-id"), Some("0-0"));
    assert_eq!(first.header("authorization"), Some("Bearer s3cret-token"));
    assert_eq!(first.header("listen-delete"), Some("true"));
    assert_eq!(first.header("no-dependencies"), Some("true"));
    assert_eq!(first.header("with-inferences"), Some("false"));
    assert_eq!(first.header("accept"), Some("text/event-stream"));
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    assert_eq!(requests[1].header("last-event-id"), Some("100-1"));
    assert_eq!(
        requests[1].target, first.target,
        "the same URL is used to resume"
    );
    assert_eq!(start_from(&state).as_deref(), Some("103-0"));
    let metrics = runtime.metrics();
    assert_eq!(
        (metrics.handled(), metrics.rejected(), metrics.reconnects()),
        (4, 0, 1)
    );
    assert_eq!(
        (metrics.received("create"), metrics.received("heartbeat")),
        (2, 1)
    );
    // The ids are from 1970: the lag is the whole age of the epoch.
    assert!(metrics.lag_seconds() > 1e9, "{}", metrics.lag_seconds());
}

#[tokio::test(start_paused = true)]
async fn retries_a_stopped_stream_within_seconds_and_a_refused_token_slowly() {
    let server = ScriptedServer::start(vec![
        Reply::Status(410),
        Reply::Status(410),
        Reply::Status(401),
        Reply::Stream(vec![Step::Send(indicator_event("create", "5-0"))]),
    ])
    .await;
    let (logs, _guard) = capture_logs();
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        !seen.ids.is_empty()
    })
    .await;

    assert_eq!(sink.handled_ids(), ["5-0"]);
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    let first_retry = requests[1].at - requests[0].at;
    assert!(
        first_retry <= Duration::from_secs(4),
        "a stream stopped a moment is asked again within seconds: {first_retry:?}"
    );
    assert!(
        requests[2].at - requests[1].at >= Duration::from_secs(4),
        "a 410 that persists is asked again more slowly"
    );
    assert!(
        requests[3].at - requests[2].at >= Duration::from_secs(60),
        "401 retries slowly"
    );
    let text = logs.text();
    assert!(
        text.contains("status=410") && text.contains("missing or stopped"),
        "{text}"
    );
    assert!(
        text.contains("status=401") && text.contains("OPENCTI_TOKEN"),
        "{text}"
    );
    assert!(
        !text.contains("s3cret-token"),
        "the token leaked into the logs"
    );
}

#[tokio::test(start_paused = true)]
async fn a_platform_that_never_answers_the_request_is_asked_again() {
    let server = ScriptedServer::start(vec![
        Reply::NoAnswer,
        Reply::Stream(vec![Step::Send(indicator_event("create", "4-0"))]),
    ])
    .await;
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    let run = run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        !seen.ids.is_empty()
    });
    tokio::time::timeout(Duration::from_secs(3600), run)
        .await
        .expect("the reader gave up on the silent request");

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_secs(45) && waited < Duration::from_secs(50),
        "{waited:?}"
    );
    assert_eq!(runtime.metrics().reconnects(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_server_retry_of_a_day_is_honoured_up_to_a_minute() {
    let server = ScriptedServer::start(vec![
        Reply::Stream(vec![
            Step::Send("retry: 86400000\n\n".to_owned()),
            Step::Send(indicator_event("create", "1-0")),
            Step::Close,
        ]),
        Reply::Stream(vec![Step::Send(indicator_event("create", "2-0"))]),
    ])
    .await;
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        seen.ids.len() == 2
    })
    .await;

    let requests = server.requests();
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_secs(60) && waited <= Duration::from_secs(120),
        "{waited:?}"
    );
    assert_eq!(requests[1].header("last-event-id"), Some("1-0"));
}

#[tokio::test(start_paused = true)]
async fn a_sink_asking_to_wait_a_day_is_retried_within_its_longest_backoff() {
    let server = ScriptedServer::start(vec![Reply::Stream(vec![Step::Send(indicator_event(
        "create", "1-0",
    ))])])
    .await;
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    sink.decide = Box::new(|_, attempt| {
        if attempt == 0 {
            Outcome::retry_after("rate limited", Duration::from_secs(86_400))
        } else {
            Outcome::Done
        }
    });
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        seen.ids.len() == 2
    })
    .await;

    let times = sink.seen.lock().unwrap().batch_times.clone();
    let waited = times[1] - times[0];
    // The default schedule's longest delay is 300 s (jitter adds up to as
    // much again to the backoff part).
    assert!(
        waited >= Duration::from_secs(300) && waited <= Duration::from_secs(600),
        "{waited:?}"
    );
    assert_eq!(start_from(&state).as_deref(), Some("1-0"));
}

/// A sink whose start never ends (a remote system that never answers).
struct StuckStart;

test_sink_identity!(StuckStart, StuckStart);

impl StreamSink for StuckStart {
    async fn handle(&mut self, _event: &StreamEvent) -> Outcome {
        Outcome::Done
    }

    async fn on_start(&mut self) -> Result<(), SinkError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_interrupts_a_sink_that_is_starting() {
    let server = ScriptedServer::start(Vec::new()).await;
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        stopper.cancel();
    });
    let started = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(3600), runtime.run(&mut StuckStart))
        .await
        .expect("the start was interrupted")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(server.requests().is_empty(), "never connected");
}

#[tokio::test(start_paused = true)]
async fn reconnects_after_heartbeat_silence() {
    let server = ScriptedServer::start(vec![
        Reply::Stream(vec![
            Step::Send(connected()),
            Step::Send(heartbeat("7-0")),
            Step::Sleep(Duration::from_secs(600)),
        ]),
        Reply::Stream(vec![Step::Send(indicator_event("create", "8-0"))]),
    ])
    .await;
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        !seen.ids.is_empty()
    })
    .await;

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].header("last-event-id"), Some("7-0"));
    let silence = requests[1].at - requests[0].at;
    assert!(
        silence >= Duration::from_secs(45) && silence < Duration::from_secs(60),
        "{silence:?}"
    );
    assert_eq!(runtime.metrics().reconnects(), 1);
    assert_eq!(start_from(&state).as_deref(), Some("8-0"));
}

#[tokio::test(start_paused = true)]
async fn rejects_malformed_event_data_with_its_id_and_moves_on() {
    let server = ScriptedServer::start(vec![Reply::Stream(vec![Step::Send(format!(
        "{}id: 2-0\nevent: update\ndata: {{\"data\": 42}}\n\n{}",
        indicator_event("create", "1-0"),
        indicator_event("create", "3-0")
    ))])])
    .await;
    let (logs, _guard) = capture_logs();
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        seen.ids.len() >= 2
    })
    .await;

    assert_eq!(sink.handled_ids(), ["1-0", "3-0"]);
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("rejected"))
        .unwrap_or_else(|| panic!("no rejection in {text}"));
    assert!(
        line.contains("ERROR") && line.contains("event 2-0 (update): malformed data"),
        "{line}"
    );
    assert_eq!(runtime.metrics().rejected(), 1);
    assert_eq!(start_from(&state).as_deref(), Some("3-0"));
}

#[tokio::test(start_paused = true)]
async fn hands_batches_of_up_to_n_events_or_after_the_wait() {
    let events: String = (1..=7)
        .map(|i| indicator_event("create", &format!("{i}-0")))
        .collect();
    let server = ScriptedServer::start(vec![Reply::Stream(vec![Step::Send(
        events + &heartbeat("8-0"),
    )])])
    .await;
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    sink.batching = Batching::up_to(3, Duration::from_secs(2));
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        seen.ids.len() >= 7
    })
    .await;

    let seen = sink.seen.lock().unwrap();
    let sizes: Vec<usize> = seen.batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(
        seen.ids,
        (1..=7).map(|i| format!("{i}-0")).collect::<Vec<_>>()
    );
    // The heartbeat after the last event moves the position once the batch is handled.
    assert_eq!(start_from(&state).as_deref(), Some("8-0"));
}

#[tokio::test(start_paused = true)]
async fn a_retry_outcome_does_not_advance_the_position() {
    let events: String = (1..=3)
        .map(|i| indicator_event("create", &format!("{i}-0")))
        .collect();
    let server = ScriptedServer::start(vec![Reply::Stream(vec![Step::Send(events)])]).await;
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    sink.batching = Batching::up_to(3, Duration::from_secs(1));
    sink.decide = Box::new(|event, attempt| match (event.id.as_str(), attempt) {
        ("2-0", 0 | 1) => Outcome::retry("remote system unavailable"),
        ("3-0", 0) => Outcome::reject("unsupported pattern"),
        _ => Outcome::Done,
    });
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        seen.ids.len() >= 5
    })
    .await;

    let seen = sink.seen.lock().unwrap();
    // Only the event that asked for a retry is handed over again.
    assert_eq!(
        seen.batches,
        [vec!["1-0", "2-0", "3-0"], vec!["2-0"], vec!["2-0"]]
    );
    for (id, start_from) in &seen.state_at_handling {
        if id == "2-0" {
            assert!(
                matches!(start_from.as_deref(), Some("0-0" | "1-0")),
                "position passed 2-0: {start_from:?}"
            );
        }
    }
    assert_eq!(
        seen.state_at_handling[3].1.as_deref(),
        Some("1-0"),
        "events before the retry are committed"
    );
    assert_eq!(start_from(&state).as_deref(), Some("3-0"));
    let metrics = runtime.metrics();
    assert_eq!(
        (metrics.handled(), metrics.rejected(), metrics.retries()),
        (2, 1, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn the_retry_backoff_starts_over_when_part_of_the_batch_went_through() {
    let events: String = (1..=2)
        .map(|i| indicator_event("create", &format!("{i}-0")))
        .collect();
    let server = ScriptedServer::start(vec![Reply::Stream(vec![Step::Send(events)])]).await;
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    sink.batching = Batching::up_to(2, Duration::from_secs(1));
    // Both fail four times, then the first goes through and the second
    // fails once more.
    sink.decide = Box::new(|event, attempt| match (event.id.as_str(), attempt) {
        ("1-0", 0..=3) | ("2-0", 0..=4) => Outcome::retry("remote system unavailable"),
        _ => Outcome::Done,
    });
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        seen.batches.len() == 6
    })
    .await;

    let seen = sink.seen.lock().unwrap();
    assert_eq!(seen.batches[4], ["1-0", "2-0"]);
    assert_eq!(seen.batches[5], ["2-0"]);
    let waits: Vec<Duration> = seen.batch_times.windows(2).map(|w| w[1] - w[0]).collect();
    // Without progress the delay grows (1 s doubling, jitter up to as much
    // again): the fourth wait is at least 8 s.
    assert!(waits[3] >= Duration::from_secs(8), "{waits:?}");
    // After the first event went through, the next wait is the first one.
    assert!(waits[4] <= Duration::from_secs(2), "{waits:?}");
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_retries_keeps_the_event_for_the_next_run() {
    let server = ScriptedServer::start(vec![Reply::Stream(vec![Step::Send(
        indicator_event("create", "1-0") + &indicator_event("create", "2-0"),
    )])])
    .await;
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    sink.decide = Box::new(|event, _| {
        if event.id == "2-0" {
            Outcome::retry("down")
        } else {
            Outcome::Done
        }
    });
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        seen.ids.len() >= 3
    })
    .await;

    assert_eq!(start_from(&state).as_deref(), Some("1-0"));
}

#[tokio::test(start_paused = true)]
async fn a_remote_state_reset_restarts_from_the_configured_start() {
    let server = ScriptedServer::start(vec![
        Reply::Stream(vec![
            Step::Send(indicator_event("create", "6-0")),
            Step::Send(indicator_event("create", "7-0")),
        ]),
        Reply::Stream(vec![Step::Send(indicator_event(
            "create",
            "1718010586000-0",
        ))]),
    ])
    .await;
    let state = Arc::new(MemoryState::new(state(
        json!({"start_from": "5-0", "recover_until": false}),
    )));
    let start = StartSettings {
        start_timestamp: Some("1718010586000".to_owned()),
        recover_iso_date: Some("2024-06-10T00:00:00Z".to_owned()),
    };
    let (runtime, shutdown) = new_runtime(&server, start, &state);
    let mut sink = RecordingSink::new(&state);
    let reset_state = Arc::clone(&state);
    let mut reset_done = false;
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        if seen.ids.len() == 2 && !reset_done {
            reset_state.replace_remotely(None);
            reset_done = true;
        }
        seen.ids.len() >= 3
    })
    .await;

    assert_eq!(sink.handled_ids(), ["6-0", "7-0", "1718010586000-0"]);
    let requests = server.requests();
    assert_eq!(requests[0].target, "/stream/live");
    assert_eq!(requests[0].header("last-event-id"), Some("5-0"));
    assert_eq!(
        requests[1].target,
        "/stream/live?recover=2024-06-10T00:00:00Z"
    );
    assert_eq!(requests[1].header("last-event-id"), Some("1718010586000-0"));
    assert_eq!(
        state.load(),
        self::state(
            json!({"start_from": "1718010586000-0", "recover_until": "2024-06-10T00:00:00Z"})
        )
    );
}

#[tokio::test(start_paused = true)]
async fn no_recover_disables_recovery_in_the_state() {
    let server = ScriptedServer::start(vec![Reply::Stream(vec![Step::Send(format!(
        "id: 3-0\nevent: no-recover\ndata: {{}}\n\n{}",
        indicator_event("merge", "4-0")
    ))])])
    .await;
    let state = Arc::new(MemoryState::new(state(
        json!({"start_from": "2-0", "recover_until": "2026-01-01T00:00:00Z", "other": 1}),
    )));
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        !seen.ids.is_empty()
    })
    .await;

    assert_eq!(
        state.load(),
        self::state(json!({"start_from": "4-0", "recover_until": false, "other": 1}))
    );
    assert_eq!(
        server.requests()[0].target,
        "/stream/live?recover=2026-01-01T00:00:00Z"
    );
}

#[tokio::test(start_paused = true)]
async fn a_state_edited_in_the_platform_is_resumed_from() {
    let server = ScriptedServer::start(vec![
        Reply::Stream(vec![Step::Send(indicator_event("create", "6-0"))]),
        Reply::Stream(vec![Step::Send(indicator_event("create", "51-0"))]),
    ])
    .await;
    let state = Arc::new(MemoryState::default());
    let (runtime, shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let mut sink = RecordingSink::new(&state);
    let edited = Arc::clone(&state);
    run_until(&runtime, &shutdown, &mut sink, &server, |seen| {
        if seen.ids.len() == 1 {
            edited.replace_remotely(self::state(
                json!({"start_from": "50-0", "recover_until": false}),
            ));
        }
        seen.ids.len() >= 2
    })
    .await;

    let requests = server.requests();
    assert_eq!(requests[1].target, "/stream/live");
    assert_eq!(requests[1].header("last-event-id"), Some("50-0"));
    assert_eq!(start_from(&state).as_deref(), Some("51-0"));
}

/// A sink whose remote system refuses to start.
struct FailingStart;

test_sink_identity!(FailingStart, FailingStart);

impl StreamSink for FailingStart {
    async fn handle(&mut self, _event: &StreamEvent) -> Outcome {
        Outcome::Done
    }

    async fn on_start(&mut self) -> Result<(), SinkError> {
        Err("PT NAD refused the credentials".into())
    }
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_cannot_start_stops_the_runtime_before_connecting() {
    let server = ScriptedServer::start(Vec::new()).await;
    let state = Arc::new(MemoryState::default());
    let (runtime, _shutdown) = new_runtime(&server, StartSettings::default(), &state);
    let error = runtime.run(&mut FailingStart).await.unwrap_err();
    assert!(matches!(error, StreamError::SinkStart(_)), "{error:?}");
    assert!(
        error.to_string().contains("refused the credentials"),
        "{error}"
    );
    assert!(server.requests().is_empty());
}
