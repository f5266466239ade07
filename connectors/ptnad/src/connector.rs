//! The PT NAD [`StreamSink`]: startup (login, lists) and batches of stream
//! events applied as bulk list changes. It runs with
//! [`opencti_connector::stream::run_stream`].

use std::sync::Arc;

use opencti_connector::catalog::{Listing, SolutionCategory, UseCase};
use opencti_connector::config::Var;
use opencti_connector::http::{CancellationToken, SinkStartup, StartupFailure};
use opencti_connector::stream::event::StreamEvent;
use opencti_connector::stream::sink::{BatchOutcome, Batching, Outcome, SinkError, StreamSink};
use opencti_connector::{Connector, ConnectorSpec, spec};

use crate::client::{ClientError, EnsuredList, ListSpec, PtnadClient};
use crate::config::{PtnadConfig, VARS};
use crate::mapping::{Action, Plan, Scope, changes};

/// What the `opencti-ptnad` binary is (name, version, variables), for
/// checks of the documentation against the code.
pub static SPEC: ConnectorSpec = spec::<PtnadSink>();

/// How hard startup tries to reach PT NAD before giving up (the runtime's
/// startup loop: six attempts over about half a minute by default).
pub use opencti_connector::http::StartupRetry;

/// Why the connector could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// PT NAD refused the credentials.
    #[error(
        "PT NAD refused the credentials (check PTNAD_TOKEN, or PTNAD_USERNAME and PTNAD_PASSWORD): {0}"
    )]
    Credentials(#[source] ClientError),
    /// PT NAD stayed unreachable or failing.
    #[error("PT NAD is still unavailable after {attempts} attempts: {last}")]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        last: ClientError,
    },
    /// PT NAD refused a startup request for a reason retrying cannot fix
    /// (a list name taken, a list of the wrong type, ...).
    #[error("cannot set up PT NAD and its reputation lists: {0}")]
    Setup(#[source] ClientError),
    /// Shutdown was requested while waiting to try again.
    #[error("PT NAD startup interrupted by shutdown (last failure: {0})")]
    Interrupted(#[source] ClientError),
}

/// Keeps PT NAD's reputation lists in sync with the indicators of the stream.
#[derive(Debug)]
pub struct PtnadSink {
    client: Arc<PtnadClient>,
    scope: Scope,
    lists: Vec<ListSpec>,
    batching: Batching,
    startup: SinkStartup,
}

impl PtnadSink {
    /// A sink for this configuration; nothing is sent before [`PtnadSink::start`].
    pub fn new(config: PtnadConfig) -> Result<Self, ClientError> {
        let client = Arc::new(PtnadClient::new(config.client)?);
        Ok(Self {
            client,
            scope: config.scope,
            lists: config.lists,
            batching: config.batching,
            startup: SinkStartup::default(),
        })
    }

    /// Startup stops waiting to try again when `shutdown` fires.
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.startup.shutdown = shutdown;
        self
    }

    /// Replaces the startup retry schedule (tests use short delays).
    #[must_use]
    pub fn with_startup_retry(mut self, retry: StartupRetry) -> Self {
        self.startup.retry = retry;
        self
    }

    /// The PT NAD client, shared.
    pub fn client(&self) -> &Arc<PtnadClient> {
        &self.client
    }

    /// Logs in and makes sure every list in scope exists, retrying while
    /// PT NAD is unreachable or failing. Bad credentials fail at once.
    pub async fn start(&self) -> Result<(), StartupError> {
        let started = self.startup.run("PT NAD", || self.prepare()).await;
        started.map_err(|failure| match failure {
            StartupFailure::Refused(error) if error.is_auth_failure() => {
                StartupError::Credentials(error)
            }
            StartupFailure::Refused(error) => StartupError::Setup(error),
            StartupFailure::Exhausted { attempts, last } => {
                StartupError::Unavailable { attempts, last }
            }
            StartupFailure::Cancelled { last } => StartupError::Interrupted(last),
        })
    }

    async fn prepare(&self) -> Result<(), ClientError> {
        let status = self.client.connect().await?;
        tracing::info!(url = %self.client.api_base(), status, "connected to PT NAD");
        let outcomes = self.client.ensure_lists(&self.lists).await?;
        for (spec, outcome) in self.lists.iter().zip(outcomes) {
            let verb = match outcome {
                EnsuredList::Existing => "found",
                EnsuredList::Created => "created",
            };
            tracing::info!(
                list = spec.name,
                external_key = spec.external_key,
                list_type = %spec.list_type,
                "{verb} the PT NAD reputation list"
            );
        }
        Ok(())
    }

    /// Applies a batch: every event's changes coalesced per value, then one
    /// bulk call per list and action. A transient PT NAD failure retries the
    /// whole batch (the calls are idempotent); values PT NAD refuses reject
    /// the events that carried them.
    pub async fn apply(&self, events: &[StreamEvent]) -> BatchOutcome {
        match self.apply_events(events).await {
            Ok(outcomes) => BatchOutcome::PerEvent(outcomes),
            Err(error) => BatchOutcome::All(Outcome::retry_vendor(&error)),
        }
    }

    /// One outcome per event, or the transient failure that stopped the batch.
    async fn apply_events(&self, events: &[StreamEvent]) -> Result<Vec<Outcome>, ClientError> {
        let mut problems: Vec<Vec<String>> = vec![Vec::new(); events.len()];
        let mut plan = Plan::new();
        for (position, event) in events.iter().enumerate() {
            match changes(event, &self.scope) {
                Ok(list_changes) => {
                    for change in list_changes {
                        plan.record(position, change);
                    }
                }
                Err(error) => problems[position].push(error.to_string()),
            }
        }
        let operations = plan.operations();
        for operation in &operations {
            // The mapping keeps only types in scope, and every type in scope has a list.
            let Some(spec) = self
                .lists
                .iter()
                .find(|spec| spec.list_type == operation.list)
            else {
                continue;
            };
            let refused = self
                .apply_operation(spec, operation.action, &operation.values)
                .await?;
            for (value, reason) in refused {
                for &position in plan.events_of(operation.list, &value) {
                    problems[position].push(format!(
                        "PT NAD refused to {} {value:?} ({} list {}): {reason}",
                        verb(operation.action),
                        operation.list,
                        spec.external_key
                    ));
                }
            }
        }
        if !operations.is_empty() {
            let count = |action| {
                operations
                    .iter()
                    .filter(|operation| operation.action == action)
                    .map(|operation| operation.values.len())
                    .sum::<usize>()
            };
            tracing::debug!(
                events = events.len(),
                added = count(Action::Add),
                removed = count(Action::Remove),
                "applied a batch to PT NAD"
            );
        }
        Ok(problems
            .into_iter()
            .map(|reasons| Outcome::from_refusals(&reasons))
            .collect())
    }

    /// Sends one bulk change. Returns the values PT NAD refused with its
    /// reason; a refused request is split in halves until the offending
    /// values are isolated, and a list that vanished is recreated once.
    async fn apply_operation(
        &self,
        spec: &ListSpec,
        action: Action,
        values: &[String],
    ) -> Result<Vec<(String, String)>, ClientError> {
        let mut refused = Vec::new();
        let mut pending: Vec<&[String]> = vec![values];
        let mut recreated = false;
        while let Some(chunk) = pending.pop() {
            let sent = match action {
                Action::Add => self.client.add_items(&spec.external_key, chunk).await,
                Action::Remove => self.client.remove_items(&spec.external_key, chunk).await,
            };
            let error = match sent {
                Ok(()) => continue,
                Err(error) if error.is_retryable() => return Err(error),
                Err(error) => error,
            };
            match &error {
                ClientError::Rejected { status: 404, .. } if !recreated => {
                    tracing::warn!(
                        list = spec.name,
                        external_key = spec.external_key,
                        "PT NAD does not know the list any more, creating it again"
                    );
                    recreated = true;
                    match self.client.ensure_lists(std::slice::from_ref(spec)).await {
                        Ok(_) => pending.push(chunk),
                        Err(error) if error.is_retryable() => return Err(error),
                        Err(error) => refuse(&mut refused, chunk, &error),
                    }
                }
                ClientError::Rejected {
                    status: 400 | 413, ..
                } if chunk.len() > 1 => {
                    let (first, second) = chunk.split_at(chunk.len() / 2);
                    pending.push(second);
                    pending.push(first);
                }
                _ => refuse(&mut refused, chunk, &error),
            }
        }
        Ok(refused)
    }
}

/// Records every value of `chunk` as refused for `error`.
fn refuse(refused: &mut Vec<(String, String)>, chunk: &[String], error: &ClientError) {
    let reason = error.to_string();
    refused.extend(chunk.iter().map(|value| (value.clone(), reason.clone())));
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Add => "add",
        Action::Remove => "remove",
    }
}

impl Connector for PtnadSink {
    type Config = PtnadConfig;
    type Error = ClientError;

    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-ptnad";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str =
        "OpenCTI live-stream connector keeping PT NAD reputation lists in sync with indicators";
    const SLUG: Option<&'static str> = Some("ptnad");
    const LISTING: Listing = Listing {
        title: "PT NAD",
        description: "Follows an OpenCTI live stream and keeps Positive Technologies Network Attack Discovery (PT NAD) reputation lists of IP addresses, domains, URLs and MD5 hashes in sync with its indicators",
        use_cases: &[UseCase::DetectionAndResponse],
        solution_categories: &[SolutionCategory::NetworkSecurity],
        subscription_link: "https://global.ptsecurity.com/products/network-attack-discovery",
        ..Listing::DEFAULT
    };

    fn from_config(config: PtnadConfig) -> Result<Self, ClientError> {
        Self::new(config)
    }
}

impl StreamSink for PtnadSink {
    async fn handle(&mut self, event: &StreamEvent) -> Outcome {
        match self.apply_events(std::slice::from_ref(event)).await {
            Ok(mut outcomes) => outcomes.pop().unwrap_or(Outcome::Done),
            Err(error) => Outcome::retry_vendor(&error),
        }
    }

    async fn handle_batch(&mut self, events: &[StreamEvent]) -> BatchOutcome {
        self.apply(events).await
    }

    fn batching(&self) -> Batching {
        self.batching
    }

    /// Bad credentials, or PT NAD still unreachable after the retries,
    /// stop the process with status 1 and the [`StartupError`] message.
    async fn on_start(&mut self) -> Result<(), SinkError> {
        self.start().await.map_err(SinkError::from)
    }
}
