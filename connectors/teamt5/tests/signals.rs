//! SIGTERM at 20 seeded points of the binary's run against `opencti-sim`
//! and the fake ThreatVision API: the stop fits in the grace, the state the
//! platform holds never claims publications it does not hold, and a
//! restart imports everything.

use std::time::Duration;

use opencti_sim::SimHandle;
use opencti_teamt5::fake::{FakeSettings, FakeTeamt5};
use serde_json::{Value, json};

#[path = "../../../tests/import_signal_drill.rs"]
mod import_signal_drill;
#[path = "../../../tests/signal_drill.rs"]
mod signal_drill;

use import_signal_drill::{ImportDrill, sigterm_at_seeded_points};

/// IoC bundles the fake publishes per seed.
const BUNDLES: u64 = 6;

fn indicator_id(seed: u64, n: u64) -> String {
    format!("indicator--{seed:08x}-0000-4000-8000-{n:012x}")
}

fn publish(fake: &FakeTeamt5, seed: u64) -> Vec<String> {
    let url = fake.url();
    let now = chrono::Utc::now().timestamp();
    (0..BUNDLES)
        .map(|n| {
            let id = indicator_id(seed, n);
            let item = json!({
                "id": format!("b{n}"),
                "created_at": now - 60 + n as i64,
                "stix_url": format!("{url}api/v2/ioc_bundles/b{n}.stix"),
                "csv_url": format!("{url}api/v2/ioc_bundles/b{n}.csv"),
                "txt_url": null,
            });
            let bundle = json!({
                "type": "bundle",
                "id": format!("bundle--{seed:08x}-0000-4000-8000-{n:012x}"),
                "objects": [{
                    "type": "indicator", "spec_version": "2.1", "id": id,
                    "created": "2025-11-20T09:00:00.000Z",
                    "modified": "2025-11-20T09:00:00.000Z",
                    "pattern": format!("[ipv4-addr:value = '198.51.100.{n}']"),
                    "pattern_type": "stix",
                    "valid_from": "2025-11-20T09:00:00Z",
                }],
            });
            fake.add_ioc_bundle(item, &bundle);
            id
        })
        .collect()
}

/// The fake ThreatVision API with [`BUNDLES`] IoC bundles published.
struct ThreatVision {
    fake: FakeTeamt5,
    published: Vec<String>,
}

impl ImportDrill for ThreatVision {
    const BINARY: &'static str = env!("CARGO_BIN_EXE_opencti-teamt5");
    const NAME: &'static str = "TeamT5 signals";
    const MAX_DELAY: Duration = Duration::from_millis(3000);
    const STORED: (&'static str, &'static str) = ("indicator", "id");

    async fn start(seed: u64) -> Self {
        let fake = FakeTeamt5::start(FakeSettings::default())
            .await
            .expect("the fake");
        let published = publish(&fake, seed);
        Self { fake, published }
    }

    fn variables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TEAMT5_API_BASE_URL", self.fake.url()),
            ("TEAMT5_CLIENT_ID", "cid".to_owned()),
            ("TEAMT5_CLIENT_SECRET", "csecret".to_owned()),
            ("TEAMT5_TLP_LEVEL", "amber".to_owned()),
        ]
    }

    fn expected(&self) -> Vec<String> {
        self.published.clone()
    }

    /// A cursor that moved vouches for every publication before it.
    fn vouched(&self, state: &Value) -> Vec<String> {
        if state.get("last_run").is_some() {
            self.published.clone()
        } else {
            Vec::new()
        }
    }

    /// The restart registered and pinged after its run (nothing is left to
    /// import when the first run completed, and the cursor had moved).
    fn restart_ran(&self, sim: &SimHandle) -> bool {
        sim.graphql_calls()
            .last()
            .is_some_and(|call| call.operation.as_deref() == Some("PingConnector"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_seeded_points_loses_nothing() {
    sigterm_at_seeded_points::<ThreatVision>().await;
}
