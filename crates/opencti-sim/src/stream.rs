//! `GET /stream/{id}`: the live stream in the platform's server-sent-events
//! wire format.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::model::{StreamCollection, iso, now};
use crate::objects::{OCTI_EXTENSION, stream_data};
use crate::store::{EventId, Store};

/// A validated stream request.
#[derive(Debug, Clone)]
pub(crate) struct StreamRequest {
    pub(crate) collection: StreamCollection,
    /// Start strictly after this id; `None`: only events from now on.
    pub(crate) from: Option<EventId>,
    /// Recover objects updated up to this id first (requires `from`).
    pub(crate) recover: Option<EventId>,
    pub(crate) listen_delete: bool,
    pub(crate) no_dependencies: bool,
    pub(crate) with_inferences: bool,
}

/// Request parameters as read from the query string and headers.
#[derive(Debug, Default)]
pub(crate) struct RawParameters {
    pub(crate) from: Option<String>,
    pub(crate) recover: Option<String>,
    pub(crate) listen_delete: Option<String>,
    pub(crate) no_dependencies: Option<String>,
    pub(crate) with_inferences: Option<String>,
}

impl StreamRequest {
    /// Applies the platform's parameter rules; errors are 500 reasons.
    pub(crate) fn new(collection: StreamCollection, raw: &RawParameters) -> Result<Self, String> {
        let from = raw.from.as_deref().map(parse_position).transpose()?;
        let recover = raw.recover.as_deref().map(parse_position).transpose()?;
        if recover.is_some() && from.is_none() {
            return Err("Recovery mode is only possible with a start date.".to_owned());
        }
        Ok(Self {
            collection,
            from,
            recover,
            listen_delete: raw.listen_delete.as_deref() != Some("false"),
            no_dependencies: raw.no_dependencies.as_deref() == Some("true"),
            with_inferences: raw.with_inferences.as_deref() == Some("true"),
        })
    }
}

/// `0`/`0-0`, `<ms>-<seq>` or an ISO date (-> `<ms>-0`).
pub(crate) fn parse_position(text: &str) -> Result<EventId, String> {
    let text = text.trim();
    if let Ok(id) = text.parse::<EventId>() {
        return Ok(id);
    }
    let date = DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|d| d.and_utc())
        })
        .map_err(|_| format!("`{text}` is neither a stream id nor an ISO date"))?;
    Ok(EventId::new(
        u64::try_from(date.timestamp_millis()).unwrap_or(0),
        0,
    ))
}

fn frame(id: Option<&str>, event: &str, data: &Value) -> Bytes {
    frame_text(id, event, &data.to_string())
}

fn frame_text(id: Option<&str>, event: &str, data: &str) -> Bytes {
    let mut text = String::with_capacity(data.len() + 64);
    if let Some(id) = id {
        text.push_str("id: ");
        text.push_str(id);
        text.push('\n');
    }
    text.push_str("event: ");
    text.push_str(event);
    text.push_str("\ndata: ");
    text.push_str(data);
    text.push_str("\n\n");
    Bytes::from(text)
}

fn now_ms() -> u64 {
    u64::try_from(now().timestamp_millis()).unwrap_or(0)
}

/// The body of one stream connection. The connection ends when the client
/// goes away or `cancel` fires.
pub(crate) fn open(
    store: Arc<Store>,
    request: StreamRequest,
    heartbeat: Duration,
    cancel: CancellationToken,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let (sender, receiver) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        tokio::select! {
            () = cancel.cancelled() => {}
            () = Connection::new(store, request, sender.clone()).run(heartbeat) => {}
            () = sender.closed() => {}
        }
    });
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|bytes| (Ok(bytes), receiver))
    })
}

struct Connection {
    store: Arc<Store>,
    request: StreamRequest,
    sender: mpsc::Sender<Bytes>,
    /// Read position: events strictly after it are still to be read.
    position: Option<EventId>,
    /// Whether an event was read since the previous heartbeat.
    read_since_heartbeat: bool,
    /// Objects already sent on this connection (dependency resolution).
    sent: HashSet<String>,
}

/// The client hung up.
struct Closed;

impl Connection {
    fn new(store: Arc<Store>, request: StreamRequest, sender: mpsc::Sender<Bytes>) -> Self {
        Self {
            position: request.from,
            store,
            request,
            sender,
            read_since_heartbeat: false,
            sent: HashSet::new(),
        }
    }

    async fn send(&self, bytes: Bytes) -> Result<(), Closed> {
        self.sender.send(bytes).await.map_err(|_| Closed)
    }

    async fn run(mut self, heartbeat: Duration) {
        let mut changes = self.store.subscribe();
        if self.start().await.is_err() {
            return;
        }
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        loop {
            let outcome = tokio::select! {
                changed = changes.changed() => match changed {
                    Ok(()) => self.deliver_pending().await,
                    Err(_) => return,
                },
                _ = ticker.tick() => self.heartbeat().await,
            };
            if outcome.is_err() {
                return;
            }
        }
    }

    async fn start(&mut self) -> Result<(), Closed> {
        let (connected, tail) = self.store.read(|state| {
            let first = state
                .events
                .first()
                .and_then(|e| e.id.parse::<EventId>().ok());
            let last = state
                .events
                .last()
                .and_then(|e| e.id.parse::<EventId>().ok());
            let connected = json!({
                "lastEventId": last.map(|id| id.to_string()),
                "firstEventId": first.map(|id| id.to_string()),
                "firstEventDate": first.map(|id| iso(id.date())),
                "lastEventDate": last.map(|id| iso(id.date())),
                "streamSize": state.events.len(),
                "connectionId": uuid::Uuid::new_v4().to_string(),
            });
            (connected, last)
        });
        self.send(frame(None, "connected", &connected)).await?;
        if self.position.is_none() {
            // Live mode: only what comes next.
            self.position = tail;
        }
        if let (Some(from), Some(recover)) = (self.request.from, self.request.recover)
            && recover > from
        {
            self.recover(from, recover).await?;
            self.position = Some(recover);
        }
        self.deliver_pending().await
    }

    /// Objects updated between `from` and `recover`, sent as `create` events.
    /// The millisecond of `from` is included: a connector that stopped
    /// after the first of several objects of that millisecond gets them all
    /// again rather than losing the rest (a repeat is harmless).
    async fn recover(&mut self, from: EventId, recover: EventId) -> Result<(), Closed> {
        let (from_date, until) = (from.date(), recover.date());
        let mut objects = self.store.read(|state| {
            state
                .objects
                .values()
                .filter(|o| o.updated_at >= from_date && o.updated_at <= until)
                .filter(|o| self.request.collection.accepts(&o.stix_type))
                .filter(|o| self.request.with_inferences || !o.is_inferred)
                .map(|o| {
                    (
                        o.updated_at,
                        o.id.clone(),
                        stream_data(o),
                        o.entity_type.clone(),
                    )
                })
                .collect::<Vec<_>>()
        });
        objects.sort_by_key(|object| object.0);
        for (index, (updated_at, id, data, entity_type)) in objects.into_iter().enumerate() {
            let event_id = EventId::new(
                u64::try_from(updated_at.timestamp_millis()).unwrap_or(0),
                index as u64,
            );
            let payload = json!({
                "version": "4",
                "type": "create",
                "scope": "external",
                "message": format!("creates a {entity_type}"),
                "origin": {"referer": "init"},
                "data": data,
            });
            self.send(frame(Some(&event_id.to_string()), "create", &payload))
                .await?;
            self.sent.insert(id);
        }
        Ok(())
    }

    async fn deliver_pending(&mut self) -> Result<(), Closed> {
        let position = self.position;
        let pending = self.store.read(|state| {
            let start = position.map_or(0, |p| state.first_event_after(p));
            state.events[start..].to_vec()
        });
        for event in pending {
            self.position = event.id.parse().ok().or(self.position);
            self.read_since_heartbeat = true;
            let payload = event.payload();
            if !self.wanted(&event.event, &payload) {
                continue;
            }
            if !self.request.no_dependencies && matches!(event.event.as_str(), "create" | "update")
            {
                self.send_dependencies(&event.id, &payload["data"]).await?;
            }
            if let Some(id) = payload["data"].get("id").and_then(Value::as_str) {
                self.sent.insert(id.to_owned());
            }
            self.send(frame_text(Some(&event.id), &event.event, event.data.get()))
                .await?;
        }
        Ok(())
    }

    fn wanted(&self, event: &str, payload: &Value) -> bool {
        let data = &payload["data"];
        let stix_type = data.get("type").and_then(Value::as_str).unwrap_or_default();
        let inferred = data["extensions"][OCTI_EXTENSION]["is_inferred"]
            .as_bool()
            .unwrap_or(false);
        (event != "delete" || self.request.listen_delete)
            && (self.request.with_inferences || !inferred)
            && self.request.collection.accepts(stix_type)
    }

    /// Referenced objects this connection has not seen yet go first, as
    /// `create` events carrying the triggering event's id.
    async fn send_dependencies(&mut self, event_id: &str, data: &Value) -> Result<(), Closed> {
        let Some(map) = data.as_object() else {
            return Ok(());
        };
        let references: Vec<String> = map
            .iter()
            .filter(|(key, _)| key.ends_with("_ref") || key.ends_with("_refs"))
            .flat_map(|(_, value)| match value {
                Value::String(id) => vec![id.clone()],
                Value::Array(ids) => ids
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            })
            .filter(|id| !self.sent.contains(id))
            .collect();
        for reference in references {
            let dependency = self.store.read(|state| {
                state
                    .objects
                    .get(&reference)
                    .filter(|o| self.request.with_inferences || !o.is_inferred)
                    .map(|o| (stream_data(o), o.entity_type.clone()))
            });
            if let Some((data, entity_type)) = dependency {
                let payload = json!({
                    "version": "4",
                    "type": "create",
                    "scope": "external",
                    "message": format!("creates a {entity_type}"),
                    "origin": {"referer": "dependencies"},
                    "data": data,
                });
                self.send(frame(Some(event_id), "create", &payload)).await?;
                self.sent.insert(reference);
            }
        }
        Ok(())
    }

    async fn heartbeat(&mut self) -> Result<(), Closed> {
        if !self.read_since_heartbeat {
            // Announce "now" unless events arrived meanwhile: checked and
            // reserved under one lock so no event can slip under the id.
            let position = self.position;
            let reserved = self.store.write(|state| {
                let pending =
                    position.map_or(0, |p| state.first_event_after(p)) < state.events.len();
                (!pending).then(|| state.reserve_position(now_ms()))
            });
            match reserved {
                Some(id) => self.position = Some(id),
                None => self.deliver_pending().await?,
            }
        }
        self.read_since_heartbeat = false;
        let Some(position) = self.position else {
            return Ok(());
        };
        let date = json!(iso(position.date()));
        self.send(frame(Some(&position.to_string()), "heartbeat", &date))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt as _;

    #[test]
    fn positions_accept_ids_zero_and_iso_dates() {
        assert_eq!(parse_position("0"), Ok(EventId::new(0, 0)));
        assert_eq!(parse_position("0-0"), Ok(EventId::new(0, 0)));
        assert_eq!(
            parse_position("1718010586174-2"),
            Ok(EventId::new(1_718_010_586_174, 2))
        );
        assert_eq!(
            parse_position("2026-01-15T10:30:00Z"),
            Ok(EventId::new(1_768_473_000_000, 0))
        );
        assert_eq!(
            parse_position("2026-01-15T10:30:00.500Z"),
            Ok(EventId::new(1_768_473_000_500, 0))
        );
        assert!(parse_position("yesterday").is_err());
    }

    #[test]
    fn recover_needs_a_start_and_booleans_follow_the_platform() {
        let raw = || RawParameters {
            recover: Some("2026-01-15T10:30:00Z".to_owned()),
            ..RawParameters::default()
        };
        assert_eq!(
            StreamRequest::new(StreamCollection::live(), &raw()).unwrap_err(),
            "Recovery mode is only possible with a start date."
        );
        let request =
            StreamRequest::new(StreamCollection::live(), &RawParameters::default()).expect("valid");
        assert!(request.listen_delete && !request.no_dependencies && !request.with_inferences);
        let request = StreamRequest::new(
            StreamCollection::live(),
            &RawParameters {
                listen_delete: Some("false".to_owned()),
                no_dependencies: Some("true".to_owned()),
                with_inferences: Some("true".to_owned()),
                ..RawParameters::default()
            },
        )
        .expect("valid");
        assert!(!request.listen_delete && request.no_dependencies && request.with_inferences);
    }

    fn text(bytes: &Bytes) -> String {
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test(start_paused = true)]
    async fn connected_comes_first_without_id_then_heartbeats_every_period() {
        let store = Arc::new(Store::new(crate::store::State::default()));
        let request =
            StreamRequest::new(StreamCollection::live(), &RawParameters::default()).expect("valid");
        let cancel = CancellationToken::new();
        let mut stream = Box::pin(open(
            Arc::clone(&store),
            request,
            Duration::from_secs(5),
            cancel.clone(),
        ));

        let connected = text(&stream.next().await.expect("connected").expect("infallible"));
        assert!(
            connected.starts_with("event: connected\ndata: {"),
            "{connected}"
        );
        assert!(!connected.contains("id: "));

        let started = tokio::time::Instant::now();
        let heartbeat = text(&stream.next().await.expect("heartbeat").expect("infallible"));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert!(heartbeat.starts_with("id: "), "{heartbeat}");
        assert!(
            heartbeat.contains("\nevent: heartbeat\ndata: \""),
            "{heartbeat}"
        );

        // An event appended after the heartbeat sorts after the announced id.
        let announced: EventId = heartbeat[4..heartbeat.find('\n').expect("line")]
            .parse()
            .expect("id");
        store.write(|state| {
            state.push_event(
                "create".to_owned(),
                json!({"data": {"type": "indicator", "id": "indicator--x"}}),
                0,
            )
        });
        let event = text(&stream.next().await.expect("event").expect("infallible"));
        let id: EventId = event[4..event.find('\n').expect("line")]
            .parse()
            .expect("id");
        assert!(id > announced, "{id} must come after {announced}");
        assert!(event.contains("\nevent: create\n"));

        let second = tokio::time::Instant::now();
        let heartbeat = text(&stream.next().await.expect("heartbeat").expect("infallible"));
        assert_eq!(second.elapsed(), Duration::from_secs(5));
        assert!(
            heartbeat.starts_with(&format!("id: {id}\n")),
            "after a read the heartbeat carries the position"
        );

        cancel.cancel();
        assert!(stream.next().await.is_none(), "cancel ends the body");
    }
}
