//! The drills of issue #13 for any import connector: [`RefusalDrill`], the
//! platform refuses each GraphQL call an import run makes, one call at a
//! time; [`OutputDrill`], the run's output (the broker, the directory
//! copy) breaks at each of its steps, one step at a time.
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

use opencti_connector::publish::DirectoryFault;
use opencti_sim::CallFault;
use tokio::time::Instant;

pub use crate::nacking::NackingQueue;
use crate::{ConnectorHarness, ImportRun, KitError, TestPlatform};

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
    /// [`ConnectorHarness`]), where
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

    async fn operations_of_a_clean_run(&self) -> BTreeMap<String, usize> {
        let platform = fresh_platform(self.timeout).await;
        let run = (self.run)(&platform).await;
        succeeded_with_everything("the clean run", &platform, run, &self.everything_stored).await;
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
        let platform = fresh_platform(self.prompt).await;
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

        state_backed(&step, &platform, &self.state_is_backed).await;
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
        let next = (self.run)(&platform).await;
        let what = format!("{step}: the next run");
        succeeded_with_everything(&what, &platform, next, &self.everything_stored).await;
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

/// The output drill of issue #13 for any import connector: the run's
/// output breaks at each of its steps, one step at a time, each time on a
/// fresh [`TestPlatform`].
///
/// * [`OutputDrill::broker_nacks`]: a clean run counts the messages a run
///   publishes (`n`); then, for every `k` in `1..=n`, the broker confirms
///   the first `k - 1` and nacks every message from the `k`-th on
///   ([`NackingQueue`]), with `MQ_OUTAGE_TIMEOUT` set to
///   [`OutputDrill::outage`] so that the publisher gives up soon.
/// * [`OutputDrill::directory_errors`]: with `CONNECTOR_SEND_TO_DIRECTORY`
///   on, a clean run counts the copies a run writes (`n`); then, for every
///   `k` in `1..=n`, every write from the `k`-th on fails as on a full
///   disk (the runtime's `test-util` hook
///   [`DirectoryFault`]).
///
/// For each faulted run the drill checks that:
///
/// * the run ends in error within [`OutputDrill::prompt`];
/// * the fault was met, and the output holds exactly what came before it
///   (the broker took `k - 1` messages; the directory holds `k - 1`
///   copies and nothing else, no partial file);
/// * its work is closed with the fault among its errors (`nacked by the
///   broker`; the directory's path);
/// * the state the platform holds names nothing the platform did not
///   store (`state_is_backed`, awaited while the platform's worker imports
///   what was sent);
/// * the next run, without the fault, succeeds and everything is stored
///   (`everything_stored`).
///
/// A run publishing many messages would make many faulted runs:
/// [`OutputDrill::at_most`] bounds them (the first step, the last, and
/// steps spread evenly between; the report says which were made).
///
/// A nacked message still reaches the platform's push queue (the broker
/// refuses to confirm it, but delivers it to the other queues bound), so
/// "backed" is judged against what the platform stored, which may be more
/// than what the broker confirmed. A connector that knows which messages
/// its state may count states it with [`OutputDrill::confirmed_only`],
/// checked after each faulted run of the broker drill.
///
/// ```no_run
/// # async fn demo() {
/// # #[derive(Debug)] struct MyConnector;
/// # impl opencti_connector::Connector for MyConnector {
/// #     type Config = opencti_connector::config::NoConfig;
/// #     type Error = std::convert::Infallible;
/// #     const NAME: &'static str = "my-connector";
/// #     const VERSION: &'static str = "1.0.0";
/// #     const ABOUT: &'static str = "demo";
/// #     fn from_config(_: Self::Config) -> Result<Self, Self::Error> { Ok(Self) }
/// # }
/// # impl opencti_connector::ImportSource for MyConnector {
/// #     async fn run(&mut self, _: &opencti_connector::RunContext) -> Result<String, Self::Error> { Ok(String::new()) }
/// # }
/// use opencti_testkit::ConnectorHarness;
/// use opencti_testkit::drill::OutputDrill;
///
/// let drill = OutputDrill::new(
///     // The harness carries the drill's variables (broker, directory).
///     async |harness: &ConnectorHarness<'_>| harness.run_import::<MyConnector>().await,
///     |platform| platform.objects_of_type("indicator").len() == 3,
///     |platform| platform.state().is_none() || platform.objects_of_type("indicator").len() == 3,
/// );
/// let nacks = drill.broker_nacks().await;
/// let writes = drill.directory_errors().await;
/// println!("{} and {} faulted runs", nacks.steps.len(), writes.steps.len());
/// # }
/// ```
pub struct OutputDrill<Run, Stored, Backed> {
    run: Run,
    everything_stored: Stored,
    state_is_backed: Backed,
    prompt: Duration,
    outage: Duration,
    at_most: usize,
    confirmed_only: Option<ConfirmedOnly>,
}

/// A connector's own check that its state counts only what the broker
/// confirmed: given the platform and the messages confirmed.
type ConfirmedOnly = Box<dyn Fn(&TestPlatform, usize) -> bool>;

/// The fault an [`OutputDrill`] plays at each step of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFault {
    /// [`OutputDrill::broker_nacks`].
    BrokerNacks,
    /// [`OutputDrill::directory_errors`].
    DirectoryErrors,
}

/// What an [`OutputDrill`] did, for the test to print or check further.
#[derive(Debug, Clone)]
pub struct OutputReport {
    /// The messages (or directory copies) of a clean run.
    pub total: usize,
    /// One entry per faulted run, in the order they were made.
    pub steps: Vec<OutputStep>,
}

/// One faulted run of an [`OutputDrill`].
#[derive(Debug, Clone)]
pub struct OutputStep {
    /// The first message nacked, or the first write failed (1 for the
    /// first).
    pub from: usize,
    /// How long the faulted run took.
    pub elapsed: Duration,
}

impl<Run, Stored, Backed> std::fmt::Debug for OutputDrill<Run, Stored, Backed> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputDrill")
            .field("prompt", &self.prompt)
            .field("outage", &self.outage)
            .field("at_most", &self.at_most)
            .finish_non_exhaustive()
    }
}

impl<Run, Stored, Backed> OutputDrill<Run, Stored, Backed>
where
    Run: AsyncFn(&ConnectorHarness<'_>) -> Result<ImportRun, KitError>,
    Stored: Fn(&TestPlatform) -> bool,
    Backed: Fn(&TestPlatform) -> bool,
{
    /// As [`RefusalDrill::new`], except that `run` is given a harness: it
    /// holds the platform and the drill's variables (add the connector's
    /// own with [`ConnectorHarness::var`] on a clone). Faulted runs are
    /// bounded by 10 s, the publisher gives up after 1 s without progress,
    /// and each fault plays at most 16 steps.
    pub fn new(run: Run, everything_stored: Stored, state_is_backed: Backed) -> Self {
        Self {
            run,
            everything_stored,
            state_is_backed,
            prompt: Duration::from_secs(10),
            outage: Duration::from_secs(1),
            at_most: 16,
            confirmed_only: None,
        }
    }

    /// After each faulted run of the broker drill, `check` must hold,
    /// given the platform and the number of messages the broker confirmed
    /// (the first ones of the run): the state counts nothing past them
    /// (a cursor that moves only at the end of a run is absent; a list of
    /// files done names only files whose messages were all confirmed).
    #[must_use]
    pub fn confirmed_only(
        mut self,
        check: impl Fn(&TestPlatform, usize) -> bool + 'static,
    ) -> Self {
        self.confirmed_only = Some(Box::new(check));
        self
    }

    /// The bound on each faulted run and on each wait on its platform.
    #[must_use]
    pub fn prompt(mut self, prompt: Duration) -> Self {
        self.prompt = prompt;
        self
    }

    /// `MQ_OUTAGE_TIMEOUT` of the broker drill's faulted runs (whole
    /// seconds): how long the publisher sends nacked messages again.
    #[must_use]
    pub fn outage(mut self, outage: Duration) -> Self {
        self.outage = outage;
        self
    }

    /// The most faulted runs per fault (at least 2: the first step and the
    /// last).
    #[must_use]
    pub fn at_most(mut self, steps: usize) -> Self {
        self.at_most = steps.max(2);
        self
    }

    /// The drill of `fault` ([`OutputDrill::broker_nacks`] or
    /// [`OutputDrill::directory_errors`]); prints its report.
    ///
    /// # Panics
    ///
    /// As the drill of `fault`.
    pub async fn run(&self, fault: OutputFault) -> OutputReport {
        let report = match fault {
            OutputFault::BrokerNacks => self.broker_nacks().await,
            OutputFault::DirectoryErrors => self.directory_errors().await,
        };
        println!("{fault:?}: {report:?}");
        report
    }

    /// The broker drill: nacks from the `k`-th message on, for every `k`.
    ///
    /// # Panics
    ///
    /// On the first check that fails, naming the step; when a platform
    /// cannot start, or the clean run fails or publishes nothing.
    pub async fn broker_nacks(&self) -> OutputReport {
        let platform = fresh_platform(crate::DEFAULT_TIMEOUT).await;
        let run = (self.run)(&ConnectorHarness::new(&platform)).await;
        succeeded_with_everything("the clean run", &platform, run, &self.everything_stored).await;
        let total: u64 = platform.works().iter().map(|work| work.expected).sum();
        let total = usize::try_from(total).expect("a message count");
        platform.shutdown().await.expect("clean shutdown");
        assert!(total > 0, "the clean run publishes messages");
        let outage = format!("PT{}S", self.outage.as_secs().max(1));
        let mut steps = Vec::new();
        for from in steps_to_break(total, self.at_most) {
            let step = format!("nacks from message {from} of {total}");
            let platform = fresh_platform(self.prompt).await;
            let accepted = u32::try_from(from - 1).expect("a message count");
            let queue = NackingQueue::bind(&platform, accepted).await;
            let harness = ConnectorHarness::new(&platform).var("MQ_OUTAGE_TIMEOUT", &outage);
            let (run, elapsed) = self.faulted_run(&step, &harness).await;
            assert_eq!(
                queue.held().await,
                accepted,
                "{step}: the broker took the run's first messages, then refused"
            );
            let error = format!("the broker's refusal ({step})");
            crate::nacking::assert_closed_with(&run, "nacked", &error);
            state_backed(&step, &platform, &self.state_is_backed).await;
            if let Some(check) = &self.confirmed_only {
                assert!(
                    check(&platform, from - 1),
                    "{step}: the state counts messages the broker did not confirm: {:?}",
                    platform.state()
                );
            }
            queue.remove().await;
            let next = (self.run)(&ConnectorHarness::new(&platform)).await;
            let what = format!("{step}: the next run");
            succeeded_with_everything(&what, &platform, next, &self.everything_stored).await;
            platform.shutdown().await.expect("clean shutdown");
            println!("{step}: failed in {elapsed:?}");
            steps.push(OutputStep { from, elapsed });
        }
        OutputReport { total, steps }
    }

    /// The directory drill: the copy fails from the `k`-th write on, for
    /// every `k`.
    ///
    /// # Panics
    ///
    /// On the first check that fails, naming the step; when a platform
    /// cannot start, or the clean run fails or writes no copy.
    pub async fn directory_errors(&self) -> OutputReport {
        let platform = fresh_platform(crate::DEFAULT_TIMEOUT).await;
        let directory = ScratchDirectory::new();
        let run = (self.run)(&directory.harness(&platform)).await;
        succeeded_with_everything("the clean run", &platform, run, &self.everything_stored).await;
        let total = directory.copies().len();
        platform.shutdown().await.expect("clean shutdown");
        assert!(total > 0, "the clean run writes copies");
        drop(directory);
        let mut steps = Vec::new();
        for from in steps_to_break(total, self.at_most) {
            let step = format!("directory copy failing from write {from} of {total}");
            let platform = fresh_platform(self.prompt).await;
            let directory = ScratchDirectory::new();
            let fault = DirectoryFault::from_write(&directory.path, from as u64);
            let harness = directory.harness(&platform);
            let (run, elapsed) = self.faulted_run(&step, &harness).await;
            assert!(
                fault.writes() >= from as u64,
                "{step}: the fault was met ({} writes)",
                fault.writes()
            );
            let copies = directory.copies();
            assert_eq!(
                copies.len(),
                from - 1,
                "{step}: the directory holds the copies written before the fault, and nothing else: {copies:?}"
            );
            let name = directory.path.display().to_string();
            let error = format!("an error naming the directory ({step})");
            crate::nacking::assert_closed_with(&run, &name, &error);
            state_backed(&step, &platform, &self.state_is_backed).await;
            drop(fault);
            let next = (self.run)(&harness).await;
            let what = format!("{step}: the next run");
            succeeded_with_everything(&what, &platform, next, &self.everything_stored).await;
            platform.shutdown().await.expect("clean shutdown");
            println!("{step}: failed in {elapsed:?}");
            steps.push(OutputStep { from, elapsed });
        }
        OutputReport { total, steps }
    }

    /// Runs with the fault: the run must end in error within the prompt.
    async fn faulted_run(
        &self,
        step: &str,
        harness: &ConnectorHarness<'_>,
    ) -> (ImportRun, Duration) {
        let started = Instant::now();
        let run = tokio::time::timeout(self.prompt, (self.run)(harness))
            .await
            .unwrap_or_else(|_| panic!("{step}: the run ends within {:?}", self.prompt))
            .unwrap_or_else(|error| panic!("{step}: the faulted run: {error}"));
        let elapsed = started.elapsed();
        assert!(!run.succeeded(), "{step}: the run fails: {run:?}");
        (run, elapsed)
    }
}

/// A fresh platform whose waits last at most `timeout`.
async fn fresh_platform(timeout: Duration) -> TestPlatform {
    TestPlatform::start()
        .await
        .expect("the platform starts")
        .with_timeout(timeout)
}

/// Checks that `run` (`what`) succeeded and that the platform then stores
/// everything.
async fn succeeded_with_everything(
    what: &str,
    platform: &TestPlatform,
    run: Result<ImportRun, KitError>,
    everything_stored: &impl Fn(&TestPlatform) -> bool,
) {
    let run = run.unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(run.succeeded(), "{what} succeeds: {run:?}");
    platform
        .wait_until("everything stored", everything_stored)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing is lost"));
}

/// The state never passes what the platform stored (the worker may still
/// be importing what the run sent).
async fn state_backed(
    step: &str,
    platform: &TestPlatform,
    backed: &impl Fn(&TestPlatform) -> bool,
) {
    platform
        .wait_until("the state to be backed by stored objects", backed)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{step}: the state names more than the platform stored: {:?}",
                platform.state()
            )
        });
}

/// Which steps (1 for the first) a drill breaks out of `total`: all of
/// them, or `at_most` of them: the first ones, the last, and steps spread
/// evenly between.
fn steps_to_break(total: usize, at_most: usize) -> Vec<usize> {
    if total <= at_most {
        return (1..=total).collect();
    }
    let spread = at_most.max(2) - 1;
    let mut steps: Vec<usize> = (0..=spread)
        .map(|index| 1 + index * (total - 1) / spread)
        .collect();
    steps.dedup();
    steps
}

/// A directory of the test's own for the directory copy, removed on drop.
struct ScratchDirectory {
    path: std::path::PathBuf,
}

impl ScratchDirectory {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("opencti-output-drill-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("a scratch directory");
        Self { path }
    }

    /// A harness on `platform` copying every bundle into this directory.
    fn harness<'p>(&self, platform: &'p TestPlatform) -> ConnectorHarness<'p> {
        ConnectorHarness::new(platform)
            .var("CONNECTOR_SEND_TO_DIRECTORY", "true")
            .var(
                "CONNECTOR_SEND_TO_DIRECTORY_PATH",
                self.path.display().to_string(),
            )
    }

    /// The names of the files in the directory.
    fn copies(&self) -> Vec<String> {
        std::fs::read_dir(&self.path)
            .expect("the scratch directory")
            .map(|entry| {
                entry
                    .expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }
}

impl Drop for ScratchDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
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
    fn every_step_is_broken_up_to_the_bound_then_a_spread() {
        assert_eq!(steps_to_break(3, 16), [1, 2, 3]);
        assert_eq!(steps_to_break(16, 16), (1..=16).collect::<Vec<_>>());
        assert_eq!(steps_to_break(100, 5), [1, 25, 50, 75, 100]);
        assert_eq!(steps_to_break(7, 2), [1, 7]);
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
