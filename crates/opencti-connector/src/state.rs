//! The connector state (pycti's `get_state`/`set_state` semantics) and its
//! persistence through pings.
//!
//! The state lives locally as JSON text and reaches the platform only in
//! `pingConnector`. Unlike pycti, a change is pushed within
//! [`PingSchedule::debounce`] (one second) instead of waiting for the next
//! 40-second ping, and a last ping is sent when the session closes.
//! A ping answer carrying a different state than the one sent means the
//! state was reset or edited in the platform: as in pycti, the local state
//! takes the platform's value, even if it changed locally while the ping
//! was in flight, and [`StateHandle::resets`] notifies the runtime.
//! Consumers holding a position derived from the old state write it back
//! with [`StateHandle::set_unless_reset`], so a reset they have not handled
//! yet is never overwritten.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiClient, ConnectorInfo};
use crate::metrics::{Metrics, RuntimeEvent};

/// A JSON object state, as connectors read and write it.
pub type State = Map<String, Value>;

struct Local {
    /// JSON text of a non-empty object, or `None`.
    text: Option<String>,
    /// How many times the platform reset or replaced the state; the value
    /// of the `resets` watch, changed under the same lock as `text`.
    resets: u64,
}

struct Inner {
    local: Mutex<Local>,
    info: Mutex<ConnectorInfo>,
    changed: Notify,
    resets: watch::Sender<u64>,
}

/// Shared handle on the state and the `connector_info` reported in pings.
/// Cheap to clone.
#[derive(Clone)]
pub struct StateHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StateHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateHandle")
            .field("state", &self.raw())
            .finish_non_exhaustive()
    }
}

/// pycti's reading of a stored state: a non-empty JSON object, else nothing.
fn parse_state(text: Option<&str>) -> Option<State> {
    let text = text?.trim();
    if text.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) if !map.is_empty() => Some(map),
        _ => None,
    }
}

impl StateHandle {
    /// A handle holding the state stored by the platform (the registration's
    /// `connector_state`: JSON text, `"null"`, `""` or nothing).
    pub fn new(stored: Option<&str>) -> Self {
        let text = parse_state(stored).map(|state| Value::Object(state).to_string());
        let (resets, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                local: Mutex::new(Local { text, resets: 0 }),
                info: Mutex::new(ConnectorInfo::default()),
                changed: Notify::new(),
                resets,
            }),
        }
    }

    /// The current state: a non-empty object, or `None` (pycti semantics:
    /// `{}` reads back as `None`).
    pub fn get(&self) -> Option<State> {
        parse_state(self.lock().text.as_deref())
    }

    /// Replaces the state. `None` or an empty object clear it. The platform
    /// receives it within the debounce delay.
    pub fn set(&self, state: Option<State>) {
        let changed = Self::store(&mut self.lock(), state);
        if changed {
            self.inner.changed.notify_one();
        }
    }

    /// [`set`](Self::set), unless the platform reset or replaced the state
    /// since [`reset_count`](Self::reset_count) returned `seen`: then
    /// nothing is written and `false` is returned. For consumers whose new
    /// state derives from the old one (a cursor), which must start over
    /// from the platform's value instead.
    pub fn set_unless_reset(&self, state: Option<State>, seen: u64) -> bool {
        let mut local = self.lock();
        if local.resets != seen {
            return false;
        }
        let changed = Self::store(&mut local, state);
        drop(local);
        if changed {
            self.inner.changed.notify_one();
        }
        true
    }

    /// How many times the platform reset or replaced the state so far (the
    /// value [`resets`](Self::resets) watches).
    pub fn reset_count(&self) -> u64 {
        self.lock().resets
    }

    /// Writes `state`; `true` if the text changed.
    fn store(local: &mut Local, state: Option<State>) -> bool {
        let text = state
            .filter(|state| !state.is_empty())
            .map(|state| Value::Object(state).to_string());
        let changed = local.text != text;
        local.text = text;
        changed
    }

    /// pycti's `set_state(value)`: an object is stored, anything else clears.
    pub fn set_value(&self, value: Value) {
        match value {
            Value::Object(map) => self.set(Some(map)),
            _ => self.set(None),
        }
    }

    /// What a ping sends: the state's JSON text, or `"null"`.
    pub fn raw(&self) -> String {
        self.lock()
            .text
            .clone()
            .unwrap_or_else(|| "null".to_owned())
    }

    /// A copy of the `connector_info` sent with pings.
    pub fn connector_info(&self) -> ConnectorInfo {
        self.inner
            .info
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Updates the `connector_info` sent with the next ping.
    pub fn update_info(&self, update: impl FnOnce(&mut ConnectorInfo)) {
        update(
            &mut self
                .inner
                .info
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// Has the next ping go out within the debounce delay, as for a state
    /// change (after a run, so that the platform sees its new dates).
    pub(crate) fn ping_soon(&self) {
        self.inner.changed.notify_one();
    }

    /// Notified (the counter increases) each time the platform reset or
    /// replaced the state.
    pub fn resets(&self) -> watch::Receiver<u64> {
        self.inner.resets.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Local> {
        self.inner
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a ping answer: if the platform's state differs from what was
    /// sent, it was reset or edited in the platform (the platform otherwise
    /// echoes the state it was sent), so it replaces the local state even if
    /// that changed while the ping was in flight, as pycti does.
    fn apply_remote(&self, sent: &str, remote: Option<&str>) -> bool {
        let remote_state = parse_state(remote);
        if remote_state == parse_state(Some(sent)) {
            return false;
        }
        self.replace_remotely(remote_state);
        true
    }

    /// Adopts a state set in the platform and notifies [`resets`](Self::resets).
    pub(crate) fn replace_remotely(&self, state: Option<State>) {
        let mut local = self.lock();
        local.text = state.map(|state| Value::Object(state).to_string());
        local.resets += 1;
        let resets = local.resets;
        // Sent under the lock so that the watch never runs behind `resets`.
        self.inner.resets.send_replace(resets);
    }
}

/// When pings happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingSchedule {
    /// Liveness period (pycti: 40 s).
    pub interval: Duration,
    /// Delay between a state change and the ping carrying it (at most).
    pub debounce: Duration,
}

impl Default for PingSchedule {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(40),
            debounce: Duration::from_secs(1),
        }
    }
}

/// Sends pings: immediately, then every `interval`, within `debounce` of a
/// state change, and once more when stopped.
#[derive(Debug)]
pub struct Pinger {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Pinger {
    /// Starts pinging for `connector_id`.
    pub fn spawn(
        api: ApiClient,
        connector_id: String,
        state: StateHandle,
        metrics: Metrics,
        schedule: PingSchedule,
    ) -> Self {
        let stop = CancellationToken::new();
        let ping = move |sent: String, info: ConnectorInfo| {
            let api = api.clone();
            let connector_id = connector_id.clone();
            async move {
                api.ping(&connector_id, &sent, &info)
                    .await
                    .map(|reply| reply.connector_state)
                    .map_err(|error| error.to_string())
            }
        };
        let task = tokio::spawn(ping_loop(ping, state, metrics, schedule, stop.clone()));
        Self { stop, task }
    }

    /// Sends the last ping and stops. A ping in flight is abandoned; once
    /// `shutdown` has fired, the last ping gets `limit` and is abandoned
    /// too if the platform does not answer by then (it keeps the state of
    /// the previous ping).
    pub async fn stop(self, shutdown: &CancellationToken, limit: Duration) {
        self.stop.cancel();
        let mut task = self.task;
        if crate::stop::or_stop_after(shutdown, limit, &mut task)
            .await
            .is_none()
        {
            task.abort();
            tracing::warn!(
                "the last ping did not finish within {limit:?}; the platform keeps the state of the previous ping"
            );
        }
    }
}

/// The ping cadence, independent of the transport: `ping` sends the state
/// text and info and returns the platform's stored state.
async fn ping_loop<F, Fut>(
    ping: F,
    state: StateHandle,
    metrics: Metrics,
    schedule: PingSchedule,
    stopped: CancellationToken,
) where
    F: Fn(String, ConnectorInfo) -> Fut,
    Fut: Future<Output = Result<Option<String>, String>>,
{
    loop {
        // A stop does not wait for a ping the platform is slow to answer.
        tokio::select! {
            biased;
            () = stopped.cancelled() => break,
            () = ping_with(&ping, &state, &metrics) => {}
        }
        let last_ping = Instant::now();
        tokio::select! {
            () = stopped.cancelled() => break,
            () = tokio::time::sleep_until(last_ping + schedule.interval) => {}
            () = state.inner.changed.notified() => {
                tokio::select! {
                    () = stopped.cancelled() => break,
                    () = tokio::time::sleep_until(last_ping + schedule.debounce) => {}
                }
            }
        }
    }
    ping_with(&ping, &state, &metrics).await;
}

async fn ping_with<F, Fut>(ping: &F, state: &StateHandle, metrics: &Metrics)
where
    F: Fn(String, ConnectorInfo) -> Fut,
    Fut: Future<Output = Result<Option<String>, String>>,
{
    let sent = state.raw();
    match ping(sent.clone(), state.connector_info()).await {
        Ok(remote) => {
            metrics.emit(RuntimeEvent::PingSucceeded);
            if state.apply_remote(&sent, remote.as_deref()) {
                metrics.emit(RuntimeEvent::StateResetRemotely);
            }
        }
        Err(reason) => metrics.emit(RuntimeEvent::PingFailed { reason: &reason }),
    }
}

/// One ping with the current state and info; logs and counts the outcome.
pub async fn ping_once(
    api: &ApiClient,
    connector_id: &str,
    state: &StateHandle,
    metrics: &Metrics,
) {
    let ping = |sent: String, info: ConnectorInfo| async move {
        api.ping(connector_id, &sent, &info)
            .await
            .map(|reply| reply.connector_state)
            .map_err(|error| error.to_string())
    };
    ping_with(&ping, state, metrics).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> State {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test values are objects"),
        }
    }

    #[test]
    fn pycti_reading_rules() {
        assert_eq!(StateHandle::new(None).get(), None);
        assert_eq!(StateHandle::new(Some("")).get(), None);
        assert_eq!(StateHandle::new(Some("null")).get(), None);
        assert_eq!(StateHandle::new(Some("{}")).get(), None);
        assert_eq!(StateHandle::new(Some("[1]")).get(), None);
        let state = StateHandle::new(Some("{\"last_run\": 1718010586.1741812}"));
        assert_eq!(
            state.get(),
            Some(object(json!({"last_run": 1718010586.1741812})))
        );
        assert_eq!(StateHandle::new(None).raw(), "null");
    }

    #[test]
    fn setting_non_objects_clears() {
        let state = StateHandle::new(Some("{\"a\": 1}"));
        state.set_value(json!("text"));
        assert_eq!(state.get(), None);
        assert_eq!(state.raw(), "null");
        state.set(Some(object(json!({"cursor": "x"}))));
        assert_eq!(state.raw(), "{\"cursor\":\"x\"}");
    }

    #[test]
    fn the_platform_state_is_adopted_when_it_differs_from_what_was_sent() {
        let state = StateHandle::new(Some("{\"a\": 1}"));
        let resets = state.resets();
        let sent = state.raw();
        assert!(!state.apply_remote(&sent, Some("{\"a\":1}")));
        assert!(state.apply_remote(&sent, Some("")));
        assert_eq!(state.get(), None);
        assert_eq!(*resets.borrow(), 1);

        // Changed locally while the ping was in flight: the platform still wins.
        state.set(Some(object(json!({"b": 2}))));
        let sent = state.raw();
        state.set(Some(object(json!({"b": 3}))));
        assert!(state.apply_remote(&sent, Some("{\"edited\": true}")));
        assert_eq!(state.get(), Some(object(json!({"edited": true}))));
        assert_eq!(*resets.borrow(), 2);
    }

    #[test]
    fn a_write_derived_from_the_old_state_does_not_overwrite_a_reset() {
        let state = StateHandle::new(Some("{\"cursor\": 1}"));
        let seen = state.reset_count();
        assert!(state.set_unless_reset(Some(object(json!({"cursor": 2}))), seen));
        state.replace_remotely(None);
        assert!(!state.set_unless_reset(Some(object(json!({"cursor": 3}))), seen));
        assert_eq!(state.get(), None);
        let seen = state.reset_count();
        assert!(state.set_unless_reset(Some(object(json!({"cursor": 0}))), seen));
        assert_eq!(state.get(), Some(object(json!({"cursor": 0}))));
    }

    /// Pings seen by a fake transport: (seconds since start, state sent).
    type Seen = Arc<Mutex<Vec<(u64, String)>>>;

    fn spawn_fake(
        state: &StateHandle,
        remote: Option<&'static str>,
    ) -> (Seen, CancellationToken, JoinHandle<()>) {
        let seen: Seen = Arc::default();
        let start = Instant::now();
        let recorder = Arc::clone(&seen);
        let ping = move |sent: String, _info: ConnectorInfo| {
            let recorder = Arc::clone(&recorder);
            async move {
                recorder
                    .lock()
                    .unwrap()
                    .push((start.elapsed().as_secs(), sent.clone()));
                Ok(Some(remote.map_or(sent, str::to_owned)))
            }
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(ping_loop(
            ping,
            state.clone(),
            Metrics::default(),
            PingSchedule::default(),
            stop.clone(),
        ));
        (seen, stop, task)
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_is_pinged_within_a_second_and_liveness_every_40_seconds() {
        let state = StateHandle::new(None);
        let (seen, stop, task) = spawn_fake(&state, None);
        tokio::time::sleep(Duration::from_millis(5500)).await;
        state.set(Some(object(json!({"cursor": 1}))));
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Pinged at once (the last ping is more than a second old).
        assert_eq!(
            seen.lock().unwrap().last().unwrap(),
            &(5, "{\"cursor\":1}".to_owned())
        );
        // Two changes in quick succession: the second waits for the debounce.
        state.set(Some(object(json!({"cursor": 2}))));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(seen.lock().unwrap().len(), 2);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            seen.lock().unwrap().last().unwrap(),
            &(6, "{\"cursor\":2}".to_owned())
        );
        // Then only liveness pings, 40 s apart.
        tokio::time::sleep(Duration::from_secs(81)).await;
        let times: Vec<u64> = seen.lock().unwrap().iter().map(|(at, _)| *at).collect();
        assert_eq!(times, vec![0, 5, 6, 46, 86]);
        stop.cancel();
        task.await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 6, "a final ping on stop");
    }

    #[tokio::test(start_paused = true)]
    async fn a_remote_reset_is_noticed_on_the_next_ping() {
        let state = StateHandle::new(Some("{\"cursor\": 9}"));
        let mut resets = state.resets();
        let (_seen, stop, task) = spawn_fake(&state, Some(""));
        tokio::time::timeout(Duration::from_secs(1), resets.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.get(), None);
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_answered_while_the_state_changed_locally_is_adopted() {
        let state = StateHandle::new(Some("{\"cursor\": 1}"));
        let mut resets = state.resets();
        let seen: Seen = Arc::default();
        let start = Instant::now();
        let recorder = Arc::clone(&seen);
        // The second ping is slow, and the platform answers it with the
        // empty state of a UI reset; every other ping is echoed.
        let ping = move |sent: String, _info: ConnectorInfo| {
            let recorder = Arc::clone(&recorder);
            async move {
                let count = {
                    let mut seen = recorder.lock().unwrap();
                    seen.push((start.elapsed().as_secs(), sent.clone()));
                    seen.len()
                };
                if count == 2 {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    return Ok(Some(String::new()));
                }
                Ok(Some(sent))
            }
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(ping_loop(
            ping,
            state.clone(),
            Metrics::default(),
            PingSchedule::default(),
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(5)).await;
        state.set(Some(object(json!({"cursor": 2}))));
        tokio::time::sleep(Duration::from_secs(1)).await;
        // The ping carrying cursor 2 is in flight; the stream moves on.
        assert_eq!(seen.lock().unwrap().len(), 2);
        state.set(Some(object(json!({"cursor": 3}))));
        tokio::time::timeout(Duration::from_secs(2), resets.changed())
            .await
            .expect("the reset is notified")
            .unwrap();
        assert_eq!(state.get(), None, "the platform's reset wins");
        // The next ping (debounced after the change to cursor 3) carries
        // the reset state.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            seen.lock().unwrap().last().unwrap(),
            &(8, "null".to_owned())
        );
        stop.cancel();
        task.await.unwrap();
        let sent: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        assert!(
            !sent.iter().any(|sent| sent.contains("\"cursor\":3")),
            "the local state written during the ping never reached the platform: {sent:?}"
        );
    }
}
