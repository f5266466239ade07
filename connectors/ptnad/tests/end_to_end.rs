//! The whole connector against `opencti-sim` (registration, live stream,
//! state in pings) and the fake PT NAD: the lists end up exactly as the
//! stream says, across a restart in the middle of the stream.

use std::collections::BTreeSet;
use std::time::Duration;

use opencti_ptnad::PtnadSink;
use opencti_ptnad::fake::{FakePtnad, FakeSettings};
use opencti_testkit::events::{
    create, delete, indicator, indicator_id as id, malware, revoked, update, with_pattern_type,
};
use opencti_testkit::{ConnectorHarness, EventInjection, EventKind, KitError, TestPlatform};
use serde_json::json;

const MD5_D: &str = "44d88612fea8a8f36de82e1278abb02f";
const MD5_I: &str = "d41d8cd98f00b204e9800998ecf8427e";
const MD5_N: &str = "0123456789abcdef0123456789abcdef";

/// The first half of the stream: creations of every kind, ignored objects.
fn first_half() -> Vec<EventInjection> {
    vec![
        create(indicator(1, "[ipv4-addr:value = '198.51.100.1']")),
        create(indicator(2, "[domain-name:value = 'evil.example']")),
        create(indicator(
            3,
            "[url:value = 'http://evil.example/a/b?x=1#frag']",
        )),
        create(indicator(4, &format!("[file:hashes.'MD5' = '{MD5_D}']"))),
        create(indicator(
            5,
            "[ipv4-addr:value = '198.51.100.5'] AND [domain-name:value = 'e.example']",
        )),
        create(indicator(6, "[ipv6-addr:value = '2001:db8::1']")),
        create(with_pattern_type(
            indicator(
                7,
                "rule x { strings: $a = \"url:value = 'http://no/'\" condition: $a }",
            ),
            "yara",
        )),
        create(malware(8)),
        create(indicator(9, &format!("[file:hashes.md5 = '{MD5_I}']"))),
        create(indicator(10, "[ipv4-addr:value = '198.51.100.10']")),
        create(indicator(11, "[ipv4-addr:value = '198.51.100.11']")),
        create(revoked(
            indicator(12, "[domain-name:value = 'born-revoked.example']"),
            true,
        )),
    ]
}

/// The second half: updates, revocations, deletions, a merge.
fn second_half() -> Vec<EventInjection> {
    let md5_i = format!("[file:hashes.md5 = '{MD5_I}']");
    vec![
        // The IP of 1 changes: the old one must leave.
        update(indicator(1, "[ipv4-addr:value = '198.51.100.2']")),
        update(revoked(
            indicator(2, "[domain-name:value = 'evil.example']"),
            true,
        )),
        delete(id(3)),
        update(revoked(indicator(9, &md5_i), true)),
        update(revoked(indicator(9, &md5_i), false)),
        EventInjection::new(
            EventKind::Merge,
            indicator(10, "[ipv4-addr:value = '198.51.100.10']"),
        )
        .with_sources(vec![json!(id(11))]),
        create(indicator(13, "[url:value = 'http://short-lived.example/']")),
        delete(id(13)),
        create(indicator(14, &format!("[file:hashes.MD5 = '{MD5_N}']"))),
    ]
}

/// What the lists hold once the whole stream is applied.
fn expected() -> [(&'static str, BTreeSet<String>); 4] {
    let set = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect();
    [
        (
            "opencti-ip",
            set(&["198.51.100.2", "198.51.100.5", "198.51.100.10"]),
        ),
        ("opencti-dn", set(&["e.example"])),
        ("opencti-url", set(&[])),
        ("opencti-md5", set(&[MD5_D, MD5_I, MD5_N])),
    ]
}

/// A platform and a fake PT NAD.
async fn start() -> (TestPlatform, FakePtnad) {
    let platform = TestPlatform::start().await.unwrap();
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    (platform, fake)
}

/// The connector configured for the fake, with small batches so that a
/// stop falls between batches.
fn harness<'p>(platform: &'p TestPlatform, fake: &FakePtnad) -> ConnectorHarness<'p> {
    ConnectorHarness::new(platform)
        .var("CONNECTOR_NAME", "PT NAD")
        .var("PTNAD_URL", fake.url())
        .var("PTNAD_USERNAME", "opencti")
        .var("PTNAD_PASSWORD", "S3cret!")
        .var("PTNAD_BATCH_SIZE", "3")
        .var("PTNAD_BATCH_WAIT_MS", "20")
}

/// Whether every list holds exactly the expected values.
fn lists_hold(fake: &FakePtnad, expected: &[(&str, BTreeSet<String>)]) -> bool {
    expected
        .iter()
        .all(|(key, values)| fake.values(key).unwrap_or_default() == *values)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lists_follow_the_stream_across_a_restart() {
    let (platform, fake) = start().await;
    let harness = harness(&platform, &fake);

    let restart = harness
        .run_stream_across_restart_slowed::<PtnadSink>(
            // A slow PT NAD keeps the first run busy long enough to stop it
            // with part of the first half applied and part still to come.
            Duration::from_millis(100),
            |delay| fake.set_delay(delay),
            first_half(),
            second_half(),
            |_| lists_hold(&fake, &expected()),
        )
        .await
        .unwrap();
    assert!(
        restart.stopped_midway(),
        "stopped in the middle of the stream: {restart:?}"
    );

    assert_eq!(
        fake.lists().len(),
        4,
        "the restart created no duplicate list"
    );
    assert_eq!(fake.logins(), 2, "one login per start");
    platform.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_pt_nad_delay_but_do_not_lose_events() {
    let (platform, fake) = start().await;
    let mut running = harness(&platform, &fake)
        .build_and_start::<PtnadSink>()
        .await
        .unwrap();

    running.inject(first_half()).unwrap();
    // Startup (login, lists) is over once the first event's value is in:
    // the faults below are meant for the stream, not for startup.
    running
        .wait_until("the first event to arrive", |_| {
            fake.values("opencti-ip")
                .is_some_and(|values| values.contains("198.51.100.1"))
        })
        .await
        .unwrap();
    fake.expire_sessions();
    fake.inject_failures(axum::http::StatusCode::SERVICE_UNAVAILABLE, 1, None);
    running.inject(second_half()).unwrap();
    running
        .wait_until("the lists to hold the expected values", |_| {
            lists_hold(&fake, &expected())
        })
        .await
        .unwrap();
    running.stop().await.unwrap();
    assert_eq!(fake.logins(), 2, "the expired session was renewed");

    let refused = fake
        .requests()
        .iter()
        .filter(|r| r.status == axum::http::StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(refused, 1, "the injected failure was met and retried");
    platform.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_stop_the_connector_with_a_clear_error() {
    let (platform, fake) = start().await;
    let harness = harness(&platform, &fake).var("PTNAD_PASSWORD", "wrong");
    let sink = harness.build::<PtnadSink>().unwrap();
    let outcome = harness.run_stream_until(sink, Vec::new(), |_| false).await;
    let error = match outcome {
        Err(KitError::Stopped(error)) => error,
        other => panic!("the connector must not run with refused credentials: {other:?}"),
    };
    let message = error.to_string();
    assert!(
        message.contains("PT NAD refused the credentials"),
        "{message}"
    );
    assert!(message.contains("PTNAD_PASSWORD"), "{message}");
    assert!(
        !message.contains("wrong"),
        "the password never appears: {message}"
    );
    assert!(fake.lists().is_empty());
    platform.shutdown().await.expect("clean shutdown");
}
