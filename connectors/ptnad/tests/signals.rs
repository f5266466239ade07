//! SIGTERM at 20 seeded points of the binary's run against `opencti-sim`
//! and the fake PT NAD, while it applies a burst of live-stream events:
//! the stop fits in the grace, the stream position the platform holds
//! never passes an event whose value is not in PT NAD, and a restart
//! brings the list to exactly what the stream says.

use std::time::Duration;

use opencti_ptnad::fake::{FakePtnad, FakeSettings};
use opencti_sim::{Sim, SimConfig, SimHandle};

#[path = "../../../tests/signal_drill.rs"]
mod signal_drill;
#[path = "../../../tests/stream_signal_drill.rs"]
mod stream_signal_drill;

use signal_drill::for_each_seed;
use stream_signal_drill::StreamDrill;

/// PT NAD's list of IPv4 addresses.
const IP_LIST: &str = "opencti-ip";

fn environment(sim: &SimHandle, fake: &FakePtnad, connector_id: &str) -> Vec<(String, String)> {
    [
        ("OPENCTI_URL", sim.url()),
        ("OPENCTI_TOKEN", "signal-drill".to_owned()),
        ("CONNECTOR_ID", connector_id.to_owned()),
        ("CONNECTOR_NAME", "PT NAD signals".to_owned()),
        ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
        ("CONNECTOR_STOP_GRACE_PERIOD", "PT3S".to_owned()),
        ("PTNAD_URL", fake.url()),
        ("PTNAD_USERNAME", "opencti".to_owned()),
        ("PTNAD_PASSWORD", "S3cret!".to_owned()),
        ("PTNAD_BATCH_SIZE", "3".to_owned()),
        ("PTNAD_BATCH_WAIT_MS", "20".to_owned()),
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
    let fake = FakePtnad::start(FakeSettings::default())
        .await
        .expect("the fake");
    // A slow PT NAD spreads the burst over about a second.
    fake.set_delay(Some(Duration::from_millis(30)));
    let connector_id = format!("5e1d0000-0000-4000-8000-{seed:012x}");
    let env = environment(&sim, &fake, &connector_id);
    let took = StreamDrill {
        seed,
        binary: env!("CARGO_BIN_EXE_opencti-ptnad"),
        vendor: "PT NAD",
        sim: &sim,
        connector_id: &connector_id,
        env: &env,
    }
    .run(|| fake.values(IP_LIST).unwrap_or_default())
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
