//! A MISP feed served on 127.0.0.1 (`manifest.json` and one file per
//! event, in the PyMISP feed format), with bursts of server errors. The
//! MISP feed connector has no fake of its own: a feed is static files.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// Events the manifest lists at most: older ones drop out, as on a feed
/// that keeps a window of recent events.
const WINDOW: usize = 50;

#[derive(Debug, Default)]
struct Feed {
    /// Event UUID to (manifest entry, event file).
    events: VecDeque<(String, Value, String)>,
    failures_left: u32,
}

/// The server; stops when dropped.
#[derive(Debug)]
pub(crate) struct FeedServer {
    url: String,
    feed: Arc<Mutex<Feed>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FeedServer {
    pub(crate) async fn start() -> std::io::Result<Self> {
        let feed = Arc::new(Mutex::new(Feed::default()));
        let app = Router::new()
            .route("/feed/{name}", get(serve))
            .with_state(Arc::clone(&feed));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://{address}/feed"),
            feed,
            task,
        })
    }

    /// `MISP_FEED_URL`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Publishes event `index` (named `Soak event <index>`) with a few
    /// attributes, stamped `timestamp`.
    pub(crate) fn publish(&self, index: u64, timestamp: i64) {
        let uuid = format!("50a50a50-0000-4000-8000-{index:012x}");
        let name = event_name(index);
        let attributes: Vec<Value> = (0..3u64)
            .map(|n| {
                json!({
                    "uuid": format!("50a50a50-{n:04x}-4000-8000-{index:012x}"),
                    "type": "ip-dst",
                    "category": "Network activity",
                    "value": format!("10.{}.{}.{}", n + 1, (index >> 8) & 255, index & 255),
                    "to_ids": true,
                    "timestamp": timestamp.to_string(),
                })
            })
            .collect();
        let event = json!({"Event": {
            "uuid": uuid,
            "info": name,
            "date": "2024-01-15",
            "timestamp": timestamp.to_string(),
            "threat_level_id": "2",
            "analysis": "2",
            "published": true,
            "Orgc": {"name": "Soak", "uuid": "50a50a50-0000-4000-8000-000000000000"},
            "Tag": [{"name": "tlp:green"}],
            "Attribute": attributes,
        }});
        let entry = json!({
            "Orgc": {"name": "Soak", "uuid": "50a50a50-0000-4000-8000-000000000000"},
            "Tag": [{"name": "tlp:green", "colour": "#33FF00", "local": false}],
            "info": name,
            "date": "2024-01-15",
            "analysis": "2",
            "threat_level_id": "2",
            "timestamp": timestamp.to_string(),
        });
        let mut feed = lock(&self.feed);
        feed.events.push_back((uuid, entry, event.to_string()));
        if feed.events.len() > WINDOW {
            feed.events.pop_front();
        }
    }

    /// The next `count` requests get a 503.
    pub(crate) fn fail_next(&self, count: u32) {
        lock(&self.feed).failures_left += count;
    }
}

/// The report name the platform stores for event `index`.
pub(crate) fn event_name(index: u64) -> String {
    format!("Soak event {index}")
}

fn lock(feed: &Mutex<Feed>) -> std::sync::MutexGuard<'_, Feed> {
    feed.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve(State(feed): State<Arc<Mutex<Feed>>>, Path(name): Path<String>) -> Response {
    let mut feed = lock(&feed);
    if feed.failures_left > 0 {
        feed.failures_left -= 1;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if name == "manifest.json" {
        let manifest: BTreeMap<&str, &Value> = feed
            .events
            .iter()
            .map(|(uuid, entry, _)| (uuid.as_str(), entry))
            .collect();
        return axum::Json(manifest).into_response();
    }
    let uuid = name.strip_suffix(".json").unwrap_or(&name);
    match feed.events.iter().find(|(id, _, _)| id == uuid) {
        Some((_, _, body)) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
