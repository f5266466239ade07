//! SIGTERM at seeded points of a connector binary's run (issue #13),
//! shared by the connectors' own tests (only a package's tests can run its
//! binary, so each includes this file with `#[path]`): the binary runs
//! against `opencti-sim` and its vendor's fake, and gets a SIGTERM after a
//! delay drawn from the seed. The connector's test then checks the state
//! it left and restarts it.

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
pub(crate) struct Process {
    child: tokio::process::Child,
    log: std::path::PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Process {
    /// Starts `binary` with exactly `env` (nothing inherited).
    pub(crate) fn spawn(binary: &str, env: &[(String, String)]) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log =
            std::env::temp_dir().join(format!("signal-drill-{}-{number}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("a log file");
        let child = tokio::process::Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log file"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        Self { child, log }
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        let pid = self.child.id().expect("the process is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// The exit status, if the process ends within `within`.
    pub(crate) async fn exit_within(&mut self, within: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .map(|status| status.expect("the exit status"))
    }

    /// What the process wrote so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit within `grace` (plus [`SLACK`]), which must
    /// be a clean stop, the status of a run cut short (143), or death by
    /// the signal before the handlers were set up.
    pub(crate) async fn stop_within(&mut self, grace: Duration, what: &str) -> Duration {
        let stopping = Instant::now();
        self.terminate();
        let status = self.exit_within(grace + SLACK).await;
        let took = stopping.elapsed();
        let status = status.unwrap_or_else(|| {
            panic!(
                "{what}: still running {took:?} after SIGTERM:\n{}",
                self.log()
            )
        });
        // 0: a clean stop; 143: a run cut short; killed by the signal
        // itself: it came before the binary set its handlers up.
        assert!(
            status.success()
                || status.code() == Some(128 + 15)
                || std::os::unix::process::ExitStatusExt::signal(&status) == Some(15),
            "{what}: exit {status:?} after SIGTERM:\n{}",
            self.log()
        );
        took
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
