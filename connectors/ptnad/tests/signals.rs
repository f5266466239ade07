//! SIGTERM at 20 seeded points of the binary's run against `opencti-sim`
//! and the fake PT NAD, while it applies a burst of live-stream events:
//! the stop fits in the grace, the stream position the platform holds
//! never passes an event whose value is not in PT NAD, and a restart
//! brings the list to exactly what the stream says.

use std::time::Duration;

use opencti_ptnad::fake::{FakePtnad, FakeSettings};

#[path = "../../../tests/signal_drill.rs"]
mod signal_drill;
#[path = "../../../tests/stream_signal_drill.rs"]
mod stream_signal_drill;

use stream_signal_drill::{SLOW_VENDOR, StreamDrill};

const PTNAD: StreamDrill = StreamDrill {
    binary: env!("CARGO_BIN_EXE_opencti-ptnad"),
    vendor: "PT NAD",
    prefix: "PTNAD",
};

/// PT NAD's list of IPv4 addresses.
const IP_LIST: &str = "opencti-ip";

async fn drill(seed: u64) -> Duration {
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let vendor_env = [
        ("PTNAD_URL", fake.url()),
        ("PTNAD_USERNAME", "opencti".to_owned()),
        ("PTNAD_PASSWORD", "S3cret!".to_owned()),
    ];
    fake.set_delay(Some(SLOW_VENDOR));
    PTNAD
        .run(seed, &vendor_env, || {
            fake.values(IP_LIST).unwrap_or_default()
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_seeded_points_loses_nothing() {
    stream_signal_drill::every_seed(drill).await;
}
