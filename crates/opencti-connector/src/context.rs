//! What a connector's run is handed: state, bundle sending, the platform
//! client, error reporting, buffering and the shutdown signal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(any(test, feature = "test-util"))]
use std::sync::{Mutex, PoisonError};

use opencti_stix::StixObject;
use opencti_stix::split::CompactBundle;
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[cfg(any(test, feature = "test-util"))]
use crate::api::RetryPolicy;
use crate::api::{ApiClient, WorkError};
#[cfg(any(test, feature = "test-util"))]
use crate::config::{PlatformTls, Secret};
use crate::error::SendError;
use crate::metrics::Metrics;
use crate::publish::{BundleSender, OutgoingBundle, PreparedSend, SendOptions, SendReport};
use crate::schedule::Buffering;
use crate::state::{State, StateHandle};
use crate::work::RunWork;

/// The context of one run.
///
/// Send bundles with [`RunContext::send_bundle`] (a typed
/// [`opencti_stix::Bundle`], a JSON [`Value`] or JSON text); it returns
/// only once the broker confirmed every message, so advance the state
/// *after* it:
///
/// ```no_run
/// # async fn demo(ctx: &opencti_connector::context::RunContext, bundle: serde_json::Value) -> Result<(), opencti_connector::SendError> {
/// ctx.send_bundle(bundle).await?;
/// let mut state = ctx.state().unwrap_or_default();
/// state.insert("last_run".into(), serde_json::json!(1718010586));
/// ctx.set_state(state);
/// # Ok(()) }
/// ```
///
/// If the state is reset or edited in the platform during the run, the
/// run's later state writes are dropped (with a warning), so the next run
/// starts from the platform's state; [`RunContext::state_resets`] lets a
/// long run notice and stop early.
#[derive(Debug)]
pub struct RunContext {
    state: StateHandle,
    /// Fires when the platform resets the state during the run.
    resets: watch::Receiver<u64>,
    /// The reset count when the run started.
    resets_at_start: u64,
    /// Warned once that a state write was dropped after a reset.
    reset_warned: AtomicBool,
    api: ApiClient,
    metrics: Metrics,
    shutdown: CancellationToken,
    connector_name: String,
    bundles_sent: AtomicU64,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Live {
        sender: BundleSender,
        work: Arc<RunWork>,
        buffering: Arc<Buffering>,
    },
    #[cfg(any(test, feature = "test-util"))]
    Recorder(Arc<Mutex<Recorded>>),
}

/// A bundle split and encoded by [`RunContext::prepare_bundle`], waiting
/// for [`RunContext::send_prepared`]. Dropping it leaves no trace on the
/// run's work.
#[derive(Debug)]
pub struct PreparedBundle(PreparedInner);

#[derive(Debug)]
enum PreparedInner {
    Live(PreparedSend),
    /// A test context records the bundle when it is "published".
    #[cfg(any(test, feature = "test-util"))]
    Recorded(Box<Value>),
}

#[cfg(any(test, feature = "test-util"))]
#[derive(Debug)]
struct Recorded {
    bundles: Vec<(Value, SendOptions)>,
    errors: Vec<WorkError>,
    /// Sends are refused once this many bundles were recorded.
    refuse_after: Option<usize>,
    /// `false` while the probe holds sends back (see
    /// [`TestProbe::hold_sends`]).
    sends_open: watch::Sender<bool>,
}

#[cfg(any(test, feature = "test-util"))]
impl Default for Recorded {
    fn default() -> Self {
        Self {
            bundles: Vec::new(),
            errors: Vec::new(),
            refuse_after: None,
            sends_open: watch::Sender::new(true),
        }
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Recorded {
    /// Records a sent bundle, or refuses it as a failing platform would.
    fn record(&mut self, bundle: Value, options: SendOptions) -> Result<(), SendError> {
        if self
            .refuse_after
            .is_some_and(|limit| self.bundles.len() >= limit)
        {
            return Err(SendError::Platform(crate::api::ApiError::GraphQl {
                operation: "addExpectations".to_owned(),
                name: "TEST_REFUSAL".to_owned(),
                message: "sends refused by the test probe".to_owned(),
            }));
        }
        self.bundles.push((bundle, options));
        Ok(())
    }
}

/// What a test context recorded (see [`RunContext::for_test`]).
///
/// Available with the `test-util` feature only.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Clone)]
pub struct TestProbe {
    recorded: Arc<Mutex<Recorded>>,
    state: StateHandle,
    shutdown: CancellationToken,
}

#[cfg(any(test, feature = "test-util"))]
impl TestProbe {
    /// Bundles sent, in order.
    pub fn bundles(&self) -> Vec<Value> {
        self.lock()
            .bundles
            .iter()
            .map(|(bundle, _)| bundle.clone())
            .collect()
    }

    /// Bundles sent with their options.
    pub fn sends(&self) -> Vec<(Value, SendOptions)> {
        self.lock().bundles.clone()
    }

    /// Errors reported on the work.
    pub fn errors(&self) -> Vec<WorkError> {
        self.lock().errors.clone()
    }

    /// The state as the connector left it.
    pub fn state(&self) -> Option<State> {
        self.state.get()
    }

    /// Makes every send after the first `accepted` ones fail, as a platform
    /// refusing `addExpectations` would.
    pub fn refuse_sends_after(&self, accepted: usize) {
        self.lock().refuse_after = Some(accepted);
    }

    /// Holds every send back until [`TestProbe::release_sends`], as a broker
    /// that does not confirm would: what the run holds meanwhile stays in
    /// flight. A shutdown ends the wait with [`SendError::Cancelled`].
    pub fn hold_sends(&self) {
        self.lock().sends_open.send_replace(false);
    }

    /// Lets held sends (and later ones) through.
    pub fn release_sends(&self) {
        self.lock().sends_open.send_replace(true);
    }

    /// Fires the shutdown signal.
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }

    /// Resets (`None`) or replaces the state as the platform's UI does,
    /// notifying the run as a ping answer would.
    pub fn replace_state_remotely(&self, state: Option<State>) {
        self.state.replace_remotely(state);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RunContext {
    pub(crate) fn live(
        sender: BundleSender,
        work: Arc<RunWork>,
        buffering: Arc<Buffering>,
        state: StateHandle,
        metrics: Metrics,
        shutdown: CancellationToken,
        connector_name: &str,
    ) -> Self {
        let (resets, resets_at_start) = watch_resets(&state);
        Self {
            resets,
            resets_at_start,
            reset_warned: AtomicBool::new(false),
            state,
            api: sender.api().clone(),
            metrics,
            shutdown,
            connector_name: connector_name.to_owned(),
            bundles_sent: AtomicU64::new(0),
            backend: Backend::Live {
                sender,
                work,
                buffering,
            },
        }
    }

    /// A context that records bundles and errors in memory, with `state` as
    /// the stored state. Its API client points at a closed local port; use
    /// [`RunContext::for_test_with_api`] to give it a faked platform.
    ///
    /// Available with the `test-util` feature only (enable it in your
    /// `[dev-dependencies]`), so release binaries carry no recorder.
    #[cfg(any(test, feature = "test-util"))]
    pub fn for_test(state: Option<State>) -> (Self, TestProbe) {
        let api = ApiClient::build(
            &reqwest::Url::parse("http://127.0.0.1:9").expect("a static URL"),
            &Secret::new("test"),
            &[],
            &PlatformTls::Verify,
            RetryPolicy::none(),
        )
        .expect("a client without TLS material always builds");
        Self::for_test_with_api(state, api)
    }

    /// [`RunContext::for_test`] with a given API client.
    ///
    /// Available with the `test-util` feature only.
    #[cfg(any(test, feature = "test-util"))]
    pub fn for_test_with_api(state: Option<State>, api: ApiClient) -> (Self, TestProbe) {
        let handle = StateHandle::new(None);
        handle.set(state);
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let shutdown = CancellationToken::new();
        let probe = TestProbe {
            recorded: Arc::clone(&recorded),
            state: handle.clone(),
            shutdown: shutdown.clone(),
        };
        let (resets, resets_at_start) = watch_resets(&handle);
        let context = Self {
            resets,
            resets_at_start,
            reset_warned: AtomicBool::new(false),
            state: handle,
            api,
            metrics: Metrics::default(),
            shutdown,
            connector_name: "test".to_owned(),
            bundles_sent: AtomicU64::new(0),
            backend: Backend::Recorder(recorded),
        };
        (context, probe)
    }

    /// The current state (a non-empty object), as pycti's `get_state`.
    pub fn state(&self) -> Option<State> {
        self.state.get()
    }

    /// Replaces the state; it reaches the platform within a second.
    /// Dropped if the platform reset the state during this run.
    pub fn set_state(&self, state: State) {
        self.write_state(Some(state));
    }

    /// Clears the state. Dropped if the platform reset the state during
    /// this run.
    pub fn clear_state(&self) {
        self.write_state(None);
    }

    /// Changes when the state is reset or edited in the platform during
    /// this run (`has_changed()` is `false` at the start of the run).
    pub fn state_resets(&self) -> watch::Receiver<u64> {
        self.resets.clone()
    }

    fn write_state(&self, state: Option<State>) {
        if !self.state.set_unless_reset(state, self.resets_at_start)
            && !self.reset_warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "The connector state was reset from the platform during this run; \
                 the run's state updates are dropped and the next run starts from the platform's state"
            );
        }
    }

    /// Splits `bundle`, announces the expectations on the run's work,
    /// publishes every message and waits for every broker confirm. Pauses
    /// first if the platform is buffering.
    ///
    /// The bundle is a typed [`opencti_stix::Bundle`], a JSON [`Value`] or
    /// JSON text (`String`); the send holds it once, compactly (its
    /// objects' JSON text and references, read object by object while the
    /// input is dropped), and writes each message only when the publishing
    /// window has room for it. For sources too large to hold even so, see
    /// [`RunContext::bundle_stream`].
    pub async fn send_bundle(
        &self,
        bundle: impl Into<OutgoingBundle>,
    ) -> Result<SendReport, SendError> {
        self.send_bundle_with(bundle, &SendOptions::default()).await
    }

    /// [`RunContext::send_bundle`] with options.
    pub async fn send_bundle_with(
        &self,
        bundle: impl Into<OutgoingBundle>,
        options: &SendOptions,
    ) -> Result<SendReport, SendError> {
        let bundle = bundle.into();
        if self.shutdown.is_cancelled() {
            return Err(SendError::Cancelled);
        }
        let report = match &self.backend {
            #[cfg(any(test, feature = "test-util"))]
            Backend::Recorder(recorded) => {
                let bundle = bundle.into_value()?;
                self.until_sends_open(recorded).await?;
                recorded
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record(bundle, options.clone())?;
                SendReport::default()
            }
            Backend::Live {
                sender,
                work,
                buffering,
            } => {
                let work_id = self.work_after_buffering(work, buffering).await?;
                sender
                    .send(bundle, work_id, options, &self.shutdown)
                    .await?
            }
        };
        self.bundles_sent.fetch_add(1, Ordering::Relaxed);
        Ok(report)
    }

    /// Waits while a test probe holds sends back; `Err` on shutdown.
    #[cfg(any(test, feature = "test-util"))]
    async fn until_sends_open(&self, recorded: &Mutex<Recorded>) -> Result<(), SendError> {
        let mut open = recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sends_open
            .subscribe();
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Err(SendError::Cancelled),
            _ = open.wait_for(|open| *open) => Ok(()),
        }
    }

    /// Waits while the platform is buffering, then gives the run's work id
    /// (creating the work on first use).
    async fn work_after_buffering<'w>(
        &self,
        work: &'w RunWork,
        buffering: &Buffering,
    ) -> Result<Option<&'w str>, SendError> {
        if !buffering.wait(&self.shutdown, false).await {
            return Err(SendError::Cancelled);
        }
        Ok(work.id().await?)
    }

    /// The first half of [`RunContext::send_bundle`]: pauses if the
    /// platform is buffering, then reads and splits `bundle`;
    /// [`RunContext::send_prepared`] announces its messages on the run's
    /// work, writes and publishes them. A connector sending several bundles
    /// at once prepares the next one while earlier ones are being
    /// confirmed, so the broker never waits for the splitting.
    pub async fn prepare_bundle(
        &self,
        bundle: impl Into<OutgoingBundle>,
    ) -> Result<PreparedBundle, SendError> {
        if self.shutdown.is_cancelled() {
            return Err(SendError::Cancelled);
        }
        match &self.backend {
            #[cfg(any(test, feature = "test-util"))]
            Backend::Recorder(_) => Ok(PreparedBundle(PreparedInner::Recorded(Box::new(
                bundle.into().into_value()?,
            )))),
            Backend::Live {
                sender,
                work,
                buffering,
            } => {
                let work_id = self.work_after_buffering(work, buffering).await?;
                let prepared = sender
                    .prepare(bundle, work_id, &SendOptions::default())
                    .await?;
                Ok(PreparedBundle(PreparedInner::Live(prepared)))
            }
        }
    }

    /// Announces a bundle made ready by [`RunContext::prepare_bundle`] on
    /// the run's work, publishes it and waits for every broker confirm.
    pub async fn send_prepared(&self, prepared: PreparedBundle) -> Result<SendReport, SendError> {
        if self.shutdown.is_cancelled() {
            return Err(SendError::Cancelled);
        }
        let report = match (prepared.0, &self.backend) {
            #[cfg(any(test, feature = "test-util"))]
            (PreparedInner::Recorded(bundle), Backend::Recorder(recorded)) => {
                self.until_sends_open(recorded).await?;
                recorded
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record(*bundle, SendOptions::default())?;
                SendReport::default()
            }
            (PreparedInner::Live(prepared), Backend::Live { sender, .. }) => {
                sender.publish_prepared(prepared, &self.shutdown).await?
            }
            #[cfg(any(test, feature = "test-util"))]
            _ => {
                return Err(SendError::InvalidBundle {
                    reason: "the bundle was prepared by another kind of context".to_owned(),
                });
            }
        };
        self.bundles_sent.fetch_add(1, Ordering::Relaxed);
        Ok(report)
    }

    /// A sender that objects are streamed into, for sources too large to
    /// hold as one bundle: see [`BundleStream`]. Splits every 10,000
    /// objects.
    pub fn bundle_stream(&self) -> BundleStream<'_> {
        self.bundle_stream_with(SendOptions::default(), BundleStream::DEFAULT_CHUNK)
    }

    /// [`RunContext::bundle_stream`] with options, splitting every
    /// `chunk_objects` objects.
    pub fn bundle_stream_with(
        &self,
        options: SendOptions,
        chunk_objects: usize,
    ) -> BundleStream<'_> {
        let id = format!("bundle--{}", uuid::Uuid::new_v4());
        BundleStream {
            ctx: self,
            options,
            chunk_objects: chunk_objects.max(1),
            chunk: CompactBundle::with_id(id.as_str()),
            id,
            publishing: None,
            report: SendReport::default(),
        }
    }

    /// Waits while the platform's queue is over the threshold (call it
    /// between long batches of work that do not send bundles). `Err` on
    /// shutdown.
    pub async fn wait_while_buffering(&self) -> Result<(), SendError> {
        if let Some((_, _, buffering)) = self.live_parts()
            && !buffering.wait(&self.shutdown, true).await
        {
            return Err(SendError::Cancelled);
        }
        Ok(())
    }

    /// Reports an error on the run's work (visible in the platform), e.g.
    /// an item of the source that could not be converted.
    pub async fn report_error(
        &self,
        error: impl Into<String>,
        source: impl Into<String>,
    ) -> Result<(), SendError> {
        let error = WorkError::new(error, source);
        tracing::warn!(attributes.source = %error.source, "{}", error.error);
        match &self.backend {
            #[cfg(any(test, feature = "test-util"))]
            Backend::Recorder(recorded) => {
                recorded
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .errors
                    .push(error);
            }
            Backend::Live { work, .. } => work.report_error(&error).await?,
        }
        Ok(())
    }

    /// The sender, work and buffering of a live context; `None` for a test
    /// context.
    fn live_parts(&self) -> Option<(&BundleSender, &RunWork, &Buffering)> {
        match &self.backend {
            Backend::Live {
                sender,
                work,
                buffering,
            } => Some((sender, work, buffering)),
            #[cfg(any(test, feature = "test-util"))]
            Backend::Recorder(_) => None,
        }
    }

    /// The platform client, for extra GraphQL queries.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The metrics registry (`add_records_sent`, ...).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The shutdown signal: stop promptly when it fires.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Whether shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// `CONNECTOR_NAME`.
    pub fn connector_name(&self) -> &str {
        &self.connector_name
    }

    /// Bundles sent so far in this run.
    pub fn bundles_sent(&self) -> u64 {
        self.bundles_sent.load(Ordering::Relaxed)
    }
}

/// A sender that a run streams objects into: every `chunk` objects (10,000
/// unless set) it splits what it holds as one bundle, announces it on the
/// run's work and publishes it, while the run goes on pushing the next
/// objects. Memory stays that of two chunks (one being published, one
/// being filled) whatever the number of objects; [`BundleStream::finish`]
/// sends the rest and returns once every message is confirmed, so advance
/// the state after it.
///
/// The trade-off: pycti's order (an object after the objects it
/// references) holds within a chunk only. Across chunks the order is the
/// push order, each chunk confirmed before the next is published, so push
/// the objects others refer to (authors, markings, the targets of
/// relationships) first, or in the same chunk. A reference to an object in
/// another chunk is sent as it is; with
/// [`SendOptions::cleanup_inconsistent_bundle`] it is dropped, as a
/// reference to an object outside the bundle.
///
/// ```no_run
/// # async fn demo(ctx: &opencti_connector::RunContext, objects: Vec<opencti_stix::StixObject>) -> Result<(), opencti_connector::SendError> {
/// let mut stream = ctx.bundle_stream();
/// for object in &objects {
///     stream.push(object).await?;
/// }
/// stream.finish().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BundleStream<'c> {
    ctx: &'c RunContext,
    options: SendOptions,
    chunk_objects: usize,
    id: String,
    chunk: CompactBundle,
    /// The previous chunk, being published.
    publishing: Option<AbortOnDrop<Result<SendReport, SendError>>>,
    report: SendReport,
}

impl BundleStream<'_> {
    /// Objects per chunk unless set otherwise: a chunk of typical objects
    /// holds a few megabytes.
    pub const DEFAULT_CHUNK: usize = 10_000;

    /// Adds a typed object.
    ///
    /// # Errors
    ///
    /// When the object has no id, or a chunk cannot be sent (see
    /// [`RunContext::send_bundle`]).
    pub async fn push(&mut self, object: &StixObject) -> Result<(), SendError> {
        let pushed = self.chunk.push_object(object);
        self.pushed(pushed).await
    }

    /// Adds an object given as a JSON value.
    ///
    /// # Errors
    ///
    /// As [`BundleStream::push`], and when it is not an object.
    pub async fn push_value(&mut self, object: &Value) -> Result<(), SendError> {
        let pushed = self.chunk.push_value(object);
        self.pushed(pushed).await
    }

    /// Adds an object given as JSON text.
    ///
    /// # Errors
    ///
    /// As [`BundleStream::push_value`], and when it is not JSON.
    pub async fn push_json(&mut self, object: &str) -> Result<(), SendError> {
        let pushed = self.chunk.push_json(object);
        self.pushed(pushed).await
    }

    async fn pushed(
        &mut self,
        pushed: Result<(), opencti_stix::split::SplitError>,
    ) -> Result<(), SendError> {
        pushed.map_err(|error| SendError::InvalidBundle {
            reason: error.to_string(),
        })?;
        if self.chunk.len() >= self.chunk_objects {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends what is held, waiting only for the previous chunk's confirms.
    async fn flush(&mut self) -> Result<(), SendError> {
        let chunk = std::mem::replace(&mut self.chunk, CompactBundle::with_id(self.id.as_str()));
        let ctx = self.ctx;
        let Some((sender, work, buffering)) = ctx.live_parts() else {
            let report = ctx.send_bundle_with(chunk, &self.options).await?;
            self.report = self.report.and(report);
            return Ok(());
        };
        if ctx.shutdown.is_cancelled() {
            return Err(SendError::Cancelled);
        }
        let work_id = ctx.work_after_buffering(work, buffering).await?;
        // Split while the previous chunk is being confirmed.
        let prepared = sender.prepare(chunk, work_id, &self.options).await?;
        self.wait_for_publishing().await?;
        let (sender, shutdown) = (sender.clone(), ctx.shutdown.clone());
        self.publishing = Some(AbortOnDrop(tokio::spawn(async move {
            sender.publish_prepared(prepared, &shutdown).await
        })));
        ctx.bundles_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn wait_for_publishing(&mut self) -> Result<(), SendError> {
        if let Some(mut publishing) = self.publishing.take() {
            let report = (&mut publishing.0).await.map_err(|error| {
                if error.is_panic() {
                    std::panic::resume_unwind(error.into_panic());
                }
                SendError::Cancelled
            })??;
            self.report = self.report.and(report);
        }
        Ok(())
    }

    /// Sends the objects still held and waits until every message of the
    /// stream is confirmed.
    ///
    /// # Errors
    ///
    /// As [`RunContext::send_bundle`].
    pub async fn finish(mut self) -> Result<SendReport, SendError> {
        if !self.chunk.is_empty() {
            self.flush().await?;
        }
        self.wait_for_publishing().await?;
        Ok(self.report)
    }
}

/// A task aborted when its handle is dropped (a stream dropped mid-way
/// stops publishing).
#[derive(Debug)]
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A receiver of the state's resets and the reset count it has seen.
fn watch_resets(state: &StateHandle) -> (watch::Receiver<u64>, u64) {
    let mut resets = state.resets();
    let seen = *resets.borrow_and_update();
    (resets, seen)
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

    #[tokio::test]
    async fn held_sends_wait_for_the_release_or_end_at_shutdown() {
        let (ctx, probe) = RunContext::for_test(None);
        let bundle = || json!({"type": "bundle", "id": "bundle--1", "objects": []});
        probe.hold_sends();
        let mut held = std::pin::pin!(ctx.send_bundle(bundle()));
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), &mut held)
                .await
                .is_err(),
            "a held send waits"
        );
        assert!(probe.bundles().is_empty());
        probe.release_sends();
        held.await.unwrap();
        assert_eq!(probe.bundles().len(), 1);

        probe.hold_sends();
        let prepared = ctx.prepare_bundle(bundle()).await.unwrap();
        let stopper = probe.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            stopper.shut_down();
        });
        let stopped = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            ctx.send_prepared(prepared),
        )
        .await
        .expect("a shutdown ends the wait");
        assert!(matches!(stopped, Err(SendError::Cancelled)), "{stopped:?}");
        assert_eq!(probe.bundles().len(), 1, "nothing recorded after the stop");
    }

    #[tokio::test]
    async fn a_stream_sends_its_objects_a_chunk_at_a_time() {
        let (ctx, probe) = RunContext::for_test(None);
        let mut stream = ctx.bundle_stream_with(SendOptions::default(), 10);
        for index in 0..25 {
            let object = json!({"type": "note", "id": format!("note--{index}")});
            stream.push_value(&object).await.unwrap();
        }
        assert_eq!(probe.bundles().len(), 2, "two full chunks went out");
        stream.finish().await.unwrap();
        let bundles = probe.bundles();
        let sizes: Vec<usize> = bundles
            .iter()
            .map(|bundle| bundle["objects"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(bundles[2]["objects"][4]["id"], "note--24");
        assert_eq!(
            bundles[0]["id"], bundles[2]["id"],
            "one bundle id per stream"
        );
        let refused = ctx.bundle_stream().push_json("[1]").await;
        assert!(matches!(refused, Err(SendError::InvalidBundle { .. })));
    }

    #[test]
    fn a_reset_during_a_run_is_not_overwritten_by_the_run() {
        let (ctx, probe) = RunContext::for_test(Some(object(json!({"cursor": 1}))));
        ctx.set_state(object(json!({"cursor": 2})));
        assert_eq!(probe.state(), Some(object(json!({"cursor": 2}))));
        let resets = ctx.state_resets();
        assert!(!resets.has_changed().unwrap());

        // An operator edits the state in the platform.
        probe.replace_state_remotely(Some(object(json!({"cursor": 0}))));
        assert!(resets.has_changed().unwrap(), "the run is notified");
        ctx.set_state(object(json!({"cursor": 3})));
        ctx.clear_state();
        assert_eq!(
            probe.state(),
            Some(object(json!({"cursor": 0}))),
            "the next run starts from the platform's state"
        );
    }
}
