//! The Sekoia sink against the fake server: startup, batches of stream
//! events of every kind, refused values and failures.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use opencti_connector::config::Settings;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::stream::event::{EventKind, OPENCTI_EXTENSION, StreamEvent};
use opencti_connector::stream::sink::{BatchOutcome, Outcome};
use opencti_sekoia_intel::SekoiaSink;
use opencti_sekoia_intel::connector::{StartupError, StartupRetry};
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
use opencti_sekoia_intel::{SekoiaConfig, VARS};
use opencti_testkit::events::with_pattern_type;
use serde_json::{Value, json};

const C: &str = DEFAULT_COLLECTION;

/// The configuration for the vendor at `url`, with `extra` variables
/// (also the network checks').
pub(crate) fn config(url: &str, extra: &[(&str, &str)]) -> SekoiaConfig {
    let mut pairs = vec![
        ("OPENCTI_URL", "https://opencti.example.org"),
        ("OPENCTI_TOKEN", "token"),
        ("CONNECTOR_ID", "0b8f2c1e-8f5a-4c57-9d56-5b9f1f0e2a11"),
        ("CONNECTOR_NAME", "Sekoia"),
        ("CONNECTOR_LIVE_STREAM_ID", "live"),
        ("SEKOIA_INTEL_URL", url),
        ("SEKOIA_INTEL_APIKEY", "sk_test"),
        ("SEKOIA_INTEL_IOC_COLLECTION_UUID", C),
        ("SEKOIA_INTEL_TIMEOUT", "5"),
    ];
    pairs.extend_from_slice(extra);
    let tables: Vec<_> = RUNTIME_TABLES.iter().copied().chain([VARS]).collect();
    SekoiaConfig::try_from(&Settings::from_env_pairs(&tables, pairs)).unwrap()
}

fn quick_retry() -> StartupRetry {
    StartupRetry {
        attempts: 3,
        first_delay: Duration::from_millis(10),
        ..StartupRetry::default()
    }
}

async fn setup() -> (FakeSekoia, SekoiaSink) {
    let fake = FakeSekoia::start(FakeSettings::default()).await.unwrap();
    let sink = SekoiaSink::new(config(&fake.url(), &[]))
        .unwrap()
        .with_startup_retry(quick_retry());
    sink.start().await.unwrap();
    (fake, sink)
}

fn indicator(n: u32, pattern: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "name": pattern,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2025-11-24T10:00:00.000Z",
        "valid_until": "2026-02-22T10:00:00.000Z",
        "revoked": false,
        "confidence": 80,
        "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}],
        "extensions": {OPENCTI_EXTENSION: {"extension_type": "property-extension", "id": format!("opencti-{n}"), "type": "Indicator"}},
    })
}

fn revoked(mut object: Value) -> Value {
    object["revoked"] = json!(true);
    object
}

fn event(seq: u32, kind: EventKind, data: Value) -> StreamEvent {
    event_with_context(seq, kind, data, None)
}

fn event_with_context(
    seq: u32,
    kind: EventKind,
    data: Value,
    context: Option<Value>,
) -> StreamEvent {
    StreamEvent::for_test(&format!("1732460000000-{seq}"), kind, data, context)
}

fn outcomes(outcome: BatchOutcome) -> Vec<Outcome> {
    match outcome {
        BatchOutcome::PerEvent(outcomes) => outcomes,
        other => panic!("expected per-event outcomes, got {other:?}"),
    }
}

fn posts(fake: &FakeSekoia) -> Vec<Value> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .filter_map(|r| r.body)
        .collect()
}

#[tokio::test]
async fn startup_checks_the_collection() {
    let fake = FakeSekoia::start(FakeSettings::default()).await.unwrap();
    let missing = SekoiaSink::new(config(
        &fake.url(),
        &[("SEKOIA_INTEL_IOC_COLLECTION_UUID", "ioc-collection--nope")],
    ))
    .unwrap()
    .with_startup_retry(quick_retry());
    let error = missing.start().await.unwrap_err();
    assert!(
        matches!(error, StartupError::MissingCollection(_)),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("SEKOIA_INTEL_IOC_COLLECTION_UUID")
    );

    let refused = SekoiaSink::new(config(&fake.url(), &[("SEKOIA_INTEL_APIKEY", "wrong")]))
        .unwrap()
        .with_startup_retry(quick_retry());
    let error = refused.start().await.unwrap_err();
    assert!(matches!(error, StartupError::Credentials(_)), "{error}");
    assert_eq!(fake.requests().len(), 2, "neither is retried");

    let sink = SekoiaSink::new(config(&fake.url(), &[]))
        .unwrap()
        .with_startup_retry(quick_retry());
    fake.inject_failures(StatusCode::SERVICE_UNAVAILABLE, 2, None);
    sink.start().await.unwrap();
    fake.inject_failures(StatusCode::SERVICE_UNAVAILABLE, 3, None);
    let error = sink.start().await.unwrap_err();
    assert!(
        matches!(error, StartupError::Unavailable { attempts: 3, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_created_indicator_is_pushed_as_the_python_connector_does() {
    let (fake, sink) = setup().await;
    let data = indicator(1, "[ipv4-addr:value = '198.51.100.7']");
    let result = outcomes(sink.apply(&[event(1, EventKind::Create, data)]).await);
    assert_eq!(result, [Outcome::Done]);
    assert_eq!(
        posts(&fake),
        [json!({
            "format": "ipv4-addr.value",
            "indicators": "198.51.100.7",
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}],
            "valid_from": "2025-11-24T10:00:00.000Z",
            "valid_until": "2026-02-22T10:00:00.000Z",
            "description": "https://opencti.example.org/dashboard/observations/indicators/opencti-1",
        })]
    );
    assert_eq!(fake.active_values(C), ["198.51.100.7"]);
}

#[tokio::test]
async fn equal_imports_share_a_request_and_other_events_cost_nothing() {
    let (fake, sink) = setup().await;
    let first = indicator(
        1,
        "[ipv4-addr:value = '10.0.0.1' OR ipv4-addr:value = '10.0.0.2']",
    );
    let mut first_again = first.clone();
    first_again["pattern"] =
        json!("[ipv4-addr:value = '10.0.0.3' OR ipv4-addr:value = '10.0.0.2']");
    let yara = with_pattern_type(indicator(3, "rule x { condition: true }"), "yara");
    let batch = [
        event(1, EventKind::Create, first),
        event(
            2,
            EventKind::Create,
            indicator(2, "[domain-name:value = 'evil.example']"),
        ),
        event(3, EventKind::Update, first_again),
        event(4, EventKind::Create, yara),
        event(
            5,
            EventKind::Create,
            json!({"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "1.1.1.1"}),
        ),
        event(
            6,
            EventKind::Create,
            indicator(6, "[autonomous-system:number = 1234]"),
        ),
    ];
    let result = outcomes(sink.apply(&batch).await);
    assert_eq!(result, vec![Outcome::Done; 6]);
    let indicators: Vec<_> = posts(&fake)
        .iter()
        .map(|body| body["indicators"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(indicators, ["10.0.0.2\n10.0.0.1\n10.0.0.3", "evil.example"]);
    assert_eq!(
        fake.active_values(C),
        ["10.0.0.1", "10.0.0.2", "10.0.0.3", "evil.example"]
    );
}

#[tokio::test]
async fn revocation_removes_exact_matches_only() {
    let (fake, sink) = setup().await;
    let ours = indicator(1, "[ipv4-addr:value = '1.2.3.4']");
    assert_eq!(
        outcomes(
            sink.apply(&[event(1, EventKind::Create, ours.clone())])
                .await
        ),
        [Outcome::Done]
    );
    // A search for 1.2.3.4 also returns these; only exact values may go.
    fake.insert_ioc(C, "11.2.3.45", "ipv4-addr.value", false);
    let old = fake.insert_ioc(C, "1.2.3.4", "ipv4-addr.value", true);

    let result = outcomes(
        sink.apply(&[event(2, EventKind::Update, revoked(ours.clone()))])
            .await,
    );
    assert_eq!(result, [Outcome::Done]);
    assert_eq!(fake.active_values(C), ["11.2.3.45"]);
    let deletes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::DELETE)
        .map(|r| r.path)
        .collect();
    assert_eq!(deletes.len(), 1);
    assert!(
        !deletes[0].ends_with(&old),
        "an already revoked IoC is left alone"
    );

    // Un-revoking pushes it again; deleting the indicator revokes it again.
    let result = outcomes(
        sink.apply(&[
            event(3, EventKind::Update, ours.clone()),
            event(4, EventKind::Delete, ours),
        ])
        .await,
    );
    assert_eq!(result, [Outcome::Done, Outcome::Done]);
    assert_eq!(fake.active_values(C), ["11.2.3.45"]);
}

#[tokio::test]
async fn a_refused_value_rejects_only_its_event() {
    let (fake, sink) = setup().await;
    let batch = [
        event(
            1,
            EventKind::Create,
            indicator(1, "[ipv4-addr:value = '198.51.100.1']"),
        ),
        event(
            2,
            EventKind::Create,
            indicator(
                2,
                "[domain-name:value = 'a.example'] AND [ipv4-addr:value = '1.2.3.4']",
            ),
        ),
        event(3, EventKind::Create, indicator(3, "not a pattern")),
        event(
            4,
            EventKind::Create,
            indicator(4, "[url:value = 'http://ok.example/']"),
        ),
    ];
    let result = outcomes(sink.apply(&batch).await);
    assert_eq!(result[0], Outcome::Done);
    let Outcome::Reject { reason } = &result[1] else {
        panic!("{:?}", result[1]);
    };
    assert!(
        reason.contains("\"1.2.3.4\"") && reason.contains("domain-name.value"),
        "{reason}"
    );
    assert!(
        matches!(&result[2], Outcome::Reject { reason } if reason.contains("cannot parse the STIX pattern")),
        "{:?}",
        result[2]
    );
    assert_eq!(result[3], Outcome::Done);
    assert_eq!(
        fake.active_values(C),
        ["198.51.100.1", "a.example", "http://ok.example/"]
    );
}

#[tokio::test]
async fn a_transient_failure_retries_from_the_failing_group_on() {
    let (fake, sink) = setup().await;
    let batch = [
        event(
            1,
            EventKind::Create,
            indicator(1, "[ipv4-addr:value = '198.51.100.1']"),
        ),
        event(
            2,
            EventKind::Create,
            indicator(3, "[ipv4-addr:value = '198.51.100.3']"),
        ),
        event(
            3,
            EventKind::Delete,
            indicator(2, "[ipv4-addr:value = '198.51.100.2']"),
        ),
        event(
            4,
            EventKind::Create,
            indicator(4, "[ipv4-addr:value = '198.51.100.4']"),
        ),
    ];
    // The two pushes go through, the search of the revocation is throttled.
    fake.pass_requests(2);
    fake.inject_failures(StatusCode::TOO_MANY_REQUESTS, 1, Some(4));
    let result = outcomes(sink.apply(&batch).await);
    assert_eq!(result[..2], [Outcome::Done, Outcome::Done]);
    for outcome in &result[2..] {
        let Outcome::Retry { reason, after } = outcome else {
            panic!("expected a retry, got {outcome:?}");
        };
        assert!(reason.contains("HTTP 429"), "{reason}");
        assert_eq!(*after, Some(Duration::from_secs(4)));
    }
    assert_eq!(fake.active_values(C), ["198.51.100.1", "198.51.100.3"]);

    // Handed back, the rest goes through; a server error is retried too.
    fake.inject_failures(StatusCode::INTERNAL_SERVER_ERROR, 1, None);
    let result = outcomes(sink.apply(&batch[2..]).await);
    assert!(
        matches!(
            &result[..],
            [Outcome::Retry { after: None, .. }, Outcome::Retry { .. }]
        ),
        "{result:?}"
    );
    let result = outcomes(sink.apply(&batch[2..]).await);
    assert_eq!(result, [Outcome::Done, Outcome::Done]);
    assert_eq!(
        fake.active_values(C),
        ["198.51.100.1", "198.51.100.3", "198.51.100.4"]
    );
}

#[tokio::test]
async fn a_full_collection_rejects_without_blocking_the_stream() {
    let fake = FakeSekoia::start(FakeSettings {
        max_indicators: 2,
        ..FakeSettings::default()
    })
    .await
    .unwrap();
    let sink = SekoiaSink::new(config(&fake.url(), &[])).unwrap();
    let batch = [
        event(
            1,
            EventKind::Create,
            indicator(
                1,
                "[ipv4-addr:value = '198.51.100.1' OR ipv4-addr:value = '198.51.100.2']",
            ),
        ),
        event(
            2,
            EventKind::Create,
            indicator(2, "[ipv4-addr:value = '198.51.100.3']"),
        ),
    ];
    let result = outcomes(sink.apply(&batch).await);
    assert_eq!(result[0], Outcome::Done);
    assert!(
        matches!(&result[1], Outcome::Reject { reason } if reason.contains("HTTP 409")),
        "{:?}",
        result[1]
    );
}

#[tokio::test]
async fn an_updated_pattern_revokes_the_old_value_and_pushes_the_new_one() {
    let (fake, sink) = setup().await;
    let before = indicator(1, "[ipv4-addr:value = '198.51.100.1']");
    let after = indicator(1, "[ipv4-addr:value = '198.51.100.2']");
    let context = json!({
        "patch": [{"op": "replace", "path": "/pattern", "value": "[ipv4-addr:value = '198.51.100.2']"}],
        "reverse_patch": [{"op": "replace", "path": "/pattern", "value": "[ipv4-addr:value = '198.51.100.1']"}],
    });
    let result = outcomes(
        sink.apply(&[
            event(1, EventKind::Create, before),
            event_with_context(2, EventKind::Update, after, Some(context)),
        ])
        .await,
    );
    assert_eq!(result, [Outcome::Done, Outcome::Done]);
    assert_eq!(fake.active_values(C), ["198.51.100.2"]);
}

#[tokio::test]
async fn the_last_push_of_a_value_sets_its_properties() {
    let (fake, sink) = setup().await;
    // Two indicators with one value: the later event's description must win,
    // as when the events are applied one by one.
    let batch: Vec<_> = (1..=6)
        .map(|n| {
            event(
                n,
                EventKind::Create,
                indicator(n, "[domain-name:value = 'shared.example']"),
            )
        })
        .collect();
    let result = outcomes(sink.apply(&batch).await);
    assert_eq!(result, vec![Outcome::Done; 6]);
    let iocs = fake.iocs();
    assert_eq!(iocs.len(), 1);
    assert_eq!(
        iocs[0].fields["description"],
        "https://opencti.example.org/dashboard/observations/indicators/opencti-6"
    );
}

#[tokio::test]
async fn a_failed_request_sends_again_only_its_own_events() {
    let (fake, sink) = setup().await;
    // Twenty indicators with their own descriptions: twenty requests, eight
    // at a time.
    let batch: Vec<StreamEvent> = (1..=20)
        .map(|n| {
            event(
                n,
                EventKind::Create,
                indicator(n, &format!("[ipv4-addr:value = '198.51.100.{n}']")),
            )
        })
        .collect();
    // The first request to arrive fails once.
    fake.inject_failures(StatusCode::SERVICE_UNAVAILABLE, 1, None);

    // Hand back what asks for a retry, as the runtime does.
    let mut pending = batch.clone();
    let mut attempts = 0;
    while !pending.is_empty() {
        attempts += 1;
        assert!(attempts <= 3, "still retrying {} events", pending.len());
        let result = outcomes(sink.apply(&pending).await);
        let mut flags = result.iter();
        pending.retain(|_| matches!(flags.next(), Some(Outcome::Retry { .. })));
        if attempts == 1 {
            assert_eq!(
                pending.len(),
                1,
                "only the failed request's event: {result:?}"
            );
        }
    }

    let sent: Vec<(String, StatusCode)> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .flat_map(|r| {
            let status = r.status;
            r.body
                .and_then(|body| body["indicators"].as_str().map(str::to_owned))
                .into_iter()
                .flat_map(|text| text.lines().map(str::to_owned).collect::<Vec<_>>())
                .map(move |value| (value, status))
        })
        .collect();
    let failed: Vec<&String> = sent
        .iter()
        .filter(|(_, status)| !status.is_success())
        .map(|(value, _)| value)
        .collect();
    assert_eq!(failed.len(), 1, "{sent:?}");
    for n in 1..=20 {
        let value = format!("198.51.100.{n}");
        let times = sent.iter().filter(|(sent, _)| *sent == value).count();
        let expected = if value == *failed[0] { 2 } else { 1 };
        assert_eq!(times, expected, "{value} sent {times} times");
    }
    assert_eq!(fake.active_values(C).len(), 20);
}

#[tokio::test]
async fn changes_that_must_follow_a_failed_request_wait_for_it() {
    let (fake, sink) = setup().await;
    fake.insert_ioc(C, "gone.example", "domain", false);
    let batch = [
        event(
            1,
            EventKind::Create,
            indicator(1, "[domain-name:value = 'shared.example']"),
        ),
        // Shares the value: its push must come after the first one.
        event(
            2,
            EventKind::Create,
            indicator(2, "[domain-name:value = 'shared.example']"),
        ),
        // A later run: must not overtake the failed push.
        event(
            3,
            EventKind::Delete,
            indicator(3, "[domain-name:value = 'gone.example']"),
        ),
    ];
    fake.inject_failures(StatusCode::BAD_GATEWAY, 1, None);
    let result = outcomes(sink.apply(&batch).await);
    assert!(
        result.iter().all(|o| matches!(o, Outcome::Retry { .. })),
        "{result:?}"
    );
    // Only the failed request went out.
    assert_eq!(fake.requests().len() - 1, 1, "{:?}", fake.requests());
    assert_eq!(fake.active_values(C), ["gone.example"]);

    let result = outcomes(sink.apply(&batch).await);
    assert_eq!(result, vec![Outcome::Done; 3]);
    let iocs: Vec<_> = fake.iocs().into_iter().filter(|i| !i.revoked).collect();
    assert_eq!(iocs.len(), 1);
    assert_eq!(
        iocs[0].fields["description"],
        "https://opencti.example.org/dashboard/observations/indicators/opencti-2"
    );
}
