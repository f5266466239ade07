//! The listen loop: one message of the listen queue at a time, its work
//! received, the connector run, the work processed, then the ack.

use std::collections::{HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt as _;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::ListenProtocol;
use super::callback::{
    CallbackJob, CallbackLimits, CallbackListener, DEFAULT_MAX_BODY_BYTES, HANDSHAKE_TIMEOUT,
    HEADER_TIMEOUT,
};
use super::context::{JobContext, LiveJob, PlaybookAnswer};
use super::handler::Listener;
use super::message::Job;
use crate::amqp::{BrokerLink, BrokerParams, Delivery, QueueConsumer};
use crate::api::ApiClient;
use crate::config::RuntimeConfig;
use crate::error::Error;
use crate::metrics::{Metrics, RuntimeEvent};
use crate::publish::{BundleSender, SendOptions};
use crate::session::{PlatformSession, SessionOptions};
use crate::state::PingSchedule;

/// The message of `toReceived`, as pycti's.
const RECEIVED: &str = "Connector ready to process the operation";
/// How often a running job's work is kept alive (pycti's cadence).
const WORK_PING_INTERVAL: Duration = Duration::from_secs(300);
/// Messages taken ahead of the one being handled: one, as pycti, so that
/// several replicas of a connector share the jobs, and a broker drop
/// returns at most one message to the queue.
const PREFETCH: u16 = 1;
/// How many finished jobs are remembered to recognise their redelivery.
const REMEMBERED_JOBS: usize = 1024;

/// The listen loop of an internal connector, configurable for tests.
#[derive(Debug)]
pub struct ListenRunner<L> {
    listener: L,
    config: RuntimeConfig,
    version: Option<String>,
    slug: Option<String>,
    api: Option<ApiClient>,
    metrics: Option<Metrics>,
    pings: PingSchedule,
    protocol: ListenProtocol,
    callback_limits: CallbackLimits,
}

/// How a job ended.
enum Ended {
    /// Its work is closed (or it had none): ack it.
    Done,
    /// Stopped before its end: leave it unacked for a redelivery.
    Abandoned,
}

impl<L: Listener> ListenRunner<L> {
    /// A runner with production settings.
    pub fn new(listener: L, config: RuntimeConfig) -> Self {
        Self {
            listener,
            config,
            version: None,
            slug: None,
            api: None,
            metrics: None,
            pings: PingSchedule::default(),
            protocol: ListenProtocol::Amqp,
            callback_limits: CallbackLimits {
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                handshake_timeout: HANDSHAKE_TIMEOUT,
                header_timeout: HEADER_TIMEOUT,
            },
        }
    }

    /// Takes jobs as `CONNECTOR_LISTEN_PROTOCOL` says: from the listen
    /// queue (the default) or over HTTP.
    pub fn with_listen_protocol(mut self, protocol: ListenProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Changes the largest job body the HTTP endpoint accepts.
    pub fn with_max_callback_body(mut self, bytes: usize) -> Self {
        self.callback_limits.max_body_bytes = bytes;
        self
    }

    /// Changes how long a client of the HTTPS endpoint may take to finish
    /// its TLS handshake.
    pub fn with_callback_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.callback_limits.handshake_timeout = timeout;
        self
    }

    /// Changes how long a client of the HTTP(S) endpoint may take to send
    /// a request's line and headers.
    pub fn with_callback_header_timeout(mut self, timeout: Duration) -> Self {
        self.callback_limits.header_timeout = timeout;
        self
    }

    /// The version and slug registered with 7.x platforms.
    pub fn with_identity(mut self, version: &str, slug: Option<&str>) -> Self {
        self.version = Some(version.to_owned());
        self.slug = slug.map(str::to_owned);
        self
    }

    /// Uses this platform client.
    pub fn with_api(mut self, api: ApiClient) -> Self {
        self.api = Some(api);
        self
    }

    /// Uses this metrics registry.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Changes the ping cadence.
    pub fn with_pings(mut self, pings: PingSchedule) -> Self {
        self.pings = pings;
        self
    }

    /// Registers, then handles the jobs of the listen queue until shutdown.
    ///
    /// On shutdown the job in progress gets half of
    /// `CONNECTOR_STOP_GRACE_PERIOD` to finish; past that it is dropped,
    /// its message left unacknowledged (the broker delivers it again) and
    /// its work left open.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), Error> {
        let api = match self.api.take() {
            Some(api) => api,
            None => ApiClient::new(&self.config.opencti)?,
        };
        let metrics = self
            .metrics
            .take()
            .unwrap_or_else(|| Metrics::new(&self.config.connector.metrics.prefix));
        let mut options = SessionOptions::new(L::CONNECTOR_TYPE);
        options.playbook_compatible = L::PLAYBOOK_COMPATIBLE;
        options.version = self.version.take();
        options.slug = self.slug.take();
        options.pings = self.pings;
        // Bound before registering: the registered URI names the port in use.
        let callback = match &self.protocol {
            ListenProtocol::Amqp => None,
            ListenProtocol::Api(api) => Some(CallbackListener::bind(api).await?),
        };
        options.listen_callback_uri = callback.as_ref().map(CallbackListener::callback_uri);
        let session = match PlatformSession::start_with(
            self.config.clone(),
            options,
            api,
            metrics,
            shutdown.clone(),
        )
        .await
        {
            Ok(session) => session,
            Err(Error::Interrupted) => return Ok(()),
            Err(error) => return Err(error),
        };
        if let Err(reason) = self.listener.start().await {
            session.close().await;
            return Err(Error::Connector(reason.into()));
        }
        let params = BrokerParams::resolve(
            &session.registration().config.connection,
            &session.config().mq,
        )?;
        crate::tls::warn_if_broker_unverified(&params);
        let (sender, publisher) =
            BundleSender::for_session(&session, L::CONNECTOR_TYPE, || Ok(params.clone()))?;
        // The endpoint stops with the loop, whatever ends it.
        let endpoint_stop = shutdown.child_token();
        let _endpoint_guard = endpoint_stop.clone().drop_guard();
        let mut source = match callback {
            Some(callback) => {
                let config = session.config();
                let served = callback.serve(
                    session.api().generation(),
                    session.registration().jwks.as_deref(),
                    &config.opencti.token,
                    self.callback_limits,
                    endpoint_stop,
                );
                match served {
                    Ok(jobs) => JobSource::Callback(jobs),
                    Err(error) => {
                        session.close().await;
                        return Err(error.into());
                    }
                }
            }
            // Consuming has a connection of its own: a channel error of a
            // publish never ends the consumer, nor a lost consumer a publish.
            None => JobSource::Queue(QueueConsumer::new(
                BrokerLink::new(params, session.metrics().clone()),
                &session.registration().config.listen,
                PREFETCH,
            )),
        };
        let mut loop_state = JobLoop {
            session: &session,
            sender: &sender,
            shutdown: &shutdown,
            finished: Remembered::default(),
        };
        let outcome = loop {
            let incoming = match source.next(&shutdown).await {
                None => break Ok(()),
                Some(Ok(incoming)) => incoming,
                Some(Err(error)) => break Err(error),
            };
            let ended =
                Box::pin(loop_state.one(&mut self.listener, &incoming.body, incoming.redelivered))
                    .await;
            let done = matches!(ended, Ended::Done);
            incoming.settle.settle(done).await;
            if !done || shutdown.is_cancelled() {
                break Ok(());
            }
        };
        let close_step = crate::stop::close_step_share(session.config().connector.stop_grace);
        let close_links = async {
            let consumer_link = async {
                if let JobSource::Queue(consumer) = &source {
                    consumer.link().close().await;
                }
            };
            let publisher_link = async {
                if let Some(publisher) = &publisher {
                    publisher.link().close().await;
                }
            };
            tokio::join!(consumer_link, publisher_link);
        };
        let closed = crate::stop::or_stop_after(&shutdown, close_step, close_links);
        let (closed, ()) = tokio::join!(closed, session.close());
        if closed.is_none() {
            tracing::warn!("the broker connections did not close within {close_step:?}");
        }
        outcome
    }
}

/// What every job of a run shares.
struct JobLoop<'r> {
    session: &'r PlatformSession,
    sender: &'r BundleSender,
    shutdown: &'r CancellationToken,
    finished: Remembered,
}

impl JobLoop<'_> {
    /// Handles one message to its end (or abandons it on shutdown).
    /// A `redelivered` message whose job is already done is only settled.
    async fn one<L: Listener>(
        &mut self,
        listener: &mut L,
        body: &[u8],
        redelivered: bool,
    ) -> Ended {
        let metrics = self.session.metrics();
        let value: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(error) => {
                // No work to report on: dropped, never redelivered forever.
                metrics.emit(RuntimeEvent::Error {
                    context: "Dropped a listen message that is not JSON",
                    reason: &error.to_string(),
                });
                return Ended::Done;
            }
        };
        let key = job_key(&value);
        if redelivered && key.as_ref().is_some_and(|key| self.finished.contains(key)) {
            tracing::info!(
                attributes.job = key.as_deref().unwrap_or_default(),
                "Job delivered again after it was done; acknowledging it only"
            );
            return Ended::Done;
        }
        let work_id = Job::work_id_of(&value).map(str::to_owned);
        let ended = self.run_job(listener, value, work_id.as_deref()).await;
        if matches!(ended, Ended::Done)
            && let Some(key) = key
        {
            self.finished.insert(key);
        }
        ended
    }

    async fn run_job<L: Listener>(
        &self,
        listener: &mut L,
        value: Value,
        work_id: Option<&str>,
    ) -> Ended {
        let session = self.session;
        let metrics = session.metrics();
        metrics.emit(RuntimeEvent::RunStarted);
        let job = match Job::from_value(value) {
            Ok(job) => job,
            Err(error) => return self.close(work_id, Err(error.to_string())).await,
        };
        let connector_user = session.registration().connector_user_id.as_deref();
        let applicant = job.applicant_id.as_deref().or(connector_user);
        let draft = job.draft_id.as_deref();
        let headers = session
            .api()
            .with_job_headers(applicant, draft)
            .and_then(|acting| Ok((acting, session.api().with_job_headers(None, draft)?)));
        let (acting, platform) = match headers {
            Ok(clients) => clients,
            Err(error) => return self.close(work_id, Err(error.to_string())).await,
        };
        // The job's share of the grace, counted once from the stop, bounds
        // its preparation (reading the entity and marking the work
        // received, which wait on the platform) and its run together.
        let grace = crate::stop::work_share(session.config().connector.stop_grace);
        let mut job_cut = std::pin::pin!(async {
            self.shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        });
        let prepare = async {
            let request = L::prepare(&job, &acting).await?;
            if let Some(work_id) = work_id
                && let Err(error) = platform.work_to_received(work_id, RECEIVED).await
            {
                metrics.emit(RuntimeEvent::Error {
                    context: "Cannot mark the job's work received",
                    reason: &error.to_string(),
                });
            }
            Ok(request)
        };
        let prepared = tokio::select! {
            prepared = prepare => prepared,
            () = &mut job_cut => {
                tracing::warn!(
                    "Job interrupted by the connector's stop before it started; its message goes back to the queue"
                );
                return Ended::Abandoned;
            }
        };
        let request = match prepared {
            Ok(request) => request,
            Err(reason) => return self.close(work_id, Err(reason)).await,
        };
        let ctx = JobContext::live(
            LiveJob {
                sender: self.sender.clone(),
                platform: platform.clone(),
                defaults: job_defaults(&job, applicant),
                playbook: job.playbook.as_ref().map(|step| PlaybookAnswer {
                    step: json!({
                        "execution_id": step.execution_id,
                        "event_id": step.event_id,
                        "execution_start": chrono::Utc::now()
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                        "data_instance_id": step.data_instance_id,
                        "playbook_id": step.playbook_id,
                        "previous_step_id": step.previous_step_id,
                        "step_id": step.step_id,
                    }),
                    previous_bundle: job
                        .event
                        .get("bundle")
                        .map(Value::to_string)
                        .unwrap_or_default(),
                }),
            },
            acting,
            work_id.map(str::to_owned),
            self.shutdown.clone(),
            &session.config().connector.name,
        );
        let handled = AssertUnwindSafe(listener.handle(request, &ctx)).catch_unwind();
        let kept_alive = keep_alive(&platform, work_id, handled);
        let outcome = tokio::select! {
            outcome = kept_alive => Some(outcome),
            () = &mut job_cut => None,
        };
        let result = match outcome {
            None => {
                tracing::warn!(
                    "Job interrupted by the connector's stop; its message goes back to the queue"
                );
                return Ended::Abandoned;
            }
            Some(Err(panic)) => Err(format!("the connector panicked: {}", panic_text(&*panic))),
            Some(Ok(Err(_))) if self.shutdown.is_cancelled() => {
                tracing::warn!(
                    "Job failed while the connector was stopping; its message goes back to the queue"
                );
                return Ended::Abandoned;
            }
            Some(Ok(result)) => result,
        };
        if result.is_ok() {
            metrics.emit(RuntimeEvent::RunFinished {
                bundles: ctx.bundles_sent(),
            });
        }
        self.close(work_id, result).await
    }

    /// Closes the job's work (`toProcessed`) with the handler's outcome.
    async fn close(&self, work_id: Option<&str>, result: Result<String, String>) -> Ended {
        let metrics = self.session.metrics();
        let (message, in_error) = match result {
            Ok(message) => (message, false),
            Err(reason) => {
                metrics.emit(RuntimeEvent::RunFailed { reason: &reason });
                (reason, true)
            }
        };
        let Some(work_id) = work_id else {
            return Ended::Done;
        };
        let grace = self.session.config().connector.stop_grace;
        let close = self
            .session
            .api()
            .work_to_processed(work_id, &message, in_error);
        match crate::stop::or_stop_after(self.shutdown, crate::stop::close_step_share(grace), close)
            .await
        {
            Some(Ok(())) => {}
            Some(Err(error)) => metrics.emit(RuntimeEvent::Error {
                context: "Cannot close the job's work",
                reason: &error.to_string(),
            }),
            None => tracing::warn!("the job's work was not closed before the stop"),
        }
        Ended::Done
    }
}

/// Where jobs come from.
enum JobSource {
    /// The listen queue (`CONNECTOR_LISTEN_PROTOCOL=AMQP`).
    Queue(QueueConsumer),
    /// The HTTP endpoint (`CONNECTOR_LISTEN_PROTOCOL=API`).
    Callback(mpsc::Receiver<CallbackJob>),
}

/// A job message and how to tell its source it was handled.
struct Incoming {
    body: Vec<u8>,
    /// Whether the job may have been handed over before. Every call of
    /// the platform counts as such: it calls again when an answer was
    /// lost, and a job already done must not run twice.
    redelivered: bool,
    settle: Settle,
}

enum Settle {
    Queue(Delivery),
    Callback(oneshot::Sender<bool>),
}

impl JobSource {
    async fn next(&mut self, shutdown: &CancellationToken) -> Option<Result<Incoming, Error>> {
        match self {
            Self::Queue(consumer) => Some(consumer.next(shutdown).await?.map_or_else(
                |error| Err(Error::from(error)),
                |mut delivery| {
                    Ok(Incoming {
                        body: std::mem::take(&mut delivery.body),
                        redelivered: delivery.redelivered,
                        settle: Settle::Queue(delivery),
                    })
                },
            )),
            Self::Callback(jobs) => {
                let job = tokio::select! {
                    () = shutdown.cancelled() => return None,
                    job = jobs.recv() => job?,
                };
                Some(Ok(Incoming {
                    body: job.body.to_vec(),
                    redelivered: true,
                    settle: Settle::Callback(job.done),
                }))
            }
        }
    }
}

impl Settle {
    /// Acknowledges a finished job; leaves an abandoned one to come back.
    async fn settle(self, done: bool) {
        match self {
            Self::Queue(delivery) => {
                if done && let Err(error) = delivery.ack().await {
                    tracing::warn!(
                        "{error}; the broker will deliver the message again and it will be skipped"
                    );
                }
            }
            Self::Callback(answer) => {
                // The caller may be gone (the stop answered it).
                let _ = answer.send(done);
            }
        }
    }
}

/// Runs `handled`, pinging the work every five minutes meanwhile.
async fn keep_alive<T>(
    platform: &ApiClient,
    work_id: Option<&str>,
    handled: impl Future<Output = T>,
) -> T {
    let mut handled = std::pin::pin!(handled);
    let start = tokio::time::Instant::now() + WORK_PING_INTERVAL;
    let mut pings = tokio::time::interval_at(start, WORK_PING_INTERVAL);
    loop {
        tokio::select! {
            result = &mut handled => return result,
            _ = pings.tick() => {
                if let Some(work_id) = work_id
                    && let Err(error) = platform.work_ping(work_id).await
                {
                    tracing::warn!("cannot keep the job's work alive: {error}");
                }
            }
        }
    }
}

/// The send options every bundle of the job gets unless it says otherwise.
fn job_defaults(job: &Job, applicant: Option<&str>) -> SendOptions {
    let event = &job.event;
    let text = |key: &str| event.get(key).and_then(Value::as_str).map(str::to_owned);
    let flag = |key: &str| event.get(key).and_then(Value::as_bool).unwrap_or(false);
    SendOptions {
        draft_id: job.draft_id.clone(),
        applicant_id: applicant.map(str::to_owned),
        validation_mode: match text("validation_mode").as_deref() {
            Some("workbench") => Some(crate::publish::ValidationMode::Workbench),
            Some("draft") => Some(crate::publish::ValidationMode::Draft),
            _ => None,
        },
        bypass_validation: flag("bypass_validation"),
        force_validation: flag("force_validation"),
        // An import's bundle awaits validation under the file's name and entity.
        file_name: text("file_id")
            .map(|id| id.rsplit('/').next().unwrap_or_default().to_owned())
            .filter(|name| !name.is_empty()),
        entity_id: text("entity_id").filter(|_| job.playbook.is_none()),
        file_markings: event
            .get("file_markings")
            .and_then(Value::as_array)
            .map(|markings| {
                markings
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        ..SendOptions::default()
    }
}

/// What identifies a job across redeliveries: its work, or its playbook
/// step.
fn job_key(value: &Value) -> Option<String> {
    if let Some(work_id) = Job::work_id_of(value) {
        return Some(work_id.to_owned());
    }
    let step = value.pointer("/internal/playbook")?;
    Some(format!(
        "playbook {} {}",
        step.get("execution_id")?.as_str()?,
        step.get("step_id")?.as_str()?
    ))
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// The most recent finished jobs.
#[derive(Default)]
struct Remembered {
    order: VecDeque<String>,
    keys: HashSet<String>,
}

impl Remembered {
    fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    fn insert(&mut self, key: String) {
        if self.keys.insert(key.clone()) {
            self.order.push_back(key);
            if self.order.len() > REMEMBERED_JOBS
                && let Some(oldest) = self.order.pop_front()
            {
                self.keys.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_known_by_its_work_or_its_playbook_step() {
        assert_eq!(
            job_key(&json!({"internal": {"work_id": "work_1"}})).as_deref(),
            Some("work_1")
        );
        assert_eq!(
            job_key(&json!({"internal": {"work_id": null,
                "playbook": {"execution_id": "x", "step_id": "s"}}}))
            .as_deref(),
            Some("playbook x s")
        );
        assert_eq!(job_key(&json!({"internal": {}})), None);
    }

    #[test]
    fn only_the_most_recent_jobs_are_remembered() {
        let mut remembered = Remembered::default();
        for index in 0..=REMEMBERED_JOBS {
            remembered.insert(format!("work_{index}"));
        }
        assert!(!remembered.contains("work_0"));
        assert!(remembered.contains("work_1"));
        assert!(remembered.contains(&format!("work_{REMEMBERED_JOBS}")));
    }

    #[test]
    fn an_import_in_a_draft_sends_to_its_draft_as_the_user_who_asked() {
        let job = Job::from_value(json!({
            "internal": {"work_id": "w", "applicant_id": "user", "draft_id": "draft"},
            "event": {"file_id": "import/global/report.json", "file_markings": ["m"],
                      "validation_mode": "draft", "bypass_validation": true}
        }))
        .unwrap();
        let options = job_defaults(&job, Some("user"));
        assert_eq!(options.draft_id.as_deref(), Some("draft"));
        assert_eq!(options.applicant_id.as_deref(), Some("user"));
        assert_eq!(options.file_name.as_deref(), Some("report.json"));
        assert_eq!(options.file_markings, ["m"]);
        assert!(options.bypass_validation);
    }
}
