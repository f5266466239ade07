//! Drill (issue #13): the platform refuses each call a run makes, in turn.
//! Every faulted run ends promptly; the state never passes what the platform
//! stored; a failed run's work is closed in error; the next run, without the
//! fault, completes with nothing lost.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings, Var};
use opencti_connector::import::ImportRunner;
use opencti_connector::{Connector, tls};
use opencti_sim::{CallFault, Sim, SimConfig, SimHandle};
use opencti_template_connector::{Template, TemplateConfig, VARS};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A faulted run must end within this (no retry loop waits it out).
const PROMPT: Duration = Duration::from_secs(20);
const TIMEOUT: Duration = Duration::from_secs(30);
const ADDRESSES: [&str; 3] = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];

async fn run_once(
    sim: &SimHandle,
    connector_id: &str,
    file: &Path,
) -> Result<(), opencti_connector::Error> {
    let tables: Vec<&[Var]> = RUNTIME_TABLES.iter().copied().chain([VARS]).collect();
    let settings = Settings::from_env_pairs(
        &tables,
        [
            ("OPENCTI_URL", sim.url()),
            ("OPENCTI_TOKEN", "template-test".to_owned()),
            ("CONNECTOR_ID", connector_id.to_owned()),
            ("CONNECTOR_RUN_AND_TERMINATE", "true".to_owned()),
            ("TEMPLATE_FILE", file.display().to_string()),
        ],
    );
    let runtime = RuntimeConfig::try_from(&settings).unwrap();
    let source = Template::from_config(TemplateConfig::try_from(&settings).unwrap()).unwrap();
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        PROMPT,
        ImportRunner::new(source, runtime).run(CancellationToken::new()),
    )
    .await
    .expect("the run ends promptly");
    assert!(started.elapsed() < PROMPT);
    outcome
}

fn stored_lines(sim: &SimHandle, connector_id: &str) -> u64 {
    sim.connector(connector_id)
        .and_then(|connector| connector.state)
        .and_then(|state| serde_json::from_str::<Value>(&state).ok())
        .and_then(|state| state["lines"].as_u64())
        .unwrap_or(0)
}

fn indicators(sim: &SimHandle) -> usize {
    sim.objects()
        .iter()
        .filter(|object| object.stix_type == "indicator")
        .count()
}

/// The operations a clean run calls, with how often.
async fn operations_of_a_clean_run(file: &Path) -> BTreeMap<String, usize> {
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
    let connector_id = uuid::Uuid::new_v4().to_string();
    run_once(&sim, &connector_id, file)
        .await
        .expect("a clean run");
    let mut operations = BTreeMap::new();
    for call in sim.graphql_calls() {
        if let Some(operation) = call.operation {
            *operations.entry(operation).or_default() += 1;
        }
    }
    sim.shutdown().await.unwrap();
    operations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_at_every_platform_call_ends_the_run_and_the_next_run_completes() {
    tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("addresses.txt");
    std::fs::write(&file, ADDRESSES.join("\n") + "\n").unwrap();
    let operations = operations_of_a_clean_run(&file).await;
    assert!(
        operations.contains_key("addExpectations"),
        "the run announces its messages: {operations:?}"
    );

    let mut drilled = 0;
    for (operation, calls) in &operations {
        // The first calls of each operation, and its last.
        let mut positions: Vec<usize> = (0..*calls).take(2).collect();
        positions.push(calls - 1);
        positions.dedup();
        for after in positions {
            let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
            let connector_id = uuid::Uuid::new_v4().to_string();
            sim.fail_calls(CallFault::new(operation.as_str()).after(after as u64));
            let outcome = run_once(&sim, &connector_id, &file).await;
            let step = format!("{operation} call {}", after + 1);
            assert_eq!(sim.faults()[0].failed, 1, "{step}: the fault was met");

            // The state never passes what the platform stored.
            let lines = stored_lines(&sim, &connector_id);
            if lines > 0 {
                sim.wait_until("the confirmed indicators", TIMEOUT, |sim| {
                    indicators(sim) == ADDRESSES.len()
                })
                .await
                .unwrap_or_else(|_| panic!("{step}: state {lines} but not every indicator stored"));
            }
            // A failed run closes its work in error (unless closing is what failed).
            if outcome.is_err() && operation != "workToProcessed" {
                for work in sim.works() {
                    assert!(
                        !work.errors.is_empty() || work.processed_time.is_none(),
                        "{step}: the failed run's work is in error: {work:?}"
                    );
                }
            }

            sim.clear_faults();
            run_once(&sim, &connector_id, &file)
                .await
                .unwrap_or_else(|error| panic!("{step}: the next run completes: {error}"));
            sim.wait_until("every indicator", TIMEOUT, |sim| {
                indicators(sim) == ADDRESSES.len()
            })
            .await
            .unwrap_or_else(|_| panic!("{step}: nothing is lost"));
            assert_eq!(stored_lines(&sim, &connector_id), 3, "{step}");
            sim.shutdown().await.unwrap();
            drilled += 1;
        }
    }
    assert!(drilled >= operations.len());
}
