//! The import run: list reports then IoC bundles published since the
//! cursor, send one bundle per publication, and move the cursor only when
//! every listed publication was confirmed by the broker.
//!
//! The state keeps the Python connector's key and format (`last_run`, the
//! run's start as `2026-05-22T11:00:00+00:00`), so a migration keeps its
//! place.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use opencti_connector::catalog::{Listing as CatalogListing, SolutionCategory, UseCase};
use opencti_connector::config::Var;
use opencti_connector::publish::SendOptions;
use opencti_connector::state::State;
use opencti_connector::{Connector, ConnectorSpec, ImportSource, RunContext, SendError, spec};
use serde_json::Value;

use crate::client::{ClientError, Teamt5Client};
use crate::config::{Teamt5Config, VARS};
use crate::mapping::{self, BundleRef, Kind, MappingError, Stamp};
use opencti_connector::http::redact_urls;

/// Consecutive failed listing pages after which a listing is abandoned
/// for this run (the Python connector's limit).
pub const MAX_PAGE_FAILURES: u32 = 5;

/// State key: failed runs so far per publication (`reports/<alias>`,
/// `ioc_bundles/<id>`) that still holds the cursor.
pub const FAILURES_KEY: &str = "publication_failures";
/// State key: publications given up after `TEAMT5_MAX_PUBLICATION_RUNS`
/// failed runs, so that none is dropped without a trace.
pub const SKIPPED_KEY: &str = "skipped_publications";

/// What the `opencti-teamt5` binary is (name, version, variables), for
/// checks of the documentation against the code.
pub static SPEC: ConnectorSpec = spec::<Teamt5>();

/// Why a run stopped. The cursor does not move.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A bundle could not be published (or shutdown was requested).
    #[error(transparent)]
    Send(#[from] SendError),
    /// No OAuth2 token could be obtained.
    #[error(transparent)]
    Auth(ClientError),
    /// The stored `last_run` cannot be read.
    #[error("the connector state's `last_run` ({value:?}) is not an ISO 8601 date-time")]
    State {
        /// The stored value.
        value: String,
    },
    /// A listing went on past `TEAMT5_MAX_LISTING_PAGES` pages or
    /// `TEAMT5_MAX_LISTING_ITEMS` items.
    #[error(
        "the TeamT5 {kind} listing goes on past {limit} {unit} ({variable}): run stopped, state not changed; raise {variable} if the listing is really that long"
    )]
    ListingTooLong {
        /// `Report` or `Indicator Bundle`.
        kind: &'static str,
        /// `pages` or `items`.
        unit: &'static str,
        /// The bound's variable.
        variable: &'static str,
        /// Its value.
        limit: usize,
    },
    /// The HTTP client could not be built.
    #[error("cannot start: {0}")]
    Setup(#[source] ClientError),
}

/// The TeamT5 connector.
#[derive(Debug)]
pub struct Teamt5 {
    config: Teamt5Config,
    client: Teamt5Client,
}

/// How one kind's listing ended.
#[derive(Debug, Default)]
struct Listing {
    refs: Vec<BundleRef>,
    /// Gave up after [`MAX_PAGE_FAILURES`] failed pages in a row.
    aborted: bool,
}

/// How one kind's publications were sent.
#[derive(Debug, Default)]
struct Pushed {
    sent: usize,
    /// Publications a later run may still import (failed download, empty
    /// or unusable bundle): they hold the cursor.
    missed: usize,
}

/// Failed runs per publication, carried from run to run in the state.
#[derive(Debug, Default)]
struct Failures {
    /// Failed runs so far, by publication id.
    counts: BTreeMap<String, u64>,
    /// Publications given up, oldest first.
    skipped: Vec<String>,
    /// Failed runs after which a publication is skipped.
    max_runs: u64,
}

impl Failures {
    fn load(state: Option<&State>, max_runs: u32) -> Self {
        let counts = state
            .and_then(|state| state.get(FAILURES_KEY))
            .and_then(Value::as_object)
            .map(|counts| {
                counts
                    .iter()
                    .filter_map(|(id, count)| Some((id.clone(), count.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let skipped = state
            .and_then(|state| state.get(SKIPPED_KEY))
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            counts,
            skipped,
            max_runs: u64::from(max_runs),
        }
    }

    /// Records one more failed run on `id`; `true` when it is now given
    /// up (and no longer holds the cursor).
    fn failed(&mut self, id: &str) -> bool {
        let count = self.counts.get(id).copied().unwrap_or(0) + 1;
        if count >= self.max_runs {
            self.counts.remove(id);
            if !self.skipped.iter().any(|skipped| skipped == id) {
                self.skipped.push(id.to_owned());
            }
            true
        } else {
            self.counts.insert(id.to_owned(), count);
            false
        }
    }

    fn succeeded(&mut self, id: &str) {
        self.counts.remove(id);
    }

    /// Writes both keys into `state` (left out while empty).
    fn store(&self, state: &mut State) {
        if self.counts.is_empty() {
            state.remove(FAILURES_KEY);
        } else {
            let counts = self
                .counts
                .iter()
                .map(|(id, count)| (id.clone(), Value::from(*count)))
                .collect();
            state.insert(FAILURES_KEY.to_owned(), Value::Object(counts));
        }
        if !self.skipped.is_empty() {
            let ids = self.skipped.iter().cloned().map(Value::String).collect();
            state.insert(SKIPPED_KEY.to_owned(), Value::Array(ids));
        }
    }
}

impl Connector for Teamt5 {
    type Config = Teamt5Config;
    type Error = RunError;

    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-teamt5";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str =
        "Imports TeamT5 ThreatVision reports and IoC bundles (STIX 2.1) into OpenCTI";
    const SLUG: Option<&'static str> = Some("teamt5");
    const LISTING: CatalogListing = CatalogListing {
        title: "TeamT5 ThreatVision",
        description: "Imports TeamT5 ThreatVision reports and IoC bundles (STIX 2.1) into OpenCTI, with the Python teamt5 connector's variables and state",
        use_cases: &[UseCase::AdversaryInsights],
        solution_categories: &[SolutionCategory::ThreatIntelligenceFeed],
        subscription_link: "https://teamt5.org/en/products/threatvision/",
        ..CatalogListing::DEFAULT
    };

    fn from_config(config: Teamt5Config) -> Result<Self, RunError> {
        let client = Teamt5Client::new(
            config.api_base_url.clone(),
            config.auth.clone(),
            config.http.clone(),
        )
        .map_err(RunError::Setup)?;
        Ok(Self { config, client })
    }
}

impl ImportSource for Teamt5 {
    async fn run(&mut self, ctx: &RunContext) -> Result<String, RunError> {
        let now = Utc::now();
        let state = ctx.state();
        let since = match state.as_ref().and_then(|state| state.get("last_run")) {
            Some(last_run) => {
                let text = match last_run {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                let moment = parse_last_run(&text).ok_or(RunError::State { value: text })?;
                tracing::info!(last_run_datetime = %moment, "Connector last run");
                moment.timestamp()
            }
            None => {
                tracing::info!("Connector has never run...");
                self.config.first_run_timestamp
            }
        };
        self.client.set_shutdown(ctx.shutdown().clone());
        self.client.authenticate().await.map_err(RunError::Auth)?;
        let stamp = Stamp::new(&self.config.author_name, &self.config.tlp_level, now);
        let mut held = false;
        let mut summary = Vec::new();
        let mut failures = Failures::load(state.as_ref(), self.config.max_publication_runs);
        for kind in Kind::ALL {
            let listing = self.list(ctx, kind, since).await?;
            held |= listing.aborted;
            let name = kind.name();
            if !listing.refs.is_empty() {
                let pushed = self.push(ctx, &listing.refs, &stamp, &mut failures).await?;
                held |= pushed.missed > 0;
                summary.push(format!("Connector Pushed {} {name}s", pushed.sent));
            } else if !listing.aborted {
                tracing::info!("No new {name}s found");
            }
            if listing.aborted {
                summary.push(format!("{name} retrieval aborted"));
            }
        }
        let summary = if summary.is_empty() {
            "No new TeamT5 reports or indicator bundles".to_owned()
        } else {
            summary.join("; ")
        };
        // Merged into the state as it is now (pycti keeps other keys).
        let mut next: State = ctx.state().unwrap_or_default();
        failures.store(&mut next);
        if held {
            tracing::warn!(
                "Some TeamT5 items could not be imported; last_run is not advanced so the next run retries them"
            );
        } else {
            next.insert(
                "last_run".to_owned(),
                Value::String(now.to_rfc3339_opts(SecondsFormat::Secs, false)),
            );
        }
        if !next.is_empty() && Some(&next) != ctx.state().as_ref() {
            ctx.set_state(next);
        }
        Ok(summary)
    }
}

/// `last_run` as Python's `datetime.fromisoformat` reads it: with an
/// offset (`+00:00`, `Z`), or naive (taken as UTC, the container's zone),
/// `T` or space separated; older states used `%Y-%m-%d %H:%M:%S`.
pub fn parse_last_run(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(moment) = DateTime::parse_from_rfc3339(text) {
        return Some(moment.to_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z"] {
        if let Ok(moment) = DateTime::parse_from_str(text, format) {
            return Some(moment.to_utc());
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(moment) = NaiveDateTime::parse_from_str(text, format) {
            return Some(moment.and_utc());
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

impl Teamt5 {
    /// Every item of one listing published since `since`, page after page
    /// (offsets count items); a page that fails is retried with a growing
    /// pause, up to [`MAX_PAGE_FAILURES`] times in a row.
    async fn list(&self, ctx: &RunContext, kind: Kind, since: i64) -> Result<Listing, RunError> {
        let base = self.client.base_text();
        let mut listing = Listing::default();
        let mut seen = HashSet::new();
        let mut offset = 0;
        let mut failures = 0;
        let mut pages = 0;
        let too_long = |unit, variable, limit| RunError::ListingTooLong {
            kind: kind.name(),
            unit,
            variable,
            limit,
        };
        loop {
            if ctx.is_shutting_down() {
                return Err(SendError::Cancelled.into());
            }
            if pages >= self.config.max_listing_pages {
                let limit = self.config.max_listing_pages;
                return Err(too_long("pages", "TEAMT5_MAX_LISTING_PAGES", limit));
            }
            match self.client.listing_page(kind, offset, since).await {
                Err(error) if error.is_auth() => return Err(RunError::Auth(error)),
                Err(error) => {
                    failures += 1;
                    tracing::warn!(
                        error = %error,
                        "Unable to retrieve {}s: response from server was unsuccessful (attempt {failures}/{MAX_PAGE_FAILURES})",
                        kind.name()
                    );
                    if failures >= MAX_PAGE_FAILURES {
                        tracing::error!(
                            offset,
                            "Giving up retrieving {}s after {MAX_PAGE_FAILURES} consecutive failed pages",
                            kind.name()
                        );
                        listing.aborted = true;
                        return Ok(listing);
                    }
                    pause(ctx, self.config.http.first_backoff.saturating_mul(failures)).await;
                }
                Ok(items) => {
                    failures = 0;
                    if items.is_empty() {
                        return Ok(listing);
                    }
                    pages += 1;
                    offset += items.len();
                    if offset > self.config.max_listing_items {
                        let limit = self.config.max_listing_items;
                        return Err(too_long("items", "TEAMT5_MAX_LISTING_ITEMS", limit));
                    }
                    for item in &items {
                        let Some(reference) = mapping::bundle_ref(kind, item, &base) else {
                            tracing::warn!(
                                "Skipping a {} listing item that is not a JSON object",
                                kind.name()
                            );
                            continue;
                        };
                        // A publication added while paging shifts the
                        // offsets: the same item can come twice.
                        let identity = reference
                            .stix_url
                            .clone()
                            .unwrap_or_else(|| reference.key.clone());
                        if identity.is_empty() || seen.insert(identity) {
                            listing.refs.push(reference);
                        }
                    }
                    pause(ctx, self.config.http.page_delay).await;
                }
            }
        }
    }

    /// Downloads, rewrites and sends each publication. Failures are
    /// reported on the work and counted; they hold the cursor until the
    /// publication has failed `TEAMT5_MAX_PUBLICATION_RUNS` runs, then it
    /// is skipped and recorded in the state.
    async fn push(
        &self,
        ctx: &RunContext,
        refs: &[BundleRef],
        stamp: &Stamp,
        failures: &mut Failures,
    ) -> Result<Pushed, RunError> {
        let mut options = SendOptions::default();
        options.cleanup_inconsistent_bundle = true;
        let mut pushed = Pushed::default();
        for reference in refs {
            let name = reference.kind.name();
            tracing::debug!(
                key = %reference.key,
                created_at = ?reference.created_at.and_then(|seconds| DateTime::<Utc>::from_timestamp(seconds, 0)),
                "Processing {name}"
            );
            let Some(stix_url) = &reference.stix_url else {
                tracing::warn!(key = %reference.key, "Skipping {name}: listing reference has no STIX url to download.");
                continue;
            };
            // A work error's source is shown to platform users: no query,
            // which may carry a signature.
            let source = redact_urls(stix_url);
            let id = format!("{}/{}", reference.kind.response_key(), reference.key);
            let objects = match self.client.bundle_objects(stix_url).await {
                Ok(objects) => objects,
                Err(error) if error.is_auth() => return Err(RunError::Auth(error)),
                Err(error) => {
                    pushed.missed += miss(failures, &id);
                    ctx.report_error(
                        format!("{name} {} not imported: {error}", reference.key),
                        source.clone(),
                    )
                    .await?;
                    continue;
                }
            };
            let publication =
                match mapping::publication_objects(reference, objects, stamp, Utc::now()) {
                    Ok(publication) => publication,
                    Err(MappingError::NoObjects) => {
                        // Counted as a failure, as the Python connector does.
                        pushed.missed += miss(failures, &id);
                        tracing::info!(key = %reference.key, "API Returned bundle with no items.");
                        continue;
                    }
                    Err(error @ MappingError::InvalidReport { .. }) => {
                        // The listing item itself is unusable: retrying
                        // cannot help, so it does not hold the cursor.
                        ctx.report_error(
                            format!("{name} {} skipped: {error}", reference.key),
                            source.clone(),
                        )
                        .await?;
                        continue;
                    }
                    Err(error) => {
                        pushed.missed += miss(failures, &id);
                        ctx.report_error(
                            format!("{name} {} not imported: {error}", reference.key),
                            source.clone(),
                        )
                        .await?;
                        continue;
                    }
                };
            for problem in &publication.dropped {
                ctx.report_error(
                    format!("{name} {}: object left out: {problem}", reference.key),
                    source.clone(),
                )
                .await?;
            }
            ctx.send_bundle_with(mapping::bundle(publication.objects), &options)
                .await?;
            pushed.sent += 1;
            failures.succeeded(&id);
        }
        Ok(pushed)
    }
}

/// Waits `delay` between pages, or until shutdown: the loop then stops at
/// its next check instead of sleeping on.
async fn pause(ctx: &RunContext, delay: Duration) {
    if !delay.is_zero() {
        tokio::select! {
            () = ctx.shutdown().cancelled() => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Counts one more failed run on publication `id`: 1 while it holds the
/// cursor, 0 once it is given up (logged).
fn miss(failures: &mut Failures, id: &str) -> usize {
    if failures.failed(id) {
        tracing::warn!(
            publication = id,
            runs = failures.max_runs,
            "Skipping TeamT5 publication {id}: it failed {} runs in a row (TEAMT5_MAX_PUBLICATION_RUNS); recorded in the state's {SKIPPED_KEY}",
            failures.max_runs
        );
        0
    } else {
        1
    }
}
