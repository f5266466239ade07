//! What a connector's run is handed: state, bundle sending, the platform
//! client, error reporting, buffering and the shutdown signal.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiClient, RetryPolicy, WorkError};
use crate::config::{PlatformTls, Secret};
use crate::error::SendError;
use crate::metrics::Metrics;
use crate::publish::{BundleSender, PreparedSend, SendOptions, SendReport};
use crate::schedule::Buffering;
use crate::state::{State, StateHandle};
use crate::work::RunWork;

/// The context of one run.
///
/// Send bundles with [`RunContext::send_bundle`]; it returns only once the
/// broker confirmed every message, so advance the state *after* it:
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
    Recorded(Box<Value>),
}

#[derive(Debug, Default)]
struct Recorded {
    bundles: Vec<(Value, SendOptions)>,
    errors: Vec<WorkError>,
    /// Sends are refused once this many bundles were recorded.
    refuse_after: Option<usize>,
}

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
#[derive(Debug, Clone)]
pub struct TestProbe {
    recorded: Arc<Mutex<Recorded>>,
    state: StateHandle,
    shutdown: CancellationToken,
}

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
    pub async fn send_bundle(&self, bundle: Value) -> Result<SendReport, SendError> {
        self.send_bundle_with(bundle, &SendOptions::default()).await
    }

    /// [`RunContext::send_bundle`] with options.
    pub async fn send_bundle_with(
        &self,
        bundle: Value,
        options: &SendOptions,
    ) -> Result<SendReport, SendError> {
        if self.shutdown.is_cancelled() {
            return Err(SendError::Cancelled);
        }
        let report = match &self.backend {
            Backend::Recorder(recorded) => {
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
    /// platform is buffering, then splits and encodes `bundle`;
    /// [`RunContext::send_prepared`] announces its messages on the run's
    /// work and publishes them. A connector sending several bundles at once
    /// prepares the next one while earlier ones are being confirmed, so the
    /// broker never waits for the splitting.
    pub async fn prepare_bundle(&self, bundle: Value) -> Result<PreparedBundle, SendError> {
        if self.shutdown.is_cancelled() {
            return Err(SendError::Cancelled);
        }
        match &self.backend {
            Backend::Recorder(_) => Ok(PreparedBundle(PreparedInner::Recorded(Box::new(bundle)))),
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
            (PreparedInner::Recorded(bundle), Backend::Recorder(recorded)) => {
                recorded
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record(*bundle, SendOptions::default())?;
                SendReport::default()
            }
            (PreparedInner::Live(prepared), Backend::Live { sender, .. }) => {
                sender.publish_prepared(prepared, &self.shutdown).await?
            }
            _ => {
                return Err(SendError::InvalidBundle {
                    reason: "the bundle was prepared by another kind of context".to_owned(),
                });
            }
        };
        self.bundles_sent.fetch_add(1, Ordering::Relaxed);
        Ok(report)
    }

    /// Waits while the platform's queue is over the threshold (call it
    /// between long batches of work that do not send bundles). `Err` on
    /// shutdown.
    pub async fn wait_while_buffering(&self) -> Result<(), SendError> {
        if let Backend::Live { buffering, .. } = &self.backend
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
