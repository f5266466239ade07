//! What the process holds: resident memory, open file descriptors and the
//! tokio runtime's alive tasks, sampled during the soak.

use std::time::Duration;

/// One sample of the process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Since the soak started.
    pub at: Duration,
    /// Resident set size in KiB (`VmRSS` of `/proc/self/status`).
    pub rss_kib: u64,
    /// Entries of `/proc/self/fd`.
    pub fds: usize,
    /// Tasks alive in the tokio runtime.
    pub tasks: usize,
    /// Resident set size of the two simulators in KiB (import, stream):
    /// child processes, not part of `rss_kib`; 0 while none runs.
    pub simulators_rss_kib: [u64; 2],
}

impl Sample {
    pub(crate) fn take(at: Duration) -> Self {
        Self {
            at,
            rss_kib: rss_kib(),
            fds: open_fds(),
            tasks: tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
            simulators_rss_kib: [0; 2],
        }
    }

    /// The same, with the RSS of the simulators (processes `pids`).
    pub(crate) fn take_with_simulators(at: Duration, pids: [u32; 2]) -> Self {
        Self {
            simulators_rss_kib: pids.map(crate::sim_process::rss_kib),
            ..Self::take(at)
        }
    }
}

fn rss_kib() -> u64 {
    status_rss_kib("/proc/self/status")
}

/// `VmRSS` of a `/proc/<pid>/status` file, in KiB (0 when unreadable).
pub(crate) fn status_rss_kib(path: &str) -> u64 {
    let status = std::fs::read_to_string(path).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open descriptors, less the one the listing itself holds.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|entries| entries.count().saturating_sub(1))
        .unwrap_or(0)
}

/// What each open descriptor points at (`socket:[...]`, a path, ...).
pub fn fd_targets() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let sockets = tcp_sockets();
    let mut targets: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .map(|target| {
            let target = target.display().to_string();
            let described = target
                .strip_prefix("socket:[")
                .and_then(|inode| sockets.get(inode.trim_end_matches(']')));
            match described {
                Some(connection) => format!("{target} {connection}"),
                None => target,
            }
        })
        .collect();
    targets.sort();
    targets
}

/// TCP sockets of the process by inode: `local -> remote (state)`, so that
/// a leaked socket names its peer (5672 is the broker).
fn tcp_sockets() -> std::collections::HashMap<String, String> {
    let mut sockets = std::collections::HashMap::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let [_, local, remote, state, _, _, _, _, _, inode, ..] = fields[..] {
                sockets.insert(
                    inode.to_owned(),
                    format!("tcp :{} -> :{} (state {state})", port(local), port(remote)),
                );
            }
        }
    }
    sockets
}

/// The port of a `/proc/net/tcp` address (`0100007F:1628`).
fn port(address: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok())
        .unwrap_or(0)
}

/// Least-squares slope of RSS over time, in KiB per minute.
pub fn rss_slope_kib_per_min(samples: &[Sample]) -> f64 {
    slope_per_min(samples, |sample| sample.rss_kib as f64)
}

/// Least-squares slope of one simulator's RSS (0: import, 1: stream), in
/// KiB per minute.
pub fn simulator_rss_slope_kib_per_min(samples: &[Sample], simulator: usize) -> f64 {
    slope_per_min(samples, |sample| {
        sample.simulators_rss_kib[simulator] as f64
    })
}

/// Least-squares slope of alive tasks over time, per minute.
pub fn task_slope_per_min(samples: &[Sample]) -> f64 {
    slope_per_min(samples, |sample| sample.tasks as f64)
}

fn slope_per_min(samples: &[Sample], value: impl Fn(&Sample) -> f64) -> f64 {
    if samples.len() < 2 {
        return 0.0;
    }
    let n = samples.len() as f64;
    let xs: Vec<f64> = samples.iter().map(|s| s.at.as_secs_f64() / 60.0).collect();
    let ys: Vec<f64> = samples.iter().map(value).collect();
    let mean_x = xs.iter().sum::<f64>() / n;
    let mean_y = ys.iter().sum::<f64>() / n;
    let covariance: f64 = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let variance: f64 = xs.iter().map(|x| (x - mean_x).powi(2)).sum();
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seconds: u64, rss_kib: u64) -> Sample {
        Sample {
            at: Duration::from_secs(seconds),
            rss_kib,
            fds: 0,
            tasks: 0,
            simulators_rss_kib: [0; 2],
        }
    }

    #[test]
    fn the_slope_of_a_steady_climb_is_its_rate() {
        let samples: Vec<Sample> = (0..10).map(|s| sample(s * 6, 1000 + s * 100)).collect();
        // 100 KiB every 6 s: 1000 KiB a minute.
        assert!((rss_slope_kib_per_min(&samples) - 1000.0).abs() < 1e-6);
    }

    #[test]
    fn a_flat_series_has_no_slope() {
        let samples: Vec<Sample> = (0..10).map(|s| sample(s, 5000)).collect();
        assert_eq!(rss_slope_kib_per_min(&samples), 0.0);
    }
}
