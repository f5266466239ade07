//! The import run: the connector's identity and configuration, what both
//! modes share (converting an event file, sending its bundle, poison
//! events), and one file per role: `feed` (URL mode and its cursor),
//! `bucket` (S3 mode), `threats` (the platform look-up of
//! `guess_threats_from_tags`) and `budget` (the bytes events in flight may
//! hold).
//!
//! State keys are the Python connector's, so a migration keeps its place.
//! The state only moves after the event's bundle was confirmed by the broker.

mod bucket;
mod budget;
mod feed;
mod threats;
mod turns;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use opencti_connector::catalog::{Listing, SolutionCategory, UseCase};
use opencti_connector::config::Var;
use opencti_connector::task;
use opencti_connector::{Connector, ConnectorSpec, ImportSource, RunContext, SendError, spec};
use tokio::sync::{Semaphore, mpsc};

use turns::Turn;

pub use feed::cursor_from_state;
pub use threats::guess_threats;

use crate::config::{MispFeedConfig, SourceConfig, VARS};
use crate::convert::model::Event;
use crate::convert::{self, ConvertedEvent, Converter, Piece};
use crate::source::{
    FeedReader, FetchError, HttpFetcher, HttpSetupError, ManifestFetchError, S3Source,
};

/// What the `opencti-misp-feed` binary is (name, version, variables), for
/// checks of the documentation against the code.
pub static SPEC: ConnectorSpec = spec::<MispFeed>();

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

/// What happened to one event file.
enum Outcome {
    Sent,
    Skipped,
}

/// [`task::in_own_task`], stopped only when the runtime ends.
async fn in_own_task<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RunError> {
    task::in_own_task(work)
        .await
        .ok_or_else(|| RunError::Interrupted("the runtime is shutting down".to_owned()))
}

/// Sends a converted event's bundle through the runtime's send path,
/// which keeps its text as it is. It is split before its turn comes and a
/// slot of `publishing` frees, so the broker gets the next messages at once.
async fn send_converted(
    ctx: &RunContext,
    converted: ConvertedEvent,
    turn: Turn,
    publishing: &Semaphore,
) -> Result<(), RunError> {
    tracing::info!("Sending event STIX2 bundle...");
    let prepared = ctx.prepare_bundle(converted.bundle).await?;
    let _slot = turn.take_slot(publishing).await?;
    ctx.send_prepared(prepared).await?;
    Ok(())
}

/// Event files larger than this are converted and sent in pieces
/// ([`MispFeed::import_in_pieces`]): whole, their bundle would take about
/// 24 times the file (the parsed event, the bundle text, the send path's
/// index and messages), which the byte budget cannot share with anything.
const LARGE_EVENT_FILE_BYTES: usize = 256 * 1024;

/// Bundle text per piece of a large event: a few thousand objects.
const PIECE_BYTES: usize = 1024 * 1024;

/// Whether an event file of `len` bytes goes out in pieces.
fn is_large(len: usize) -> bool {
    len > LARGE_EVENT_FILE_BYTES
}

impl MispFeed {
    /// Parses an event file; a poison event is reported on the work and
    /// gives `None`.
    async fn parse_file(
        &self,
        ctx: &RunContext,
        key: &str,
        bytes: Bytes,
    ) -> Result<Option<Event>, RunError> {
        // Parsing and converting are CPU work: in tasks of their own, so
        // that the other worker thread keeps the bundles of earlier events
        // flowing to the broker meanwhile.
        match in_own_task(move || convert::parse_event(&bytes)).await? {
            Ok(event) => Ok(Some(event)),
            Err(error) => {
                ctx.report_error(format!("event skipped: {error}"), key.to_owned())
                    .await?;
                Ok(None)
            }
        }
    }

    /// The platform's threats for the event's tags, when asked for.
    async fn guesses(
        &self,
        ctx: &RunContext,
        event: &Event,
    ) -> Result<Option<convert::ThreatGuesses>, RunError> {
        if !self.config.convert.guess_threats_from_tags {
            return Ok(None);
        }
        Ok(Some(guess_threats(ctx, &convert::guess_keys(event)).await?))
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
        let Some(event) = self.parse_file(ctx, key, bytes).await? else {
            return Ok(None);
        };
        let guesses = self.guesses(ctx, &event).await?;
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

    /// Parses an event and sends its bundle in pieces as they are
    /// converted (see [`Converter::convert_in_pieces`]): a large event
    /// never holds its whole bundle. The pieces go out one after the
    /// other, each confirmed before the next is split; the conversion
    /// runs one piece ahead. A poison event is reported on the work
    /// before any piece was sent.
    async fn import_in_pieces(
        &self,
        ctx: &RunContext,
        key: &str,
        bytes: Bytes,
        now: DateTime<Utc>,
        turn: Turn,
        publishing: &Semaphore,
    ) -> Result<Outcome, RunError> {
        let Some(event) = self.parse_file(ctx, key, bytes).await? else {
            return Ok(Outcome::Skipped);
        };
        let guesses = self.guesses(ctx, &event).await?;
        let uuid = event.uuid.clone();
        let converter = Arc::clone(&self.converter);
        let (pieces, mut received) = mpsc::channel::<Piece>(1);
        // A blocking thread, since it waits for each piece to be taken;
        // it ends early once `received` is dropped (a failed send, a stop).
        let conversion = tokio::task::spawn_blocking(move || {
            converter.convert_in_pieces(event, guesses.as_ref(), now, PIECE_BYTES, |piece| {
                pieces.blocking_send(piece).is_ok()
            })
        });
        let _slot = turn.take_slot(publishing).await?;
        tracing::info!("Sending event STIX2 bundle in pieces...");
        while let Some(piece) = received.recv().await {
            let prepared = ctx.prepare_bundle(piece.text).await?;
            ctx.send_prepared(prepared).await?;
        }
        let converted = match conversion.await {
            Ok(converted) => converted,
            Err(error) => match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => {
                    return Err(RunError::Interrupted(
                        "the runtime is shutting down".to_owned(),
                    ));
                }
            },
        };
        match converted {
            Ok(converted) => {
                tracing::debug!(objects = converted.object_count, "event sent in pieces");
                Ok(Outcome::Sent)
            }
            Err(error) => {
                let name = uuid.as_deref().unwrap_or(key);
                ctx.report_error(format!("event {name} skipped: {error}"), key.to_owned())
                    .await?;
                Ok(Outcome::Skipped)
            }
        }
    }
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
}
