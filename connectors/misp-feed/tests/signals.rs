//! SIGTERM at 20 seeded points of the binary's run against `opencti-sim`
//! and a MISP feed on loopback: the stop fits in the grace, the cursor the
//! platform holds never passes an event it does not hold, and a restart
//! imports everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opencti_testkit::axum::Router;
use opencti_testkit::axum::extract::{Path, State};
use opencti_testkit::axum::http::StatusCode;
use opencti_testkit::axum::routing::get;
use opencti_testkit::vendor::FakeVendor;
use serde_json::{Value, json};

#[path = "../../../tests/import_signal_drill.rs"]
mod import_signal_drill;
#[path = "../../../tests/signal_drill.rs"]
mod signal_drill;

use import_signal_drill::{ImportDrill, sigterm_at_seeded_points};

/// Events in the feed, of [`ATTRIBUTES`] attributes each.
const EVENTS: u64 = 8;
const ATTRIBUTES: u64 = 30;
/// The first event's timestamp; event `n` has `FIRST + n`.
const FIRST: i64 = 1_700_000_000;

type Files = Arc<HashMap<String, String>>;

/// The feed's files: `manifest.json` and one file per event.
fn feed(seed: u64) -> HashMap<String, String> {
    let mut files = HashMap::new();
    let mut manifest = serde_json::Map::new();
    for n in 0..EVENTS {
        let uuid = format!("5e1d{seed:04x}-0000-4000-8000-{n:012x}");
        let timestamp = (FIRST + n as i64).to_string();
        let attributes: Vec<Value> = (0..ATTRIBUTES)
            .map(|a| {
                json!({
                    "uuid": format!("5e1d{seed:04x}-{a:04x}-4000-8000-{n:012x}"),
                    "type": "ip-dst",
                    "category": "Network activity",
                    "value": format!("10.{seed}.{n}.{a}"),
                    "to_ids": true,
                    "timestamp": timestamp,
                })
            })
            .collect();
        let event = json!({"Event": {
            "uuid": uuid, "info": event_name(n), "date": "2024-01-15",
            "timestamp": timestamp, "threat_level_id": "2", "analysis": "2",
            "published": true,
            "Orgc": {"name": "Drill", "uuid": "5e1d0000-0000-4000-8000-000000000000"},
            "Attribute": attributes,
        }});
        manifest.insert(
            uuid.clone(),
            json!({
                "Orgc": {"name": "Drill", "uuid": "5e1d0000-0000-4000-8000-000000000000"},
                "info": event_name(n), "date": "2024-01-15", "analysis": "2",
                "threat_level_id": "2", "timestamp": timestamp,
            }),
        );
        files.insert(format!("{uuid}.json"), event.to_string());
    }
    files.insert(
        "manifest.json".to_owned(),
        Value::Object(manifest).to_string(),
    );
    files
}

fn event_name(n: u64) -> String {
    format!("Drill event {n}")
}

/// A feed of [`EVENTS`] events served under `/feed/`.
struct Feed {
    url: String,
    _server: FakeVendor,
}

impl ImportDrill for Feed {
    const BINARY: &'static str = env!("CARGO_BIN_EXE_opencti-misp-feed");
    const NAME: &'static str = "MISP feed signals";
    const MAX_DELAY: Duration = Duration::from_millis(2500);
    const STORED: (&'static str, &'static str) = ("report", "name");

    async fn start(seed: u64) -> Self {
        async fn file(
            State(files): State<Files>,
            Path(name): Path<String>,
        ) -> Result<String, StatusCode> {
            files.get(&name).cloned().ok_or(StatusCode::NOT_FOUND)
        }
        let routes = Router::new()
            .route("/feed/{name}", get(file))
            .with_state(Arc::new(feed(seed)));
        let server = FakeVendor::start(routes).await.expect("a loopback port");
        Self {
            url: server.url_for("/feed"),
            _server: server,
        }
    }

    fn variables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MISP_FEED_URL", self.url.clone()),
            ("MISP_FEED_IMPORT_FROM_DATE", "1970-01-01".to_owned()),
            ("MISP_FEED_CREATE_INDICATORS", "true".to_owned()),
            ("MISP_FEED_CREATE_OBSERVABLES", "true".to_owned()),
        ]
    }

    fn expected(&self) -> Vec<String> {
        (0..EVENTS).map(event_name).collect()
    }

    /// The events up to the cursor (by timestamp).
    fn vouched(&self, state: &Value) -> Vec<String> {
        let Some(cursor) = state.get("last_event_timestamp").and_then(Value::as_i64) else {
            return Vec::new();
        };
        (0..EVENTS)
            .filter(|n| FIRST + *n as i64 <= cursor)
            .map(event_name)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_seeded_points_loses_nothing() {
    sigterm_at_seeded_points::<Feed>().await;
}
