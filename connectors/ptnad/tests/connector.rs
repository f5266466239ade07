//! The PT NAD sink against the fake server: startup, batches of stream
//! events of every kind, and failures.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::StatusCode;
use opencti_connector::config::Settings;
use opencti_connector::stream::event::{EventKind, StreamEvent};
use opencti_connector::stream::sink::{BatchOutcome, Outcome};
use opencti_ptnad::PtnadSink;
use opencti_ptnad::connector::{StartupError, StartupRetry};
use opencti_ptnad::fake::{FakePtnad, FakeSettings};
use opencti_ptnad::{PtnadConfig, VARS};
use serde_json::{Value, json};

fn config(url: &str, extra: &[(&str, &str)]) -> PtnadConfig {
    let mut pairs = vec![
        ("PTNAD_URL", url),
        ("PTNAD_USERNAME", "opencti"),
        ("PTNAD_PASSWORD", "S3cret!"),
        ("PTNAD_TIMEOUT", "5"),
    ];
    pairs.extend_from_slice(extra);
    PtnadConfig::try_from(&Settings::from_env_pairs(&[VARS], pairs)).unwrap()
}

fn quick_retry() -> StartupRetry {
    StartupRetry {
        attempts: 3,
        first_delay: Duration::from_millis(10),
        ..StartupRetry::default()
    }
}

async fn started(fake: &FakePtnad) -> PtnadSink {
    let sink = PtnadSink::new(config(&fake.url(), &[]))
        .unwrap()
        .with_startup_retry(quick_retry());
    sink.start().await.unwrap();
    sink
}

fn indicator(id: &str, pattern: &str, revoked: bool) -> Value {
    json!({
        "id": format!("indicator--{id}"),
        "type": "indicator",
        "spec_version": "2.1",
        "name": pattern,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2025-11-24T10:00:00.000Z",
        "revoked": revoked,
    })
}

fn event(seq: u32, kind: EventKind, data: Value, context: Option<Value>) -> StreamEvent {
    StreamEvent::for_test(&format!("1732460000000-{seq}"), kind, data, context)
}

fn set(values: &[&str]) -> BTreeSet<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn outcomes(outcome: BatchOutcome) -> Vec<Outcome> {
    match outcome {
        BatchOutcome::PerEvent(outcomes) => outcomes,
        other => panic!("expected per-event outcomes, got {other:?}"),
    }
}

const MD5_A: &str = "44d88612fea8a8f36de82e1278abb02f";
const MD5_B: &str = "d41d8cd98f00b204e9800998ecf8427e";

#[tokio::test]
async fn startup_logs_in_and_creates_the_lists_in_scope() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    fake.insert_list("kept-by-hand", "md5", Some("opencti-md5"), &[MD5_A]);
    let sink = PtnadSink::new(config(&fake.url(), &[("CONNECTOR_SCOPE", "ip,md5")])).unwrap();
    sink.start().await.unwrap();
    let lists: Vec<_> = fake
        .lists()
        .into_iter()
        .map(|l| (l.name, l.list_type, l.external_key))
        .collect();
    assert_eq!(
        lists,
        vec![
            (
                "kept-by-hand".to_owned(),
                "md5".to_owned(),
                Some("opencti-md5".to_owned())
            ),
            (
                "opencti-ip-replist".to_owned(),
                "ip".to_owned(),
                Some("opencti-ip".to_owned())
            ),
        ]
    );
    assert_eq!(fake.values("opencti-md5").unwrap(), set(&[MD5_A]));
}

#[tokio::test]
async fn bad_credentials_stop_the_startup_at_once() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let sink = PtnadSink::new(config(&fake.url(), &[("PTNAD_PASSWORD", "wrong")]))
        .unwrap()
        .with_startup_retry(quick_retry());
    let error = sink.start().await.unwrap_err();
    assert!(matches!(error, StartupError::Credentials(_)), "{error}");
    assert!(error.to_string().contains("PTNAD_USERNAME"), "{error}");
    let login_attempts = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("auth/login"))
        .count();
    assert_eq!(login_attempts, 1);
}

#[tokio::test]
async fn startup_retries_while_pt_nad_fails_then_gives_up() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let sink = PtnadSink::new(config(&fake.url(), &[]))
        .unwrap()
        .with_startup_retry(quick_retry());
    fake.inject_failures(StatusCode::SERVICE_UNAVAILABLE, 2, None);
    sink.start().await.unwrap();
    assert_eq!(fake.lists().len(), 4);

    fake.inject_failures(StatusCode::BAD_GATEWAY, 3, None);
    let error = sink.start().await.unwrap_err();
    assert!(
        matches!(error, StartupError::Unavailable { attempts: 3, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_batch_of_every_kind_of_event_leaves_exactly_the_expected_lists() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let sink = started(&fake).await;
    let events = vec![
        event(
            0,
            EventKind::Create,
            indicator("a", "[ipv4-addr:value = '192.0.2.1']", false),
            None,
        ),
        event(
            1,
            EventKind::Create,
            indicator(
                "b",
                "[domain-name:value = 'a.example'] AND [url:value = 'http://a.example/x?y=1#z']",
                false,
            ),
            None,
        ),
        event(
            2,
            EventKind::Create,
            indicator("c", &format!("[file:hashes.'MD5' = '{MD5_A}']"), false),
            None,
        ),
        event(
            3,
            EventKind::Create,
            indicator("d", "[ipv4-addr:value = '192.0.2.99']", true),
            None,
        ),
        event(
            4,
            EventKind::Create,
            json!({"id": "ipv4-addr--x", "type": "ipv4-addr", "value": "192.0.2.50"}),
            None,
        ),
        // The IP of "a" changes: the old one leaves.
        event(
            5,
            EventKind::Update,
            indicator("a", "[ipv4-addr:value = '192.0.2.2']", false),
            Some(json!({
                "patch": [{"op": "replace", "path": "/pattern", "value": "[ipv4-addr:value = '192.0.2.2']"}],
                "reverse_patch": [{"op": "replace", "path": "/pattern", "value": "[ipv4-addr:value = '192.0.2.1']"}],
            })),
        ),
        // "b" is revoked.
        event(
            6,
            EventKind::Update,
            indicator(
                "b",
                "[domain-name:value = 'a.example'] AND [url:value = 'http://a.example/x?y=1#z']",
                true,
            ),
            Some(json!({"reverse_patch": [{"op": "replace", "path": "/revoked", "value": false}]})),
        ),
        event(
            7,
            EventKind::Create,
            indicator("e", &format!("[file:hashes.MD5 = '{MD5_B}']"), false),
            None,
        ),
        event(
            8,
            EventKind::Delete,
            indicator("e", &format!("[file:hashes.MD5 = '{MD5_B}']"), false),
            None,
        ),
        event(
            9,
            EventKind::Create,
            indicator("f", "[domain-name:value = 'kept.example']", false),
            None,
        ),
    ];
    fake.clear_requests();
    let outcomes = outcomes(sink.apply(&events).await);
    assert_eq!(outcomes, vec![Outcome::Done; events.len()]);
    assert_eq!(fake.values("opencti-ip").unwrap(), set(&["192.0.2.2"]));
    assert_eq!(fake.values("opencti-dn").unwrap(), set(&["kept.example"]));
    assert_eq!(fake.values("opencti-url").unwrap(), set(&[]));
    assert_eq!(fake.values("opencti-md5").unwrap(), set(&[MD5_A]));
    // One call per list and action: ip add/remove, dn add/remove, url remove, md5 add/remove.
    assert_eq!(fake.requests().len(), 7, "{:#?}", fake.requests());
}

#[tokio::test]
async fn the_last_action_on_a_value_wins_within_a_batch() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let sink = started(&fake).await;
    let live = indicator("a", "[domain-name:value = 'x.example']", false);
    let revoked = indicator("a", "[domain-name:value = 'x.example']", true);
    let revoke = json!({"reverse_patch": [{"op": "replace", "path": "/revoked", "value": false}]});
    let unrevoke = json!({"reverse_patch": [{"op": "replace", "path": "/revoked", "value": true}]});

    let add_then_remove = [
        event(0, EventKind::Create, live.clone(), None),
        event(1, EventKind::Update, revoked.clone(), Some(revoke.clone())),
    ];
    sink.apply(&add_then_remove).await;
    assert_eq!(fake.values("opencti-dn").unwrap(), set(&[]));

    let remove_then_add = [
        event(2, EventKind::Delete, live.clone(), None),
        event(3, EventKind::Update, live.clone(), Some(unrevoke)),
    ];
    sink.apply(&remove_then_add).await;
    assert_eq!(fake.values("opencti-dn").unwrap(), set(&["x.example"]));
}

#[tokio::test]
async fn a_merge_removes_the_merged_indicators_values() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let sink = started(&fake).await;
    let kept = indicator("k", "[ipv4-addr:value = '192.0.2.1']", false);
    let merged = indicator("m", "[ipv4-addr:value = '192.0.2.7']", false);
    sink.apply(&[
        event(0, EventKind::Create, kept.clone(), None),
        event(1, EventKind::Create, merged.clone(), None),
    ])
    .await;
    assert_eq!(
        fake.values("opencti-ip").unwrap(),
        set(&["192.0.2.1", "192.0.2.7"])
    );
    let outcome = sink
        .apply(&[event(
            2,
            EventKind::Merge,
            kept,
            Some(json!({"sources": [merged]})),
        )])
        .await;
    assert_eq!(outcomes(outcome), vec![Outcome::Done]);
    assert_eq!(fake.values("opencti-ip").unwrap(), set(&["192.0.2.1"]));
}

#[tokio::test]
async fn transient_failures_retry_the_whole_batch() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let sink = started(&fake).await;
    let events = [
        event(
            0,
            EventKind::Create,
            indicator("a", "[ipv4-addr:value = '192.0.2.1']", false),
            None,
        ),
        event(
            1,
            EventKind::Create,
            indicator("b", "[domain-name:value = 'a.example']", false),
            None,
        ),
    ];
    // The first bulk call of the batch is throttled.
    fake.inject_failures(StatusCode::TOO_MANY_REQUESTS, 1, Some(3));
    let throttled = sink.apply(&events).await;
    match throttled {
        BatchOutcome::All(Outcome::Retry { after, reason }) => {
            assert_eq!(after, Some(Duration::from_secs(3)));
            assert!(reason.contains("429"), "{reason}");
        }
        other => panic!("expected a retry, got {other:?}"),
    }
    fake.inject_failures(StatusCode::INTERNAL_SERVER_ERROR, 1, None);
    assert!(matches!(
        sink.apply(&events).await,
        BatchOutcome::All(Outcome::Retry { after: None, .. })
    ));

    assert_eq!(outcomes(sink.apply(&events).await), vec![Outcome::Done; 2]);
    assert_eq!(fake.values("opencti-ip").unwrap(), set(&["192.0.2.1"]));
    assert_eq!(fake.values("opencti-dn").unwrap(), set(&["a.example"]));
}

#[tokio::test]
async fn refused_values_reject_only_the_events_carrying_them() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let sink = started(&fake).await;
    let mut events: Vec<StreamEvent> = (1..=6)
        .map(|i| {
            event(
                i,
                EventKind::Create,
                indicator(
                    &format!("ok{i}"),
                    &format!("[ipv4-addr:value = '192.0.2.{i}']"),
                    false,
                ),
                None,
            )
        })
        .collect();
    events.insert(
        3,
        event(
            0,
            EventKind::Create,
            indicator("bad", "[ipv4-addr:value = '999.1.1.1']", false),
            None,
        ),
    );
    events.push(event(
        7,
        EventKind::Create,
        indicator("broken", "[ipv4-addr:value = '1.2.3.4'", false),
        None,
    ));

    let outcomes = outcomes(sink.apply(&events).await);
    for (position, outcome) in outcomes.iter().enumerate() {
        match position {
            3 => assert!(
                matches!(outcome, Outcome::Reject { reason } if reason.contains("999.1.1.1") && reason.contains("Invalid ip value")),
                "{outcome:?}"
            ),
            7 => assert!(
                matches!(outcome, Outcome::Reject { reason } if reason.contains("indicator--broken")),
                "{outcome:?}"
            ),
            _ => assert_eq!(outcome, &Outcome::Done, "event {position}"),
        }
    }
    let expected: BTreeSet<String> = (1..=6).map(|i| format!("192.0.2.{i}")).collect();
    assert_eq!(fake.values("opencti-ip").unwrap(), expected);
}

#[tokio::test]
async fn a_list_deleted_behind_our_back_is_created_again() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let sink = started(&fake).await;
    assert!(fake.remove_list("opencti-url"));
    let outcome = sink
        .apply(&[event(
            0,
            EventKind::Create,
            indicator("u", "[url:value = 'http://x.example/a/b']", false),
            None,
        )])
        .await;
    assert_eq!(outcomes(outcome), vec![Outcome::Done]);
    assert_eq!(
        fake.values("opencti-url").unwrap(),
        set(&["http://x.example/a/b"])
    );
}

#[tokio::test]
async fn an_expired_session_does_not_lose_events() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let sink = started(&fake).await;
    fake.expire_sessions();
    let outcome = sink
        .apply(&[event(
            0,
            EventKind::Create,
            indicator("a", &format!("[file:hashes.md5 = '{MD5_B}']"), false),
            None,
        )])
        .await;
    assert_eq!(outcomes(outcome), vec![Outcome::Done]);
    assert_eq!(fake.values("opencti-md5").unwrap(), set(&[MD5_B]));
    assert_eq!(fake.logins(), 2);
}

#[tokio::test]
async fn a_list_of_the_wrong_type_stops_the_startup_with_its_name() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    fake.insert_list("hand-made", "dn", Some("opencti-md5"), &[]);
    let sink = PtnadSink::new(config(&fake.url(), &[]))
        .unwrap()
        .with_startup_retry(quick_retry());
    let error = sink.start().await.unwrap_err();
    assert!(matches!(error, StartupError::Setup(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("hand-made") && message.contains("opencti-md5"),
        "{message}"
    );
}

/// Vendor drill: a login page answered with 200 to the bulk add or remove
/// (a proxy or portal in the way) marks no event done; the batch is retried
/// and applied once PT NAD answers again.
#[tokio::test]
async fn a_login_page_answered_with_200_marks_no_event_done() {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let sink = started(&fake).await;
    let add = [event(
        0,
        EventKind::Create,
        indicator("a", "[ipv4-addr:value = '192.0.2.1']", false),
        None,
    )];
    fake.inject_login_pages(1);
    match sink.apply(&add).await {
        BatchOutcome::All(Outcome::Retry { reason, .. }) => {
            assert!(reason.contains("not counted as applied"), "{reason}");
        }
        other => panic!("expected a retry, got {other:?}"),
    }
    assert_eq!(outcomes(sink.apply(&add).await), vec![Outcome::Done]);
    assert_eq!(fake.values("opencti-ip").unwrap(), set(&["192.0.2.1"]));

    let remove = [event(
        1,
        EventKind::Delete,
        indicator("a", "[ipv4-addr:value = '192.0.2.1']", false),
        None,
    )];
    fake.inject_login_pages(1);
    assert!(
        matches!(
            sink.apply(&remove).await,
            BatchOutcome::All(Outcome::Retry { .. })
        ),
        "a login page after _delete is not a removal"
    );
    assert_eq!(outcomes(sink.apply(&remove).await), vec![Outcome::Done]);
    assert!(fake.values("opencti-ip").unwrap().is_empty());
}
