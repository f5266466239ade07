//! Whole runs of the template connector against `opencti-sim`: what the
//! platform stores, the errors on the work, and the state carried from one
//! run to the next.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings, Var};
use opencti_connector::import::ImportRunner;
use opencti_connector::{Connector, tls};
use opencti_sim::{Sim, SimConfig, SimHandle, WorkRecord};
use opencti_template_connector::{Template, TemplateConfig, VARS};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One run-and-terminate run of the connector; returns the run's work once
/// the simulator's worker has imported everything it announced.
async fn run_once(sim: &SimHandle, connector_id: &str, file: &Path) -> WorkRecord {
    let tables: Vec<&[Var]> = RUNTIME_TABLES.iter().copied().chain([VARS]).collect();
    let file = file.display().to_string();
    let settings = Settings::from_env_pairs(
        &tables,
        [
            ("OPENCTI_URL", sim.url()),
            ("OPENCTI_TOKEN", "template-test".to_owned()),
            ("CONNECTOR_ID", connector_id.to_owned()),
            ("CONNECTOR_RUN_AND_TERMINATE", "true".to_owned()),
            ("TEMPLATE_FILE", file),
        ],
    );
    let runtime = RuntimeConfig::try_from(&settings).unwrap();
    let source = Template::from_config(TemplateConfig::try_from(&settings).unwrap()).unwrap();
    let works_before = sim.works().len();
    tokio::time::timeout(
        TIMEOUT,
        ImportRunner::new(source, runtime).run(CancellationToken::new()),
    )
    .await
    .expect("the run ends")
    .unwrap();
    let works = sim.works();
    assert_eq!(works.len(), works_before + 1, "one work per run");
    let work = works.last().unwrap();
    sim.wait_for_work_complete(&work.id, TIMEOUT).await.unwrap()
}

fn counts_by_type(sim: &SimHandle) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for object in sim.objects() {
        *counts.entry(object.stix_type).or_default() += 1;
    }
    counts
}

fn stored_lines(sim: &SimHandle, connector_id: &str) -> Value {
    let state = sim.connector(connector_id).unwrap().state.expect("a state");
    serde_json::from_str::<Value>(&state).unwrap()["lines"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_lines_become_indicators_and_the_state_remembers_where_it_stopped() {
    tls::install_crypto_provider();
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
    let connector_id = uuid::Uuid::new_v4().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("addresses.txt");
    std::fs::write(
        &file,
        "198.51.100.1\n198.51.100.2\nnot an address\n198.51.100.3\n",
    )
    .unwrap();

    let work = run_once(&sim, &connector_id, &file).await;
    let expected = BTreeMap::from([
        ("identity".to_owned(), 1),
        ("indicator".to_owned(), 3),
        ("marking-definition".to_owned(), 1),
    ]);
    assert_eq!(counts_by_type(&sim), expected);
    let summary = work.messages.iter().filter_map(|m| m.message.as_deref());
    assert!(
        summary.clone().any(|text| text == "3 new indicators sent"),
        "the run's summary closes its work: {:?}",
        summary.collect::<Vec<_>>()
    );
    assert_eq!(work.errors.len(), 1, "{:?}", work.errors);
    let error = &work.errors[0];
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
    assert_eq!(stored_lines(&sim, &connector_id), 4);
    for object in sim
        .objects()
        .iter()
        .filter(|object| object.stix_type == "indicator")
    {
        assert_eq!(object.stix["x_opencti_score"], 50, "{object:?}");
        assert_eq!(object.stix["pattern_type"], "stix", "{object:?}");
    }

    // The next run starts where the state says: only the appended line goes.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("198.51.100.4\n");
    std::fs::write(&file, text).unwrap();
    let work = run_once(&sim, &connector_id, &file).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    assert_eq!(counts_by_type(&sim)["indicator"], 4);
    let newest = sim
        .objects()
        .into_iter()
        .filter(|object| object.work_id.as_deref() == Some(work.id.as_str()))
        .filter(|object| object.stix_type == "indicator")
        .map(|object| object.stix["name"].clone())
        .collect::<Vec<_>>();
    assert_eq!(newest, ["198.51.100.4"]);
    assert_eq!(stored_lines(&sim, &connector_id), 5);

    sim.shutdown().await.unwrap();
}
