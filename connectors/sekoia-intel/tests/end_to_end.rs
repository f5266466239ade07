//! The whole connector against `opencti-sim` (registration, live stream,
//! state in pings) and the fake Sekoia: the collection ends up as the
//! stream says, across a restart and through Sekoia's failures.

use std::time::Duration;

use axum::http::StatusCode;
use opencti_sekoia_intel::SekoiaSink;
use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
use opencti_testkit::events::{
    create, delete, indicator, indicator_id as id, malware, revoked, update, with_pattern_type,
};
use opencti_testkit::{ConnectorHarness, EventInjection, TestPlatform};

fn first_half() -> Vec<EventInjection> {
    vec![
        create(indicator(1, "[ipv4-addr:value = '198.51.100.1']")),
        create(indicator(2, "[domain-name:value = 'evil.example']")),
        create(indicator(
            3,
            "[url:value = 'http://evil.example/a?b=c&d=e#f']",
        )),
        create(indicator(
            4,
            "[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f' OR file:hashes.'SHA-1' = '3395856ce81f2b7382dee72602f798b642f14140']",
        )),
        create(indicator(5, "[ipv4-addr:value = 'not-an-address']")),
        create(with_pattern_type(
            indicator(7, "rule x { condition: true }"),
            "yara",
        )),
        create(malware(8)),
        create(indicator(9, "[ipv4-addr:value = '198.51.100.9']")),
        create(revoked(
            indicator(10, "[domain-name:value = 'born-revoked.example']"),
            true,
        )),
    ]
}

fn second_half() -> Vec<EventInjection> {
    vec![
        // The address of 1 changes: the old one must leave.
        update(indicator(1, "[ipv4-addr:value = '198.51.100.2']")),
        update(revoked(
            indicator(2, "[domain-name:value = 'evil.example']"),
            true,
        )),
        delete(id(3)),
        update(revoked(
            indicator(9, "[ipv4-addr:value = '198.51.100.9']"),
            true,
        )),
        update(revoked(
            indicator(9, "[ipv4-addr:value = '198.51.100.9']"),
            false,
        )),
        create(indicator(11, "[email-addr:value = 'phish@evil.example']")),
        create(indicator(12, "[ipv6-addr:value = '2001:db8::12']")),
    ]
}

/// The active values once the whole stream is applied.
fn expected() -> Vec<String> {
    let mut values: Vec<String> = [
        "198.51.100.2",
        "44d88612fea8a8f36de82e1278abb02f",
        "3395856ce81f2b7382dee72602f798b642f14140",
        "198.51.100.9",
        "phish@evil.example",
        "2001:db8::12",
    ]
    .iter()
    .map(|v| (*v).to_owned())
    .collect();
    values.sort();
    values
}

/// A platform and a fake Sekoia.
async fn start() -> (TestPlatform, FakeSekoia) {
    let platform = TestPlatform::start().await.unwrap();
    let fake = FakeSekoia::start(FakeSettings::default()).await.unwrap();
    (platform, fake)
}

/// The connector configured for the fake, with small batches so that a
/// stop falls between batches.
fn harness<'p>(platform: &'p TestPlatform, fake: &FakeSekoia) -> ConnectorHarness<'p> {
    ConnectorHarness::new(platform)
        .var("CONNECTOR_NAME", "Sekoia")
        .var("CONNECTOR_LIVE_STREAM_ID", "live")
        .var("SEKOIA_INTEL_URL", fake.url())
        .var("SEKOIA_INTEL_APIKEY", "sk_test")
        .var("SEKOIA_INTEL_IOC_COLLECTION_UUID", DEFAULT_COLLECTION)
        .var("SEKOIA_INTEL_BATCH_SIZE", "3")
        .var("SEKOIA_INTEL_BATCH_WAIT_MS", "20")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collection_follows_the_stream_across_a_restart() {
    let (platform, fake) = start().await;
    let harness = harness(&platform, &fake);

    let restart = harness
        .run_stream_across_restart_slowed::<SekoiaSink>(
            // A slow Sekoia keeps the first run busy long enough to stop it
            // with part of the first half applied and part still to come.
            Duration::from_millis(400),
            |delay| fake.set_delay(delay),
            first_half(),
            second_half(),
            |_| fake.active_values(DEFAULT_COLLECTION) == expected(),
        )
        .await
        .unwrap();
    assert!(
        restart.stopped_midway(),
        "stopped in the middle of the stream: {restart:?}"
    );

    // Every import links back to its indicator in the platform.
    let imports = fake.accepted_imports();
    assert!(!imports.is_empty());
    for import in &imports {
        let description = import["description"].as_str().expect("a description");
        assert!(
            description.starts_with(&format!(
                "{}/dashboard/observations/indicators/",
                platform.url().trim_end_matches('/')
            )),
            "{description}"
        );
        assert_eq!(import["valid_from"], "2025-11-24T10:00:00.000Z");
    }
    // The refused value was tried, and did not hold anything up.
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.status == StatusCode::BAD_REQUEST)
    );
    platform.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_sekoia_delay_but_do_not_lose_events() {
    let (platform, fake) = start().await;
    let mut running = harness(&platform, &fake)
        .build_and_start::<SekoiaSink>()
        .await
        .unwrap();

    running.inject(first_half()).unwrap();
    fake.inject_failures(StatusCode::TOO_MANY_REQUESTS, 1, Some(1));
    fake.inject_failures(StatusCode::SERVICE_UNAVAILABLE, 2, None);
    fake.inject_malformed(1);
    fake.inject_dropped_connections(1);
    let last = running.inject(second_half()).unwrap().unwrap();
    running
        .wait_until("the collection to hold the expected values", |_| {
            fake.active_values(DEFAULT_COLLECTION) == expected()
        })
        .await
        .unwrap();
    running.wait_for_event(&last).await.unwrap();
    running.stop().await.unwrap();

    let failed = fake
        .requests()
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            )
        })
        .count();
    assert_eq!(failed, 3, "the injected failures were met and retried");
    platform.shutdown().await.expect("clean shutdown");
}
