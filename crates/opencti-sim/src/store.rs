//! The simulator's in-memory state, its change notifications and the
//! optional data file.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::SimError;
use crate::model::{
    ConnectorRecord, DraftRecord, GraphqlCall, GroupRecord, JobRecord, PlaybookStep, RecordedEvent,
    RejectedRequest, StoredObject, StreamCollection, StreamConnection, StreamEvent, UploadedFile,
    UserRecord, WorkRecord, WorkerCounters,
};

/// At most this many GraphQL calls are remembered for inspection.
const MAX_CALLS: usize = 10_000;
/// At most this many rejected documents are remembered.
const MAX_REJECTED: usize = 1_000;
/// At most this many listen messages are remembered.
const MAX_JOBS: usize = 10_000;

/// A Redis-style stream id `<ms>-<seq>`, ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct EventId {
    pub(crate) ms: u64,
    pub(crate) seq: u64,
}

impl EventId {
    pub(crate) fn new(ms: u64, seq: u64) -> Self {
        Self { ms, seq }
    }

    /// The date this id stands for.
    pub(crate) fn date(self) -> DateTime<Utc> {
        i64::try_from(self.ms)
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or_default()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for EventId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (ms, seq) = text.split_once('-').unwrap_or((text, "0"));
        match (ms.parse(), seq.parse()) {
            (Ok(ms), Ok(seq)) => Ok(Self { ms, seq }),
            _ => Err(format!("`{text}` is not a stream id (<ms>-<seq>)")),
        }
    }
}

/// Everything the simulator knows. Serialised as a whole to the data file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct State {
    pub(crate) connectors: BTreeMap<String, ConnectorRecord>,
    pub(crate) works: BTreeMap<String, WorkRecord>,
    pub(crate) objects: BTreeMap<String, StoredObject>,
    pub(crate) events: Vec<RecordedEvent>,
    pub(crate) collections: BTreeMap<String, StreamCollection>,
    pub(crate) files: Vec<UploadedFile>,
    pub(crate) drafts: Vec<DraftRecord>,
    pub(crate) playbook_steps: Vec<PlaybookStep>,
    pub(crate) jobs: VecDeque<JobRecord>,
    #[serde(default)]
    pub(crate) groups: BTreeMap<String, GroupRecord>,
    #[serde(default)]
    pub(crate) users: BTreeMap<String, UserRecord>,
    pub(crate) rejected: VecDeque<RejectedRequest>,
    pub(crate) worker: WorkerCounters,
    /// Highest stream position handed out (events and heartbeats), so that
    /// a new event always sorts after every id a client may have saved.
    pub(crate) last_position: EventId,
    #[serde(skip)]
    pub(crate) calls: VecDeque<GraphqlCall>,
    #[serde(skip)]
    pub(crate) stream_connections: VecDeque<StreamConnection>,
    /// When set, the histories (calls, events, stream connections, jobs,
    /// rejections) keep only this many recent entries each.
    #[serde(skip)]
    pub(crate) history_cap: Option<usize>,
}

impl State {
    /// How many entries a history keeps: its own bound, or the cap if lower.
    fn history_len(&self, own: usize) -> usize {
        self.history_cap.map_or(own, |cap| cap.min(own))
    }

    /// Keeps only the last `cap` entries of every history from now on.
    pub(crate) fn cap_histories(&mut self, cap: usize) {
        let cap = cap.max(1);
        self.history_cap = Some(cap);
        fn trim<T>(history: &mut VecDeque<T>, cap: usize) {
            let excess = history.len().saturating_sub(cap);
            history.drain(..excess);
            history.shrink_to_fit();
        }
        trim(&mut self.calls, cap);
        trim(&mut self.stream_connections, cap);
        trim(&mut self.jobs, cap);
        trim(&mut self.rejected, cap);
        self.trim_events();
        self.events.shrink_to_fit();
    }

    fn trim_events(&mut self) {
        if let Some(cap) = self.history_cap {
            let excess = self.events.len().saturating_sub(cap);
            self.events.drain(..excess);
        }
    }

    /// The id for a new event at `now_ms`: strictly after every id handed out.
    pub(crate) fn next_event_id(&mut self, now_ms: u64) -> EventId {
        let id = if now_ms > self.last_position.ms {
            EventId::new(now_ms, 0)
        } else {
            EventId::new(self.last_position.ms, self.last_position.seq + 1)
        };
        self.last_position = id;
        id
    }

    /// The position a heartbeat may announce at `now_ms` when nothing was
    /// read: later events are guaranteed to sort after it.
    pub(crate) fn reserve_position(&mut self, now_ms: u64) -> EventId {
        self.last_position = self.last_position.max(EventId::new(now_ms, 0));
        self.last_position
    }

    pub(crate) fn push_event(
        &mut self,
        event: String,
        data: serde_json::Value,
        now_ms: u64,
    ) -> StreamEvent {
        let id = self.next_event_id(now_ms).to_string();
        let text = serde_json::value::to_raw_value(&data)
            .unwrap_or_else(|_| unreachable!("a JSON tree always serialises"));
        self.events.push(RecordedEvent {
            id: id.clone(),
            event: event.clone(),
            data: text,
        });
        self.trim_events();
        StreamEvent { id, event, data }
    }

    /// Index of the first event strictly after `position`.
    pub(crate) fn first_event_after(&self, position: EventId) -> usize {
        self.events
            .partition_point(|event| event.id.parse::<EventId>().is_ok_and(|id| id <= position))
    }

    pub(crate) fn record_call(&mut self, call: GraphqlCall) {
        while self.calls.len() >= self.history_len(MAX_CALLS) {
            self.calls.pop_front();
        }
        self.calls.push_back(call);
    }

    pub(crate) fn record_stream_connection(&mut self, connection: StreamConnection) {
        while self.stream_connections.len() >= self.history_len(MAX_CALLS) {
            self.stream_connections.pop_front();
        }
        self.stream_connections.push_back(connection);
    }

    pub(crate) fn record_job(&mut self, job: JobRecord) {
        while self.jobs.len() >= self.history_len(MAX_JOBS) {
            self.jobs.pop_front();
        }
        self.jobs.push_back(job);
    }

    pub(crate) fn record_rejection(&mut self, rejected: RejectedRequest) {
        while self.rejected.len() >= self.history_len(MAX_REJECTED) {
            self.rejected.pop_front();
        }
        self.rejected.push_back(rejected);
    }
}

/// Shared state behind a mutex, with a version counter that wakes waiters
/// (stream connections, `wait_until`) on every change.
#[derive(Debug)]
pub(crate) struct Store {
    state: Mutex<State>,
    version: watch::Sender<u64>,
    dirty: AtomicBool,
}

impl Store {
    pub(crate) fn new(state: State) -> Self {
        Self {
            state: Mutex::new(state),
            version: watch::Sender::new(0),
            dirty: AtomicBool::new(false),
        }
    }

    pub(crate) fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        self.dirty.store(true, Ordering::Release);
        self.version.send_modify(|version| *version += 1);
        result
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Loads a data file written by [`Store::save`]; a missing file is an empty state.
    pub(crate) fn load(path: &Path) -> Result<State, SimError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State::default());
            }
            Err(error) => {
                return Err(SimError::DataFile {
                    path: path.to_owned(),
                    reason: error.to_string(),
                });
            }
        };
        serde_json::from_str(&text).map_err(|error| SimError::DataFile {
            path: path.to_owned(),
            reason: format!("not a simulator data file: {error}"),
        })
    }

    /// Writes the state if it changed since the last save: to a temporary
    /// file next to the target, then renamed over it.
    pub(crate) fn save_if_dirty(&self, path: &Path) -> Result<bool, SimError> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        let text = self
            .read(serde_json::to_vec_pretty)
            .map_err(|error| SimError::DataFile {
                path: path.to_owned(),
                reason: error.to_string(),
            })?;
        let io_error = |error: std::io::Error| SimError::DataFile {
            path: path.to_owned(),
            reason: error.to_string(),
        };
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        std::fs::write(&temporary, text).map_err(io_error)?;
        std::fs::rename(&temporary, path).map_err(io_error)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_file_from_before_a_new_counter_or_the_text_events_still_loads() {
        let older = r#"{
            "worker": {"imported_messages": 3, "split_messages": 0, "rejected_messages": 1,
                       "objects_upserted": 3, "objects_invalid": 0},
            "events": [{"id": "10-0", "event": "create", "data": {"version": "4", "type": "create"}}]
        }"#;
        let state: State = serde_json::from_str(older).expect("loads");
        assert_eq!(state.worker.imported_messages, 3);
        assert_eq!(state.worker.received_messages, 0);
        assert_eq!(state.events[0].payload()["type"], "create");
    }

    #[test]
    fn event_ids_parse_print_and_order() {
        let id: EventId = "1718010586174-3".parse().expect("valid");
        assert_eq!(id, EventId::new(1_718_010_586_174, 3));
        assert_eq!(id.to_string(), "1718010586174-3");
        assert_eq!("0".parse::<EventId>(), Ok(EventId::new(0, 0)));
        assert!("abc-1".parse::<EventId>().is_err());
        assert!(EventId::new(5, 0) > EventId::new(4, 9));
    }

    #[test]
    fn event_ids_are_strictly_increasing_even_when_the_clock_stalls_or_goes_back() {
        let mut state = State::default();
        assert_eq!(state.next_event_id(100), EventId::new(100, 0));
        assert_eq!(state.next_event_id(100), EventId::new(100, 1));
        assert_eq!(state.next_event_id(90), EventId::new(100, 2));
        assert_eq!(state.next_event_id(101), EventId::new(101, 0));
    }

    #[test]
    fn a_heartbeat_position_is_never_reused_by_a_later_event() {
        let mut state = State::default();
        assert_eq!(state.reserve_position(200), EventId::new(200, 0));
        assert_eq!(state.next_event_id(200), EventId::new(200, 1));
    }

    #[test]
    fn first_event_after_skips_everything_up_to_the_position() {
        let mut state = State::default();
        for ms in [10, 10, 20] {
            state.push_event("create".to_owned(), serde_json::json!({}), ms);
        }
        assert_eq!(state.first_event_after(EventId::new(0, 0)), 0);
        assert_eq!(state.first_event_after(EventId::new(10, 0)), 1);
        assert_eq!(state.first_event_after(EventId::new(10, 1)), 2);
        assert_eq!(state.first_event_after(EventId::new(20, 0)), 3);
    }

    #[test]
    fn capped_histories_keep_only_their_most_recent_entries() {
        let mut state = State::default();
        for ms in 1..=5 {
            state.push_event("create".to_owned(), serde_json::json!({}), ms);
        }
        state.cap_histories(3);
        let ids = |state: &State| -> Vec<String> {
            state.events.iter().map(|event| event.id.clone()).collect()
        };
        assert_eq!(ids(&state), ["3-0", "4-0", "5-0"]);
        state.push_event("create".to_owned(), serde_json::json!({}), 6);
        assert_eq!(ids(&state), ["4-0", "5-0", "6-0"]);
        // Positions still resolve against what is left.
        assert_eq!(state.first_event_after(EventId::new(4, 0)), 1);
        for _ in 0..5 {
            state.record_call(GraphqlCall {
                at: Utc::now(),
                operation: None,
                kind: "query".to_owned(),
                errors: Vec::new(),
                applicant_id: None,
                draft_id: None,
                user_id: None,
            });
        }
        assert_eq!(state.calls.len(), 3);
    }

    #[test]
    fn save_is_atomic_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sim.json");
        let store = Store::new(State::default());
        assert!(!store.save_if_dirty(&path).expect("nothing to save"));
        store.write(|state| {
            state.push_event("create".to_owned(), serde_json::json!({"x": 1}), 42);
        });
        assert!(store.save_if_dirty(&path).expect("saved"));
        assert!(!path.with_extension("json.tmp").exists());
        let loaded = Store::load(&path).expect("loads");
        assert_eq!(loaded.events.len(), 1);
        assert_eq!(loaded.last_position, EventId::new(42, 0));
        assert!(Store::load(&dir.path().join("missing.json")).is_ok());
        std::fs::write(&path, "not json").expect("write");
        assert!(matches!(Store::load(&path), Err(SimError::DataFile { .. })));
    }
}
