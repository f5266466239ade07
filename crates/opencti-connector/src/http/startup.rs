//! The startup loop of a stream sink: reach the remote system, retrying
//! while it is unreachable or failing, with capped delays, and stop at once
//! on a refusal or on shutdown. [`SinkStartup`] runs it for a sink whose
//! vendor client's error implements [`VendorError`].

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::retry::{RetryClass, pause_unless_cancelled, server_delay};

/// How hard startup tries before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartupRetry {
    /// Attempts in total (at least 1).
    pub attempts: u32,
    /// Delay after the first failure; doubled after each later one.
    pub first_delay: Duration,
    /// Upper bound of the doubled delay.
    pub max_delay: Duration,
    /// Upper bound of a delay the server asks for (`Retry-After`).
    pub max_server_delay: Duration,
}

impl Default for StartupRetry {
    /// Six attempts over about half a minute; a server's pause at most a
    /// minute.
    fn default() -> Self {
        Self {
            attempts: 6,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_server_delay: Duration::from_secs(60),
        }
    }
}

/// Why startup did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupFailure<E> {
    /// The failure was permanent: retrying cannot help.
    Refused(E),
    /// Still failing after every attempt.
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: E,
    },
    /// Shutdown was requested while waiting to try again.
    Cancelled {
        /// The last failure.
        last: E,
    },
}

/// A vendor client's error, as a stream sink's startup and its retried
/// events need it (the connector's `ClientError`).
pub trait VendorError: Display {
    /// The pause the vendor asked for before the next attempt, if any.
    fn retry_after(&self) -> Option<Duration>;

    /// Whether startup gives up at once: the vendor refused the
    /// credentials, or the request itself, so retrying cannot help until
    /// an operator steps in.
    fn stops_startup(&self) -> bool;
}

/// How a stream sink starts: its retry schedule and the shutdown that ends
/// its waits. Sinks hold one, set through their `with_startup_retry` and
/// `with_shutdown` builders.
#[derive(Debug, Clone, Default)]
pub struct SinkStartup {
    /// How hard startup tries.
    pub retry: StartupRetry,
    /// Fires to stop waiting to try again.
    pub shutdown: CancellationToken,
}

impl SinkStartup {
    /// Runs `attempt` with [`retry_startup`]: an error that
    /// [stops startup](VendorError::stops_startup) ends it at once, any
    /// other is tried again, no sooner than the vendor asked. `vendor`
    /// names the remote system in the log.
    pub async fn run<T, E, F, Fut>(&self, vendor: &str, attempt: F) -> Result<T, StartupFailure<E>>
    where
        E: VendorError,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        retry_startup(&self.retry, &self.shutdown, vendor, attempt, |error: &E| {
            if error.stops_startup() {
                RetryClass::Permanent
            } else {
                RetryClass::Transient {
                    retry_after: error.retry_after(),
                }
            }
        })
        .await
    }
}

/// Runs `attempt` until it succeeds, `classify` calls its failure
/// permanent, the attempts run out or `shutdown` fires. Between attempts it
/// waits the doubled delay, or the server's `Retry-After` when longer (at
/// most [`StartupRetry::max_server_delay`]). `what` names the remote system
/// in the log.
pub async fn retry_startup<T, E, F, Fut>(
    policy: &StartupRetry,
    shutdown: &CancellationToken,
    what: &str,
    mut attempt: F,
    classify: impl Fn(&E) -> RetryClass,
) -> Result<T, StartupFailure<E>>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let attempts = policy.attempts.max(1);
    let mut delay = policy.first_delay.min(policy.max_delay);
    let mut number = 1;
    loop {
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let RetryClass::Transient { retry_after } = classify(&error) else {
            return Err(StartupFailure::Refused(error));
        };
        if number == attempts {
            return Err(StartupFailure::Exhausted {
                attempts,
                last: error,
            });
        }
        let wait = retry_after.map_or(delay, |asked| {
            server_delay(asked, policy.max_server_delay, what).max(delay)
        });
        tracing::warn!(%error, attempt = number, retry_in_ms = wait.as_millis() as u64, "{what} not ready");
        if !pause_unless_cancelled(wait, shutdown).await {
            return Err(StartupFailure::Cancelled { last: error });
        }
        delay = delay.saturating_mul(2).min(policy.max_delay);
        number += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn policy() -> StartupRetry {
        StartupRetry {
            attempts: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
            max_server_delay: Duration::from_secs(10),
        }
    }

    fn transient(_: &&str) -> RetryClass {
        RetryClass::TRANSIENT
    }

    #[tokio::test(start_paused = true)]
    async fn delays_double_up_to_the_cap_and_attempts_run_out() {
        let calls = Cell::new(0);
        let start = tokio::time::Instant::now();
        let result: Result<(), _> = retry_startup(
            &policy(),
            &CancellationToken::new(),
            "vendor",
            || {
                calls.set(calls.get() + 1);
                async { Err("down") }
            },
            transient,
        )
        .await;
        assert_eq!(
            result,
            Err(StartupFailure::Exhausted {
                attempts: 5,
                last: "down"
            })
        );
        assert_eq!(calls.get(), 5);
        assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 4 + 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_pause_is_honoured_within_its_cap() {
        let calls = Cell::new(0);
        let start = tokio::time::Instant::now();
        let result = retry_startup(
            &policy(),
            &CancellationToken::new(),
            "vendor",
            || {
                calls.set(calls.get() + 1);
                let number = calls.get();
                async move { if number < 3 { Err("busy") } else { Ok(number) } }
            },
            |_| RetryClass::Transient {
                retry_after: Some(Duration::from_secs(86_400)),
            },
        )
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(start.elapsed(), Duration::from_secs(20));
    }

    /// A vendor error: refused or not, with or without a pause.
    #[derive(Debug, PartialEq)]
    struct Fails {
        refused: bool,
        pause: Option<u64>,
    }

    impl std::fmt::Display for Fails {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "refused: {}", self.refused)
        }
    }

    impl VendorError for Fails {
        fn retry_after(&self) -> Option<Duration> {
            self.pause.map(Duration::from_secs)
        }

        fn stops_startup(&self) -> bool {
            self.refused
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_sink_retries_vendor_errors_unless_they_stop_startup() {
        let startup = SinkStartup {
            retry: policy(),
            shutdown: CancellationToken::new(),
        };
        let calls = Cell::new(0);
        let start = tokio::time::Instant::now();
        let result = startup
            .run("vendor", || {
                calls.set(calls.get() + 1);
                let number = calls.get();
                async move {
                    match number {
                        1 => Err(Fails {
                            refused: false,
                            pause: Some(3),
                        }),
                        2 => Err(Fails {
                            refused: false,
                            pause: None,
                        }),
                        _ => Err(Fails {
                            refused: true,
                            pause: None,
                        }),
                    }
                }
            })
            .await;
        assert_eq!(
            result,
            Err::<(), _>(StartupFailure::Refused(Fails {
                refused: true,
                pause: None
            }))
        );
        assert_eq!(calls.get(), 3);
        // The vendor's 3 s over the first delay of 1 s, then the doubled 2 s.
        assert_eq!(start.elapsed(), Duration::from_secs(3 + 2));
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_stop_at_once_and_shutdown_ends_the_wait() {
        let result: Result<(), _> = retry_startup(
            &policy(),
            &CancellationToken::new(),
            "vendor",
            || async { Err("bad key") },
            |_| RetryClass::Permanent,
        )
        .await;
        assert_eq!(result, Err(StartupFailure::Refused("bad key")));

        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let start = tokio::time::Instant::now();
        let result: Result<(), _> = retry_startup(
            &policy(),
            &shutdown,
            "vendor",
            || async { Err("down") },
            transient,
        )
        .await;
        assert_eq!(result, Err(StartupFailure::Cancelled { last: "down" }));
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
