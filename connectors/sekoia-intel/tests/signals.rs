//! SIGTERM at 20 seeded points of the binary's run against `opencti-sim`
//! and the fake Sekoia.io, while it applies a burst of live-stream events:
//! the stop fits in the grace, the stream position the platform holds
//! never passes an event whose value is not in the IoC collection, and a restart
//! brings the collection to exactly what the stream says.

use std::collections::BTreeSet;
use std::time::Duration;

use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};

#[path = "../../../tests/signal_drill.rs"]
mod signal_drill;
#[path = "../../../tests/stream_signal_drill.rs"]
mod stream_signal_drill;

use stream_signal_drill::{SLOW_VENDOR, StreamDrill};

const SEKOIA: StreamDrill = StreamDrill {
    binary: env!("CARGO_BIN_EXE_opencti-sekoia-intel"),
    vendor: "Sekoia",
    prefix: "SEKOIA_INTEL",
};

/// The active values of the collection.
fn held(fake: &FakeSekoia) -> BTreeSet<String> {
    fake.active_values(DEFAULT_COLLECTION).into_iter().collect()
}

async fn drill(seed: u64) -> Duration {
    let fake = FakeSekoia::start(FakeSettings::default()).await.unwrap();
    let vendor_env = [
        ("SEKOIA_INTEL_URL", fake.url()),
        ("SEKOIA_INTEL_APIKEY", "sk_test".to_owned()),
        (
            "SEKOIA_INTEL_IOC_COLLECTION_UUID",
            DEFAULT_COLLECTION.to_owned(),
        ),
    ];
    fake.set_delay(Some(SLOW_VENDOR));
    SEKOIA.run(seed, &vendor_env, || held(&fake)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_seeded_points_loses_nothing() {
    stream_signal_drill::every_seed(drill).await;
}
