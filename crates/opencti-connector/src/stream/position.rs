//! Where a stream connector resumes: the `start_from`/`recover_until` pair
//! kept in the connector state, in the same shape pycti writes it, so a
//! connector can switch between the two implementations without replaying
//! or skipping events.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::config::LiveStreamConfig;

/// State key holding the id of the last event handled.
pub const START_FROM: &str = "start_from";
/// State key holding the recovery bound (ISO date) or `false`.
pub const RECOVER_UNTIL: &str = "recover_until";
/// Key older pycti versions used instead of [`START_FROM`].
pub const LEGACY_LAST_EVENT_ID: &str = "connectorLastEventId";
/// Key older pycti versions used instead of [`RECOVER_UNTIL`].
pub const LEGACY_START_TIME: &str = "connectorStartTime";

/// Values of `recover_until` that pycti reads as "do not recover".
const NO_RECOVER_WORDS: [&str; 6] = ["no", "none", "No", "None", "false", "False"];

/// The recovery bound sent as `?recover=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoverUntil {
    /// Recover objects updated up to this date (kept verbatim).
    Date(String),
    /// No recovery (`false` in the state).
    Disabled,
}

/// Where to start when the connector state holds no position: the
/// `CONNECTOR_LIVE_STREAM_START_TIMESTAMP` and
/// `CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartSettings {
    /// Epoch milliseconds to start from; `-0` is appended to form a stream id.
    pub start_timestamp: Option<String>,
    /// Recovery bound of the first connection; "now" when absent.
    pub recover_iso_date: Option<String>,
}

/// A stream position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPosition {
    /// Id of the last event handled (`"0-0"` = the beginning of the stream).
    pub start_from: String,
    /// The recovery bound.
    pub recover_until: RecoverUntil,
}

/// A position field in the connector state has an unusable value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PositionError {
    /// The field exists but holds the wrong JSON type.
    #[error("connector state field `{field}` must be {expected}, found {found}")]
    InvalidField {
        /// The state key.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The value found.
        found: Value,
    },
}

impl StartSettings {
    /// The first-run settings of the connector configuration.
    pub fn from_config(live_stream: &LiveStreamConfig) -> Self {
        Self {
            start_timestamp: live_stream.start_timestamp.clone(),
            recover_iso_date: live_stream.recover_iso_date.clone(),
        }
    }
}

impl StreamPosition {
    /// The position of a first run (or after a state reset).
    pub fn initial(settings: &StartSettings, now: DateTime<Utc>) -> Self {
        let start_from = match settings.start_timestamp.as_deref() {
            Some(timestamp) if !timestamp.is_empty() => format!("{timestamp}-0"),
            _ => "0-0".to_owned(),
        };
        let recover_until = match settings.recover_iso_date.as_deref() {
            Some(date) if !date.is_empty() => RecoverUntil::Date(date.to_owned()),
            _ => RecoverUntil::Date(now.to_rfc3339_opts(SecondsFormat::Secs, true)),
        };
        Self {
            start_from,
            recover_until,
        }
    }

    /// Reads the position from the connector state; `Ok(None)` when the
    /// state holds none. Legacy keys win over the current ones, as in pycti.
    pub fn from_state(state: &Map<String, Value>) -> Result<Option<Self>, PositionError> {
        let start = state
            .get(LEGACY_LAST_EVENT_ID)
            .map(|v| (LEGACY_LAST_EVENT_ID, v));
        let Some((field, start)) = start.or_else(|| state.get(START_FROM).map(|v| (START_FROM, v)))
        else {
            return Ok(None);
        };
        let start_from = match start {
            Value::String(id) => id.clone(),
            other => {
                return Err(PositionError::InvalidField {
                    field,
                    expected: "a stream id string",
                    found: other.clone(),
                });
            }
        };
        let recover = state.get(LEGACY_START_TIME).map(|v| (LEGACY_START_TIME, v));
        let recover_until =
            match recover.or_else(|| state.get(RECOVER_UNTIL).map(|v| (RECOVER_UNTIL, v))) {
                None | Some((_, Value::Null | Value::Bool(false))) => RecoverUntil::Disabled,
                Some((_, Value::String(date))) => RecoverUntil::Date(date.clone()),
                Some((field, other)) => {
                    return Err(PositionError::InvalidField {
                        field,
                        expected: "an ISO date string or false",
                        found: other.clone(),
                    });
                }
            };
        Ok(Some(Self {
            start_from,
            recover_until,
        }))
    }

    /// Writes the position into `state`, keeping the other keys. Legacy keys
    /// are dropped: pycti would keep reading the stale legacy id otherwise.
    pub fn write_into(&self, state: &mut Map<String, Value>) {
        state.remove(LEGACY_LAST_EVENT_ID);
        state.remove(LEGACY_START_TIME);
        state.insert(
            START_FROM.to_owned(),
            Value::String(self.start_from.clone()),
        );
        let recover = match &self.recover_until {
            RecoverUntil::Date(date) => Value::String(date.clone()),
            RecoverUntil::Disabled => Value::Bool(false),
        };
        state.insert(RECOVER_UNTIL.to_owned(), recover);
    }

    /// The `recover` query value, if recovery applies.
    pub fn recover_query(&self) -> Option<&str> {
        match &self.recover_until {
            RecoverUntil::Date(date) if !NO_RECOVER_WORDS.contains(&date.as_str()) => Some(date),
            _ => None,
        }
    }

    /// The `Last-Event-ID` header value, if any (an empty id sends none).
    pub fn last_event_id(&self) -> Option<&str> {
        Some(self.start_from.as_str()).filter(|id| !id.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-15T10:30:00.123Z")
            .unwrap()
            .to_utc()
    }

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(object) => object,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn first_run_defaults() {
        let position = StreamPosition::initial(&StartSettings::default(), now());
        assert_eq!(position.start_from, "0-0");
        assert_eq!(position.recover_query(), Some("2026-01-15T10:30:00Z"));
        assert_eq!(position.last_event_id(), Some("0-0"));
    }

    #[test]
    fn first_run_from_settings() {
        let settings = StartSettings {
            start_timestamp: Some("1718010586000".to_owned()),
            recover_iso_date: Some("2024-06-01T00:00:00Z".to_owned()),
        };
        let position = StreamPosition::initial(&settings, now());
        assert_eq!(position.start_from, "1718010586000-0");
        assert_eq!(
            position.recover_until,
            RecoverUntil::Date("2024-06-01T00:00:00Z".to_owned())
        );
    }

    #[test]
    fn reads_current_and_legacy_keys() {
        let current = map(json!({"start_from": "5-0", "recover_until": false, "other": 1}));
        let position = StreamPosition::from_state(&current).unwrap().unwrap();
        assert_eq!(position.start_from, "5-0");
        assert_eq!(position.recover_until, RecoverUntil::Disabled);
        assert_eq!(position.recover_query(), None);

        let legacy = map(
            json!({"connectorLastEventId": "7-1", "connectorStartTime": "2024-01-01T00:00:00Z", "start_from": "1-0"}),
        );
        let position = StreamPosition::from_state(&legacy).unwrap().unwrap();
        assert_eq!(position.start_from, "7-1");
        assert_eq!(position.recover_query(), Some("2024-01-01T00:00:00Z"));

        assert_eq!(
            StreamPosition::from_state(&map(json!({"last_run": 3}))).unwrap(),
            None
        );
    }

    #[test]
    fn no_recover_words_disable_the_query_but_survive_a_round_trip() {
        for word in NO_RECOVER_WORDS {
            let state = map(json!({"start_from": "1-0", "recover_until": word}));
            let position = StreamPosition::from_state(&state).unwrap().unwrap();
            assert_eq!(position.recover_query(), None, "{word}");
            let mut written = Map::new();
            position.write_into(&mut written);
            assert_eq!(written, state);
        }
    }

    #[test]
    fn rejects_wrong_types_naming_the_field() {
        let error = StreamPosition::from_state(&map(json!({"start_from": 12}))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "connector state field `start_from` must be a stream id string, found 12"
        );
        let error = StreamPosition::from_state(&map(
            json!({"start_from": "1-0", "connectorStartTime": true}),
        ))
        .unwrap_err();
        assert!(error.to_string().contains("`connectorStartTime`"));
    }

    #[test]
    fn writes_pycti_shape_keeping_other_keys_and_dropping_legacy() {
        let mut state =
            map(json!({"connectorLastEventId": "1-0", "connectorStartTime": "d", "mine": true}));
        let position = StreamPosition {
            start_from: "9-2".to_owned(),
            recover_until: RecoverUntil::Date("d".to_owned()),
        };
        position.write_into(&mut state);
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            r#"{"mine":true,"start_from":"9-2","recover_until":"d"}"#
        );
    }

    #[test]
    fn empty_start_from_sends_no_header() {
        let position = StreamPosition {
            start_from: String::new(),
            recover_until: RecoverUntil::Disabled,
        };
        assert_eq!(position.last_event_id(), None);
    }
}
