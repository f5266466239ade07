//! Runs of the connector against the fake with a recording run context:
//! paging, the cursor, partial failures, and the fixed Python bugs.

use opencti_connector::state::State;
use opencti_connector::{Connector, ImportSource, RunContext};
use opencti_teamt5::connector::parse_last_run;
use opencti_teamt5::fake::{FakeSettings, FakeTeamt5, Fault};
use opencti_teamt5::{RunError, Teamt5};
use serde_json::{Value, json};

use crate::support::{config, fake, fake_with, fixture, ioc_item, report_item};

struct Outcome {
    /// The run's summary, or why it failed.
    result: Result<String, RunError>,
    bundles: Vec<Value>,
    errors: Vec<String>,
    state: Option<State>,
}

async fn run(fake: &FakeTeamt5, extra: &[(&str, &str)], state: Option<State>) -> Outcome {
    let mut connector = Teamt5::from_config(config(fake, extra)).unwrap();
    let (ctx, probe) = RunContext::for_test(state);
    let result = connector.run(&ctx).await;
    Outcome {
        result,
        bundles: probe.bundles(),
        errors: probe
            .errors()
            .iter()
            .map(|error| format!("{} | {}", error.source, error.error))
            .collect(),
        state: probe.state(),
    }
}

fn state(last_run: &str) -> State {
    let mut state = State::new();
    state.insert("last_run".to_owned(), json!(last_run));
    state.insert("other".to_owned(), json!("kept"));
    state
}

fn report_names(bundles: &[Value]) -> Vec<String> {
    bundles
        .iter()
        .filter_map(|bundle| {
            bundle["objects"]
                .as_array()
                .unwrap()
                .iter()
                .find(|object| object["type"] == "report")
                .map(|report| report["name"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn offsets(fake: &FakeTeamt5, path: &str) -> Vec<String> {
    fake.requests_to(path)
        .iter()
        .filter(|request| request.status == 200)
        .map(|request| request.query["offset"].clone())
        .collect()
}

/// `count` reports dated `first + index`, each with the report fixture.
fn publish_reports(fake: &FakeTeamt5, count: usize, first: i64) {
    for index in 0..count {
        let date = first + index as i64;
        fake.add_report(
            report_item(fake, &format!("r{index}"), &format!("Report {index}"), date),
            &fixture("report-bundle.json"),
        );
    }
}

#[tokio::test]
async fn a_first_run_pages_through_both_listings_and_stores_last_run() {
    let fake = fake_with(FakeSettings {
        report_page_size: 2,
        ioc_page_size: 2,
        ..FakeSettings::default()
    })
    .await;
    publish_reports(&fake, 3, 1_763_625_600);
    fake.add_ioc_bundle(
        ioc_item(&fake, "b1", 1_763_629_200),
        &fixture("ioc-bundle.json"),
    );
    let outcome = run(
        &fake,
        &[("TEAMT5_FIRST_RUN_RETRIEVAL_TIMESTAMP", "1700000000")],
        None,
    )
    .await;
    let summary = outcome.result.unwrap();
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    // Reports first (most recent first, as listed), then the IoC bundle.
    assert_eq!(
        report_names(&outcome.bundles),
        ["Report 2", "Report 1", "Report 0"]
    );
    assert_eq!(outcome.bundles.len(), 4);
    assert!(
        outcome.bundles[3]["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["type"] == "malware")
    );
    // Offsets count items; the date filter is the first-run timestamp.
    assert_eq!(offsets(&fake, "/api/v2/reports"), ["0", "2", "3"]);
    assert_eq!(
        summary,
        "Connector Pushed 3 Reports; Connector Pushed 1 Indicator Bundles"
    );
    assert_eq!(offsets(&fake, "/api/v2/ioc_bundles"), ["0", "1"]);
    assert!(
        fake.requests_to("/api/v2/reports")
            .iter()
            .all(|r| r.query["date[from]"] == "1700000000")
    );
    let state = outcome.state.unwrap();
    let last_run = state["last_run"].as_str().unwrap();
    assert!(
        last_run.ends_with("+00:00") && last_run.len() == 25,
        "{last_run}"
    );
    assert!(parse_last_run(last_run).is_some());
}

#[tokio::test]
async fn the_stored_last_run_is_the_listing_filter_and_other_keys_stay() {
    let fake = fake().await;
    publish_reports(&fake, 2, 1_763_625_600);
    let outcome = run(&fake, &[], Some(state("2025-11-20T08:00:01+00:00"))).await;
    outcome.result.unwrap();
    assert_eq!(report_names(&outcome.bundles), ["Report 1"]);
    assert_eq!(
        fake.requests_to("/api/v2/reports")[0].query["date[from]"],
        "1763625601"
    );
    let state = outcome.state.unwrap();
    assert_eq!(state["other"], "kept");
    assert_ne!(state["last_run"], "2025-11-20T08:00:01+00:00");
}

#[test]
fn every_last_run_format_python_wrote_is_read() {
    let expected = 1_763_625_600;
    for text in [
        "2025-11-20T08:00:00+00:00",
        "2025-11-20T08:00:00Z",
        "2025-11-20 08:00:00",
        "2025-11-20T08:00:00.000000",
        "2025-11-20T16:00:00+08:00",
    ] {
        assert_eq!(
            parse_last_run(text).map(|moment| moment.timestamp()),
            Some(expected),
            "{text}"
        );
    }
    assert!(parse_last_run("last tuesday").is_none());
}

#[tokio::test]
async fn an_unreadable_last_run_stops_the_run_and_names_it() {
    let fake = fake().await;
    let outcome = run(&fake, &[], Some(state("yesterday"))).await;
    let error = outcome.result.unwrap_err();
    assert!(error.to_string().contains("last_run"), "{error}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn nothing_new_still_moves_the_cursor() {
    let fake = fake().await;
    let outcome = run(&fake, &[], None).await;
    outcome.result.unwrap();
    assert!(outcome.bundles.is_empty());
    assert!(outcome.state.unwrap().contains_key("last_run"));
}

#[tokio::test]
async fn work_errors_name_the_bundle_url_without_its_query() {
    let fake = fake().await;
    let mut item = report_item(&fake, "r0", "Report 0", 1_763_625_600);
    item["stix_url"] = json!(format!(
        "{}?signature=pre-signed-s3cr3t",
        item["stix_url"].as_str().unwrap()
    ));
    fake.add_report(item, &fixture("report-bundle.json"));
    fake.fail_next("/api/v2/reports/r0.stix", [Fault::Truncated]);
    let outcome = run(&fake, &[], None).await;
    outcome.result.unwrap();
    assert_eq!(outcome.errors.len(), 1);
    assert!(
        outcome.errors[0].contains("r0.stix |"),
        "{:?}",
        outcome.errors
    );
    assert!(
        !outcome.errors[0].contains("s3cr3t"),
        "{:?}",
        outcome.errors
    );
}

#[tokio::test]
async fn a_failed_download_holds_the_cursor_and_the_rest_is_sent() {
    let fake = fake().await;
    publish_reports(&fake, 3, 1_763_625_600);
    fake.fail_next("/api/v2/reports/r1.stix", [Fault::Truncated]);
    let outcome = run(&fake, &[], Some(state("2025-01-01T00:00:00+00:00"))).await;
    outcome.result.unwrap();
    assert_eq!(report_names(&outcome.bundles), ["Report 2", "Report 0"]);
    assert_eq!(outcome.errors.len(), 1);
    assert!(
        outcome.errors[0].contains("r1.stix") && outcome.errors[0].contains("malformed"),
        "{:?}",
        outcome.errors
    );
    assert_eq!(
        outcome.state.unwrap()["last_run"],
        "2025-01-01T00:00:00+00:00"
    );
    // The next run retries the whole window and succeeds.
    let again = run(&fake, &[], Some(state("2025-01-01T00:00:00+00:00"))).await;
    again.result.unwrap();
    assert_eq!(report_names(&again.bundles).len(), 3);
    assert_ne!(
        again.state.unwrap()["last_run"],
        "2025-01-01T00:00:00+00:00"
    );
}

#[tokio::test]
async fn server_errors_on_downloads_are_retried_within_the_run() {
    let fake = fake().await;
    publish_reports(&fake, 1, 1_763_625_600);
    fake.fail_next(
        "/api/v2/reports/r0.stix",
        [Fault::Status(503, Some(0)), Fault::Status(500, None)],
    );
    let outcome = run(&fake, &[], None).await;
    outcome.result.unwrap();
    assert_eq!(report_names(&outcome.bundles), ["Report 0"]);
    assert!(outcome.state.unwrap().contains_key("last_run"));
}

#[tokio::test]
async fn five_failed_pages_abort_the_listing_and_hold_the_cursor() {
    let fake = fake().await;
    publish_reports(&fake, 1, 1_763_625_600);
    fake.add_ioc_bundle(
        ioc_item(&fake, "b1", 1_763_629_200),
        &fixture("ioc-bundle.json"),
    );
    fake.fail_next("/api/v2/reports", [Fault::Unsuccessful; 5]);
    let outcome = run(&fake, &[], Some(state("2025-01-01T00:00:00+00:00"))).await;
    let summary = outcome.result.unwrap();
    // The IoC bundles are still imported.
    assert_eq!(outcome.bundles.len(), 1);
    assert_eq!(fake.requests_to("/api/v2/reports").len(), 5);
    assert_eq!(
        summary,
        "Report retrieval aborted; Connector Pushed 1 Indicator Bundles"
    );
    assert_eq!(
        outcome.state.unwrap()["last_run"],
        "2025-01-01T00:00:00+00:00"
    );
}

#[tokio::test]
async fn a_failure_counter_resets_after_a_good_page() {
    let fake = fake_with(FakeSettings {
        report_page_size: 1,
        ..FakeSettings::default()
    })
    .await;
    publish_reports(&fake, 2, 1_763_625_600);
    // Four failures, a good page, four failures: never five in a row.
    let failures = [Fault::Unsuccessful; 4];
    fake.fail_next("/api/v2/reports", failures);
    fake.fail_next("/api/v2/reports", [Fault::Pass]);
    fake.fail_next("/api/v2/reports", failures);
    let outcome = run(&fake, &[], None).await;
    outcome.result.unwrap();
    assert_eq!(fake.requests_to("/api/v2/reports").len(), 4 + 1 + 4 + 2);
    assert_eq!(report_names(&outcome.bundles).len(), 2);
    assert!(outcome.state.unwrap().contains_key("last_run"));
}

#[tokio::test]
async fn items_without_stix_url_are_skipped_without_holding_the_cursor() {
    let fake = fake().await;
    fake.add_ioc_bundle(
        json!({"id": "nourl", "created_at": 1_763_629_200, "stix_url": null}),
        &json!({}),
    );
    fake.add_ioc_bundle(
        ioc_item(&fake, "b1", 1_763_629_100),
        &fixture("ioc-bundle.json"),
    );
    let outcome = run(&fake, &[], None).await;
    outcome.result.unwrap();
    assert_eq!(outcome.bundles.len(), 1);
    assert!(outcome.state.unwrap().contains_key("last_run"));
}

#[tokio::test]
async fn an_empty_bundle_counts_as_a_failure_as_in_python() {
    let fake = fake().await;
    fake.add_ioc_bundle(
        ioc_item(&fake, "empty", 1_763_629_200),
        &json!({"type": "bundle", "objects": []}),
    );
    let outcome = run(&fake, &[], Some(state("2025-01-01T00:00:00+00:00"))).await;
    outcome.result.unwrap();
    assert!(outcome.bundles.is_empty());
    assert_eq!(
        outcome.state.unwrap()["last_run"],
        "2025-01-01T00:00:00+00:00"
    );
}

#[tokio::test]
async fn a_null_created_at_does_not_crash_the_run() {
    let fake = fake().await;
    let mut item = ioc_item(&fake, "b1", 0);
    item["created_at"] = Value::Null;
    fake.add_ioc_bundle(item, &fixture("ioc-bundle.json"));
    let outcome = run(&fake, &[], None).await;
    outcome.result.unwrap();
    assert_eq!(outcome.bundles.len(), 1);
    assert!(outcome.state.unwrap().contains_key("last_run"));
}

#[tokio::test]
async fn a_report_without_date_is_reported_and_skipped() {
    let fake = fake().await;
    let mut item = report_item(&fake, "undated", "Undated", 0);
    item.as_object_mut().unwrap().remove("date");
    fake.add_report(item, &fixture("report-bundle.json"));
    let outcome = run(&fake, &[], None).await;
    outcome.result.unwrap();
    assert!(outcome.bundles.is_empty());
    assert_eq!(outcome.errors.len(), 1);
    assert!(
        outcome.errors[0].contains("report date"),
        "{:?}",
        outcome.errors
    );
    // Retrying cannot help: the cursor moves on.
    assert!(outcome.state.unwrap().contains_key("last_run"));
}

#[tokio::test]
async fn an_item_listed_twice_while_paging_is_sent_once() {
    let fake = fake_with(FakeSettings {
        report_page_size: 2,
        ..FakeSettings::default()
    })
    .await;
    publish_reports(&fake, 3, 1_763_625_600);
    // The second page is asked for at offset 2 after a newer report
    // appeared: a shifted listing repeats "Report 1".
    let shifted = json!({"success": true, "reports": [
        report_item(&fake, "r1", "Report 1", 1_763_625_601),
        report_item(&fake, "r0", "Report 0", 1_763_625_600),
    ]});
    fake.override_page("/api/v2/reports", 2, shifted);
    let outcome = run(&fake, &[], None).await;
    outcome.result.unwrap();
    assert_eq!(
        report_names(&outcome.bundles),
        ["Report 2", "Report 1", "Report 0"]
    );
}

#[tokio::test]
async fn a_revoked_token_mid_run_is_renewed() {
    let fake = fake().await;
    publish_reports(&fake, 1, 1_763_625_600);
    let mut connector = Teamt5::from_config(config(&fake, &[])).unwrap();
    let (ctx, _) = RunContext::for_test(None);
    connector.run(&ctx).await.unwrap();
    fake.revoke_tokens();
    let (ctx, probe) = RunContext::for_test(None);
    connector.run(&ctx).await.unwrap();
    assert_eq!(report_names(&probe.bundles()), ["Report 0"]);
    assert_eq!(fake.tokens_issued(), 2);
}

#[tokio::test]
async fn consecutive_runs_reuse_a_fresh_token() {
    let fake = fake().await;
    let mut connector = Teamt5::from_config(config(&fake, &[])).unwrap();
    for _ in 0..2 {
        let (ctx, _) = RunContext::for_test(None);
        connector.run(&ctx).await.unwrap();
    }
    assert_eq!(fake.tokens_issued(), 1);
}

#[tokio::test]
async fn bad_credentials_fail_the_run_without_touching_the_state() {
    let fake = fake().await;
    let outcome = run(
        &fake,
        &[("TEAMT5_CLIENT_SECRET", "wrong")],
        Some(state("2025-01-01T00:00:00+00:00")),
    )
    .await;
    let error = outcome.result.unwrap_err();
    assert!(matches!(error, RunError::Auth(_)), "{error}");
    assert_eq!(
        outcome.state.unwrap()["last_run"],
        "2025-01-01T00:00:00+00:00"
    );
}

#[tokio::test]
async fn bundles_are_sent_with_cleanup_of_inconsistent_references() {
    let fake = fake().await;
    publish_reports(&fake, 1, 1_763_625_600);
    let mut connector = Teamt5::from_config(config(&fake, &[])).unwrap();
    let (ctx, probe) = RunContext::for_test(None);
    connector.run(&ctx).await.unwrap();
    let sends = probe.sends();
    assert_eq!(sends.len(), 1);
    assert!(sends[0].1.cleanup_inconsistent_bundle);
}

#[tokio::test]
async fn unusable_objects_are_left_out_and_reported() {
    let fake = fake().await;
    let mut bundle = fixture("ioc-bundle.json");
    bundle["objects"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "no-type"}));
    fake.add_ioc_bundle(ioc_item(&fake, "b1", 1_763_629_200), &bundle);
    let outcome = run(&fake, &[], None).await;
    outcome.result.unwrap();
    assert_eq!(outcome.bundles.len(), 1);
    assert_eq!(outcome.bundles[0]["objects"].as_array().unwrap().len(), 5);
    assert_eq!(outcome.errors.len(), 1);
    assert!(
        outcome.errors[0].contains("objects[3]: `type` is missing"),
        "{:?}",
        outcome.errors
    );
    // Sending again cannot help: the cursor moves on.
    assert!(outcome.state.unwrap().contains_key("last_run"));
}

#[tokio::test]
async fn an_endless_listing_stops_at_the_page_bound_with_the_state_untouched() {
    let fake = fake_with(FakeSettings {
        report_page_size: 2,
        ..FakeSettings::default()
    })
    .await;
    publish_reports(&fake, 2, 1_763_625_600);
    fake.endless_listing("/api/v2/reports");
    let before = state("2025-11-20T08:00:00+00:00");
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        run(
            &fake,
            &[("TEAMT5_MAX_LISTING_PAGES", "7")],
            Some(before.clone()),
        ),
    )
    .await
    .expect("the run must end on an endless listing");
    let error = outcome.result.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("past 7 pages (TEAMT5_MAX_LISTING_PAGES)"),
        "{message}"
    );
    assert_eq!(fake.requests_to("/api/v2/reports").len(), 7);
    assert!(outcome.bundles.is_empty());
    assert_eq!(outcome.state, Some(before));
}

#[tokio::test]
async fn an_endless_listing_stops_at_the_item_bound() {
    let fake = fake_with(FakeSettings {
        report_page_size: 3,
        ..FakeSettings::default()
    })
    .await;
    publish_reports(&fake, 3, 1_763_625_600);
    fake.endless_listing("/api/v2/reports");
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        run(&fake, &[("TEAMT5_MAX_LISTING_ITEMS", "10")], None),
    )
    .await
    .expect("the run must end on an endless listing");
    let error = outcome.result.unwrap_err();
    assert!(
        error.to_string().contains("TEAMT5_MAX_LISTING_ITEMS"),
        "{error}"
    );
    // Pages of 3: the fourth page brings the count to 12 > 10.
    assert_eq!(fake.requests_to("/api/v2/reports").len(), 4);
    assert_eq!(outcome.state, None);
}

#[tokio::test]
async fn a_publication_always_404_is_skipped_after_the_bound_and_recorded() {
    let fake = fake().await;
    publish_reports(&fake, 2, 1_763_625_600);
    // Report 1 (the most recent) is listed but its bundle is gone.
    fake.remove_file("/api/v2/reports/r1.stix");
    let mut state = Some(state("2025-11-20T08:00:00+00:00"));
    for attempt in 1..=2 {
        let outcome = run(&fake, &[("TEAMT5_MAX_PUBLICATION_RUNS", "3")], state).await;
        outcome.result.unwrap();
        // The next publication is imported each time; the cursor holds.
        assert_eq!(report_names(&outcome.bundles), ["Report 0"]);
        assert!(
            outcome.errors.iter().any(|error| error.contains("404")),
            "{:?}",
            outcome.errors
        );
        let stored = outcome.state.unwrap();
        assert_eq!(stored["last_run"], "2025-11-20T08:00:00+00:00");
        assert_eq!(
            stored["publication_failures"],
            json!({"reports/r1": attempt})
        );
        assert!(stored.get("skipped_publications").is_none());
        state = Some(stored);
    }
    let outcome = run(&fake, &[("TEAMT5_MAX_PUBLICATION_RUNS", "3")], state).await;
    outcome.result.unwrap();
    assert_eq!(report_names(&outcome.bundles), ["Report 0"]);
    let stored = outcome.state.unwrap();
    assert_ne!(stored["last_run"], "2025-11-20T08:00:00+00:00");
    assert_eq!(stored["skipped_publications"], json!(["reports/r1"]));
    assert!(stored.get("publication_failures").is_none());
    assert_eq!(stored["other"], "kept");
}

#[tokio::test]
async fn an_always_empty_publication_is_skipped_after_the_bound() {
    let fake = fake().await;
    fake.add_ioc_bundle(
        ioc_item(&fake, "empty", 1_763_629_200),
        &json!({"type": "bundle", "id": "bundle--0", "objects": []}),
    );
    let mut state = None;
    for _ in 0..2 {
        let outcome = run(&fake, &[], state).await;
        outcome.result.unwrap();
        let stored = outcome.state.unwrap();
        assert!(stored.get("last_run").is_none());
        state = Some(stored);
    }
    // The default bound is 3 runs.
    let outcome = run(&fake, &[], state).await;
    outcome.result.unwrap();
    let stored = outcome.state.unwrap();
    assert!(stored.get("last_run").is_some());
    assert_eq!(stored["skipped_publications"], json!(["ioc_bundles/empty"]));
}

#[tokio::test]
async fn a_publication_that_recovers_clears_its_failure_count() {
    let fake = fake().await;
    publish_reports(&fake, 1, 1_763_625_600);
    fake.fail_next("/api/v2/reports/r0.stix", [Fault::Status(404, None)]);
    let outcome = run(&fake, &[], None).await;
    let stored = outcome.state.unwrap();
    assert_eq!(stored["publication_failures"], json!({"reports/r0": 1}));
    let outcome = run(&fake, &[], Some(stored)).await;
    assert_eq!(report_names(&outcome.bundles), ["Report 0"]);
    let stored = outcome.state.unwrap();
    assert!(stored.get("publication_failures").is_none());
    assert!(stored.get("skipped_publications").is_none());
    assert!(stored.get("last_run").is_some());
}
