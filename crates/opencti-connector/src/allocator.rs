//! How the process gives memory back to the system (glibc's allocator).
//!
//! A send holds its bundle's text, index and messages for a moment and
//! frees them once confirmed. glibc keeps freed memory in its arenas (one
//! per thread that allocated, up to 8 per core) instead of returning it, so
//! the RSS of a connector that sends large bundles steps up with each one
//! and its peak depends on which threads happened to hold what. Two
//! measures keep it where the live data is (figures in
//! docs/performance.md):
//!
//! * [`configure`], before the runtime starts its threads: at most
//!   [`ARENAS`] arenas, and allocations from [`MMAP_THRESHOLD`] up mapped
//!   on their own, so that they go back to the system when freed (glibc
//!   otherwise raises that threshold as large blocks are freed, and then
//!   keeps such blocks in its heaps); each unless the operator chose it
//!   (`MALLOC_ARENA_MAX` or `glibc.malloc.arena_max` in `GLIBC_TUNABLES`,
//!   `MALLOC_MMAP_THRESHOLD_` or `glibc.malloc.mmap_threshold`);
//! * [`Trimmer`]: `malloc_trim` once every [`Trimmer::BYTES_BETWEEN_TRIMS`]
//!   of messages confirmed, before the send returns, so what a send freed
//!   goes back to the system before the next one.
//!
//! On other C libraries both are no-ops.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Arenas for a connector: its threads rarely allocate at the same moment
/// (the async runtime's workers and the AMQP client's I/O thread), so more
/// arenas only spread freed memory around.
const ARENAS: i32 = 2;

/// Allocations mapped on their own from this size up: glibc's initial
/// threshold, kept fixed (a send's large buffers, event files and bundle
/// texts are freed soon after they are made).
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Sets glibc's arenas and mapping threshold, each unless the operator
/// chose it. Call once, before any thread starts.
pub(crate) fn configure() {
    let environment = |name: &str| std::env::var(name).ok();
    if !operator_chose("MALLOC_ARENA_MAX", "glibc.malloc.arena_max", environment) {
        glibc::set(glibc::ARENA_MAX, ARENAS);
    }
    if !operator_chose(
        "MALLOC_MMAP_THRESHOLD_",
        "glibc.malloc.mmap_threshold",
        environment,
    ) {
        glibc::set(glibc::MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Whether the environment (`environment`) sets a malloc parameter, by its
/// own variable or as a tunable in `GLIBC_TUNABLES` (`name=value` pairs
/// separated by `:`); other tunables leave it to the runtime.
fn operator_chose(
    variable: &str,
    tunable: &str,
    environment: impl Fn(&str) -> Option<String>,
) -> bool {
    environment(variable).is_some()
        || environment("GLIBC_TUNABLES").is_some_and(|tunables| {
            tunables
                .split(':')
                .any(|setting| setting.split('=').next() == Some(tunable))
        })
}

/// Trims the allocator once enough bytes were sent since the last trim.
#[derive(Debug, Default)]
pub(crate) struct Trimmer {
    sent_since_trim: AtomicUsize,
}

impl Trimmer {
    /// Bytes of messages confirmed between two trims: a trim costs a scan
    /// of the arenas' free lists, and the pages it returns are faulted in
    /// again by the next send, so it is worth it only after sizeable
    /// sends (a few MiB: the order of the publishing window).
    pub(crate) const BYTES_BETWEEN_TRIMS: usize = 4 * 1024 * 1024;

    /// Counts `bytes` as sent; trims when they bring the total past
    /// [`Self::BYTES_BETWEEN_TRIMS`]. Returns whether it trimmed.
    pub(crate) fn sent(&self, bytes: usize) -> bool {
        // One atomic step, so that concurrent sends neither lose bytes nor
        // both trim for the same budget.
        let past_budget = |total: usize| total >= Self::BYTES_BETWEEN_TRIMS;
        let before = self
            .sent_since_trim
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sent| {
                let total = sent.saturating_add(bytes);
                Some(if past_budget(total) { 0 } else { total })
            })
            .unwrap_or_default();
        if !past_budget(before.saturating_add(bytes)) {
            return false;
        }
        // Here, before the send returns, not on a blocking thread: deferred,
        // the trim raced the next send's allocations and the RSS after
        // each of three 50,000-object bundles stayed at 31, 32, 32 MB
        // (text) and 84, 91, 95 MB (typed) instead of 16, 16, 16 and 16,
        // 17, 17 MB, for no CPU saved (11.4 against 11.0 µs per object).
        glibc::trim();
        true
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod glibc {
    pub(super) const ARENA_MAX: i32 = libc::M_ARENA_MAX;
    pub(super) const MMAP_THRESHOLD: i32 = libc::M_MMAP_THRESHOLD;

    pub(super) fn set(parameter: i32, value: i32) {
        // SAFETY: mallopt only changes the allocator's parameters, which
        // glibc accepts at any time (for the arenas and allocations made
        // afterwards).
        unsafe {
            libc::mallopt(parameter, value);
        }
    }

    pub(super) fn trim() {
        // SAFETY: malloc_trim takes each arena's lock while it returns free
        // pages; it touches no memory the program owns.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod glibc {
    pub(super) const ARENA_MAX: i32 = 0;
    pub(super) const MMAP_THRESHOLD: i32 = 0;

    pub(super) fn set(_parameter: i32, _value: i32) {}
    pub(super) fn trim() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_per_budget_of_bytes() {
        let trimmer = Trimmer::default();
        let quarter = Trimmer::BYTES_BETWEEN_TRIMS / 4;
        let trims: Vec<bool> = (0..8).map(|_| trimmer.sent(quarter)).collect();
        assert_eq!(
            trims,
            [false, false, false, true, false, false, false, true]
        );
        assert!(
            trimmer.sent(Trimmer::BYTES_BETWEEN_TRIMS * 3),
            "one large send trims at once"
        );
        assert!(!trimmer.sent(1), "and starts counting again");
    }

    #[test]
    fn concurrent_sends_neither_lose_nor_double_count_bytes() {
        let trimmer = Trimmer::default();
        let step = Trimmer::BYTES_BETWEEN_TRIMS / 512;
        let trims = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..4_096 {
                        if trimmer.sent(step) {
                            trims.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // 8 x 4,096 steps of a 512th of the budget: 64 budgets exactly.
        assert_eq!(trims.into_inner(), 64);
        assert_eq!(trimmer.sent_since_trim.into_inner(), 0);
    }

    #[test]
    fn the_operator_s_malloc_settings_win_and_other_tunables_do_not_count() {
        let environment = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let arena = |pairs| {
            operator_chose(
                "MALLOC_ARENA_MAX",
                "glibc.malloc.arena_max",
                environment(pairs),
            )
        };
        assert!(!arena(&[]));
        assert!(arena(&[("MALLOC_ARENA_MAX", "4")]));
        assert!(arena(&[(
            "GLIBC_TUNABLES",
            "glibc.malloc.trim_threshold=0:glibc.malloc.arena_max=8"
        )]));
        assert!(
            !arena(&[("GLIBC_TUNABLES", "glibc.cpu.hwcaps=-AVX512F")]),
            "a tunable about something else"
        );
        assert!(
            !arena(&[("GLIBC_TUNABLES", "glibc.malloc.arena_test=8")]),
            "another malloc tunable, not a prefix match"
        );
    }
}
