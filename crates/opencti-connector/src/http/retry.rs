//! Trying a request again: bounded exponential backoff with jitter, the
//! server's `Retry-After` within a cap, and waits that end on shutdown.

use std::fmt::Display;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Longest pause a server may impose by default (`Retry-After`): five
/// minutes. A server answering `Retry-After: 86400` does not park a
/// connector for a day.
pub const DEFAULT_MAX_SERVER_DELAY: Duration = Duration::from_secs(300);

/// What a failure says about trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// The same request may pass later; `retry_after` is the pause the
    /// server asked for, if any.
    Transient {
        /// The server's `Retry-After`, uncapped.
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help.
    Permanent,
}

impl RetryClass {
    /// Transient, without a server hint.
    pub const TRANSIENT: Self = Self::Transient { retry_after: None };
}

/// What to do when the server asks for a pause longer than
/// [`RetryPolicy::max_server_delay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LongServerDelay {
    /// Wait the cap, then try again.
    #[default]
    Cap,
    /// Stop retrying (the next scheduled run tries again).
    GiveUp,
}

/// How often and how patiently a request is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// Pause before the first retry; doubled before each later one.
    pub initial_backoff: Duration,
    /// Upper bound of the doubled pause.
    pub max_backoff: Duration,
    /// Upper bound of a pause the server asks for with `Retry-After`.
    pub max_server_delay: Duration,
    /// Beyond [`RetryPolicy::max_server_delay`]: wait the cap, or give up.
    pub long_server_delay: LongServerDelay,
}

impl Default for RetryPolicy {
    /// Three attempts, 1 s then 2 s apart (with jitter), at most a minute
    /// between attempts, a server's pause capped at five minutes.
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_server_delay: DEFAULT_MAX_SERVER_DELAY,
            long_server_delay: LongServerDelay::Cap,
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0-based) without jitter:
    /// `initial_backoff × 2^retry`, at most `max_backoff`.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.initial_backoff
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_backoff)
    }

    /// [`RetryPolicy::backoff`] with jitter: between half of it and all of
    /// it, so that clients failing together do not retry together, and
    /// never above `max_backoff`.
    pub fn jittered_backoff(&self, retry: u32) -> Duration {
        self.backoff(retry).mul_f64(0.5 + 0.5 * unit_random())
    }

    /// The pause before retry number `retry` given the server's hint:
    /// `None` when the server asks for more than the cap and the policy
    /// gives up then.
    fn pause(&self, retry: u32, asked: Option<Duration>, what: &str) -> Option<Duration> {
        match asked {
            None => Some(self.jittered_backoff(retry)),
            Some(asked)
                if asked > self.max_server_delay
                    && self.long_server_delay == LongServerDelay::GiveUp =>
            {
                tracing::warn!(
                    what,
                    retry_after_secs = asked.as_secs(),
                    cap_secs = self.max_server_delay.as_secs(),
                    "the server asks to wait longer than the cap; giving up until the next run"
                );
                None
            }
            Some(asked) => Some(server_delay(asked, self.max_server_delay, what)),
        }
    }
}

/// A pause the server asked for, at most `cap` (logged when cut).
pub fn server_delay(asked: Duration, cap: Duration, what: &str) -> Duration {
    if asked <= cap {
        return asked;
    }
    tracing::warn!(
        what,
        retry_after_secs = asked.as_secs(),
        cap_secs = cap.as_secs(),
        "the server asks to wait longer than the cap; waiting the cap"
    );
    cap
}

/// Runs `attempt` (given the attempt number, from 1) until it succeeds,
/// fails permanently (as `classify` says), the policy is exhausted or
/// `shutdown` fires during a pause; returns the last error in the three
/// latter cases. `what` names the request in logs (redact URLs first).
pub async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    shutdown: &CancellationToken,
    what: &str,
    mut attempt: F,
    classify: impl Fn(&E) -> RetryClass,
) -> Result<T, E>
where
    E: Display,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let attempts = policy.attempts.max(1);
    let mut number = 1;
    loop {
        let error = match attempt(number).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let RetryClass::Transient { retry_after } = classify(&error) else {
            return Err(error);
        };
        if number >= attempts {
            return Err(error);
        }
        let Some(pause) = policy.pause(number - 1, retry_after, what) else {
            return Err(error);
        };
        tracing::warn!(
            what,
            %error,
            attempt = number,
            pause_ms = pause.as_millis() as u64,
            "request failed, retrying"
        );
        if !pause_unless_cancelled(pause, shutdown).await {
            tracing::info!(what, "shutdown requested: no more retries");
            return Err(error);
        }
        number += 1;
    }
}

/// Sleeps `pause`; `false` when `shutdown` fired first.
pub(crate) async fn pause_unless_cancelled(pause: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(pause) => true,
        () = shutdown.cancelled() => false,
    }
}

/// A number in `[0, 1)`, different at each call and in each process.
fn unit_random() -> f64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let bits = RandomState::new().hash_one(CALLS.fetch_add(1, Ordering::Relaxed));
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[derive(Debug)]
    enum Failure {
        Busy(Option<Duration>),
        Fatal,
    }

    impl Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    fn classify(failure: &Failure) -> RetryClass {
        match failure {
            Failure::Busy(retry_after) => RetryClass::Transient {
                retry_after: *retry_after,
            },
            Failure::Fatal => RetryClass::Permanent,
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_server_delay: Duration::from_secs(30),
            long_server_delay: LongServerDelay::Cap,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_below_it() {
        let policy = policy();
        let pauses: Vec<u64> = (0..6).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 10, 10]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(10));
        let jittered: Vec<Duration> = (0..50).map(|_| policy.jittered_backoff(5)).collect();
        assert!(
            jittered
                .iter()
                .all(|pause| *pause >= Duration::from_secs(5) && *pause <= Duration::from_secs(10))
        );
        assert!(
            jittered.windows(2).any(|pair| pair[0] != pair[1]),
            "jitter spreads the pauses"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_with_backoff() {
        let calls = Cell::new(0);
        let start = tokio::time::Instant::now();
        let result = retry(
            &policy(),
            &CancellationToken::new(),
            "x",
            |number| {
                calls.set(number);
                async move {
                    if number < 3 {
                        Err(Failure::Busy(None))
                    } else {
                        Ok(number)
                    }
                }
            },
            classify,
        )
        .await;
        assert_eq!(result.unwrap(), 3);
        // 1 s then 2 s of backoff, each cut by up to half by the jitter.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(1500) && elapsed <= Duration::from_secs(3),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_replaces_the_backoff_up_to_the_cap() {
        let start = tokio::time::Instant::now();
        let result = retry(
            &policy(),
            &CancellationToken::new(),
            "x",
            |number| async move {
                match number {
                    1 => Err(Failure::Busy(Some(Duration::from_secs(7)))),
                    2 => Err(Failure::Busy(Some(Duration::from_secs(86_400)))),
                    _ => Ok(()),
                }
            },
            classify,
        )
        .await;
        assert!(result.is_ok());
        assert_eq!(start.elapsed(), Duration::from_secs(7 + 30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_policy_may_give_up_on_long_server_delays() {
        let calls = Cell::new(0);
        let start = tokio::time::Instant::now();
        let policy = RetryPolicy {
            long_server_delay: LongServerDelay::GiveUp,
            ..policy()
        };
        let result: Result<(), _> = retry(
            &policy,
            &CancellationToken::new(),
            "x",
            |number| {
                calls.set(number);
                async { Err(Failure::Busy(Some(Duration::from_secs(3600)))) }
            },
            classify,
        )
        .await;
        assert!(matches!(result, Err(Failure::Busy(_))));
        assert_eq!(calls.get(), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_and_exhaustion_stop() {
        let calls = Cell::new(0);
        let result: Result<(), _> = retry(
            &policy(),
            &CancellationToken::new(),
            "x",
            |number| {
                calls.set(number);
                async { Err(Failure::Fatal) }
            },
            classify,
        )
        .await;
        assert!(matches!(result, Err(Failure::Fatal)));
        assert_eq!(calls.get(), 1);

        let result: Result<(), _> = retry(
            &policy(),
            &CancellationToken::new(),
            "x",
            |number| {
                calls.set(number);
                async { Err(Failure::Busy(None)) }
            },
            classify,
        )
        .await;
        assert!(result.is_err());
        assert_eq!(calls.get(), 4, "attempts counts the first one");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_a_pause_at_once() {
        let shutdown = CancellationToken::new();
        let cancel = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            cancel.cancel();
        });
        let start = tokio::time::Instant::now();
        let calls = Cell::new(0);
        let result: Result<(), _> = retry(
            &policy(),
            &shutdown,
            "x",
            |number| {
                calls.set(number);
                async { Err(Failure::Busy(Some(Duration::from_secs(30)))) }
            },
            classify,
        )
        .await;
        assert!(result.is_err());
        assert_eq!(calls.get(), 1);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
