//! Runs of the connector against feeds, with a recording run context:
//! cursor and state, poison events, failed downloads, S3 modes, threat
//! look-ups.

use std::time::Duration;

use chrono::Utc;
use opencti_connector::config::Settings;
use opencti_connector::state::State;
use opencti_connector::{Connector, ImportSource, RunContext};
use opencti_misp_feed::{MispFeed, MispFeedConfig, RunError, VARS};
use serde_json::{Value, json};

use crate::support::feed_server::{Fault, FeedServer};
use crate::support::generator;
use crate::support::s3_server::S3Server;

fn connector(env: &[(&str, &str)]) -> MispFeed {
    let settings = Settings::from_env_pairs(&[VARS], env.iter().copied());
    let mut config = MispFeedConfig::from_settings(&settings, Utc::now()).unwrap();
    config.http.retry.initial_backoff = Duration::from_millis(5);
    MispFeed::from_config(config).unwrap()
}

/// Runs once with `state`; returns the result (the run's summary), the
/// report names of the bundles sent (in order), the errors reported and the
/// new state.
async fn run(
    feed: &mut MispFeed,
    state: Option<State>,
) -> (
    Result<String, RunError>,
    Vec<String>,
    Vec<String>,
    Option<State>,
) {
    let (ctx, probe) = RunContext::for_test(state);
    let result = feed.run(&ctx).await;
    let names = probe
        .bundles()
        .iter()
        .map(|bundle| {
            bundle["objects"]
                .as_array()
                .unwrap()
                .iter()
                .find(|object| object["type"] == "report")
                .map(|report| report["name"].as_str().unwrap().to_owned())
                .unwrap_or_default()
        })
        .collect();
    let errors = probe
        .errors()
        .iter()
        .map(|error| format!("{} | {}", error.source, error.error))
        .collect();
    (result, names, errors, probe.state())
}

fn event_file(index: usize, timestamp: i64) -> Vec<u8> {
    serde_json::to_vec(&generator::event(index, 4, timestamp)).unwrap()
}

/// A feed served over HTTP whose manifest lists `events` (index, timestamp)
/// in the given (unsorted) order.
async fn served(events: &[(usize, i64)]) -> FeedServer {
    let server = FeedServer::start(None).await;
    let mut manifest = serde_json::Map::new();
    for &(index, timestamp) in events {
        let (key, entry) = generator::manifest_entry(index, timestamp);
        server.put(&format!("{key}.json"), event_file(index, timestamp));
        manifest.insert(key, entry);
    }
    server.put("manifest.json", serde_json::to_vec(&manifest).unwrap());
    server
}

fn name(index: usize) -> String {
    format!("Generated event {index}")
}

fn cursor(state: Option<&State>) -> i64 {
    state.unwrap()["last_event_timestamp"].as_i64().unwrap()
}

#[tokio::test]
async fn the_first_run_without_import_from_date_imports_nothing() {
    let server = served(&[(0, 1_700_000_000), (1, 1_700_000_100)]).await;
    let mut feed = connector(&[("MISP_FEED_URL", server.url())]);
    let (result, sent, errors, state) = run(&mut feed, None).await;
    result.unwrap();
    assert!(sent.is_empty() && errors.is_empty());
    assert!(state.is_none(), "nothing sent, nothing stored");
}

#[tokio::test]
async fn events_go_in_timestamp_order_and_the_state_has_the_python_keys() {
    let server = served(&[(2, 1_700_000_300), (0, 1_700_000_100), (1, 1_700_000_200)]).await;
    let mut feed = connector(&[
        ("MISP_FEED_URL", server.url()),
        ("MISP_FEED_IMPORT_FROM_DATE", "2023-01-01"),
    ]);
    let (result, sent, errors, state) = run(&mut feed, None).await;
    let summary = result.unwrap();
    assert_eq!(sent, [name(0), name(1), name(2)]);
    assert!(errors.is_empty(), "{errors:?}");
    let state = state.unwrap();
    assert_eq!(state["last_event_timestamp"], json!(1_700_000_300));
    assert_eq!(state["last_event"], json!("2023-11-14T22:18:20+00:00"));
    assert!(state["last_run"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(
        summary,
        format!(
            "Connector successfully run (3 events have been processed), storing state \
             (last_run={}, last_event=2023-11-14T22:18:20+00:00, last_event_timestamp=1700000300)",
            state["last_run"].as_str().unwrap()
        )
    );

    // Nothing new: nothing sent. A newer event: only it.
    let (result, sent, _, state) = run(&mut feed, Some(state)).await;
    result.unwrap();
    assert!(sent.is_empty());
    let mut manifest: serde_json::Map<String, Value> = serde_json::from_slice(
        &reqwest::get(format!("{}/manifest.json", server.url()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let (key, entry) = generator::manifest_entry(3, 1_700_000_400);
    server.put(&format!("{key}.json"), event_file(3, 1_700_000_400));
    manifest.insert(key, entry);
    server.put("manifest.json", serde_json::to_vec(&manifest).unwrap());
    let (result, sent, _, state) = run(&mut feed, state).await;
    result.unwrap();
    assert_eq!(sent, [name(3)]);
    assert_eq!(cursor(state.as_ref()), 1_700_000_400);
}

#[tokio::test]
async fn the_cursor_of_a_python_state_is_honoured() {
    let server = served(&[(0, 1_700_000_100), (1, 1_700_000_200)]).await;
    let mut feed = connector(&[("MISP_FEED_URL", server.url())]);
    let python_state = json!({
        "last_run": "2026-08-21T12:00:00.123456+00:00",
        "last_event": "2023-11-14T22:16:40+00:00",
        "last_event_timestamp": 1_700_000_100
    });
    let (result, sent, _, _) = run(&mut feed, python_state.as_object().cloned()).await;
    result.unwrap();
    assert_eq!(sent, [name(1)], "strictly newer than the stored timestamp");
}

#[tokio::test]
async fn poison_events_are_reported_and_skipped_without_blocking_the_feed() {
    let server = served(&[(0, 100), (1, 200), (2, 300), (3, 400)]).await;
    let truncated = generator::event_uuid(1);
    // Several events in flight: the order of sends and state is kept.
    let wrong_shape = generator::event_uuid(2);
    server.put(
        &format!("{truncated}.json"),
        &b"{\"Event\": {\"info\": \"x\", \"Orgc\""[..],
    );
    server.put(
        &format!("{wrong_shape}.json"),
        &br#"{"Event": {"info": "x", "Orgc": {"name": "A"}, "Attribute": "not a list"}}"#[..],
    );
    let mut feed = connector(&[
        ("MISP_FEED_URL", server.url()),
        ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
        ("MISP_FEED_EVENTS_IN_FLIGHT", "3"),
    ]);
    let (result, sent, errors, state) = run(&mut feed, None).await;
    result.unwrap();
    assert_eq!(sent, [name(0), name(3)]);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with(&truncated), "{errors:?}");
    assert!(
        errors[1].starts_with(&wrong_shape) && errors[1].contains("Event.Attribute"),
        "{errors:?}"
    );
    assert_eq!(
        cursor(state.as_ref()),
        400,
        "poison events do not hold the cursor back"
    );
}

#[tokio::test]
async fn a_failed_download_stops_the_run_and_the_next_run_retries_it() {
    let server = served(&[(0, 100), (1, 200), (2, 300)]).await;
    let failing = format!("{}.json", generator::event_uuid(1));
    server.fail_next(&failing, std::iter::repeat_n(Fault::Status(503), 4));
    let mut feed = connector(&[
        ("MISP_FEED_URL", server.url()),
        ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
        ("MISP_FEED_EVENTS_IN_FLIGHT", "4"),
    ]);
    let (result, sent, _, state) = run(&mut feed, None).await;
    assert!(
        matches!(result, Err(RunError::Download { .. })),
        "{result:?}"
    );
    assert_eq!(sent, [name(0)]);
    assert_eq!(
        cursor(state.as_ref()),
        100,
        "the cursor stays before the failed event"
    );
    assert_eq!(server.hits(&failing), 4, "first attempt and 3 retries");

    let (result, sent, _, state) = run(&mut feed, state).await;
    result.unwrap();
    assert_eq!(sent, [name(1), name(2)]);
    assert_eq!(cursor(state.as_ref()), 300);
}

/// A send refused while later events are queued ends the run at once (it
/// used to wait forever: the producer blocked on a hand-off nobody read).
#[tokio::test]
async fn a_refused_send_with_events_queued_ends_the_run_promptly() {
    let events: Vec<(usize, i64)> = (0..40).map(|index| (index, 100 + index as i64)).collect();
    let server = served(&events).await;
    let mut feed = connector(&[
        ("MISP_FEED_URL", server.url()),
        ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
    ]);
    let (ctx, probe) = RunContext::for_test(None);
    probe.refuse_sends_after(3);
    let result = tokio::time::timeout(Duration::from_secs(20), feed.run(&ctx))
        .await
        .expect("a failed send ends the run instead of hanging");
    assert!(matches!(result, Err(RunError::Send(_))), "{result:?}");
    assert_eq!(probe.bundles().len(), 3);
    assert_eq!(
        cursor(probe.state().as_ref()),
        102,
        "the cursor is at the last confirmed event"
    );
}

/// Large events never wait for their confirms together (#13 item 13: the
/// feed's memory followed its event sizes, since only events were counted,
/// not their bytes). While the platform confirms nothing, the run holds
/// the first large event and has downloaded at most the next one, which
/// waits for the first one's bytes; counting events alone let
/// `MISP_FEED_EVENTS_IN_FLIGHT` + 2 of them in.
#[tokio::test]
async fn large_events_wait_for_each_other_while_nothing_is_confirmed() {
    // Each file is over the large-event threshold (256 KiB).
    let events = 8;
    let server = FeedServer::start(None).await;
    let mut manifest = serde_json::Map::new();
    let mut files = Vec::new();
    for index in 0..events {
        let timestamp = 100 + index as i64;
        let (key, entry) = generator::manifest_entry(index, timestamp);
        let body = serde_json::to_vec(&generator::event(index, 2_000, timestamp)).unwrap();
        assert!(body.len() > 256 * 1024, "{} bytes", body.len());
        server.put(&format!("{key}.json"), body);
        files.push(format!("{key}.json"));
        manifest.insert(key, entry);
    }
    server.put("manifest.json", serde_json::to_vec(&manifest).unwrap());
    let downloaded = || files.iter().map(|file| server.hits(file)).sum::<usize>();
    let mut feed = connector(&[
        ("MISP_FEED_URL", server.url()),
        ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
    ]);
    let (ctx, probe) = RunContext::for_test(None);
    probe.hold_sends();
    let run = feed.run(&ctx);
    tokio::pin!(run);
    // Counting events alone, the downloads run ahead at once; give the run
    // a few seconds to show it.
    let watching = async {
        let started = tokio::time::Instant::now();
        while downloaded() <= 2 && started.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        result = &mut run => panic!("the run ended while nothing was confirmed: {result:?}"),
        () = watching => {}
    }
    assert!(
        downloaded() <= 2,
        "{} large events downloaded while the first one waits for its confirms",
        downloaded()
    );
    probe.release_sends();
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the run ends once sends are confirmed")
        .unwrap();
    assert_eq!(downloaded(), events, "each event downloaded once");
    assert_eq!(cursor(probe.state().as_ref()), 100 + events as i64 - 1);
}

#[tokio::test]
async fn missing_events_are_reported_and_skipped() {
    let server = served(&[(0, 100), (1, 200)]).await;
    let mut manifest: serde_json::Map<String, Value> = serde_json::Map::new();
    for (index, timestamp) in [(0, 100), (9, 150), (1, 200)] {
        let (key, entry) = generator::manifest_entry(index, timestamp);
        manifest.insert(key, entry);
    }
    server.put("manifest.json", serde_json::to_vec(&manifest).unwrap());
    let mut feed = connector(&[
        ("MISP_FEED_URL", server.url()),
        ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
    ]);
    let (result, sent, errors, _) = run(&mut feed, None).await;
    result.unwrap();
    assert_eq!(sent, [name(0), name(1)]);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("does not exist"), "{errors:?}");
}

#[tokio::test]
async fn events_sharing_a_timestamp_survive_a_failure_inside_the_group() {
    let server = served(&[(0, 100), (1, 100), (2, 200)]).await;
    let failing = format!("{}.json", generator::event_uuid(1));
    server.fail_next(&failing, std::iter::repeat_n(Fault::Status(500), 4));
    let mut feed = connector(&[
        ("MISP_FEED_URL", server.url()),
        ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
    ]);
    let (result, sent, _, state) = run(&mut feed, None).await;
    assert!(result.is_err());
    assert_eq!(sent, [name(0)]);
    assert_eq!(
        cursor(state.as_ref()),
        99,
        "the tie group is not closed yet"
    );
    let (result, sent, _, state) = run(&mut feed, state).await;
    result.unwrap();
    assert_eq!(
        sent,
        [name(0), name(1), name(2)],
        "the group is re-sent whole"
    );
    assert_eq!(cursor(state.as_ref()), 200);
}

#[tokio::test]
async fn a_broken_manifest_fails_the_run_without_touching_the_state() {
    let server = served(&[(0, 100)]).await;
    server.fail_next("manifest.json", [Fault::Body(b"{\"5f1d\": {\"timest")]);
    let mut feed = connector(&[
        ("MISP_FEED_URL", server.url()),
        ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
    ]);
    let previous = json!({"last_run": "2024-01-01T00:00:00+00:00", "last_event": "1970-01-01T00:00:50+00:00", "last_event_timestamp": 50});
    let (result, sent, _, state) = run(&mut feed, previous.as_object().cloned()).await;
    assert!(matches!(result, Err(RunError::Manifest(_))), "{result:?}");
    assert!(sent.is_empty());
    assert_eq!(state.map(Value::Object), Some(previous));
}

#[tokio::test]
async fn local_directory_feeds() {
    let directory = tempfile::tempdir().unwrap();
    generator::write_feed(directory.path(), 3, 5, 1_000);
    let mut feed = connector(&[
        ("MISP_FEED_URL", &directory.path().display().to_string()),
        ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
    ]);
    let (result, sent, _, state) = run(&mut feed, None).await;
    result.unwrap();
    assert_eq!(sent, [name(0), name(1), name(2)]);
    assert_eq!(cursor(state.as_ref()), 1_002);
}

#[tokio::test]
async fn every_event_goes_whole_in_one_bundle_whatever_its_size() {
    let directory = tempfile::tempdir().unwrap();
    let mut sizes = generator::long_tailed_sizes(12, 20);
    assert_eq!(sizes, generator::long_tailed_sizes(12, 20), "deterministic");
    // Over 1,000 objects with indicators and observables on.
    sizes.push(400);
    generator::write_feed_of_sizes(directory.path(), &sizes, 1_000);
    let mut feed = connector(&[
        ("MISP_FEED_URL", &directory.path().display().to_string()),
        ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
        ("MISP_FEED_CREATE_INDICATORS", "true"),
        ("MISP_FEED_CREATE_OBSERVABLES", "true"),
    ]);
    let (ctx, probe) = RunContext::for_test(None);
    feed.run(&ctx).await.unwrap();
    let bundles = probe.bundles();
    let reports: Vec<String> = bundles
        .iter()
        .map(|bundle| {
            let objects = bundle["objects"].as_array().unwrap();
            let report = objects.iter().find(|object| object["type"] == "report");
            report.map_or_else(String::new, |report| {
                report["name"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let expected: Vec<String> = (0..sizes.len()).map(name).collect();
    assert_eq!(reports, expected, "one bundle per event, its report in it");
    assert!(bundles.last().unwrap()["objects"].as_array().unwrap().len() > 1_000);
}

/// A feed of a small event, a large one (over 256 KiB: sent in pieces of
/// one bundle id as they are converted) and a small one; returns the
/// connector, the large event's file and the conversion options.
fn feed_with_a_large_event(
    directory: &std::path::Path,
) -> (
    MispFeed,
    Vec<u8>,
    opencti_misp_feed::convert::ConvertOptions,
) {
    generator::write_feed_of_sizes(directory, &[4, 2_000, 4], 1_000);
    let large =
        std::fs::read(directory.join(format!("{}.json", generator::event_uuid(1)))).unwrap();
    assert!(large.len() > 256 * 1024, "{} bytes", large.len());
    let location = directory.display().to_string();
    let env = [
        ("MISP_FEED_URL", location.as_str()),
        ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
        ("MISP_FEED_CREATE_INDICATORS", "true"),
        ("MISP_FEED_CREATE_OBSERVABLES", "true"),
    ];
    let settings = Settings::from_env_pairs(&[VARS], env.iter().copied());
    let options = MispFeedConfig::from_settings(&settings, Utc::now())
        .unwrap()
        .convert;
    (connector(&env), large, options)
}

/// The report name of a bundle, if it holds the report.
fn report_name(bundle: &Value) -> Option<String> {
    let objects = bundle["objects"].as_array()?;
    let report = objects.iter().find(|object| object["type"] == "report")?;
    Some(report["name"].as_str()?.to_owned())
}

#[tokio::test]
async fn a_large_event_goes_out_in_pieces_between_its_neighbours() {
    let directory = tempfile::tempdir().unwrap();
    let (mut feed, large, options) = feed_with_a_large_event(directory.path());
    let (ctx, probe) = RunContext::for_test(None);
    feed.run(&ctx).await.unwrap();
    let bundles = probe.bundles();
    assert!(bundles.len() > 4, "{} bundles", bundles.len());
    assert_eq!(report_name(&bundles[0]).as_deref(), Some(name(0).as_str()));
    let last = bundles.len() - 1;
    assert_eq!(
        report_name(&bundles[last]).as_deref(),
        Some(name(2).as_str())
    );
    let pieces = &bundles[1..last];
    assert!(
        pieces.iter().all(|piece| piece["id"] == pieces[0]["id"]),
        "the pieces share the event's bundle id"
    );
    assert_eq!(
        report_name(&pieces[pieces.len() - 1]).as_deref(),
        Some(name(1).as_str()),
        "the report comes last"
    );
    let sent: Vec<Value> = pieces
        .iter()
        .flat_map(|piece| piece["objects"].as_array().unwrap().clone())
        .collect();
    let whole = opencti_misp_feed::convert::Converter::new(options)
        .convert(
            opencti_misp_feed::convert::parse_event(&large).unwrap(),
            None,
            Utc::now(),
        )
        .unwrap();
    let whole: Value = serde_json::from_str(&whole.bundle).unwrap();
    let ids = |objects: &[Value]| -> Vec<String> {
        objects
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&sent), ids(whole["objects"].as_array().unwrap()));
    assert_eq!(cursor(probe.state().as_ref()), 1_002);
}

#[tokio::test]
async fn a_send_refused_inside_a_large_event_keeps_the_cursor_before_it() {
    let directory = tempfile::tempdir().unwrap();
    let (mut feed, _, _) = feed_with_a_large_event(directory.path());
    let (ctx, probe) = RunContext::for_test(None);
    // The small event and two pieces of the large one.
    probe.refuse_sends_after(3);
    let result = tokio::time::timeout(Duration::from_secs(20), feed.run(&ctx))
        .await
        .expect("a failed piece ends the run");
    assert!(matches!(result, Err(RunError::Send(_))), "{result:?}");
    assert_eq!(probe.bundles().len(), 3);
    let state = probe.state();
    assert_eq!(cursor(state.as_ref()), 1_000, "the large event is not done");
    let (result, sent, _, state) = run(&mut feed, state).await;
    result.unwrap();
    let reports: Vec<&String> = sent.iter().filter(|name| !name.is_empty()).collect();
    assert_eq!(
        reports,
        [&name(1), &name(2)],
        "the large event is sent again, whole"
    );
    assert_eq!(cursor(state.as_ref()), 1_002);
}

const BUCKET: &str = "misp-drop";

fn s3_connector(server: &S3Server, extra: &[(&str, &str)]) -> MispFeed {
    let settings = server.settings(BUCKET, Some("events/"));
    let endpoint = settings.endpoint_url.unwrap();
    let mut env = vec![
        ("MISP_FEED_SOURCE_TYPE", "s3"),
        ("MISP_FEED_BUCKET_NAME", BUCKET),
        ("MISP_FEED_BUCKET_PREFIX", "events/"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", crate::support::s3_server::ACCESS_KEY),
        (
            "AWS_SECRET_ACCESS_KEY",
            crate::support::s3_server::SECRET_KEY,
        ),
    ];
    env.extend_from_slice(extra);
    connector(&env)
}

#[tokio::test]
async fn s3_buckets_are_consumed_by_default() {
    let server = S3Server::start(BUCKET).await;
    server.put(BUCKET, "events/a.json", &event_file(0, 100));
    server.put(BUCKET, "events/b.json", b"{ not json");
    server.put(
        BUCKET,
        "events/c.json",
        &format!("[{}]", String::from_utf8(event_file(2, 300)).unwrap()).into_bytes(),
    );
    server.put(BUCKET, "other/d.json", &event_file(3, 400));
    let mut feed = s3_connector(&server, &[]);
    let (result, sent, errors, state) = run(&mut feed, None).await;
    assert_eq!(
        result.unwrap(),
        "Connector successfully run (2 events have been processed), storing state (last_file=c.json)"
    );
    assert_eq!(sent, [name(0), name(2)], "list-form files hold one event");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("events/b.json"), "{errors:?}");
    assert!(!server.contains(BUCKET, "events/a.json"));
    assert!(!server.contains(BUCKET, "events/c.json"));
    assert!(
        server.contains(BUCKET, "events/b.json"),
        "a poison object stays, as in Python"
    );
    assert!(
        server.contains(BUCKET, "other/d.json"),
        "outside the prefix"
    );
    assert_eq!(state.unwrap()["last_file"], json!("c.json"));
}

#[tokio::test]
async fn s3_buckets_can_be_kept_and_resumed() {
    let server = S3Server::start(BUCKET).await;
    server.put(BUCKET, "events/2024-01-01-a.json", &event_file(0, 100));
    server.put(BUCKET, "events/2024-01-02-b.json", &event_file(1, 200));
    let mut feed = s3_connector(
        &server,
        &[("MISP_FEED_BUCKET_DELETE_AFTER_IMPORT", "false")],
    );
    let (result, sent, _, state) = run(&mut feed, None).await;
    result.unwrap();
    assert_eq!(sent, [name(0), name(1)]);
    assert!(server.contains(BUCKET, "events/2024-01-01-a.json"));
    let stored = state.clone().unwrap();
    assert_eq!(stored["last_key"], json!("events/2024-01-02-b.json"));
    assert_eq!(stored["last_file"], json!("2024-01-02-b.json"));

    server.put(BUCKET, "events/2024-01-03-c.json", &event_file(2, 300));
    let (result, sent, _, _) = run(&mut feed, state).await;
    result.unwrap();
    assert_eq!(sent, [name(2)], "only keys after the last processed one");
}

#[tokio::test]
async fn threats_are_guessed_once_per_distinct_tag_value() {
    use wiremock::matchers::{body_partial_json, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let platform = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(
            json!({"variables": {"filters": {"filters": [{"values": ["OSINT"]}]}}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"data": {"stixDomainObjects": {"edges": [
                {"node": {"id": "x", "entity_type": "Malware", "name": "Osint Malware"}}
            ]}}}),
        ))
        .expect(2)
        .mount(&platform)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"stixDomainObjects": {"edges": []}}})),
        )
        .mount(&platform)
        .await;
    let api = opencti_connector::api::ApiClient::build(
        &reqwest::Url::parse(&platform.uri()).unwrap(),
        &opencti_connector::config::Secret::new("token"),
        &[],
        &opencti_connector::config::PlatformTls::Verify,
        opencti_connector::api::RetryPolicy::none(),
    )
    .unwrap();

    let directory = tempfile::tempdir().unwrap();
    generator::write_feed(directory.path(), 2, 3, 1_000);
    let mut feed = connector(&[
        ("MISP_FEED_URL", &directory.path().display().to_string()),
        ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01"),
        ("MISP_FEED_GUESS_THREATS_FROM_TAGS", "true"),
        ("MISP_FEED_CREATE_INDICATORS", "true"),
    ]);
    let (ctx, probe) = RunContext::for_test_with_api(None, api);
    feed.run(&ctx).await.unwrap();
    let bundles = probe.bundles();
    assert_eq!(bundles.len(), 2);
    let malware_id = opencti_stix::id::malware("Osint Malware");
    let first = &bundles[0]["objects"];
    let malware = first
        .as_array()
        .unwrap()
        .iter()
        .find(|object| object["id"] == malware_id.as_str())
        .expect("the guessed malware is in the bundle");
    assert_eq!(malware["is_family"], true);
    assert!(
        first.as_array().unwrap().iter().any(|object| {
            object["relationship_type"] == "indicates"
                && object["target_ref"] == malware_id.as_str()
        }),
        "indicators indicate the guessed malware"
    );
    // Two events, each asking about its distinct tag values once.
    platform.verify().await;
}
