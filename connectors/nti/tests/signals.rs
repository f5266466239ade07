//! SIGTERM at 20 seeded points of the binary's run against `opencti-sim`
//! and the fake NTI: the stop fits in the grace, the state the platform
//! holds never names a file whose addresses it does not hold, and a
//! restart imports everything.

use std::collections::BTreeMap;
use std::time::Duration;

use opencti_nti::connector::IMPORTED_FILES;
use opencti_nti::fake::{self, FakeNti};
use serde_json::{Value, json};

#[path = "../../../tests/import_signal_drill.rs"]
mod import_signal_drill;
#[path = "../../../tests/signal_drill.rs"]
mod signal_drill;

use import_signal_drill::{ImportDrill, sigterm_at_seeded_points};

const KEY: &str = "signal-drill-key";

/// Three feed files of four addresses each.
fn files(seed: u64) -> BTreeMap<String, Vec<String>> {
    (1..=3u64)
        .map(|file| {
            let name = format!("data.NTI.API.V2.0.ip-basic-updated.20250425.{file:04}.json");
            let values = (0..4u64)
                .map(|n| format!("10.{}.{}.{}", seed, file, n + 1))
                .collect();
            (name, values)
        })
        .collect()
}

fn package(files: &BTreeMap<String, Vec<String>>) -> Vec<u8> {
    let entries: Vec<(String, String)> = files
        .iter()
        .map(|(name, values)| {
            let records: Vec<Value> = values
                .iter()
                .map(|value| {
                    json!({
                        "object": {"type": "ipv4-addr", "value": value},
                        "modified": "2025-04-25T00:00:00Z",
                    })
                })
                .collect();
            (name.clone(), fake::entry_content(&records))
        })
        .collect();
    fake::package(&entries)
}

/// The fake NTI serving a package of [`files`].
struct Nti {
    server: FakeNti,
    files: BTreeMap<String, Vec<String>>,
}

impl ImportDrill for Nti {
    const BINARY: &'static str = env!("CARGO_BIN_EXE_opencti-nti");
    const NAME: &'static str = "NTI signals";
    const MAX_DELAY: Duration = Duration::from_millis(1500);
    const STORED: (&'static str, &'static str) = ("ipv4-addr", "value");

    async fn start(seed: u64) -> Self {
        let server = FakeNti::start(KEY).await;
        let files = files(seed);
        server.set_package(package(&files));
        Self { server, files }
    }

    fn variables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("NTI_BASE_URL", self.server.base_url()),
            ("NTI_API_KEY", KEY.to_owned()),
            ("NTI_CREATE_IOC", "false".to_owned()),
            ("NTI_CREATE_IP", "true".to_owned()),
        ]
    }

    fn expected(&self) -> Vec<String> {
        self.files.values().flatten().cloned().collect()
    }

    /// The addresses of the files the state names as imported: a file it
    /// names must be in the platform entirely.
    fn vouched(&self, state: &Value) -> Vec<String> {
        let Some(imported) = state.get(IMPORTED_FILES).and_then(Value::as_object) else {
            return Vec::new();
        };
        imported
            .keys()
            .filter_map(|name| self.files.get(name))
            .flatten()
            .cloned()
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_seeded_points_loses_nothing() {
    sigterm_at_seeded_points::<Nti>().await;
}
