//! The refusal drill of issue #13 for any import connector: the platform
//! refuses each GraphQL call an import run makes, one call at a time.
//!
//! A clean run on a fresh [`TestPlatform`] counts the operations a run
//! calls. Then, for every operation, its first, second and last call fail,
//! each time on a fresh platform. For each of these faulted runs the drill
//! checks that:
//!
//! * the run ends within [`RefusalDrill::prompt`] (no retry loop waits the
//!   fault out);
//! * the fault was met;
//! * the state the platform holds names nothing the platform did not store
//!   (the connector's own check, given as `state_is_backed`, awaited while
//!   the platform's worker imports what was sent);
//! * a failed run's work is closed in error, unless closing the work
//!   (`workToProcessed`) is the call that failed;
//! * the next run, without the fault, succeeds and everything is stored
//!   (the connector's own check, given as `everything_stored`).
//!
//! The drill as a whole also checks that the clean run sends something
//! (`addExpectations`) and that some refusal fails the run: a connector
//! that ignored every refusal would pass each step. It prints every step.
//!
//! ```no_run
//! # async fn demo() {
//! # #[derive(Debug)] struct MyConnector;
//! # impl opencti_connector::Connector for MyConnector {
//! #     type Config = opencti_connector::config::NoConfig;
//! #     type Error = std::convert::Infallible;
//! #     const NAME: &'static str = "my-connector";
//! #     const VERSION: &'static str = "1.0.0";
//! #     const ABOUT: &'static str = "demo";
//! #     fn from_config(_: Self::Config) -> Result<Self, Self::Error> { Ok(Self) }
//! # }
//! # impl opencti_connector::ImportSource for MyConnector {
//! #     async fn run(&mut self, _: &opencti_connector::RunContext) -> Result<String, Self::Error> { Ok(String::new()) }
//! # }
//! use opencti_testkit::ConnectorHarness;
//! use opencti_testkit::drill::RefusalDrill;
//!
//! let report = RefusalDrill::new(
//!     async |platform| ConnectorHarness::new(platform).run_import::<MyConnector>().await,
//!     |platform| platform.objects_of_type("indicator").len() == 3,
//!     // A cursor in the state promises every indicator.
//!     |platform| platform.state().is_none() || platform.objects_of_type("indicator").len() == 3,
//! )
//! .run()
//! .await;
//! println!("{} faulted runs", report.steps.len());
//! # }
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use opencti_sim::CallFault;
use tokio::time::Instant;

use crate::{ImportRun, KitError, TestPlatform};

/// The operation closing a run's work.
const CLOSE_WORK: &str = "workToProcessed";
/// The operation announcing a run's messages to the platform.
const ANNOUNCE: &str = "addExpectations";
/// The operation of the runtime's pings.
const PING: &str = "PingConnector";

/// The drill for one connector: how to run it, and what "everything
/// stored" and "the state is backed by the platform" mean for it.
pub struct RefusalDrill<Run, Stored, Backed> {
    run: Run,
    everything_stored: Stored,
    state_is_backed: Backed,
    prompt: Duration,
    timeout: Duration,
}

/// What the drill did, for the test to print or check further.
#[derive(Debug, Clone)]
pub struct DrillReport {
    /// The operations of a clean run, with their call counts.
    pub operations: BTreeMap<String, usize>,
    /// One entry per faulted run, in the order they were made.
    pub steps: Vec<DrillStep>,
}

/// One faulted run of the drill.
#[derive(Debug, Clone)]
pub struct DrillStep {
    /// The operation refused.
    pub operation: String,
    /// Which of its calls was refused (1 for the first).
    pub call: usize,
    /// Whether the faulted run failed (some calls are tolerated: a ping).
    pub failed: bool,
    /// How long the faulted run took.
    pub elapsed: Duration,
}

impl<Run, Stored, Backed> std::fmt::Debug for RefusalDrill<Run, Stored, Backed> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusalDrill")
            .field("prompt", &self.prompt)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<Run, Stored, Backed> RefusalDrill<Run, Stored, Backed>
where
    Run: AsyncFn(&TestPlatform) -> Result<ImportRun, KitError>,
    Stored: Fn(&TestPlatform) -> bool,
    Backed: Fn(&TestPlatform) -> bool,
{
    /// A drill running the connector with `run` (one run-and-terminate
    /// run against the platform given, usually through
    /// [`ConnectorHarness`](crate::ConnectorHarness)), where
    /// `everything_stored` says that the platform holds every object the
    /// vendor offers, and `state_is_backed` that everything the platform's
    /// copy of the connector state claims done is stored.
    ///
    /// A faulted run, and each wait on its platform, must end within 10 s;
    /// the clean run's waits last at most
    /// [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT).
    pub fn new(run: Run, everything_stored: Stored, state_is_backed: Backed) -> Self {
        Self {
            run,
            everything_stored,
            state_is_backed,
            prompt: Duration::from_secs(10),
            timeout: crate::DEFAULT_TIMEOUT,
        }
    }

    /// The bound on each faulted run and on each wait on its platform.
    #[must_use]
    pub fn prompt(mut self, prompt: Duration) -> Self {
        self.prompt = prompt;
        self
    }

    /// Makes the clean run, then every faulted run with its next run.
    ///
    /// # Panics
    ///
    /// On the first check that fails, naming the operation and the call
    /// refused; when a platform cannot start, the clean run fails or sends
    /// nothing, or no refusal fails the run.
    pub async fn run(self) -> DrillReport {
        let operations = self.operations_of_a_clean_run().await;
        assert!(
            operations.contains_key(ANNOUNCE),
            "the clean run announces messages to send: {operations:?}"
        );
        let mut steps = Vec::new();
        for (operation, calls) in &operations {
            for after in calls_to_refuse(operation, *calls) {
                let step = self.faulted_step(operation, after).await;
                println!(
                    "{} call {}: failed {}, {:?}",
                    step.operation, step.call, step.failed, step.elapsed
                );
                steps.push(step);
            }
        }
        assert!(
            steps.iter().any(|step| step.failed),
            "some refusals fail the run"
        );
        DrillReport { operations, steps }
    }

    async fn start_platform(&self) -> TestPlatform {
        TestPlatform::start()
            .await
            .expect("the platform starts")
            .with_timeout(self.timeout)
    }

    async fn operations_of_a_clean_run(&self) -> BTreeMap<String, usize> {
        let platform = self.start_platform().await;
        let run = (self.run)(&platform).await.expect("the clean run ends");
        assert!(run.succeeded(), "the clean run succeeds: {run:?}");
        platform
            .wait_until("everything stored by the clean run", |platform| {
                (self.everything_stored)(platform)
            })
            .await
            .expect("the clean run stores everything");
        let mut operations = BTreeMap::new();
        for call in platform.sim().graphql_calls() {
            if let Some(operation) = call.operation {
                *operations.entry(operation).or_default() += 1;
            }
        }
        platform.shutdown().await.expect("clean shutdown");
        operations
    }

    async fn faulted_step(&self, operation: &str, after: usize) -> DrillStep {
        let step = format!("{operation} call {}", after + 1);
        let platform = TestPlatform::start()
            .await
            .expect("the platform starts")
            .with_timeout(self.prompt);
        platform
            .sim()
            .fail_calls(CallFault::new(operation).after(after as u64));
        let started = Instant::now();
        let succeeded = match (self.run)(&platform).await {
            Ok(run) => run.succeeded(),
            // The run ended, but its work never completes: only right when
            // closing the work is the refused call.
            Err(KitError::Platform(opencti_sim::SimError::Timeout { what, .. }))
                if operation == CLOSE_WORK && what.starts_with("work ") =>
            {
                true
            }
            Err(error) => panic!("{step}: the faulted run: {error}"),
        };
        let failed = !succeeded;
        let elapsed = started.elapsed();
        assert_eq!(
            platform.sim().faults()[0].failed,
            1,
            "{step}: the fault was met"
        );

        // The state never passes what the platform stored (the worker may
        // still be importing what the run sent).
        platform
            .wait_until("the state to be backed by stored objects", |platform| {
                (self.state_is_backed)(platform)
            })
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{step}: the state names more than the platform stored: {:?}",
                    platform.state()
                )
            });
        // A failed run closes its work in error (unless closing is what failed).
        if failed && operation != CLOSE_WORK {
            for work in platform.works() {
                assert!(
                    !work.errors.is_empty() || work.processed_time.is_none(),
                    "{step}: the failed run's work is in error: {work:?}"
                );
            }
        }

        platform.sim().clear_faults();
        let next = (self.run)(&platform)
            .await
            .unwrap_or_else(|error| panic!("{step}: the next run: {error}"));
        assert!(next.succeeded(), "{step}: the next run succeeds: {next:?}");
        platform
            .wait_until("everything stored", |platform| {
                (self.everything_stored)(platform)
            })
            .await
            .unwrap_or_else(|_| panic!("{step}: nothing is lost"));
        platform.shutdown().await.expect("clean shutdown");
        DrillStep {
            operation: operation.to_owned(),
            call: after + 1,
            failed,
            elapsed,
        }
    }
}

/// Which calls of `operation` (0 for the first) the drill refuses, given
/// that a clean run made `calls` of them: the first two and the last.
///
/// Pings follow a timer and the state's changes, so a run always sends
/// the first and the last but may merge the ones between: only those two
/// are sure to come in a faulted run.
fn calls_to_refuse(operation: &str, calls: usize) -> Vec<usize> {
    let calls = if operation == PING {
        calls.min(2)
    } else {
        calls
    };
    let mut positions: Vec<usize> = (0..calls).take(2).collect();
    positions.push(calls - 1);
    positions.dedup();
    positions
}

/// The shutdown drill of a vendor pause: runs `run` until `started` holds
/// (the vendor got its first request), lets it go on for `after` (into the
/// pause the vendor asked for), then calls `stop` (a shutdown). Returns
/// what the run came to and how long it took to end after the stop.
///
/// # Panics
///
/// If the run has not ended within `bound`: the stop did not end the wait.
pub async fn stop_during_a_pause<T>(
    run: impl Future<Output = T>,
    started: impl Fn() -> bool,
    after: Duration,
    stop: impl FnOnce(),
    bound: Duration,
) -> (T, Duration) {
    let stopping = async {
        while !started() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(after).await;
        stop();
        Instant::now()
    };
    let (outcome, stopped_at) = tokio::time::timeout(bound, async { tokio::join!(run, stopping) })
        .await
        .expect("the run ends within the bound");
    (outcome, stopped_at.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_two_calls_and_the_last_are_refused() {
        assert_eq!(calls_to_refuse("workAdd", 1), [0]);
        assert_eq!(calls_to_refuse("workAdd", 2), [0, 1]);
        assert_eq!(calls_to_refuse("addExpectations", 7), [0, 1, 6]);
    }

    #[test]
    fn only_the_pings_every_run_sends_are_refused() {
        assert_eq!(calls_to_refuse(PING, 1), [0]);
        assert_eq!(calls_to_refuse(PING, 5), [0, 1]);
    }

    #[tokio::test]
    async fn a_pause_is_stopped_once_the_run_started_and_its_end_is_timed() {
        let started = std::sync::atomic::AtomicBool::new(false);
        let stop = tokio::sync::Notify::new();
        let run = async {
            started.store(true, std::sync::atomic::Ordering::Relaxed);
            tokio::select! {
                () = stop.notified() => "stopped",
                () = tokio::time::sleep(Duration::from_secs(86_400)) => "waited out",
            }
        };
        let (outcome, took) = stop_during_a_pause(
            run,
            || started.load(std::sync::atomic::Ordering::Relaxed),
            Duration::from_millis(50),
            || stop.notify_one(),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(outcome, "stopped");
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    #[tokio::test]
    #[should_panic(expected = "the run ends within the bound")]
    async fn a_run_the_stop_does_not_end_fails_at_the_bound() {
        stop_during_a_pause(
            tokio::time::sleep(Duration::from_secs(86_400)),
            || true,
            Duration::from_millis(10),
            || {},
            Duration::from_millis(200),
        )
        .await;
    }
}
