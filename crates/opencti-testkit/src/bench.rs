//! Throughput benchmarks of a stream connector end to end (feature
//! `criterion`): [`StreamBench`] injects a [`Churn`] into a
//! [`TestPlatform`] once and measures replays of it into the connector,
//! each against a fresh fake vendor.
//!
//! ```no_run
//! # use opencti_connector::prelude::*;
//! # #[derive(Debug)] struct MySink;
//! # impl Connector for MySink {
//! #     type Config = opencti_connector::config::NoConfig;
//! #     type Error = std::convert::Infallible;
//! #     const NAME: &'static str = "my-sink";
//! #     const VERSION: &'static str = "1.0.0";
//! #     const ABOUT: &'static str = "demo";
//! #     fn from_config(_: Self::Config) -> Result<Self, Self::Error> { Ok(Self) }
//! # }
//! # impl StreamSink for MySink {
//! #     async fn handle(&mut self, _: &StreamEvent) -> Outcome { Outcome::Done }
//! # }
//! use std::time::Duration;
//!
//! use criterion::Criterion;
//! use opencti_testkit::ConnectorHarness;
//! use opencti_testkit::bench::{Observable, StreamBench};
//!
//! /// One replay with this batch size.
//! async fn replay(bench: &StreamBench, batch_size: &str) -> Duration {
//!     // Start a fresh fake vendor here and point the connector at it.
//!     let harness = ConnectorHarness::new(bench.platform()).var("MY_BATCH_SIZE", batch_size);
//!     let elapsed = bench.replay::<MySink>(&harness).await.expect("replay");
//!     // Check here that the vendor holds `bench.live()` values.
//!     elapsed
//! }
//!
//! fn bench(c: &mut Criterion) {
//!     let bench = StreamBench::start(&[Observable::Ipv4, Observable::Domain]).expect("stream");
//!     bench.measure(c, "my_stream", &[("batched", "100"), ("one_by_one", "1")], &replay);
//!     bench.shutdown().expect("platform shutdown");
//! }
//! ```

use std::time::Duration;

use criterion::{Criterion, Throughput};
use opencti_connector::stream::StreamSink;
use tokio::runtime::Runtime;

use crate::events::Churn;
use crate::{ConnectorHarness, KitError, TestPlatform};

/// How long a wait of the bench's platform lasts at most: a replay one
/// event at a time into a slow fake takes minutes, not seconds.
pub const BENCH_TIMEOUT: Duration = Duration::from_secs(600);

/// Samples of each measurement: every one is a whole replay.
const SAMPLES: usize = 10;

/// An observable type the indicators of a benchmark's churn carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observable {
    /// `ipv4-addr:value`, `10.<version>.<n / 256 % 256>.<n % 256>`.
    Ipv4,
    /// `domain-name:value`, `host<n>-v<version>.example`.
    Domain,
    /// `url:value`, `http://site<n>.example/v<version>/path?q=<n>`.
    Url,
    /// `email-addr:value`, `user<n>-v<version>@evil.example`.
    Email,
    /// `file:hashes.MD5`, the number and the version as 32 hex digits.
    Md5,
}

impl Observable {
    /// The pattern of indicator `n` at `version`: its value differs from
    /// every other indicator's of the same type (for `n` under 65,536)
    /// and from its own at another version.
    pub fn pattern(self, n: u32, version: u32) -> String {
        match self {
            Self::Ipv4 => format!(
                "[ipv4-addr:value = '10.{version}.{}.{}']",
                n / 256 % 256,
                n % 256
            ),
            Self::Domain => format!("[domain-name:value = 'host{n}-v{version}.example']"),
            Self::Url => format!("[url:value = 'http://site{n}.example/v{version}/path?q={n}']"),
            Self::Email => format!("[email-addr:value = 'user{n}-v{version}@evil.example']"),
            Self::Md5 => format!(
                "[file:hashes.MD5 = '{:016x}{:016x}']",
                u64::from(n),
                u64::from(version)
            ),
        }
    }

    /// A [`Churn`] whose indicator `n` carries the type `observables[n %
    /// observables.len()]`.
    ///
    /// # Panics
    ///
    /// When `observables` is empty.
    pub fn churn(observables: &[Self]) -> Churn {
        assert!(!observables.is_empty(), "a churn needs an observable type");
        Churn::new(|n, version| observables[n as usize % observables.len()].pattern(n, version))
    }
}

/// A stream connector's benchmark: a multi-threaded Tokio runtime, a
/// [`TestPlatform`] whose waits last up to [`BENCH_TIMEOUT`], and a
/// [`Churn`] injected into its live stream, for criterion to measure
/// replays of (see the [module](self) example).
#[derive(Debug)]
pub struct StreamBench {
    runtime: Runtime,
    platform: TestPlatform,
    events: u64,
    last_event: String,
    live: usize,
}

impl StreamBench {
    /// Starts the runtime and the platform and injects
    /// [`Observable::churn`] of `observables`.
    ///
    /// # Errors
    ///
    /// When the runtime or the platform does not start, or the injection
    /// fails.
    ///
    /// # Panics
    ///
    /// When `observables` is empty.
    pub fn start(observables: &[Observable]) -> Result<Self, KitError> {
        let churn = Observable::churn(observables);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let platform = runtime
            .block_on(TestPlatform::start())?
            .with_timeout(BENCH_TIMEOUT);
        let events = churn.events.len() as u64;
        let last_event = platform.inject(churn.events)?.expect("a churn has events");
        Ok(Self {
            platform,
            runtime,
            events,
            last_event,
            live: churn.live,
        })
    }

    /// The platform serving the stream, for a [`ConnectorHarness`].
    pub fn platform(&self) -> &TestPlatform {
        &self.platform
    }

    /// How many indicators are live at the end of the stream: what the
    /// vendor should hold after a replay.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Builds the connector from `harness` and replays the whole stream
    /// into it ([`ConnectorHarness::replay_stream`]); returns the time from
    /// the start of the stream reader to the last event handled.
    ///
    /// # Errors
    ///
    /// As [`ConnectorHarness::build`] and
    /// [`ConnectorHarness::replay_stream`].
    pub async fn replay<S: StreamSink + 'static>(
        &self,
        harness: &ConnectorHarness<'_>,
    ) -> Result<Duration, KitError> {
        let sink: S = harness.build()?;
        let (_, elapsed) = harness.replay_stream(sink, &self.last_event).await?;
        Ok(elapsed)
    }

    /// Measures `replay` in the criterion group `group`, once per variant
    /// (its name in the report, and the value `replay` is given), in
    /// events per second over 10 samples. `replay` runs on the bench's
    /// runtime and returns the time it measured, usually from
    /// [`StreamBench::replay`]; it panics when the vendor does not end
    /// as the stream says.
    pub fn measure<V: Copy>(
        &self,
        c: &mut Criterion,
        group: &str,
        variants: &[(&str, V)],
        replay: &impl AsyncFn(&Self, V) -> Duration,
    ) {
        let mut group = c.benchmark_group(group);
        group.throughput(Throughput::Elements(self.events));
        group.sample_size(SAMPLES);
        for &(name, value) in variants {
            group.bench_function(name, |b| {
                b.iter_custom(|iterations| {
                    (0..iterations)
                        .map(|_| self.runtime.block_on(replay(self, value)))
                        .sum()
                });
            });
        }
        group.finish();
    }

    /// Stops the platform cleanly.
    ///
    /// # Errors
    ///
    /// As [`TestPlatform::shutdown`].
    pub fn shutdown(self) -> Result<(), KitError> {
        let Self {
            platform, runtime, ..
        } = self;
        runtime.block_on(platform.shutdown())?;
        Ok(())
    }
}
