//! SIGTERM at seeded points of a connector binary's run (issue #13),
//! shared by the connectors' own tests (only a package's tests can run its
//! binary, so each includes this file with `#[path]`): the binary runs
//! against `opencti-sim` and its vendor's fake, and gets a SIGTERM after a
//! delay drawn from the seed. The connector's test then checks the state
//! it left and restarts it.

use std::time::Duration;

use opencti_testkit::process::{ConnectorProcess, Signal};

/// What a process start and a signal's delivery may add to a grace.
pub(crate) const SLACK: Duration = Duration::from_millis(1500);
/// Seeds per connector.
pub(crate) const SEEDS: u64 = 20;
/// Seeds run at once (each has its own simulator, fake and process).
pub(crate) const AT_ONCE: usize = 10;

/// The delay before the SIGTERM of `seed`: uniform in `0..max`
/// (SplitMix64 of the seed, so that a failing seed replays).
pub(crate) fn seeded_delay(seed: u64, max: Duration) -> Duration {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let max_ms = max.as_millis().max(1) as u64;
    Duration::from_millis(z % max_ms)
}

/// A connector binary running with its output in a temporary file.
pub(crate) struct Process(ConnectorProcess);

impl Process {
    /// Starts `binary` with exactly `env` (nothing inherited).
    pub(crate) fn spawn(binary: &str, env: &[(String, String)]) -> Self {
        Self(ConnectorProcess::spawn(binary, env.iter().cloned()).expect("the binary starts"))
    }

    /// What the process wrote so far.
    pub(crate) fn log(&self) -> String {
        self.0.log()
    }

    /// SIGTERM, then the exit within `grace` (plus [`SLACK`]), which must
    /// be a clean stop, the status of a run cut short (143), or death by
    /// the signal before the handlers were set up.
    pub(crate) async fn stop_within(&mut self, grace: Duration, what: &str) -> Duration {
        let stopped = match self.0.stop(Signal::Term, grace + SLACK).await {
            Ok(stopped) => stopped,
            Err(error) => panic!("{what}: {error}:\n{}", self.log()),
        };
        // 0: a clean stop; 143: a run cut short; killed by the signal
        // itself: it came before the binary set its handlers up.
        let status = stopped.status;
        assert!(
            status.success()
                || status.code() == Some(Signal::Term.exit_code())
                || std::os::unix::process::ExitStatusExt::signal(&status)
                    == Some(Signal::Term.number()),
            "{what}: exit {status:?} after SIGTERM:\n{}",
            self.log()
        );
        stopped.took
    }
}

/// Runs `drill` for seeds `0..SEEDS`, [`AT_ONCE`] at a time; panics with
/// the first failing seed. Returns the longest stop.
pub(crate) async fn for_each_seed<F, Fut>(drill: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Duration> + Send + 'static,
{
    let mut longest = Duration::ZERO;
    let seeds: Vec<u64> = (0..SEEDS).collect();
    for group in seeds.chunks(AT_ONCE) {
        let mut runs = tokio::task::JoinSet::new();
        for &seed in group {
            let run = drill(seed);
            runs.spawn(async move { (seed, run.await) });
        }
        while let Some(joined) = runs.join_next().await {
            match joined {
                Ok((_, took)) => longest = longest.max(took),
                Err(error) => std::panic::resume_unwind(error.into_panic()),
            }
        }
    }
    longest
}
