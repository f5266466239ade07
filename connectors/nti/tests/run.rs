//! Whole runs against the fake server and a recording context: the state,
//! resuming, and the fixes to the Python connector's failures.

use opencti_connector::state::State;
use opencti_connector::{ImportSource, RunContext, SendError};
use opencti_nti::connector::{IMPORTED_FILES, LAST_RUN, RunError};
use opencti_nti::fake::{self, FakeNti};
use opencti_nti::package::PackageError;
use opencti_stix::id;
use serde_json::{Value, json};

use crate::support::{self, AUTHOR, KEY, file_name, fixture_records, sent_objects};

async fn serve(entries: &[(String, Vec<Value>)]) -> FakeNti {
    let server = FakeNti::start(KEY).await;
    server.set_package(package(entries));
    server
}

fn package(entries: &[(String, Vec<Value>)]) -> Vec<u8> {
    let entries: Vec<(&str, String)> = entries
        .iter()
        .map(|(name, records)| (name.as_str(), fake::entry_content(records)))
        .collect();
    fake::package(&entries)
}

/// Runs once with every kind enabled (plus `extra`) from `state`.
async fn run(
    server: &FakeNti,
    extra: &[(&str, &str)],
    state: Option<State>,
) -> (
    Result<String, RunError>,
    opencti_connector::context::TestProbe,
) {
    let mut connector = support::connector(&support::settings(&server.base_url(), extra));
    support::run_once(&mut connector, state).await
}

fn all_objects(bundles: &[Vec<Value>]) -> Vec<Value> {
    bundles.iter().flatten().cloned().collect()
}

fn find<'a>(objects: &'a [Value], id: &str) -> &'a Value {
    objects
        .iter()
        .find(|object| object["id"] == id)
        .unwrap_or_else(|| panic!("{id} not sent"))
}

fn url_record(value: &str) -> Value {
    json!({"object": {"type": "url", "value": value}, "contents": [{"contents": [29]}]})
}

#[tokio::test]
async fn the_state_keeps_last_run_and_a_package_served_again_is_not_imported_twice() {
    let url_file = file_name("url-basic", 1);
    let server = serve(&[(url_file.clone(), vec![url_record("http://a.example/")])]).await;
    let (outcome, probe) = run(&server, &[], None).await;
    let summary = outcome.unwrap();
    assert_eq!(probe.bundles().len(), 1);
    let state = probe.state().expect("state written");
    let last_run = state[LAST_RUN].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(last_run, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{last_run}"
    );
    assert!(state[IMPORTED_FILES][&url_file].is_string());
    assert_eq!(
        summary,
        format!("test connector successfully run, storing last_run as {last_run}")
    );

    // Same package: nothing sent, state unchanged.
    let (outcome, probe) = run(&server, &[], Some(state.clone())).await;
    assert_eq!(outcome.unwrap(), "test connector run: no new NTI feed file");
    assert!(probe.bundles().is_empty());
    assert_eq!(probe.state(), Some(state.clone()));

    // Same name, new content: imported again.
    server.set_package(package(&[(
        url_file,
        vec![url_record("http://b.example/")],
    )]));
    let (outcome, probe) = run(&server, &[], Some(state)).await;
    outcome.unwrap();
    assert_eq!(probe.bundles().len(), 1);
}

#[tokio::test]
async fn a_python_state_is_kept_and_extended() {
    let server = serve(&[(
        file_name("url-basic", 1),
        vec![url_record("http://a.example/")],
    )])
    .await;
    let mut python_state = State::new();
    python_state.insert(LAST_RUN.to_owned(), json!("2025-04-24 00:00:00"));
    python_state.insert("custom".to_owned(), json!(1));
    let (outcome, probe) = run(&server, &[], Some(python_state)).await;
    outcome.unwrap();
    assert_eq!(
        probe.bundles().len(),
        1,
        "the Python state records no file: everything is imported"
    );
    let state = probe.state().unwrap();
    assert_eq!(state["custom"], 1);
    assert_ne!(state[LAST_RUN], "2025-04-24 00:00:00");
}

#[tokio::test]
async fn a_corrupt_file_stops_the_run_and_the_next_run_resumes_after_the_finished_files() {
    let first = file_name("url-basic", 1);
    let second = file_name("url-basic", 2);
    let many: Vec<Value> = (0..3000)
        .map(|index| {
            url_record(&format!(
                "http://{index}.example/{}",
                "x".repeat(index % 97)
            ))
        })
        .collect();
    let good = package(&[
        (first.clone(), vec![url_record("http://a.example/")]),
        (second.clone(), many),
    ]);
    // A byte of the second (much larger) file's compressed data flipped.
    let mut corrupt = good.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x55;
    let server = FakeNti::start(KEY).await;
    server.set_package(corrupt);
    let (outcome, probe) = run(&server, &[], None).await;
    assert!(
        matches!(&outcome, Err(RunError::Package(PackageError::Entry { entry, .. })) if *entry == second),
        "{outcome:?}"
    );
    let state = probe.state().expect("the first file was recorded");
    assert!(state[IMPORTED_FILES][&first].is_string());
    assert!(state[IMPORTED_FILES].get(&second).is_none());

    server.set_package(good);
    let (outcome, probe) = run(&server, &[], Some(state)).await;
    outcome.unwrap();
    let urls = all_objects(&sent_objects(&probe))
        .iter()
        .filter(|object| object["type"] == "url")
        .count();
    assert_eq!(
        urls, 3000,
        "only the second file, in bundles of at most 1000 records"
    );
    assert_eq!(probe.bundles().len(), 3);
    assert!(probe.state().unwrap()[IMPORTED_FILES][&second].is_string());
}

/// The state moves only once a file's bundles are sent: a run whose sends
/// fail (here: shutdown requested) leaves `last_run` and the files as they were.
#[tokio::test]
async fn a_file_whose_bundles_are_not_sent_is_not_recorded() {
    let server = serve(&[(
        file_name("url-basic", 1),
        vec![url_record("http://a.example/")],
    )])
    .await;
    let mut before = State::new();
    before.insert(LAST_RUN.to_owned(), json!("2025-04-24 00:00:00"));
    let mut connector = support::connector(&support::settings(&server.base_url(), &[]));
    let (ctx, probe) = RunContext::for_test(Some(before.clone()));
    probe.shut_down();
    let outcome = connector.run(&ctx).await;
    assert!(
        matches!(outcome, Err(RunError::Send(SendError::Cancelled))),
        "{outcome:?}"
    );
    assert!(probe.bundles().is_empty());
    assert_eq!(probe.state(), Some(before));
}

/// Fix: any package type other than `updated` crashed on its first file.
#[tokio::test]
async fn another_package_type_is_imported() {
    let server = serve(&[(
        "data.NTI.API.V2.0.url-basic.20250425.0001.json".to_owned(),
        vec![url_record("http://a.example/")],
    )])
    .await;
    let (outcome, probe) = run(&server, &[("NTI_PACKAGE_TYPE", "full")], None).await;
    outcome.unwrap();
    assert_eq!(probe.bundles().len(), 1);
    assert_eq!(server.requests()[0].package_type.as_deref(), Some("full"));
}

#[tokio::test]
async fn disabled_kinds_and_unknown_files_are_ignored() {
    let server = serve(&[
        (file_name("ioc", 1), fixture_records("ioc")),
        (
            file_name("url-basic", 1),
            vec![url_record("http://a.example/")],
        ),
        ("README.txt".to_owned(), vec![]),
    ])
    .await;
    let (outcome, probe) = run(&server, &[("NTI_CREATE_IOC", "false")], None).await;
    outcome.unwrap();
    let objects = all_objects(&sent_objects(&probe));
    assert!(objects.iter().all(|object| object["type"] != "indicator"));
    assert_eq!(probe.bundles().len(), 1);
}

/// Fix: a file whose records produce no relationship made the run fail
/// (Python sent an empty relationship bundle, which pycti refuses).
#[tokio::test]
async fn records_without_relationships_send_one_bundle() {
    let server = serve(&[
        (
            file_name("ip-basic", 1),
            vec![json!({"object": {"type": "ipv4-addr", "value": "198.51.100.7"}})],
        ),
        (
            file_name("domain-basic", 1),
            vec![json!({"object": {"type": "domain-name", "value": "bad.example.net"}})],
        ),
    ])
    .await;
    let (outcome, probe) = run(&server, &[], None).await;
    outcome.unwrap();
    let bundles = sent_objects(&probe);
    assert_eq!(bundles.len(), 2);
    assert_eq!(
        bundles[0][0]["id"],
        "ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db"
    );
    assert_eq!(bundles[1][0]["type"], "domain-name");
}

/// Fix: an e-mail IOC crashed the run (`None.id`); it now gets its
/// observable. The published test vectors hold for IP IOCs.
#[tokio::test]
async fn email_iocs_get_an_observable_and_the_id_vectors_hold() {
    let server = serve(&[(
        file_name("ioc", 1),
        vec![
            json!({"pattern": "[email-addr:value = 'phish@bad.example']", "observables": [{"type": "email-addr", "value": "phish@bad.example"}], "threat_types": [80111, 123456], "threat_level": 2, "confidence": 50, "modified": "2025-04-25T00:00:00Z"}),
            json!({"pattern": "[ipv4-addr:value = '198.51.100.7']", "observables": [{"address": {"type": "ipv4-addr", "value": "198.51.100.7"}}], "threat_types": [104], "threat_level": 0, "confidence": 80, "modified": "2025-04-25T00:00:00Z", "revoked": true}),
        ],
    )])
    .await;
    let (outcome, probe) = run(&server, &[], None).await;
    outcome.unwrap();
    let objects = all_objects(&sent_objects(&probe));
    let email = objects
        .iter()
        .find(|object| object["type"] == "email-addr")
        .expect("email observable");
    assert_eq!(email["value"], "phish@bad.example");
    let indicator = find(
        &objects,
        &id::indicator("[email-addr:value = 'phish@bad.example']"),
    );
    assert_eq!(indicator["x_opencti_main_observable_type"], "Email-Addr");
    // Fix: the unknown code 123456 is left out instead of the text "None".
    assert_eq!(indicator["indicator_types"], json!(["Phishing"]));
    let based_on = id::relationship(
        "based-on",
        indicator["id"].as_str().unwrap(),
        email["id"].as_str().unwrap(),
        None,
        None,
    )
    .unwrap();
    find(&objects, &based_on);

    let ip = find(&objects, "indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968");
    assert_eq!(
        ip["x_opencti_score"], 50,
        "threat level 0 gives the default score"
    );
    assert_eq!(ip["revoked"], true);
    find(&objects, "ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db");
    find(
        &objects,
        "relationship--57651e36-70cc-5200-85dd-498e3f90e96c",
    );
}

/// Fix: a location with only a city (or only a street) made stix2 raise
/// and the run fail; a latitude of 0 was dropped.
#[tokio::test]
async fn city_only_locations_and_zero_coordinates_are_kept() {
    let server = serve(&[(
        file_name("ip-basic", 1),
        vec![json!({"object": {"type": "ipv4-addr", "value": "198.51.100.7"}, "modified": "2025-04-25T00:00:00Z",
            "locations": [{"city": "Springfield"}, {"country": "Ghana", "latitude": 0, "longitude": -0.5}, {}],
            "ases": [{"number": "AS64501"}, {"number": "not a number"}]})],
    )])
    .await;
    let (outcome, probe) = run(&server, &[], None).await;
    outcome.unwrap();
    let objects = all_objects(&sent_objects(&probe));
    let city = find(
        &objects,
        &id::location("Springfield", Some("City"), None, None).unwrap(),
    );
    assert_eq!(city["x_opencti_location_type"], "City");
    assert_eq!(city["created_by_ref"], AUTHOR);
    let country = find(
        &objects,
        &id::location("Ghana", Some("Country"), None, None).unwrap(),
    );
    assert_eq!(country["latitude"], 0.0);
    let system = objects
        .iter()
        .find(|object| object["type"] == "autonomous-system")
        .unwrap();
    assert_eq!(system["number"], 64501);
    assert_eq!(
        system["x_opencti_description"],
        "No detailed information available for this Autonomous System."
    );
    let relationships: Vec<&Value> = objects
        .iter()
        .filter(|object| object["type"] == "relationship")
        .collect();
    assert_eq!(relationships.len(), 3, "two located-at, one belongs-to");
}

#[tokio::test]
async fn domains_resolve_to_ipv4_and_ipv6_addresses() {
    let server = serve(&[(
        file_name("domain-basic", 1),
        vec![json!({"object": {"type": "domain-name", "value": "bad.example.net"},
            "ips": [{"ips": ["203.0.113.45"], "first_seen": "2025-04-01", "last_seen": "2025-04-24"}, {"ips": ["2001:db8::45"]}, {"ips": []}]})],
    )])
    .await;
    let (outcome, probe) = run(&server, &[], None).await;
    outcome.unwrap();
    let bundles = sent_objects(&probe);
    let objects = all_objects(&bundles);
    let domain = objects
        .iter()
        .find(|object| object["type"] == "domain-name")
        .unwrap()["id"]
        .as_str()
        .unwrap();
    let v4 = find(&objects, "ipv4-addr--cb9d70c5-d244-531c-9efb-bcae57adc793");
    let v6 = objects
        .iter()
        .find(|object| object["type"] == "ipv6-addr")
        .expect("IPv6 address");
    assert_eq!(v6["value"], "2001:db8::45");
    let first = find(
        &objects,
        &id::relationship(
            "resolves-to",
            domain,
            v4["id"].as_str().unwrap(),
            None,
            None,
        )
        .unwrap(),
    );
    assert_eq!(first["start_time"], "2025-04-01T00:00:00Z");
    assert_eq!(
        first["description"],
        "This relationship illustrates a domain name resolves to this ip address, first observed on 2025-04-01, last seen on 2025-04-24."
    );
    let second = find(
        &objects,
        &id::relationship(
            "resolves-to",
            domain,
            v6["id"].as_str().unwrap(),
            None,
            None,
        )
        .unwrap(),
    );
    assert_eq!(
        second["description"],
        "This relationship illustrates a domain name resolves to this ip address."
    );
    assert!(second.get("start_time").is_none());
    assert_eq!(bundles.len(), 1);
    assert_eq!(
        bundles[0].len(),
        7,
        "domain, two addresses, two relationships, author, marking"
    );
}

#[tokio::test]
async fn samples_become_files_with_stix_hash_names() {
    let server = serve(&[(
        file_name("sample", 1),
        vec![json!({"type": "sample", "metadata": {"hashes": {
                "MD5": "44d88612fea8a8f36de82e1278abb02f",
                "SHA1": "3395856ce81f2b7382dee72602f798b642f14140",
                "SHA256": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
                "SHA512": "not-a-hash", "1KHASH": "abc"}, "size": 68, "mime_type": "application/x-dosexec"},
            "names": ["eicar.com"], "modified": "2025-04-25T00:00:00Z"})],
    )])
    .await;
    let (outcome, probe) = run(&server, &[], None).await;
    outcome.unwrap();
    let objects = all_objects(&sent_objects(&probe));
    let file = find(&objects, "file--0b39ce01-760c-5d8f-a56a-38ac15398835");
    assert_eq!(
        file["hashes"],
        json!({"MD5": "44d88612fea8a8f36de82e1278abb02f", "SHA-1": "3395856ce81f2b7382dee72602f798b642f14140",
            "SHA-256": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"})
    );
    assert_eq!(file["name"], "eicar.com");
    assert_eq!(file["size"], 68);
    assert_eq!(file["mime_type"], "application/x-dosexec");
    assert_eq!(file["ctime"], "2025-04-25T00:00:00Z");
    assert_eq!(file["x_opencti_created_by_ref"], AUTHOR);
}

/// Fix: a line that is not JSON (or a blank line) failed the whole run;
/// now the line is reported on the work and the others are imported.
#[tokio::test]
async fn bad_lines_are_reported_and_skipped() {
    let name = file_name("url-basic", 1);
    let content = format!(
        "header\n{}\nnot json\n[1, 2]\n{{\"object\": {{\"type\": \"url\"}}}}\n{}\n\n",
        url_record("http://a.example/"),
        url_record("http://b.example/")
    );
    let server = FakeNti::start(KEY).await;
    server.set_package(fake::package(&[(name, content)]));
    let (outcome, probe) = run(&server, &[], None).await;
    outcome.unwrap();
    let urls = all_objects(&sent_objects(&probe))
        .into_iter()
        .filter(|object| object["type"] == "url")
        .count();
    assert_eq!(urls, 2);
    let errors = probe.errors();
    assert_eq!(errors.len(), 3, "{errors:?}");
    let text = format!("{errors:?}");
    for needle in ["line 3", "line 4", "line 5", "object.value"] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
}

/// Invalid indicators are left out silently in Python; still left out
/// (with a warning), with neither observable nor relationship.
#[tokio::test]
async fn invalid_indicators_are_left_out() {
    let server = serve(&[(
        file_name("ioc", 1),
        vec![
            json!({"pattern": "[domain-name:value = 'a.example']", "observables": [{"type": "domain-name", "value": "a.example"}], "threat_types": [1], "modified": "2025-04-25T00:00:00Z", "valid_until": "2025-04-24T00:00:00Z"}),
            json!({"pattern": "[domain-name:value = 'b.example']", "observables": [{"type": "domain-name", "value": "b.example"}], "modified": "2025-04-25T00:00:00Z"}),
            json!({"pattern": "[domain-name:value = 'c.example']", "observables": [{"type": "domain-name", "value": "c.example"}], "threat_types": [], "confidence": 150}),
        ],
    )])
    .await;
    let (outcome, probe) = run(&server, &[], None).await;
    outcome.unwrap();
    assert!(probe.bundles().is_empty());
}

/// IOC records are merged across the whole file (duplicates far apart
/// included), then sent a thousand merged records per bundle.
#[tokio::test]
async fn large_ioc_files_are_merged_whole_and_sent_in_slices() {
    let ioc = |index: usize, threat_type: u32, confidence: u32| {
        let address = format!("198.51.{}.{}", index / 250, index % 250);
        json!({"pattern": format!("[ipv4-addr:value = '{address}']"), "observables": [{"type": "ipv4-addr", "value": address}],
            "threat_types": [threat_type], "threat_level": 2, "confidence": confidence, "modified": "2025-04-25T00:00:00Z"})
    };
    let mut records: Vec<Value> = (0..2500).map(|index| ioc(index, 104, 50)).collect();
    // Far from the first one: in another read batch.
    records.push(ioc(7, 40702, 90));
    let server = serve(&[(file_name("ioc", 1), records)]).await;
    let (outcome, probe) = run(&server, &[], None).await;
    outcome.unwrap();
    let bundles = sent_objects(&probe);
    assert_eq!(bundles.len(), 3);
    let indicators: Vec<Value> = all_objects(&bundles)
        .into_iter()
        .filter(|object| object["type"] == "indicator")
        .collect();
    assert_eq!(indicators.len(), 2500);
    let merged = indicators
        .iter()
        .find(|indicator| indicator["name"] == "198.51.0.7")
        .unwrap();
    assert_eq!(merged["indicator_types"], json!(["Botnet", "C&C host"]));
    assert_eq!(merged["confidence"], 90);
    assert_eq!(merged["x_opencti_score"], 36, "2 * 20 * 0.9");
    // Each bundle carries its relationships with their ends.
    for bundle in &bundles {
        let ids: Vec<&str> = bundle
            .iter()
            .filter_map(|object| object["id"].as_str())
            .collect();
        for relationship in bundle
            .iter()
            .filter(|object| object["type"] == "relationship")
        {
            assert!(ids.contains(&relationship["source_ref"].as_str().unwrap()));
            assert!(ids.contains(&relationship["target_ref"].as_str().unwrap()));
        }
    }
}

/// A broken file reports its first bad lines on the work, then one summary.
#[tokio::test]
async fn a_broken_file_does_not_flood_the_work_with_errors() {
    let name = file_name("url-basic", 1);
    let mut content = String::from("header\n");
    for index in 0..120 {
        content.push_str(&format!("garbage {index}\n"));
    }
    content.push_str(&url_record("http://a.example/").to_string());
    let server = FakeNti::start(KEY).await;
    server.set_package(fake::package(&[(name, content)]));
    let (outcome, probe) = run(&server, &[], None).await;
    outcome.unwrap();
    let errors = probe.errors();
    assert_eq!(errors.len(), 51, "50 lines, then a summary");
    assert!(
        format!("{:?}", errors[50]).contains("70 more NTI records"),
        "{:?}",
        errors[50]
    );
    assert_eq!(probe.bundles().len(), 1);
}
