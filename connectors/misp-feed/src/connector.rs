//! The import run: which events to fetch, the cursor in the connector state,
//! poison events, and the process entry point.
//!
//! State keys are the Python connector's, so a migration keeps its place:
//! URL mode writes `last_run`, `last_event`, `last_event_timestamp`; S3 mode
//! writes `last_file` (plus `last_key`, used by the non-destructive mode).
//! The state only moves after the event's bundle was confirmed by the broker.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use opencti_connector::catalog::{Listing, SolutionCategory, UseCase};
use opencti_connector::config::Var;
use opencti_connector::state::State;
use opencti_connector::task;
use opencti_connector::{Connector, ConnectorSpec, ImportSource, RunContext, SendError, spec};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::config::{MispFeedConfig, SourceConfig, VARS};
use crate::convert::{self, ConvertedEvent, Converter, KnownThreat, ThreatGuesses};
use crate::source::{
    FeedReader, FetchError, HttpFetcher, HttpSetupError, ManifestEntry, ManifestFetchError,
    S3Source,
};

/// What the `opencti-misp-feed` binary is (name, version, variables), for
/// checks of the documentation against the code.
pub static SPEC: ConnectorSpec = spec::<MispFeed>();

/// Events with more objects than this are sent in several bundles of this
/// size (same bundle id), so the publisher never holds a huge bundle as one
/// JSON tree; smaller events go in one bundle, as with the Python connector.
const MAX_OBJECTS_PER_SEND: usize = 1_000;

/// URL mode: memory (KiB, estimated from event file sizes) that converted
/// events waiting for their confirms may take together; one event larger
/// than this runs alone.
const MEMORY_BUDGET_KIB: usize = 64 * 1024;

/// Why a run stopped early. Events after the failing one wait for the next
/// run; the cursor never moves past an event that was not sent or skipped
/// on purpose.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A bundle could not be published (or shutdown was requested).
    #[error(transparent)]
    Send(#[from] SendError),
    /// `manifest.json` could not be read.
    #[error("Failed to retrieve manifest.json: {0}")]
    Manifest(#[source] ManifestFetchError),
    /// An event file could not be downloaded; the next run retries it.
    #[error("Failed to retrieve {key}: {error}; the next run retries from this event")]
    Download {
        /// Manifest key or S3 key.
        key: String,
        /// What failed.
        #[source]
        error: FetchError,
    },
    /// The bucket could not be listed.
    #[error("cannot list the bucket: {0}")]
    Listing(#[source] FetchError),
    /// The platform did not answer a threat look-up (`guess_threats_from_tags`).
    #[error("threat look-up for tag value {value:?} failed: {reason}")]
    Platform {
        /// The tag value.
        value: String,
        /// The platform error.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot start: {0}")]
    Setup(#[source] HttpSetupError),
    /// The task converting an event was stopped (the runtime is ending).
    #[error("event conversion interrupted: {0}")]
    Interrupted(String),
}

enum Source {
    Feed(FeedReader),
    Bucket { s3: S3Source, delete: bool },
}

/// The MISP feed connector.
pub struct MispFeed {
    config: MispFeedConfig,
    converter: Arc<Converter>,
    source: Source,
}

impl std::fmt::Debug for MispFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MispFeed")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Connector for MispFeed {
    type Config = MispFeedConfig;
    type Error = RunError;

    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-misp-feed";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Imports MISP feeds (HTTP(S), local directory or S3) into OpenCTI, one STIX bundle per event";
    const SLUG: Option<&'static str> = Some("misp-feed");
    const LISTING: Listing = Listing {
        title: "MISP Feed",
        description: "Imports the events of a MISP feed (over HTTP(S), from a local directory, or from an S3 bucket of event files) into OpenCTI, one STIX bundle per event, with the Python misp-feed connector's variables and state",
        use_cases: &[UseCase::AdversaryInsights],
        solution_categories: &[SolutionCategory::ThreatIntelligenceFeed],
        subscription_link: "https://www.misp-project.org/feeds/",
        ..Listing::DEFAULT
    };

    fn from_config(config: MispFeedConfig) -> Result<Self, RunError> {
        let authorization = match &config.source {
            SourceConfig::Url { authorization, .. } => {
                authorization.as_ref().map(|secret| secret.expose())
            }
            SourceConfig::S3 { .. } => None,
        };
        let http = HttpFetcher::new(&config.http, authorization).map_err(RunError::Setup)?;
        let source = match &config.source {
            SourceConfig::Url { location, .. } => Source::Feed(FeedReader::new(
                location.clone(),
                http,
                config.http.max_file_size,
            )),
            SourceConfig::S3 {
                settings,
                delete_after_import,
            } => Source::Bucket {
                s3: S3Source::new(settings, http.client().clone()),
                delete: *delete_after_import,
            },
        };
        Ok(Self {
            converter: Arc::new(Converter::new(config.convert.clone())),
            config,
            source,
        })
    }
}

impl ImportSource for MispFeed {
    /// The deprecated `MISP_FEED_INTERVAL` (minutes) replaces the period, as
    /// in Python.
    fn period_override(config: &MispFeedConfig) -> Option<Duration> {
        config.interval
    }

    async fn run(&mut self, ctx: &RunContext) -> Result<String, RunError> {
        tracing::info!("Fetching MISP Feed...");
        match &self.source {
            Source::Feed(reader) => {
                let reader = reader.clone().with_shutdown(ctx.shutdown().clone());
                self.run_feed(ctx, &reader).await
            }
            Source::Bucket { s3, delete } => self.run_bucket(ctx, s3, *delete).await,
        }
    }
}

/// Python's `datetime.isoformat()` of an aware UTC time.
fn python_isoformat(moment: &DateTime<Utc>) -> String {
    let format = if moment.timestamp_subsec_micros() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Micros
    };
    moment.to_rfc3339_opts(format, false)
}

/// The URL-mode cursor (epoch seconds) from the state, as the Python
/// connector reads it; `None` when the connector never ran.
pub fn cursor_from_state(state: Option<&State>) -> Option<i64> {
    let state = state?;
    let last_run = state.get("last_run")?;
    if state.contains_key("last_event")
        && let Some(timestamp) = state
            .get("last_event_timestamp")
            .and_then(crate::source::epoch_seconds)
    {
        return Some(timestamp);
    }
    let text = last_run.as_str()?;
    let parsed = crate::config::parse_import_from(text, Utc::now()).ok()?;
    Some(parsed.timestamp())
}

/// The URL-mode state, with the Python connector's keys and formats.
fn feed_state(run_started: &DateTime<Utc>, cursor: i64) -> State {
    let last_event = DateTime::<Utc>::from_timestamp(cursor, 0).unwrap_or_default();
    let mut state = State::new();
    state.insert("last_run".into(), json!(python_isoformat(run_started)));
    state.insert("last_event".into(), json!(python_isoformat(&last_event)));
    state.insert("last_event_timestamp".into(), json!(cursor));
    state
}

/// What happened to one event file.
enum Outcome {
    Sent,
    Skipped,
}

/// An event ready for the sending half of the URL-mode pipeline.
enum Prepared {
    Ready {
        index: usize,
        converted: ConvertedEvent,
        /// Held until the event is confirmed.
        budget: OwnedSemaphorePermit,
    },
    Skipped {
        index: usize,
    },
    /// Stops the run once the earlier events are confirmed.
    Failed(RunError),
}

/// A send (or skip) waiting for its turn to move the cursor.
type InFlight<'a> = Pin<Box<dyn Future<Output = (usize, Result<Outcome, RunError>)> + Send + 'a>>;

/// The URL-mode cursor as events are confirmed, in feed order.
struct Progress {
    processed: usize,
    cursor: i64,
}

impl Progress {
    /// Records event `index` of `pending` as done and stores the state: the
    /// cursor is the event's timestamp, or one second less while the next
    /// event shares it (a failure inside such a group then re-sends the
    /// group instead of skipping its rest).
    fn commit(
        &mut self,
        ctx: &RunContext,
        pending: &[&ManifestEntry],
        index: usize,
        outcome: &Outcome,
        run_started: &DateTime<Utc>,
    ) {
        if matches!(outcome, Outcome::Sent) {
            self.processed += 1;
        }
        let timestamp = pending[index].timestamp;
        let tie_follows = pending
            .get(index + 1)
            .is_some_and(|next| next.timestamp == timestamp);
        self.cursor = if tie_follows {
            timestamp - 1
        } else {
            timestamp
        };
        ctx.set_state(feed_state(run_started, self.cursor));
    }
}

/// [`task::in_own_task`], stopped only when the runtime ends.
async fn in_own_task<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RunError> {
    task::in_own_task(work)
        .await
        .ok_or_else(|| RunError::Interrupted("the runtime is shutting down".to_owned()))
}

/// Sends a converted event: one bundle, or slices of a huge one.
async fn send_converted(
    ctx: &RunContext,
    converted: &ConvertedEvent,
    publishing: &Semaphore,
) -> Result<(), RunError> {
    tracing::info!("Sending event STIX2 bundle...");
    for bundle in converted.bundles(MAX_OBJECTS_PER_SEND) {
        // Split and encoded before a publishing slot frees, so the broker
        // gets the next messages at once.
        let prepared = ctx.prepare_bundle(bundle).await?;
        let Ok(_slot) = publishing.acquire().await else {
            return Err(RunError::Interrupted(
                "the publishing slots were closed".to_owned(),
            ));
        };
        ctx.send_prepared(prepared).await?;
    }
    Ok(())
}

impl MispFeed {
    /// URL mode; returns the run's summary.
    async fn run_feed(&self, ctx: &RunContext, reader: &FeedReader) -> Result<String, RunError> {
        let now = Utc::now();
        let state = ctx.state();
        let cursor = match cursor_from_state(state.as_ref()) {
            Some(cursor) => {
                tracing::info!(
                    "Connector latest event: {}",
                    python_isoformat(
                        &DateTime::<Utc>::from_timestamp(cursor, 0).unwrap_or_default()
                    )
                );
                cursor
            }
            None => {
                tracing::info!("Connector has never run");
                self.config.import_from.unwrap_or(now).timestamp()
            }
        };
        let manifest = reader.manifest().await.map_err(RunError::Manifest)?;
        for rejected in &manifest.rejected {
            tracing::warn!(key = %rejected.key, "manifest entry ignored: {}", rejected.reason);
        }
        let pending: Vec<&ManifestEntry> = manifest
            .entries
            .iter()
            .filter(|entry| entry.timestamp > cursor)
            .collect();
        // Events are downloaded and converted one at a time while up to
        // `events_in_flight` earlier ones wait for their broker confirms
        // (confirms take longer than converting an ordinary event), and one
        // more is split and encoded, ready to publish as soon as a slot
        // frees; the state follows the confirms in feed order.
        let events_in_flight = self.config.events_in_flight.max(1);
        let publishing = &Semaphore::new(events_in_flight);
        let budget = Arc::new(Semaphore::new(MEMORY_BUDGET_KIB));
        let (sender, mut receiver) = mpsc::channel::<Prepared>(1);
        let producer = async {
            // Owned here, so the channel closes when the producer is done.
            let sender = sender;
            for (index, entry) in pending.iter().enumerate() {
                if ctx.is_shutting_down() {
                    break;
                }
                tracing::info!(
                    "Processing event {} (date={}, modified={})",
                    entry.info,
                    entry.date,
                    python_isoformat(
                        &DateTime::<Utc>::from_timestamp(entry.timestamp, 0).unwrap_or_default()
                    )
                );
                let prepared = self.prepare(ctx, reader, index, entry, now, &budget).await;
                let last = matches!(prepared, Prepared::Failed(_));
                if sender.send(prepared).await.is_err() || last {
                    break;
                }
            }
        };
        let consumer = async {
            let mut progress = Progress {
                processed: 0,
                cursor,
            };
            let mut in_flight: FuturesOrdered<InFlight<'_>> = FuturesOrdered::new();
            let mut receiving = true;
            let mut stopped_by: Option<RunError> = None;
            loop {
                tokio::select! {
                    Some((index, result)) = in_flight.next(), if !in_flight.is_empty() => {
                        match result {
                            Ok(outcome) => progress.commit(ctx, &pending, index, &outcome, &now),
                            // An earlier event than anything still queued.
                            Err(error) => return (progress, Some(error)),
                        }
                    }
                    prepared = receiver.recv(), if receiving && in_flight.len() <= events_in_flight => {
                        match prepared {
                            None => receiving = false,
                            Some(Prepared::Failed(error)) => {
                                receiving = false;
                                stopped_by = Some(error);
                            }
                            Some(Prepared::Skipped { index }) => {
                                in_flight.push_back(Box::pin(async move { (index, Ok(Outcome::Skipped)) }));
                            }
                            Some(Prepared::Ready { index, converted, budget }) => {
                                in_flight.push_back(Box::pin(async move {
                                    let sent = send_converted(ctx, &converted, publishing).await;
                                    drop(budget);
                                    (index, sent.map(|()| Outcome::Sent))
                                }));
                            }
                        }
                    }
                    else => break,
                }
            }
            (progress, stopped_by)
        };
        // The consumer decides when the run ends: once it returns (a failed
        // send, or everything confirmed), the producer is dropped, wherever
        // it waits (a download, the memory budget, the hand-off).
        let (progress, stopped_by) = {
            let (mut producer, mut consumer) = (std::pin::pin!(producer), std::pin::pin!(consumer));
            tokio::select! {
                biased;
                done = &mut consumer => done,
                () = &mut producer => consumer.await,
            }
        };
        if let Some(error) = stopped_by {
            return Err(error);
        }
        let summary = feed_summary(progress.processed, &now, progress.cursor);
        tracing::info!("{summary}");
        Ok(summary)
    }

    /// Downloads and converts one event for the sending half; poison and
    /// missing events are reported on the work and become skips.
    async fn prepare(
        &self,
        ctx: &RunContext,
        reader: &FeedReader,
        index: usize,
        entry: &ManifestEntry,
        now: DateTime<Utc>,
        budget: &Arc<Semaphore>,
    ) -> Prepared {
        let bytes = match reader.event(&entry.key).await {
            Ok(bytes) => bytes,
            Err(error) if error.is_file_specific() => {
                return match ctx
                    .report_error(format!("event skipped: {error}"), entry.key.clone())
                    .await
                {
                    Ok(()) => Prepared::Skipped { index },
                    Err(error) => Prepared::Failed(error.into()),
                };
            }
            Err(error) => {
                return Prepared::Failed(RunError::Download {
                    key: entry.key.clone(),
                    error,
                });
            }
        };
        // A bundle takes several times the room of its event file.
        let kib = (bytes.len() / 1024).saturating_mul(8).max(1);
        let permits = u32::try_from(kib)
            .unwrap_or(u32::MAX)
            .min(MEMORY_BUDGET_KIB as u32);
        let Ok(budget) = Arc::clone(budget).acquire_many_owned(permits).await else {
            return Prepared::Failed(RunError::Interrupted(
                "the memory budget was closed".to_owned(),
            ));
        };
        match self.convert_file(ctx, &entry.key, bytes, now).await {
            Ok(Some(converted)) => Prepared::Ready {
                index,
                converted,
                budget,
            },
            Ok(None) => Prepared::Skipped { index },
            Err(error) => Prepared::Failed(error),
        }
    }

    /// Parses and converts one event file; a poison event is reported on
    /// the work and gives `None`.
    async fn convert_file(
        &self,
        ctx: &RunContext,
        key: &str,
        bytes: Bytes,
        now: DateTime<Utc>,
    ) -> Result<Option<ConvertedEvent>, RunError> {
        // Parsing and converting are CPU work: in tasks of their own, so
        // that the other worker thread keeps the bundles of earlier events
        // flowing to the broker meanwhile.
        let parsed = in_own_task(move || convert::parse_event(&bytes)).await?;
        let event = match parsed {
            Ok(event) => event,
            Err(error) => {
                ctx.report_error(format!("event skipped: {error}"), key.to_owned())
                    .await?;
                return Ok(None);
            }
        };
        let guesses = if self.config.convert.guess_threats_from_tags {
            Some(guess_threats(ctx, &convert::guess_keys(&event)).await?)
        } else {
            None
        };
        let uuid = event.uuid.clone();
        let converter = Arc::clone(&self.converter);
        let converted =
            in_own_task(move || converter.convert(event, guesses.as_ref(), now)).await?;
        match converted {
            Ok(converted) => Ok(Some(converted)),
            Err(error) => {
                let name = uuid.as_deref().unwrap_or(key);
                ctx.report_error(format!("event {name} skipped: {error}"), key.to_owned())
                    .await?;
                Ok(None)
            }
        }
    }

    /// Parses, converts and sends one event (S3 mode, one at a time).
    async fn import(
        &self,
        ctx: &RunContext,
        key: &str,
        bytes: Bytes,
        now: DateTime<Utc>,
    ) -> Result<Outcome, RunError> {
        match self.convert_file(ctx, key, bytes, now).await? {
            Some(converted) => {
                send_converted(ctx, &converted, &Semaphore::new(1)).await?;
                Ok(Outcome::Sent)
            }
            None => Ok(Outcome::Skipped),
        }
    }

    /// S3 mode; returns the run's summary.
    async fn run_bucket(
        &self,
        ctx: &RunContext,
        s3: &S3Source,
        delete: bool,
    ) -> Result<String, RunError> {
        let now = Utc::now();
        let state = ctx.state().unwrap_or_default();
        // Non-destructive mode resumes after the last processed key.
        let start_after = if delete {
            None
        } else {
            state
                .get("last_key")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let mut last_file = state
            .get("last_file")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut continuation: Option<String> = None;
        let mut events = 0usize;
        loop {
            let page = s3
                .list_page(start_after.as_deref(), continuation.as_deref())
                .await
                .map_err(RunError::Listing)?;
            for object in &page.objects {
                if ctx.is_shutting_down() {
                    return Ok(bucket_summary(events, last_file.as_deref()));
                }
                // Folder markers are not events.
                if object.key.ends_with('/') {
                    continue;
                }
                let file_name = object
                    .key
                    .rsplit('/')
                    .next()
                    .unwrap_or(&object.key)
                    .to_owned();
                let outcome = match s3.get(&object.key).await {
                    Ok(bytes) => self.import(ctx, &object.key, bytes, now).await?,
                    Err(error) if error.is_file_specific() => {
                        ctx.report_error(format!("object skipped: {error}"), object.key.clone())
                            .await?;
                        Outcome::Skipped
                    }
                    Err(error) => {
                        return Err(RunError::Download {
                            key: object.key.clone(),
                            error,
                        });
                    }
                };
                match outcome {
                    Outcome::Sent => {
                        events += 1;
                        if delete && let Err(error) = s3.delete(&object.key).await {
                            // The bundle is out; the object will be sent again
                            // next run, which the platform absorbs (same ids).
                            tracing::error!("{error}");
                        }
                        last_file = Some(file_name);
                    }
                    // A poison object stays in a consumed bucket (as in
                    // Python) and is reported on each run; a kept bucket
                    // moves past it.
                    Outcome::Skipped if delete => continue,
                    Outcome::Skipped => {}
                }
                let mut next = State::new();
                next.insert("last_file".into(), json!(last_file));
                next.insert("last_key".into(), json!(object.key));
                ctx.set_state(next);
            }
            continuation = page.next;
            if continuation.is_none() {
                break;
            }
        }
        let summary = bucket_summary(events, last_file.as_deref());
        tracing::info!("{summary}");
        Ok(summary)
    }
}

fn feed_summary(processed: usize, now: &DateTime<Utc>, cursor: i64) -> String {
    format!(
        "Connector successfully run ({processed} events have been processed), storing state (last_run={}, last_event={}, last_event_timestamp={cursor})",
        python_isoformat(now),
        python_isoformat(&DateTime::<Utc>::from_timestamp(cursor, 0).unwrap_or_default()),
    )
}

fn bucket_summary(events: usize, last_file: Option<&str>) -> String {
    format!(
        "Connector successfully run ({events} events have been processed), storing state (last_file={})",
        last_file.unwrap_or("None")
    )
}

/// The platform query pycti's `stix_domain_object.list` sends for a tag
/// value (only the fields the connector reads).
const GUESS_QUERY: &str = r#"query StixDomainObjects($types: [String], $filters: FilterGroup, $first: Int) {
  stixDomainObjects(types: $types, filters: $filters, first: $first) {
    edges {
      node {
        id
        entity_type
        ... on IntrusionSet { name }
        ... on Malware { name }
        ... on Tool { name }
        ... on AttackPattern { name }
      }
    }
  }
}"#;

#[derive(serde::Deserialize)]
struct GuessAnswer {
    #[serde(rename = "stixDomainObjects")]
    objects: Option<GuessEdges>,
}

#[derive(serde::Deserialize)]
struct GuessEdges {
    edges: Vec<GuessEdge>,
}

#[derive(serde::Deserialize)]
struct GuessEdge {
    node: GuessNode,
}

#[derive(serde::Deserialize)]
struct GuessNode {
    entity_type: String,
    #[serde(default)]
    name: Option<String>,
}

/// Looks every distinct tag value up once (the Python connector asks once
/// per tag per attribute).
pub async fn guess_threats(ctx: &RunContext, values: &[String]) -> Result<ThreatGuesses, RunError> {
    let mut guesses = HashMap::new();
    for value in values {
        let variables = json!({
            "types": ["Intrusion-Set", "Malware", "Tool", "Attack-Pattern"],
            "filters": {
                "mode": "and",
                "filters": [{
                    "key": ["name", "x_mitre_id", "aliases", "x_opencti_aliases"],
                    "values": [value],
                }],
                "filterGroups": [],
            },
            "first": 1,
        });
        let answer: GuessAnswer =
            ctx.api()
                .query(GUESS_QUERY, variables)
                .await
                .map_err(|error| RunError::Platform {
                    value: value.clone(),
                    reason: error.to_string(),
                })?;
        let found = answer
            .objects
            .and_then(|objects| objects.edges.into_iter().next())
            .and_then(|edge| {
                Some(KnownThreat {
                    name: edge.node.name?,
                    entity_type: edge.node.entity_type,
                })
            });
        guesses.insert(value.clone(), found);
    }
    Ok(guesses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_isoformat_drops_zero_microseconds() {
        let whole = DateTime::<Utc>::from_timestamp(1_705_312_800, 0).unwrap();
        assert_eq!(python_isoformat(&whole), "2024-01-15T10:00:00+00:00");
        let fraction = DateTime::<Utc>::from_timestamp(1_705_312_800, 123_456_000).unwrap();
        assert_eq!(
            python_isoformat(&fraction),
            "2024-01-15T10:00:00.123456+00:00"
        );
    }

    #[test]
    fn the_cursor_is_read_like_the_python_connector() {
        let state = |value: Value| value.as_object().cloned();
        assert_eq!(cursor_from_state(None), None);
        assert_eq!(
            cursor_from_state(state(json!({"last_event": "x"})).as_ref()),
            None,
            "no last_run: never ran"
        );
        assert_eq!(
            cursor_from_state(
                state(json!({
                    "last_run": "2026-08-21T12:00:00.123456+00:00",
                    "last_event": "2024-01-15T10:00:00+00:00",
                    "last_event_timestamp": 1705312800
                }))
                .as_ref()
            ),
            Some(1_705_312_800)
        );
        assert_eq!(
            cursor_from_state(state(json!({"last_run": "2024-01-15T10:00:00+00:00"})).as_ref()),
            Some(1_705_312_800),
            "only last_run: the run time is the cursor"
        );
    }

    #[test]
    fn state_has_the_python_keys() {
        let started = DateTime::<Utc>::from_timestamp(1_787_313_600, 0).unwrap();
        let state = feed_state(&started, 1_705_312_800);
        assert_eq!(
            Value::Object(state),
            json!({
                "last_run": "2026-08-21T12:00:00+00:00",
                "last_event": "2024-01-15T10:00:00+00:00",
                "last_event_timestamp": 1705312800
            })
        );
    }
}
