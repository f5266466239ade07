//! Whole runs of the template connector through the runtime's runner,
//! against `opencti-testkit`'s simulated platform (and the local RabbitMQ):
//! what the platform stores, the errors on the work, the state carried from
//! one run to the next, and a vendor that throttles, drops and fails.

use std::collections::BTreeMap;
use std::time::Duration;

use opencti_connector::http::{Network, RetryPolicy};
use opencti_template_connector::{ListClient, Template};
use opencti_testkit::axum::{Router, routing::get};
use opencti_testkit::vendor::{FakeVendor, Fault};
use opencti_testkit::{ConnectorHarness, ImportRun, TestPlatform};

fn counts_by_type(platform: &TestPlatform) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for object in platform.objects() {
        *counts.entry(object.stix_type).or_default() += 1;
    }
    counts
}

fn indicator_names(run: &ImportRun) -> Vec<String> {
    let mut names: Vec<String> = run
        .objects_of_type("indicator")
        .iter()
        .map(|object| object.stix["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_lines_become_indicators_and_the_state_remembers_where_it_stopped() {
    let platform = TestPlatform::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("addresses.txt");
    std::fs::write(
        &file,
        "198.51.100.1\n198.51.100.2\nnot an address\n198.51.100.3\n",
    )
    .unwrap();
    let harness = ConnectorHarness::new(&platform).var("TEMPLATE_FILE", file.display().to_string());

    let run = harness.run_import::<Template>().await.unwrap();
    assert!(run.succeeded(), "{run:?}");
    let expected = BTreeMap::from([
        ("identity".to_owned(), 1),
        ("indicator".to_owned(), 3),
        ("marking-definition".to_owned(), 1),
    ]);
    assert_eq!(counts_by_type(&platform), expected);
    assert!(
        run.messages().contains(&"3 new indicators sent"),
        "the run's summary closes its work: {:?}",
        run.messages()
    );
    assert_eq!(run.errors().len(), 1, "{:?}", run.errors());
    let error = &run.errors()[0];
    assert!(
        error
            .message
            .as_deref()
            .unwrap()
            .contains("not an IPv4 address"),
        "{error:?}"
    );
    assert!(
        error
            .source
            .as_deref()
            .unwrap()
            .ends_with("addresses.txt:3"),
        "{error:?}"
    );
    assert_eq!(run.state.as_ref().unwrap()["lines"], 4);
    for object in run.objects_of_type("indicator") {
        assert_eq!(object.stix["x_opencti_score"], 50, "{object:?}");
        assert_eq!(object.stix["pattern_type"], "stix", "{object:?}");
    }

    // The next run starts where the state says: only the appended line goes.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("198.51.100.4\n");
    std::fs::write(&file, text).unwrap();
    let run = harness.run_import::<Template>().await.unwrap();
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert_eq!(counts_by_type(&platform)["indicator"], 4);
    assert_eq!(indicator_names(&run), ["198.51.100.4"]);
    assert_eq!(run.state.as_ref().unwrap()["lines"], 5);
    assert_eq!(platform.works().len(), 2, "one work per run");

    platform.shutdown().await.unwrap();
}

/// A vendor serving `list` at `/list`.
async fn vendor(list: &'static str) -> FakeVendor {
    FakeVendor::start(Router::new().route("/list", get(move || async move { list })))
        .await
        .unwrap()
}

/// The template reading `vendor`'s list, retrying three times 50 ms apart
/// (the vendor's `Retry-After` still wins).
fn from_vendor(harness: &ConnectorHarness<'_>, vendor: &FakeVendor) -> Template {
    let url = vendor.url_for("/list").parse().unwrap();
    let retry = RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    let client = ListClient::new(url, Network::default()).unwrap();
    harness
        .build::<Template>()
        .unwrap()
        .with_client(client.with_retry(retry))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_vendor_is_waited_for_and_a_dropped_answer_fetched_again() {
    let platform = TestPlatform::start().await.unwrap();
    let vendor = vendor("198.51.100.7\n198.51.100.8\n").await;
    vendor.fail_next_on("/list", [Fault::too_many_requests(1), Fault::Drop]);
    let harness = ConnectorHarness::new(&platform).var("TEMPLATE_URL", vendor.url_for("/list"));

    let run = harness
        .run_import_with(from_vendor(&harness, &vendor))
        .await
        .unwrap();
    assert!(run.succeeded(), "{run:?}");
    assert_eq!(indicator_names(&run), ["198.51.100.7", "198.51.100.8"]);
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert_eq!(run.state.as_ref().unwrap()["lines"], 2);
    let requests = vendor.requests_to("/list");
    let statuses: Vec<u16> = requests.iter().map(|request| request.status).collect();
    assert_eq!(statuses, [429, 200, 200], "throttled, dropped, answered");
    let user_agent = requests[0].headers["user-agent"].to_str().unwrap();
    assert!(
        user_agent.starts_with("opencti-template-connector/"),
        "{user_agent}"
    );
    platform.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_vendor_fails_the_run_and_the_state_stays() {
    let platform = TestPlatform::start().await.unwrap();
    let vendor = vendor("198.51.100.7\n").await;
    vendor.fail_next_on("/list", [Fault::status(503); 3]);
    let harness = ConnectorHarness::new(&platform).var("TEMPLATE_URL", vendor.url_for("/list"));

    let run = harness
        .run_import_with(from_vendor(&harness, &vendor))
        .await
        .unwrap();
    assert!(!run.succeeded(), "{run:?}");
    assert!(run.objects.is_empty());
    assert_eq!(run.state, None, "the cursor did not move");
    let errors: Vec<&str> = run
        .errors()
        .iter()
        .filter_map(|error| error.message.as_deref())
        .collect();
    assert!(
        errors.iter().any(|error| error.contains("HTTP 503")),
        "the work says why: {errors:?}"
    );
    assert_eq!(vendor.requests_to("/list").len(), 3, "every attempt made");

    // The vendor recovers: the next run imports the list.
    let run = harness
        .run_import_with(from_vendor(&harness, &vendor))
        .await
        .unwrap();
    assert!(run.succeeded(), "{run:?}");
    assert_eq!(indicator_names(&run), ["198.51.100.7"]);
    platform.shutdown().await.unwrap();
}
