//! Exponential backoff with jitter, shared by reconnection and sink retries.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// Exponential backoff with jitter, restartable.
pub(crate) struct Backoff {
    builder: ExponentialBuilder,
    current: ExponentialBackoff,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        // A per-process seed, so that connectors restarted together spread out.
        let seed = RandomState::new().hash_one(std::process::id());
        let builder = ExponentialBuilder::default()
            .with_min_delay(initial)
            .with_max_delay(max.max(initial))
            .with_jitter()
            .with_jitter_seed(seed)
            .without_max_times();
        Self {
            current: builder.build(),
            builder,
            max,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        // Without a maximum number of attempts the iterator never ends. The
        // jitter is added on top of the grown delay, so that a delay at the
        // maximum could reach twice it: the maximum is the bound.
        self.current
            .next()
            .map_or(self.max, |delay| delay.min(self.max))
    }

    pub(crate) fn reset(&mut self) {
        self.current = self.builder.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_resets() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let delays: Vec<_> = (0..6).map(|_| backoff.next_delay()).collect();
        let bases = [1, 2, 4, 8, 8, 8];
        for (delay, base) in delays.iter().zip(bases) {
            let base = Duration::from_secs(base);
            assert!(
                *delay >= base && *delay <= (base * 2).min(Duration::from_secs(8)),
                "{delay:?} vs {base:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_secs(2));
    }

    #[test]
    fn jitter_never_takes_a_delay_past_the_maximum() {
        let max = Duration::from_secs(300);
        let mut backoff = Backoff::new(Duration::from_secs(1), max);
        let delays: Vec<_> = (0..40).map(|_| backoff.next_delay()).collect();
        assert!(delays.iter().all(|delay| *delay <= max), "{delays:?}");
        assert_eq!(delays.last(), Some(&max));
    }
}
