//! The soak in the test command: 30 s of faults, then the checks (under a
//! minute of wall time). `scripts/soak.sh` runs the long one, which also
//! judges the RSS slope: over half a minute, warm-up (connection pools,
//! the simulators' stores) cannot be told from a leak, so it is printed
//! here, not judged.

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_connectors_survive_random_faults_without_loss_or_leaks() {
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
    })
    .await
    .expect("the soak runs");
    print!("{report}");
    let problems = report.problems();
    assert!(report.faults.values().sum::<u64>() > 10, "{report}");
    assert!(problems.is_empty(), "seed {seed}: {problems:#?}");
}
