//! The retry schedule shared by feed downloads: exponential backoff between
//! attempts, replaced by the server's `Retry-After` when it sends one.

use std::future::Future;
use std::time::Duration;

/// How often and how patiently a download is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one (0 = never retry).
    pub retries: u32,
    /// Pause before the first retry; doubled before each later one.
    pub initial_backoff: Duration,
    /// Upper bound of the doubled pause, and of an acceptable `Retry-After`:
    /// a server asking for a longer pause makes this run give up, so the next
    /// scheduled run retries instead of this one sleeping for ages.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0-based) when the server gave no hint.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What a failed attempt says about trying again.
pub(crate) trait Retryable {
    /// `None`: permanent, do not retry. `Some(hint)`: transient; `hint` is the
    /// pause the server asked for, if any.
    fn retry_hint(&self) -> Option<Option<Duration>>;
}

/// Runs `attempt` until it succeeds, fails permanently, or the policy is
/// exhausted; returns the last error in the two latter cases.
pub(crate) async fn with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    mut attempt: F,
) -> Result<T, E>
where
    E: Retryable + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut retry = 0;
    loop {
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let Some(server_hint) = error.retry_hint() else {
            return Err(error);
        };
        if retry >= policy.retries {
            return Err(error);
        }
        let pause = match server_hint {
            Some(asked) if asked > policy.max_backoff => {
                tracing::warn!(
                    target: "misp_feed::source",
                    %what, %error, retry_after_secs = asked.as_secs(),
                    "server asks to wait longer than the maximum backoff; giving up until the next run"
                );
                return Err(error);
            }
            Some(asked) => asked,
            None => policy.backoff(retry),
        };
        retry += 1;
        tracing::warn!(
            target: "misp_feed::source",
            %what, %error, retry, pause_ms = pause.as_millis() as u64,
            "download failed, retrying"
        );
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::fmt;

    #[derive(Debug)]
    enum Failure {
        Busy(Option<Duration>),
        Fatal,
    }

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl Retryable for Failure {
        fn retry_hint(&self) -> Option<Option<Duration>> {
            match self {
                Failure::Busy(hint) => Some(*hint),
                Failure::Fatal => None,
            }
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            retries: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = policy();
        let pauses: Vec<u64> = (0..6).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 10, 10]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_with_backoff() {
        let calls = Cell::new(0);
        let start = tokio::time::Instant::now();
        let result = with_retries(&policy(), "x", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(Failure::Busy(None))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
        // 1 s then 2 s of backoff.
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_replaces_the_backoff() {
        let calls = Cell::new(0);
        let start = tokio::time::Instant::now();
        let result = with_retries(&policy(), "x", || {
            calls.set(calls.get() + 1);
            let first = calls.get() == 1;
            async move {
                if first {
                    Err(Failure::Busy(Some(Duration::from_secs(7))))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_beyond_the_cap_gives_up_at_once() {
        let calls = Cell::new(0);
        let start = tokio::time::Instant::now();
        let result: Result<(), _> = with_retries(&policy(), "x", || {
            calls.set(calls.get() + 1);
            async { Err(Failure::Busy(Some(Duration::from_secs(3600)))) }
        })
        .await;
        assert!(matches!(result, Err(Failure::Busy(_))));
        assert_eq!(calls.get(), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_and_exhaustion_stop() {
        let calls = Cell::new(0);
        let result: Result<(), _> = with_retries(&policy(), "x", || {
            calls.set(calls.get() + 1);
            async { Err(Failure::Fatal) }
        })
        .await;
        assert!(matches!(result, Err(Failure::Fatal)));
        assert_eq!(calls.get(), 1);

        calls.set(0);
        let result: Result<(), _> = with_retries(&policy(), "x", || {
            calls.set(calls.get() + 1);
            async { Err(Failure::Busy(None)) }
        })
        .await;
        assert!(matches!(result, Err(Failure::Busy(None))));
        assert_eq!(calls.get(), 4, "the first attempt and 3 retries");
    }
}
