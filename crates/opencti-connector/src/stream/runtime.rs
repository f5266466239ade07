//! The stream runtime: reads the live stream, hands events to a
//! [`StreamSink`], and moves the position in the connector state only past
//! events the sink has finished with.

use std::sync::Arc;
#[cfg(any(test, feature = "test-util"))]
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::client::{StreamReader, StreamSettings};
use super::event::{Incoming, StreamEvent, id_timestamp_ms};
use super::metrics::StreamMetrics;
use super::position::{PositionError, RecoverUntil, StartSettings, StreamPosition};
use super::sink::{BatchOutcome, Batching, Outcome, SinkError, StreamSink};
use crate::state::{State, StateHandle};

/// After events were handled, the position is written to the state as soon
/// as the stream goes quiet, and at least this often while it is busy.
const PERSIST_INTERVAL: Duration = Duration::from_millis(250);
/// A position moved only by heartbeats is written at most this often: each
/// write costs a ping, and losing it only means re-reading a stretch of the
/// stream with nothing in it for this connector.
const MARKER_PERSIST_INTERVAL: Duration = Duration::from_secs(30);

/// The connector state as the stream runtime uses it.
///
/// The platform session's [`StateHandle`] implements it; with the
/// `test-util` feature, `MemoryState` is an in-process implementation for
/// tests.
pub trait StateStore: Send + Sync {
    /// The current state; `None` when empty.
    fn load(&self) -> Option<State>;

    /// Replaces the state, unless it was reset or replaced from the
    /// platform since the [`resets`](Self::resets) value was `seen`; returns
    /// whether it was written. The implementation persists it promptly.
    fn store_unless_reset(&self, state: State, seen: u64) -> bool;

    /// A receiver whose value changes each time the state is reset or
    /// replaced from the platform (never for
    /// [`store_unless_reset`](Self::store_unless_reset)).
    fn resets(&self) -> watch::Receiver<u64>;
}

impl StateStore for StateHandle {
    fn load(&self) -> Option<State> {
        self.get()
    }

    fn store_unless_reset(&self, state: State, seen: u64) -> bool {
        self.set_unless_reset(Some(state), seen)
    }

    fn resets(&self) -> watch::Receiver<u64> {
        StateHandle::resets(self)
    }
}

/// A [`StateStore`] in memory, with a way to simulate a remote reset.
///
/// Available with the `test-util` feature only.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug)]
pub struct MemoryState {
    state: Mutex<Option<State>>,
    resets: watch::Sender<u64>,
}

#[cfg(any(test, feature = "test-util"))]
impl Default for MemoryState {
    fn default() -> Self {
        Self::new(None)
    }
}

#[cfg(any(test, feature = "test-util"))]
impl MemoryState {
    /// A store holding `state`.
    pub fn new(state: Option<State>) -> Self {
        Self {
            state: Mutex::new(state),
            resets: watch::Sender::new(0),
        }
    }

    /// Replaces the state as the platform's UI does (`None` = the "reset
    /// state" button).
    pub fn replace_remotely(&self, state: Option<State>) {
        let mut stored = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *stored = state;
        // Under the lock, so that a concurrent store sees the new count.
        self.resets.send_modify(|count| *count += 1);
    }
}

#[cfg(any(test, feature = "test-util"))]
impl StateStore for MemoryState {
    fn load(&self) -> Option<State> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn store_unless_reset(&self, state: State, seen: u64) -> bool {
        let mut stored = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if *self.resets.borrow() != seen {
            return false;
        }
        *stored = Some(state);
        true
    }

    fn resets(&self) -> watch::Receiver<u64> {
        self.resets.subscribe()
    }
}

impl<T: StateStore> StateStore for Arc<T> {
    fn load(&self) -> Option<State> {
        (**self).load()
    }

    fn store_unless_reset(&self, state: State, seen: u64) -> bool {
        (**self).store_unless_reset(state, seen)
    }

    fn resets(&self) -> watch::Receiver<u64> {
        (**self).resets()
    }
}

/// Why the stream runtime stopped other than by a shutdown request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The position in the connector state is unusable.
    #[error("cannot resume the live stream: {0}; reset the connector state to start over")]
    InvalidPosition(#[from] PositionError),
    /// [`StreamSink::on_start`] failed.
    #[error("the stream sink failed to start: {0}")]
    SinkStart(#[source] SinkError),
}

/// A stream runtime, ready to run a sink.
#[derive(Debug)]
pub struct StreamRuntime<St> {
    settings: StreamSettings,
    start: StartSettings,
    http: reqwest::Client,
    state: St,
    metrics: Arc<StreamMetrics>,
    shutdown: CancellationToken,
    stop_grace: Duration,
}

impl<St: StateStore> StreamRuntime<St> {
    /// A runtime reading the stream described by `settings`, keeping its
    /// position in `state`, stopping when `shutdown` is cancelled.
    ///
    /// `http` must have no overall request timeout.
    pub fn new(
        settings: StreamSettings,
        start: StartSettings,
        http: reqwest::Client,
        state: St,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            settings,
            start,
            http,
            state,
            metrics: Arc::default(),
            shutdown,
            stop_grace: crate::config::runtime::DEFAULT_STOP_GRACE,
        }
    }

    /// How long a stop may take (`CONNECTOR_STOP_GRACE_PERIOD`): the sink's
    /// [`StreamSink::on_stop`] gets half of it.
    #[must_use]
    pub fn with_stop_grace(mut self, stop_grace: Duration) -> Self {
        self.stop_grace = stop_grace;
        self
    }

    /// Uses `metrics` instead of private ones (to expose them).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<StreamMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The runtime's metrics.
    pub fn metrics(&self) -> &Arc<StreamMetrics> {
        &self.metrics
    }

    /// Runs `sink` until shutdown. The position is written to the state
    /// before returning. Shutdown interrupts [`StreamSink::on_start`] (the
    /// sink is then not stopped, since it never started) and leaves
    /// [`StreamSink::on_stop`] half the stop grace.
    pub async fn run<S: StreamSink>(&self, sink: &mut S) -> Result<(), StreamError> {
        let mut resets = self.state.resets();
        let mut seen = *resets.borrow_and_update();
        let mut position = self.resume_position()?;
        self.persist(&position, seen);
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => {
                tracing::info!("stopped while the stream sink was starting");
                return Ok(());
            }
            started = sink.on_start() => started.map_err(StreamError::SinkStart)?,
        }
        loop {
            let reader = StreamReader::spawn(
                self.settings.clone(),
                self.http.clone(),
                &position,
                Arc::clone(&self.metrics),
            );
            let mut consumer = Consumer::new(self, sink, position, resets, seen);
            let ended = consumer.run(reader).await;
            position = consumer.position;
            resets = consumer.resets;
            match ended {
                Stop::Shutdown => break,
                Stop::Reset => {
                    seen = *resets.borrow_and_update();
                    position = self.resume_position()?;
                    tracing::warn!(
                        start_from = %position.start_from,
                        "the connector state was reset or changed from the platform; restarting the stream"
                    );
                    self.persist(&position, seen);
                }
                Stop::ReaderLost => {
                    // Not in a tight loop, whatever made it fail.
                    tokio::select! {
                        () = self.shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        self.persist(&position, seen);
        let limit = self.stop_grace / 2;
        if tokio::time::timeout(limit, sink.on_stop()).await.is_err() {
            tracing::warn!("the stream sink did not stop within {limit:?}; leaving it");
        }
        Ok(())
    }

    /// The position in the state, else the configured start.
    fn resume_position(&self) -> Result<StreamPosition, PositionError> {
        let stored = match self.state.load() {
            Some(state) => StreamPosition::from_state(&state)?,
            None => None,
        };
        Ok(stored.unwrap_or_else(|| StreamPosition::initial(&self.start, chrono::Utc::now())))
    }

    /// Writes `position` into the state unless the platform reset the
    /// state after the resets value `seen` (the reset is handled instead).
    fn persist(&self, position: &StreamPosition, seen: u64) -> bool {
        let mut state = self.state.load().unwrap_or_default();
        position.write_into(&mut state);
        self.state.store_unless_reset(state, seen)
    }
}

/// Why a consumer stopped.
enum Stop {
    Shutdown,
    Reset,
    ReaderLost,
}

/// Consumption from one starting position until shutdown or reset.
struct Consumer<'a, St, S> {
    runtime: &'a StreamRuntime<St>,
    sink: &'a mut S,
    position: StreamPosition,
    /// Events waiting for the sink, and the position just before each.
    batch: Vec<StreamEvent>,
    before: Vec<String>,
    /// Id of the last message received, which the position reaches once
    /// the batch is handled.
    window_end: Option<String>,
    batch_deadline: Option<Instant>,
    batching: Batching,
    /// The position moved since it was last written.
    dirty: bool,
    /// ... past an event (not only heartbeats): write it promptly.
    urgent: bool,
    persisted_at: Instant,
    /// Changes when the platform reset or replaced the state.
    resets: watch::Receiver<u64>,
    /// The resets value the position was read under.
    seen: u64,
}

impl<'a, St: StateStore, S: StreamSink> Consumer<'a, St, S> {
    fn new(
        runtime: &'a StreamRuntime<St>,
        sink: &'a mut S,
        position: StreamPosition,
        resets: watch::Receiver<u64>,
        seen: u64,
    ) -> Self {
        let batching = sink.batching();
        Self {
            runtime,
            sink,
            position,
            batch: Vec::new(),
            before: Vec::new(),
            window_end: None,
            batch_deadline: None,
            batching,
            dirty: false,
            urgent: false,
            persisted_at: Instant::now(),
            resets,
            seen,
        }
    }

    async fn run(&mut self, mut reader: StreamReader) -> Stop {
        let shutdown = self.runtime.shutdown.clone();
        loop {
            let since = self.persisted_at.elapsed();
            let due = if self.urgent {
                reader.is_empty() || since >= PERSIST_INTERVAL
            } else {
                since >= MARKER_PERSIST_INTERVAL
            };
            if self.dirty && due {
                self.persist();
            }
            let deadline = self.batch_deadline;
            let message = tokio::select! {
                biased;
                () = shutdown.cancelled() => return self.abandon(Stop::Shutdown),
                () = changed(&mut self.resets) => return self.abandon(Stop::Reset),
                () = sleep_until(deadline) => {
                    if let Err(stop) = self.flush().await {
                        return stop;
                    }
                    continue;
                }
                message = reader.next() => message,
            };
            let Some(message) = message else {
                // Only a panic in the reader task ends it while we hold it.
                tracing::error!("the live stream reader stopped unexpectedly; restarting it");
                return self.abandon(Stop::ReaderLost);
            };
            let Some(message) = Incoming::classify(message) else {
                // The reader only passes messages that carry an id.
                continue;
            };
            if let Err(stop) = self.dispatch(message).await {
                return stop;
            }
        }
    }

    async fn dispatch(&mut self, message: Incoming) -> Result<(), Stop> {
        self.runtime.metrics.count_received(
            message.name(),
            id_timestamp_ms(message.id()),
            now_ms(),
        );
        let id = match message {
            Incoming::Data(Ok(event)) => return self.enqueue(event).await,
            Incoming::Data(Err(error)) => {
                tracing::error!(event_id = error.event_id(), "{error}; event rejected");
                self.runtime.metrics.count_rejected();
                self.urgent = true;
                error.event_id().to_owned()
            }
            Incoming::NoRecover { id } => {
                tracing::warn!(event_id = %id, "the platform ended recovery for this stream; recover_until set to false");
                self.position.recover_until = RecoverUntil::Disabled;
                self.dirty = true;
                self.urgent = true;
                id
            }
            Incoming::Unknown { id, name } => {
                tracing::warn!(event_id = %id, event = %name, "unknown live stream event skipped");
                id
            }
            Incoming::Marker { id, .. } => id,
        };
        if self.batch.is_empty() {
            self.advance(id);
        } else {
            self.window_end = Some(id);
        }
        Ok(())
    }

    async fn enqueue(&mut self, event: StreamEvent) -> Result<(), Stop> {
        let before = self
            .window_end
            .replace(event.id.clone())
            .unwrap_or_else(|| self.position.start_from.clone());
        self.batch.push(event);
        self.before.push(before);
        if self.batch.len() >= self.batching.max_events || self.batching.max_wait.is_zero() {
            return self.flush().await;
        }
        if self.batch_deadline.is_none() {
            self.batch_deadline = Some(Instant::now() + self.batching.max_wait);
        }
        Ok(())
    }

    /// Hands the batch to the sink until no event in it asks for a retry.
    async fn flush(&mut self) -> Result<(), Stop> {
        self.batch_deadline = None;
        if self.batch.is_empty() {
            return Ok(());
        }
        let schedule = self.sink.retry_backoff();
        let mut backoff = Backoff::new(schedule.initial, schedule.max);
        let shutdown = self.runtime.shutdown.clone();
        loop {
            let outcome = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(self.abandon(Stop::Shutdown)),
                () = changed(&mut self.resets) => return Err(self.abandon(Stop::Reset)),
                outcome = self.sink.handle_batch(&self.batch) => outcome,
            };
            let pending = self.batch.len();
            let delay = self.settle(outcome);
            let Some(hint) = delay else {
                if let Some(end) = self.window_end.take() {
                    self.advance(end);
                }
                return Ok(());
            };
            // Part of the batch went through: the remote system works again,
            // so the rest is retried at the first delay, not a grown one.
            if self.batch.len() < pending {
                backoff.reset();
            }
            // Events before the first retried one are finished.
            self.advance(self.before[0].clone());
            self.persist();
            // A remote system's wish (Retry-After) is honoured up to the
            // sink's own longest delay.
            if hint > schedule.max {
                tracing::info!(
                    "the sink asked to wait {hint:?} before retrying; waiting {:?} at most",
                    schedule.max
                );
            }
            let delay = backoff.next_delay().max(hint.min(schedule.max));
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(self.abandon(Stop::Shutdown)),
                () = changed(&mut self.resets) => return Err(self.abandon(Stop::Reset)),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Applies the outcomes: keeps only the events to retry in the batch and
    /// returns the minimum delay they asked for, or `None` when none is left.
    fn settle(&mut self, outcome: BatchOutcome) -> Option<Duration> {
        let outcomes = match outcome {
            BatchOutcome::All(outcome) => vec![outcome; self.batch.len()],
            BatchOutcome::PerEvent(outcomes) if outcomes.len() == self.batch.len() => outcomes,
            BatchOutcome::PerEvent(outcomes) => {
                tracing::error!(
                    "the sink returned {} outcomes for a batch of {} events; retrying the batch",
                    outcomes.len(),
                    self.batch.len()
                );
                vec![Outcome::retry("wrong number of outcomes"); self.batch.len()]
            }
        };
        let metrics = &self.runtime.metrics;
        self.urgent = true;
        let mut hint: Option<Duration> = None;
        let mut keep = Vec::with_capacity(outcomes.len());
        for (event, outcome) in self.batch.iter().zip(outcomes) {
            keep.push(match outcome {
                Outcome::Done => {
                    metrics.count_handled(1);
                    false
                }
                Outcome::Reject { reason } => {
                    tracing::error!(event_id = %event.id, object_id = %event.object.id(), "event {} rejected by the sink: {reason}", event.id);
                    metrics.count_rejected();
                    false
                }
                Outcome::Retry { reason, after } => {
                    tracing::warn!(event_id = %event.id, "event {} will be retried: {reason}", event.id);
                    metrics.count_retry();
                    hint = Some(hint.unwrap_or_default().max(after.unwrap_or_default()));
                    true
                }
            });
        }
        let mut flags = keep.iter();
        self.batch.retain(|_| *flags.next().unwrap_or(&false));
        let mut flags = keep.iter();
        self.before.retain(|_| *flags.next().unwrap_or(&false));
        hint
    }

    /// Drops the unfinished batch. The position has stayed just before its
    /// first event, so those events are delivered again after a restart.
    fn abandon(&mut self, stop: Stop) -> Stop {
        self.batch.clear();
        self.before.clear();
        self.window_end = None;
        stop
    }

    fn advance(&mut self, id: String) {
        if self.position.start_from != id {
            self.position.start_from = id;
            self.dirty = true;
        }
    }

    fn persist(&mut self) {
        // Not written over a reset the loop has not handled yet.
        if !self.runtime.persist(&self.position, self.seen) {
            return;
        }
        self.dirty = false;
        self.urgent = false;
        self.persisted_at = Instant::now();
    }
}

/// Resolves when the watched value changes; never if its sender is gone.
async fn changed(resets: &mut watch::Receiver<u64>) {
    if resets.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
