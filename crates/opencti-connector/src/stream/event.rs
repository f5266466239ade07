//! Typed live-stream events.
//!
//! The platform sends `create`, `update`, `delete` and `merge` events whose
//! `data` field is a JSON envelope around one STIX object; the runtime turns
//! each into a [`StreamEvent`] before a sink sees it. `heartbeat`,
//! `connected` and `no-recover` messages only move or configure the
//! position and never reach a sink.

use opencti_stix::{StixError, StixObject};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::sse::SseEvent;

/// Key of the OpenCTI extension every streamed STIX object carries.
pub const OPENCTI_EXTENSION: &str = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";

/// What happened to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// The object was created, or entered the stream's filters, or is sent
    /// as a dependency or during recovery.
    Create,
    /// The object changed; [`StreamEvent::context`] holds the patches.
    Update,
    /// The object was deleted or left the stream's filters.
    Delete,
    /// Other objects were merged into this one.
    Merge,
}

impl EventKind {
    /// The SSE event name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Merge => "merge",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "create" => Some(Self::Create),
            "update" => Some(Self::Update),
            "delete" => Some(Self::Delete),
            "merge" => Some(Self::Merge),
            _ => None,
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A STIX 2.1 object as streamed by the platform, in JSON object form.
///
/// The runtime keeps the platform's JSON as it came: a sink reads the few
/// properties it needs without the event being refused because some other
/// property does not fit a model. [`StixData::to_stix`] gives the typed
/// `opencti-stix` model when a sink wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct StixData(Map<String, Value>);

impl StixData {
    /// Wraps a JSON object.
    pub fn new(object: Map<String, Value>) -> Self {
        Self(object)
    }

    /// The STIX `id`, empty if absent.
    pub fn id(&self) -> &str {
        self.str_field("id").unwrap_or_default()
    }

    /// The STIX `type` (`indicator`, `ipv4-addr`, ...), empty if absent.
    pub fn stix_type(&self) -> &str {
        self.str_field("type").unwrap_or_default()
    }

    /// A top-level property.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// A top-level property that is a string.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// The OpenCTI extension (internal id, entity type, timestamps, ...).
    pub fn opencti_extension(&self) -> Option<&Map<String, Value>> {
        self.0
            .get("extensions")?
            .get(OPENCTI_EXTENSION)?
            .as_object()
    }

    /// The object as a typed `opencti-stix` model (a copy).
    pub fn to_stix(&self) -> Result<StixObject, StixError> {
        StixObject::from_value(Value::Object(self.0.clone()))
    }

    /// The whole object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The whole object, by value.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

/// Change context of `update` and `merge` events.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct EventContext {
    /// RFC 6902 operations that turned the previous object into this one.
    pub patch: Vec<Value>,
    /// RFC 6902 operations that undo [`Self::patch`].
    pub reverse_patch: Vec<Value>,
    /// For `merge`: the objects merged into this one.
    pub sources: Vec<StixData>,
    /// The whole `context` object, including fields not modelled above.
    pub raw: Map<String, Value>,
}

/// A data event handed to a [`StreamSink`](super::sink::StreamSink).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamEvent {
    /// The stream id of the event (`<epoch ms>-<sequence>`).
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// The platform's human-readable description.
    pub message: String,
    /// Who or what caused the event (`{"referer": "dependencies"}` for
    /// dependencies, `{"referer": "init"}` during recovery, otherwise the
    /// user context).
    pub origin: Map<String, Value>,
    /// The object the event is about.
    pub object: StixData,
    /// Patches for `update`, patches and sources for `merge`.
    pub context: Option<EventContext>,
}

/// Why an event's payload could not be turned into a [`StreamEvent`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// `data` is not JSON or lacks a required field.
    #[error("event {id} ({kind}): malformed data: {reason}")]
    MalformedData {
        /// The stream id of the rejected event.
        id: String,
        /// The event kind.
        kind: EventKind,
        /// What is wrong with it.
        reason: String,
    },
}

impl EventError {
    /// The stream id of the event concerned.
    pub fn event_id(&self) -> &str {
        match self {
            Self::MalformedData { id, .. } => id,
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    origin: Option<Map<String, Value>>,
    data: Map<String, Value>,
    #[serde(default)]
    context: Option<Map<String, Value>>,
}

impl StreamEvent {
    /// Parses the `data` of a `create`/`update`/`delete`/`merge` event.
    pub fn parse(id: &str, kind: EventKind, data: &str) -> Result<Self, EventError> {
        let malformed = |reason: String| EventError::MalformedData {
            id: id.to_owned(),
            kind,
            reason,
        };
        let envelope: Envelope =
            serde_json::from_str(data).map_err(|e| malformed(e.to_string()))?;
        if envelope.data.get("type").and_then(Value::as_str).is_none() {
            return Err(malformed(
                "the STIX object in `data` has no string `type`".to_owned(),
            ));
        }
        if envelope.data.get("id").and_then(Value::as_str).is_none() {
            return Err(malformed(
                "the STIX object in `data` has no string `id`".to_owned(),
            ));
        }
        let context = envelope
            .context
            .map(parse_context)
            .transpose()
            .map_err(malformed)?;
        Ok(Self {
            id: id.to_owned(),
            kind,
            message: envelope.message.unwrap_or_default(),
            origin: envelope.origin.unwrap_or_default(),
            object: StixData(envelope.data),
            context,
        })
    }

    /// An event made in memory instead of read from a stream, for a sink's
    /// tests: `object` is the STIX object (the `data` of the platform's
    /// payload) and `context` its `context` member (`patch`,
    /// `reverse_patch`, `sources`), if any. It goes through the same checks
    /// as a streamed event.
    ///
    /// # Panics
    ///
    /// When the stream's reader would refuse the event: `object` without a
    /// string `type` or `id`, a `context` whose lists are not lists.
    ///
    /// Available with the `test-util` feature only (enable it in your
    /// `[dev-dependencies]`).
    #[cfg(any(test, feature = "test-util"))]
    pub fn for_test(id: &str, kind: EventKind, object: Value, context: Option<Value>) -> Self {
        let mut payload = Map::new();
        payload.insert("data".to_owned(), object);
        if let Some(context) = context {
            payload.insert("context".to_owned(), context);
        }
        let payload = Value::Object(payload).to_string();
        Self::parse(id, kind, &payload).unwrap_or_else(|error| panic!("{error}"))
    }

    /// Milliseconds since the Unix epoch encoded in [`Self::id`].
    pub fn timestamp_ms(&self) -> Option<u64> {
        id_timestamp_ms(&self.id)
    }

    /// The RFC 6902 operations that turned the previous object into this
    /// one; empty for events without a context.
    pub fn patch(&self) -> &[Value] {
        self.context
            .as_ref()
            .map_or(&[], |context| context.patch.as_slice())
    }

    /// The RFC 6902 operations that undo [`StreamEvent::patch`]; empty for
    /// events without a context.
    pub fn reverse_patch(&self) -> &[Value] {
        self.context
            .as_ref()
            .map_or(&[], |context| context.reverse_patch.as_slice())
    }

    /// For a `merge`, the objects merged into [`StreamEvent::object`]
    /// (which no longer exist); empty for other kinds.
    pub fn merged_sources(&self) -> &[StixData] {
        match (&self.context, self.kind) {
            (Some(context), EventKind::Merge) => &context.sources,
            _ => &[],
        }
    }

    /// The object as it was before this event, as far as the top-level
    /// `fields` go; `None` when the event changed none of them. See
    /// [`previous_fields`].
    pub fn previous_fields(&self, fields: &[&str]) -> Option<Map<String, Value>> {
        previous_fields(self.object.as_map(), self.reverse_patch(), fields)
    }
}

fn parse_context(raw: Map<String, Value>) -> Result<EventContext, String> {
    let list = |key: &str| -> Result<Vec<Value>, String> {
        match raw.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(format!("`context.{key}` is not an array")),
        }
    };
    let sources = list("sources")?
        .into_iter()
        .map(|source| match source {
            Value::Object(object) => Ok(StixData(object)),
            _ => Err("`context.sources` holds a non-object".to_owned()),
        })
        .collect::<Result<_, _>>()?;
    Ok(EventContext {
        patch: list("patch")?,
        reverse_patch: list("reverse_patch")?,
        sources,
        raw,
    })
}

/// The object as it was before an update, as far as the top-level `fields`
/// go: the operations of `reverse_patch` (the event context's) on those
/// fields are applied to a copy of `object`, the others are ignored.
/// `None` when the update touched none of `fields`, so a sink that only
/// cares about, say, `pattern` can tell a pattern change from any other.
pub fn previous_fields(
    object: &Map<String, Value>,
    reverse_patch: &[Value],
    fields: &[&str],
) -> Option<Map<String, Value>> {
    let mut previous = object.clone();
    let mut touched = false;
    for operation in reverse_patch {
        let Some(field) = operation
            .get("path")
            .and_then(Value::as_str)
            .and_then(|path| path.strip_prefix('/'))
            .filter(|field| fields.contains(field))
        else {
            continue;
        };
        match operation.get("op").and_then(Value::as_str) {
            Some("add" | "replace") => {
                let value = operation.get("value").cloned().unwrap_or(Value::Null);
                previous.insert(field.to_owned(), value);
            }
            Some("remove") => {
                previous.remove(field);
            }
            _ => continue,
        }
        touched = true;
    }
    touched.then_some(previous)
}

/// The epoch milliseconds of a stream id `<ms>-<seq>`.
pub fn id_timestamp_ms(id: &str) -> Option<u64> {
    let (millis, sequence) = id.split_once('-')?;
    sequence.parse::<u64>().ok()?;
    millis.parse().ok()
}

/// An SSE message, classified.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived; boxing would cost an allocation per event"
)]
pub(crate) enum Incoming {
    /// `heartbeat`, `connected` with an id, or `consumer_metrics`: only the
    /// position moves.
    Marker { id: String, name: &'static str },
    /// The platform asks the client to stop recovering.
    NoRecover { id: String },
    /// A data event for the sink, or why it could not be decoded.
    Data(Result<StreamEvent, EventError>),
    /// An event name this runtime does not know; the position moves past it.
    Unknown { id: String, name: String },
}

impl Incoming {
    /// Classifies an SSE message; messages without an id carry no position
    /// and are ignored, as pycti does.
    pub(crate) fn classify(message: SseEvent) -> Option<Self> {
        let id = message.id?;
        Some(match message.event.as_str() {
            "heartbeat" => Self::Marker {
                id,
                name: "heartbeat",
            },
            "connected" => Self::Marker {
                id,
                name: "connected",
            },
            "consumer_metrics" => Self::Marker {
                id,
                name: "consumer_metrics",
            },
            "no-recover" => Self::NoRecover { id },
            name => match EventKind::from_name(name) {
                Some(kind) => Self::Data(StreamEvent::parse(&id, kind, &message.data)),
                None => Self::Unknown {
                    id,
                    name: name.to_owned(),
                },
            },
        })
    }

    /// The stream id of the message.
    pub(crate) fn id(&self) -> &str {
        match self {
            Self::Marker { id, .. } | Self::NoRecover { id } | Self::Unknown { id, .. } => id,
            Self::Data(Ok(event)) => &event.id,
            Self::Data(Err(error)) => error.event_id(),
        }
    }

    /// The event name, for per-type metrics.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Marker { name, .. } => name,
            Self::NoRecover { .. } => "no-recover",
            Self::Unknown { name, .. } => name,
            Self::Data(Ok(event)) => event.kind.as_str(),
            Self::Data(Err(EventError::MalformedData { kind, .. })) => kind.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDICATOR: &str = r#"{"version":"4","type":"create","scope":"external","message":"creates a Indicator `198.51.100.7`","origin":{"referer":"init"},"data":{"id":"indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968","type":"indicator","pattern":"[ipv4-addr:value = '198.51.100.7']","pattern_type":"stix","valid_from":"2025-11-24T10:00:00.000Z","revoked":false,"extensions":{"extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba":{"id":"a1","type":"Indicator"}}}}"#;

    fn sse(id: Option<&str>, event: &str, data: &str) -> SseEvent {
        SseEvent {
            id: id.map(str::to_owned),
            event: event.to_owned(),
            data: data.to_owned(),
        }
    }

    #[test]
    fn previous_fields_undoes_only_the_fields_asked_for() {
        let object = serde_json::json!({
            "type": "indicator", "pattern": "[ipv4-addr:value = '1.1.1.1']",
            "revoked": false, "name": "new"
        });
        let object = object.as_object().unwrap();
        let fields = ["pattern", "revoked"];
        let labels_only = [serde_json::json!({"op": "add", "path": "/labels/0", "value": "x"})];
        assert_eq!(previous_fields(object, &labels_only, &fields), None);
        let renamed = [serde_json::json!({"op": "replace", "path": "/name", "value": "old"})];
        assert_eq!(
            previous_fields(object, &renamed, &fields),
            None,
            "not asked for"
        );

        let reverse_patch = [
            serde_json::json!({"op": "replace", "path": "/pattern", "value": "[domain-name:value = 'a.example']"}),
            serde_json::json!({"op": "remove", "path": "/revoked"}),
            serde_json::json!({"op": "replace", "path": "/name", "value": "old"}),
            serde_json::json!({"op": "move", "path": "/pattern", "from": "/x"}),
        ];
        let previous = previous_fields(object, &reverse_patch, &fields).unwrap();
        assert_eq!(previous["pattern"], "[domain-name:value = 'a.example']");
        assert!(!previous.contains_key("revoked"));
        assert_eq!(
            previous["name"], "new",
            "fields not asked for keep their value"
        );
        assert_eq!(previous["type"], "indicator");
    }
    #[test]
    fn parses_a_create_event() {
        let event = StreamEvent::parse("1732460000000-0", EventKind::Create, INDICATOR).unwrap();
        assert_eq!(event.object.stix_type(), "indicator");
        assert_eq!(
            event.object.id(),
            "indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968"
        );
        assert_eq!(event.object.get("revoked"), Some(&Value::Bool(false)));
        assert_eq!(
            event.object.opencti_extension().unwrap()["type"],
            "Indicator"
        );
        assert_eq!(event.message, "creates a Indicator `198.51.100.7`");
        assert_eq!(event.origin["referer"], "init");
        assert_eq!(event.context, None);
        assert_eq!(event.timestamp_ms(), Some(1_732_460_000_000));
        let StixObject::Indicator(indicator) = event.object.to_stix().unwrap() else {
            panic!("not an indicator");
        };
        assert_eq!(indicator.pattern, "[ipv4-addr:value = '198.51.100.7']");
        assert_eq!(indicator.common.revoked, Some(false));
    }

    #[test]
    fn the_typed_model_is_optional_and_names_what_does_not_fit() {
        // Accepted as an event even though the model requires a pattern.
        let data = r#"{"data":{"id":"indicator--1","type":"indicator","revoked":true}}"#;
        let event = StreamEvent::parse("2-0", EventKind::Delete, data).unwrap();
        assert_eq!(event.object.get("revoked"), Some(&Value::Bool(true)));
        let error = event.object.to_stix().unwrap_err().to_string();
        assert!(
            error.contains("indicator--1") && error.contains("pattern"),
            "{error}"
        );
    }

    #[test]
    fn parses_update_and_merge_context() {
        let data = r#"{"type":"merge","data":{"id":"x--1","type":"x"},"context":{"patch":[{"op":"replace","path":"/a","value":1}],"reverse_patch":[],"sources":[{"id":"x--2","type":"x"}],"pir_ids":["p"]}}"#;
        let event = StreamEvent::parse("5-1", EventKind::Merge, data).unwrap();
        let context = event.context.unwrap();
        assert_eq!(context.patch.len(), 1);
        assert!(context.reverse_patch.is_empty());
        assert_eq!(context.sources[0].id(), "x--2");
        assert_eq!(context.raw["pir_ids"][0], "p");
    }

    #[test]
    fn accessors_read_the_context_and_are_empty_without_one() {
        let object =
            serde_json::json!({"id": "indicator--1", "type": "indicator", "pattern": "[b]"});
        let created = StreamEvent::for_test("1-0", EventKind::Create, object.clone(), None);
        assert!(created.patch().is_empty() && created.reverse_patch().is_empty());
        assert!(created.merged_sources().is_empty());
        assert_eq!(created.previous_fields(&["pattern"]), None);

        let context = serde_json::json!({
            "patch": [{"op": "replace", "path": "/pattern", "value": "[b]"}],
            "reverse_patch": [{"op": "replace", "path": "/pattern", "value": "[a]"}],
            "sources": [{"id": "indicator--2", "type": "indicator"}],
        });
        let updated = StreamEvent::for_test(
            "2-0",
            EventKind::Update,
            object.clone(),
            Some(context.clone()),
        );
        assert!(
            updated.merged_sources().is_empty(),
            "only merges have sources"
        );
        let merged = StreamEvent::for_test("2-0", EventKind::Merge, object, Some(context));
        assert_eq!(merged.patch()[0]["value"], "[b]");
        assert_eq!(merged.reverse_patch()[0]["value"], "[a]");
        assert_eq!(merged.merged_sources()[0].id(), "indicator--2");
        assert_eq!(
            merged.previous_fields(&["pattern"]).unwrap()["pattern"],
            "[a]"
        );
        assert_eq!(merged.previous_fields(&["name"]), None);
        assert_eq!(merged.timestamp_ms(), Some(2));
    }

    #[test]
    #[should_panic(expected = "no string `id`")]
    fn a_test_event_is_checked_like_a_streamed_one() {
        let _ = StreamEvent::for_test(
            "1-0",
            EventKind::Create,
            serde_json::json!({"type": "indicator"}),
            None,
        );
    }

    #[test]
    fn malformed_data_names_the_event() {
        let cases = [
            ("not json", "expected ident"),
            (r#"{"message":"m"}"#, "missing field `data`"),
            (r#"{"data":{"id":"x--1"}}"#, "no string `type`"),
            (r#"{"data":{"type":"x"}}"#, "no string `id`"),
            (
                r#"{"data":{"id":"x--1","type":"x"},"context":{"patch":3}}"#,
                "`context.patch` is not an array",
            ),
        ];
        for (data, reason) in cases {
            let error = StreamEvent::parse("9-0", EventKind::Update, data).unwrap_err();
            let text = error.to_string();
            assert!(
                text.starts_with("event 9-0 (update): malformed data: "),
                "{text}"
            );
            assert!(text.contains(reason), "{text}");
        }
    }

    #[test]
    fn classifies_messages() {
        assert!(Incoming::classify(sse(None, "connected", "{}")).is_none());
        assert!(matches!(
            Incoming::classify(sse(Some("1-0"), "heartbeat", "\"d\"")),
            Some(Incoming::Marker { id, name: "heartbeat" }) if id == "1-0"
        ));
        assert!(matches!(
            Incoming::classify(sse(Some("1-0"), "no-recover", "")),
            Some(Incoming::NoRecover { .. })
        ));
        let data = Incoming::classify(sse(Some("2-0"), "delete", INDICATOR)).unwrap();
        assert_eq!((data.id(), data.name()), ("2-0", "delete"));
        let unknown = Incoming::classify(sse(Some("3-0"), "surprise", "")).unwrap();
        assert_eq!((unknown.id(), unknown.name()), ("3-0", "surprise"));
        let bad = Incoming::classify(sse(Some("4-0"), "create", "{")).unwrap();
        assert_eq!((bad.id(), bad.name()), ("4-0", "create"));
    }

    #[test]
    fn stream_id_timestamps() {
        assert_eq!(id_timestamp_ms("1718010586174-3"), Some(1_718_010_586_174));
        assert_eq!(id_timestamp_ms("0-0"), Some(0));
        assert_eq!(id_timestamp_ms("abc"), None);
        assert_eq!(id_timestamp_ms("12-x"), None);
    }
}
