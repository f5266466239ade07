//! The soak in the test command: 30 s of faults, then the checks (under a
//! minute of wall time). `scripts/soak.sh` runs the long one, which also
//! judges the RSS slope: over half a minute, warm-up (connection pools,
//! the simulators' stores) cannot be told from a leak, so it is printed
//! here, not judged.

use std::time::{Duration, Instant};

use opencti_sim::{CallFault, EventInjection, EventKind};
use opencti_soak::sim_process::{self, SimProcess};
use serde_json::json;

/// The test that serves a simulator when this binary is started again as
/// one (see [`simulator_child`]).
const SIMULATOR_TEST: &str = "soak::simulator_child";

/// How the soak starts this test binary as a simulator.
fn simulator_args() -> Vec<String> {
    [
        SIMULATOR_TEST,
        "--exact",
        "--nocapture",
        "--test-threads",
        "1",
    ]
    .map(str::to_owned)
    .into()
}

/// The two tests count the process's descriptors and memory: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_connectors_survive_random_faults_without_loss_or_leaks() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()) * 0x9e37_79b9);
    // SOAK_LOG=debug shows the connectors' logs.
    if let Some(level) = std::env::var("SOAK_LOG")
        .ok()
        .and_then(|level| level.parse().ok())
    {
        opencti_connector::logging::init("soak", level, false);
    }
    println!("seed: {seed} (SOAK_SEED={seed} reruns it)");
    let report = opencti_soak::run(opencti_soak::SoakOptions {
        duration: Duration::from_secs(30),
        seed,
        settle: Duration::from_secs(20),
        keep_all_records: false,
        simulator_args: simulator_args(),
    })
    .await
    .expect("the soak runs");
    print!("{report}");
    let problems = report.problems();
    assert!(report.faults.values().sum::<u64>() > 10, "{report}");
    assert!(
        report.samples.iter().all(|s| s.simulators_rss_kib[0] > 0),
        "the simulators' RSS is sampled apart: {report}"
    );
    assert!(problems.is_empty(), "seed {seed}: {problems:#?}");
}

/// Started by the soak with `OPENCTI_SOAK_SIMULATOR` set, serves a
/// simulator until its input closes. Run on its own, starts such a child
/// and drives every control call the soak uses.
#[test]
fn simulator_child() {
    if sim_process::serve_if_child() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let _alone = ONE_AT_A_TIME.lock().await;
        let mut command = std::process::Command::new(std::env::current_exe().expect("own path"));
        command.args(simulator_args());
        let sim = SimProcess::start(command).await.expect("the child starts");
        let pid = sim.pid();
        assert_ne!(pid, std::process::id());
        assert!(sim_process::rss_kib(pid) > 0, "its RSS is readable");

        sim.keep_recent_records(2).await.expect("histories capped");
        let ids: Vec<String> = (0..3)
            .map(|n| format!("indicator--00000000-0000-4000-8000-{n:012}"))
            .collect();
        for id in &ids {
            let event = EventInjection::new(
                EventKind::Create,
                json!({
                    "type": "indicator", "spec_version": "2.1", "id": id,
                    "name": id, "pattern": "[ipv4-addr:value = '10.0.0.1']",
                    "pattern_type": "stix", "valid_from": "2025-11-24T10:00:00.000Z",
                }),
            );
            sim.inject_event(&event).await.expect("event injected");
        }
        let events = sim.stream_events().await.expect("events");
        assert_eq!(events.len(), 2, "the cap holds in the child");
        let objects = sim.objects().await.expect("objects");
        let mut stored: Vec<&str> = objects.iter().map(|o| o.id.as_str()).collect();
        stored.sort_unstable();
        assert_eq!(stored, ids, "every injected object is stored");
        assert!(sim.works().await.expect("works").is_empty());
        assert!(sim.graphql_calls().await.expect("calls").is_empty());
        sim.fail_calls(&CallFault::new("workAdd").times(2))
            .await
            .expect("fault installed");
        sim.clear_faults().await.expect("faults cleared");
        let refused = EventInjection::delete_id("indicator--not-stored");
        assert!(
            sim.inject_event(&refused).await.is_err(),
            "a refusal is an error"
        );

        let stopping = Instant::now();
        sim.stop()
            .await
            .expect("the child ends cleanly once its input closes");
        assert!(stopping.elapsed() < Duration::from_secs(10));
        assert_eq!(sim_process::rss_kib(pid), 0, "and is gone");
    });
}
