//! The Sekoia [`StreamSink`]: a startup check of the collection, then
//! batches of stream events applied as IoC pushes and revocations. It runs
//! with [`opencti_connector::stream::run_stream`].
//!
//! Within a batch, consecutive pushes are applied together (indicators
//! whose import bodies agree apart from their values share one request),
//! then consecutive revocations together (each value searched once). A
//! transient failure hands back to the runtime only the events of the
//! failed requests and those whose changes must follow theirs; the runtime
//! retries them with backoff; values Sekoia refuses are
//! isolated by splitting the request, and only the events carrying them
//! are rejected.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use opencti_connector::catalog::{Listing, SolutionCategory, UseCase};
use opencti_connector::config::Var;
use opencti_connector::http::{CancellationToken, SinkStartup, StartupFailure, redact_url};
use opencti_connector::stream::event::StreamEvent;
use opencti_connector::stream::sink::{BatchOutcome, Batching, Outcome, SinkError, StreamSink};
use opencti_connector::{Connector, ConnectorSpec, spec};
use tokio::task::{JoinError, JoinSet};

use crate::client::{ClientError, SekoiaClient};
use crate::config::{SekoiaConfig, VARS};
use crate::mapping::{Action, IocImport, actions};

/// What the `opencti-sekoia-intel` binary is (name, version, variables), for
/// checks of the documentation against the code.
pub static SPEC: ConnectorSpec = spec::<SekoiaSink>();

/// Most values sent in one import request.
pub const MAX_VALUES_PER_REQUEST: usize = 1000;
/// Most requests in flight at once within a run of pushes or revocations.
pub const MAX_CONCURRENT_REQUESTS: usize = 8;

/// How hard startup tries to reach Sekoia before giving up (the runtime's
/// startup loop: six attempts over about half a minute by default).
pub use opencti_connector::http::StartupRetry;

/// Why the connector could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// Sekoia refused the API key.
    #[error("Sekoia refused the API key (check SEKOIA_INTEL_APIKEY): {0}")]
    Credentials(#[source] ClientError),
    /// The collection does not exist.
    #[error(
        "the IoC collection does not exist (create it in Sekoia first, and check \
         SEKOIA_INTEL_IOC_COLLECTION_UUID and SEKOIA_INTEL_URL): {0}"
    )]
    MissingCollection(#[source] ClientError),
    /// Sekoia stayed unreachable or failing.
    #[error("Sekoia is still unavailable after {attempts} attempts: {last}")]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        last: ClientError,
    },
    /// Sekoia refused the check for a reason retrying cannot fix.
    #[error("cannot check the IoC collection: {0}")]
    Setup(#[source] ClientError),
    /// Shutdown was requested while waiting to try again.
    #[error("Sekoia startup interrupted by shutdown (last failure: {0})")]
    Interrupted(#[source] ClientError),
}

/// Keeps a Sekoia IoC collection in line with the indicators of the stream.
#[derive(Debug)]
pub struct SekoiaSink {
    client: Arc<SekoiaClient>,
    opencti_url: String,
    batching: Batching,
    startup: SinkStartup,
}

/// The values of one request and the events that asked for each.
#[derive(Debug)]
struct PushGroup {
    import: IocImport,
    events_of: HashMap<String, Vec<usize>>,
}

impl SekoiaSink {
    /// A sink for this configuration; nothing is sent before [`SekoiaSink::start`].
    pub fn new(config: SekoiaConfig) -> Result<Self, ClientError> {
        Ok(Self {
            client: Arc::new(SekoiaClient::new(config.client)?),
            opencti_url: config.opencti_url,
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

    /// The Sekoia client, shared.
    pub fn client(&self) -> &Arc<SekoiaClient> {
        &self.client
    }

    /// Checks that the collection exists, retrying while Sekoia is
    /// unreachable or failing. A refused key or a missing collection fails
    /// at once; a key that may not read the collection (403) only warns,
    /// since it may still be allowed to write to it.
    pub async fn start(&self) -> Result<(), StartupError> {
        let checked = self
            .startup
            .run("Sekoia", || async {
                match self.client.check_collection().await {
                    Ok(()) => {
                        tracing::info!(collection = %redact_url(self.client.collection_url()), "found the Sekoia IoC collection");
                        Ok(())
                    }
                    Err(error @ ClientError::Unauthorized { status: 403, .. }) => {
                        tracing::warn!(%error, "cannot read the IoC collection; going on, pushes will tell");
                        Ok(())
                    }
                    Err(error) => Err(error),
                }
            })
            .await;
        checked.map_err(|failure| match failure {
            StartupFailure::Refused(error) if error.is_bad_key() => {
                StartupError::Credentials(error)
            }
            StartupFailure::Refused(error @ ClientError::CollectionNotFound { .. }) => {
                StartupError::MissingCollection(error)
            }
            StartupFailure::Refused(error) => StartupError::Setup(error),
            StartupFailure::Exhausted { attempts, last } => {
                StartupError::Unavailable { attempts, last }
            }
            StartupFailure::Cancelled { last } => StartupError::Interrupted(last),
        })
    }

    /// Applies a batch; one outcome per event.
    pub async fn apply(&self, events: &[StreamEvent]) -> BatchOutcome {
        BatchOutcome::PerEvent(self.apply_events(events).await)
    }

    async fn apply_events(&self, events: &[StreamEvent]) -> Vec<Outcome> {
        let mut problems: Vec<Vec<String>> = vec![Vec::new(); events.len()];
        // Each event's steps, flattened in stream order, with its position.
        let mut steps: Vec<(usize, Action)> = Vec::with_capacity(events.len());
        for (position, event) in events.iter().enumerate() {
            match actions(event, &self.opencti_url) {
                Ok(actions) => steps.extend(actions.into_iter().map(|action| (position, action))),
                Err(error) => problems[position].push(error.to_string()),
            }
        }

        // Runs of pushes and runs of revocations, in stream order: within a
        // run the changes commute, so they can be grouped.
        let mut unfinished = vec![false; events.len()];
        let mut start = 0;
        while start < steps.len() {
            let end = run_end(&steps, start);
            let run = &steps[start..end];
            let failure = if run
                .iter()
                .any(|(_, action)| matches!(action, Action::Revoke(_)))
            {
                self.revoke_run(run, &mut problems, &mut unfinished).await
            } else {
                self.push_run(run, &mut problems, &mut unfinished).await
            };
            if let Some(error) = failure {
                // Only the events whose requests failed go back, with every
                // event having steps in later runs (their changes must not
                // overtake the failed ones). Changes are idempotent: such an
                // event is handed back whole.
                for (position, _) in &steps[end..] {
                    unfinished[*position] = true;
                }
                let retry = Outcome::retry_vendor(&error);
                return finished(problems)
                    .into_iter()
                    .zip(unfinished)
                    .map(|(outcome, again)| if again { retry.clone() } else { outcome })
                    .collect();
            }
            start = end;
        }
        finished(problems)
    }

    /// Sends the pushes of a run; marks the events of failed requests
    /// `unfinished` and returns the failure to retry on, if any.
    async fn push_run(
        &self,
        run: &[(usize, Action)],
        problems: &mut [Vec<String>],
        unfinished: &mut [bool],
    ) -> Option<ClientError> {
        let mut groups: Vec<PushGroup> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (position, action) in run {
            let Action::Push(import) = action else {
                continue;
            };
            let position = *position;
            let group = *by_key.entry(import.group_key()).or_insert_with(|| {
                groups.push(PushGroup {
                    import: IocImport {
                        values: Vec::new(),
                        ..IocImport::clone(import)
                    },
                    events_of: HashMap::new(),
                });
                groups.len() - 1
            });
            let group = &mut groups[group];
            let first_event = group.import.values.is_empty();
            for value in &import.values {
                let events = group.events_of.entry(value.clone()).or_default();
                if events.is_empty() || first_event {
                    // The first indicator's values go as the pattern gave
                    // them (repeats included); later ones add what is new.
                    group.import.values.push(value.clone());
                }
                if events.last() != Some(&position) {
                    events.push(position);
                }
            }
        }
        // Groups sharing a value go in stream order (the last push sets the
        // IoC's validity and description); the others run side by side. After
        // a wave with a failure the later waves wait for the retry, so that
        // no push overtakes a failed one.
        let mut failure: Option<ClientError> = None;
        let mut waves = waves(&groups).into_iter();
        for wave in waves.by_ref() {
            let imports: Vec<IocImport> = wave
                .iter()
                .map(|&index| groups[index].import.clone())
                .collect();
            let results = concurrently(imports, |import| {
                let client = Arc::clone(&self.client);
                async move { push_group(&client, &import).await }
            })
            .await;
            for (index, result) in wave.into_iter().zip(results) {
                let group = &groups[index];
                match result {
                    Ok(refused) => {
                        for (value, reason) in refused {
                            for &position in group.events_of.get(&value).into_iter().flatten() {
                                problems[position].push(format!(
                                    "Sekoia refused the {} value {value:?}: {reason}",
                                    group.import.format
                                ));
                            }
                        }
                    }
                    Err(error) => {
                        mark(unfinished, group.events_of.values().flatten());
                        failure = Some(worse(failure, error));
                    }
                }
            }
            if failure.is_some() {
                break;
            }
        }
        for wave in waves {
            for index in wave {
                mark(unfinished, groups[index].events_of.values().flatten());
            }
        }
        failure
    }

    /// Revokes the values of a run; marks the events of failed values
    /// `unfinished` and returns the failure to retry on, if any.
    async fn revoke_run(
        &self,
        run: &[(usize, Action)],
        problems: &mut [Vec<String>],
        unfinished: &mut [bool],
    ) -> Option<ClientError> {
        let mut values: Vec<&str> = Vec::new();
        let mut events_of: HashMap<&str, Vec<usize>> = HashMap::new();
        for (position, action) in run {
            let Action::Revoke(revoked) = action else {
                continue;
            };
            for value in revoked {
                let events = events_of.entry(value.as_str()).or_default();
                if events.is_empty() {
                    values.push(value);
                }
                if events.last() != Some(position) {
                    events.push(*position);
                }
            }
        }
        let owned: Vec<String> = values.iter().map(|value| (*value).to_owned()).collect();
        let results = concurrently(owned, |value| {
            let client = Arc::clone(&self.client);
            async move {
                match revoke_value(&client, &value).await {
                    Ok(()) => Ok(None),
                    Err(error) if error.is_retryable() => Err(error),
                    Err(error) => Ok(Some(error.to_string())),
                }
            }
        })
        .await;
        let mut failure: Option<ClientError> = None;
        for (value, result) in values.iter().zip(results) {
            match result {
                Ok(None) => {}
                Ok(Some(refusal)) => {
                    for &position in &events_of[value] {
                        problems[position].push(format!("cannot revoke {value:?}: {refusal}"));
                    }
                }
                Err(error) => {
                    mark(unfinished, &events_of[value]);
                    failure = Some(worse(failure, error));
                }
            }
        }
        failure
    }
}

/// Marks these events as to be retried.
fn mark<'a>(unfinished: &mut [bool], positions: impl IntoIterator<Item = &'a usize>) {
    for &position in positions {
        unfinished[position] = true;
    }
}

/// Of two failures, the one asking for the longer wait.
fn worse(kept: Option<ClientError>, error: ClientError) -> ClientError {
    match kept {
        Some(kept) if kept.retry_after() >= error.retry_after() => kept,
        _ => error,
    }
}

/// The groups in waves: a group sharing a value with earlier groups comes in
/// a later wave than all of them; within a wave, in group order.
fn waves(groups: &[PushGroup]) -> Vec<Vec<usize>> {
    let mut last_wave_of: HashMap<&str, usize> = HashMap::new();
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        let wave = group
            .import
            .values
            .iter()
            .filter_map(|value| last_wave_of.get(value.as_str()))
            .map(|wave| wave + 1)
            .max()
            .unwrap_or(0);
        for value in &group.import.values {
            last_wave_of.insert(value, wave);
        }
        if waves.len() <= wave {
            waves.resize_with(wave + 1, Vec::new);
        }
        waves[wave].push(index);
    }
    waves
}

/// Runs `task` on every item, at most [`MAX_CONCURRENT_REQUESTS`] at a
/// time; the results in item order.
async fn concurrently<I, T, F, Fut>(items: Vec<I>, task: F) -> Vec<Result<T, ClientError>>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<T, ClientError>> + Send + 'static,
    T: Send + 'static,
{
    let count = items.len();
    let mut results: Vec<Option<Result<T, ClientError>>> =
        std::iter::repeat_with(|| None).take(count).collect();
    let mut running = JoinSet::new();
    let mut record = |joined: Result<(usize, Result<T, ClientError>), JoinError>| match joined {
        Ok((index, result)) => results[index] = Some(result),
        // Only a panic can end a task early: let it through.
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    };
    for (index, item) in items.into_iter().enumerate() {
        if running.len() == MAX_CONCURRENT_REQUESTS
            && let Some(joined) = running.join_next().await
        {
            record(joined);
        }
        let future = task(item);
        running.spawn(async move { (index, future.await) });
    }
    while let Some(joined) = running.join_next().await {
        record(joined);
    }
    // Every task was joined, so every slot is filled.
    results.into_iter().flatten().collect()
}

/// Sends one group; returns the values Sekoia refused, with its reason.
/// A refused request is split in halves until the offending values are
/// isolated.
async fn push_group(
    client: &SekoiaClient,
    import: &IocImport,
) -> Result<Vec<(String, String)>, ClientError> {
    let mut refused = Vec::new();
    let mut pending: Vec<&[String]> = import.values.chunks(MAX_VALUES_PER_REQUEST).rev().collect();
    while let Some(chunk) = pending.pop() {
        let error = match client.push(&import.body_with(chunk)).await {
            Ok(task) => {
                tracing::info!(
                    format = %import.format,
                    values = chunk.len(),
                    task = task.as_deref().unwrap_or("-"),
                    description = import.description.as_deref().unwrap_or("-"),
                    "pushed indicators to Sekoia"
                );
                continue;
            }
            Err(error) if error.is_retryable() => return Err(error),
            Err(error) => error,
        };
        if matches!(error.rejected_status(), Some(400 | 413 | 422)) && chunk.len() > 1 {
            let (first, second) = chunk.split_at(chunk.len() / 2);
            pending.push(second);
            pending.push(first);
        } else {
            let reason = error.to_string();
            refused.extend(chunk.iter().map(|value| (value.clone(), reason.clone())));
        }
    }
    Ok(refused)
}

/// Revokes the active IoCs holding exactly `value`.
async fn revoke_value(client: &SekoiaClient, value: &str) -> Result<(), ClientError> {
    let found = client.search(value).await?;
    let mut revoked = 0;
    for ioc in found {
        let active = ioc.revoked != Some(true);
        // A search may match on substrings: only the value itself goes.
        let same_value = ioc.value.as_deref().is_none_or(|found| found == value);
        if active && same_value && client.revoke(&ioc.id).await? {
            revoked += 1;
        }
    }
    tracing::info!(value, revoked, "revoked indicators in Sekoia");
    Ok(())
}

/// The end (exclusive) of the run of pushes or revocations starting at
/// `start`; actions with nothing to do join any run.
fn run_end(steps: &[(usize, Action)], start: usize) -> usize {
    let mut kind = None;
    for (index, (_, action)) in steps.iter().enumerate().skip(start) {
        let revoke = match action {
            Action::Nothing => continue,
            Action::Push(_) => false,
            Action::Revoke(_) => true,
        };
        match kind {
            None => kind = Some(revoke),
            Some(current) if current != revoke => return index,
            Some(_) => {}
        }
    }
    steps.len()
}

fn finished(problems: impl IntoIterator<Item = Vec<String>>) -> Vec<Outcome> {
    problems
        .into_iter()
        .map(|reasons| Outcome::from_refusals(&reasons))
        .collect()
}

impl Connector for SekoiaSink {
    type Config = SekoiaConfig;
    type Error = ClientError;

    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-sekoia-intel";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str =
        "OpenCTI live-stream connector pushing indicators into a Sekoia.io IoC collection";
    const SLUG: Option<&'static str> = Some("sekoia-intel");
    const LISTING: Listing = Listing {
        title: "Sekoia.io Intel",
        description: "Follows an OpenCTI live stream and pushes its indicators into a Sekoia.io IoC collection, revoking them there when they are deleted or revoked in OpenCTI",
        use_cases: &[UseCase::DetectionAndResponse],
        solution_categories: &[SolutionCategory::SiemAndAnalytics],
        subscription_link: "https://www.sekoia.io/",
        ..Listing::DEFAULT
    };

    fn from_config(config: SekoiaConfig) -> Result<Self, ClientError> {
        Self::new(config)
    }
}

impl StreamSink for SekoiaSink {
    async fn handle(&mut self, event: &StreamEvent) -> Outcome {
        self.apply_events(std::slice::from_ref(event))
            .await
            .pop()
            .unwrap_or(Outcome::Done)
    }

    async fn handle_batch(&mut self, events: &[StreamEvent]) -> BatchOutcome {
        self.apply(events).await
    }

    fn batching(&self) -> Batching {
        self.batching
    }

    /// A refused key, a missing collection, or Sekoia still unreachable
    /// after the retries stop the process with status 1 and the
    /// [`StartupError`] message.
    async fn on_start(&mut self) -> Result<(), SinkError> {
        self.start().await.map_err(SinkError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::IocFormat;

    fn group(values: &[&str]) -> PushGroup {
        PushGroup {
            import: IocImport {
                format: IocFormat::OnePerLine,
                values: values.iter().map(|v| (*v).to_owned()).collect(),
                kill_chain_phases: None,
                valid_from: None,
                valid_until: None,
                description: None,
            },
            events_of: HashMap::new(),
        }
    }

    #[test]
    fn groups_sharing_a_value_go_one_after_the_other() {
        let groups = [
            group(&["a", "b"]),
            group(&["c"]),
            group(&["b"]),
            group(&["d", "c"]),
            group(&["b", "e"]),
            group(&["f"]),
        ];
        assert_eq!(waves(&groups), [vec![0, 1, 5], vec![2, 3], vec![4]]);
    }

    #[test]
    fn runs_split_where_pushes_and_revocations_meet() {
        let push = || Action::Push(Box::new(group(&["a"]).import));
        let revoke = || Action::Revoke(vec!["a".to_owned()]);
        let steps = [
            (0, Action::Nothing),
            (1, push()),
            (2, Action::Nothing),
            (3, push()),
            (4, revoke()),
            (4, push()),
        ];
        assert_eq!(run_end(&steps, 0), 4);
        assert_eq!(run_end(&steps, 4), 5);
        assert_eq!(run_end(&steps, 5), 6);
    }
}
