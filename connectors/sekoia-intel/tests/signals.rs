//! SIGTERM at 20 seeded points of the binary's run against `opencti-sim`
//! and the fake Sekoia.io, while it applies a burst of live-stream events:
//! the stop fits in the grace, the stream position the platform holds
//! never passes an event whose value is not in the IoC collection, and a restart
//! brings the collection to exactly what the stream says.

use std::collections::BTreeSet;
use std::time::Duration;

use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
use opencti_sim::{Sim, SimConfig, SimHandle};

#[path = "../../../tests/signal_drill.rs"]
mod signal_drill;
#[path = "../../../tests/stream_signal_drill.rs"]
mod stream_signal_drill;

use signal_drill::for_each_seed;
use stream_signal_drill::StreamDrill;

/// The active values of the collection.
fn held(fake: &FakeSekoia) -> BTreeSet<String> {
    fake.active_values(DEFAULT_COLLECTION).into_iter().collect()
}

fn environment(sim: &SimHandle, fake: &FakeSekoia, connector_id: &str) -> Vec<(String, String)> {
    [
        ("OPENCTI_URL", sim.url()),
        ("OPENCTI_TOKEN", "signal-drill".to_owned()),
        ("CONNECTOR_ID", connector_id.to_owned()),
        ("CONNECTOR_NAME", "Sekoia signals".to_owned()),
        ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
        ("CONNECTOR_STOP_GRACE_PERIOD", "PT3S".to_owned()),
        ("SEKOIA_INTEL_URL", fake.url()),
        ("SEKOIA_INTEL_APIKEY", "sk_test".to_owned()),
        (
            "SEKOIA_INTEL_IOC_COLLECTION_UUID",
            DEFAULT_COLLECTION.to_owned(),
        ),
        ("SEKOIA_INTEL_BATCH_SIZE", "3".to_owned()),
        ("SEKOIA_INTEL_BATCH_WAIT_MS", "20".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

async fn drill(seed: u64) -> Duration {
    let sim = Sim::start(SimConfig {
        heartbeat_interval: Duration::from_millis(200),
        ..SimConfig::for_tests()
    })
    .await
    .expect("the simulator");
    let fake = FakeSekoia::start(FakeSettings::default())
        .await
        .expect("the fake");
    // A slow Sekoia spreads the burst over about a second.
    fake.set_delay(Some(Duration::from_millis(30)));
    let connector_id = format!("5e1d0000-0000-4000-8000-{seed:012x}");
    let env = environment(&sim, &fake, &connector_id);
    let took = StreamDrill {
        seed,
        binary: env!("CARGO_BIN_EXE_opencti-sekoia-intel"),
        vendor: "Sekoia",
        sim: &sim,
        connector_id: &connector_id,
        env: &env,
    }
    .run(|| held(&fake))
    .await;
    sim.shutdown().await.expect("the simulator stops");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_seeded_points_loses_nothing() {
    opencti_connector::tls::install_crypto_provider();
    let longest = for_each_seed(drill).await;
    println!("longest stop after SIGTERM: {longest:?}");
}
