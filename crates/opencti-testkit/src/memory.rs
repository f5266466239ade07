//! Peak memory of one step of a connector (converting a huge event,
//! reading a large package), for the examples that measure it.
//!
//! A process's peak counts everything it ever held, the test data it
//! generated included. [`measure_in_a_fresh_process`] writes the input in
//! a first run, then runs the program again on it: the second run's peak
//! is only what the measured step needs, and it is printed from the
//! kernel's high-water mark ([`peak_rss`]).
//!
//! ```no_run
//! // examples/convert_memory.rs: `cargo run --release --example convert_memory [COUNT]`
//! use opencti_testkit::memory;
//!
//! fn main() {
//!     memory::measure_in_a_fresh_process(
//!         |count| {
//!             let count: usize = count.and_then(|arg| arg.parse().ok()).unwrap_or(10_000);
//!             let path = std::env::temp_dir().join(format!("my-feed-{count}.json"));
//!             std::fs::write(&path, "[]").unwrap(); // the generated input
//!             path
//!         },
//!         |path| {
//!             let bytes = std::fs::read(path).unwrap();
//!             println!("converted {} bytes", bytes.len()); // the step measured
//!         },
//!     );
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// The argument that makes the second run measure.
const MEASURE: &str = "--measure";

/// This process's peak resident set so far, in bytes: the kernel's
/// high-water mark (`VmHWM` in `/proc/self/status`). `None` where the
/// kernel does not tell (not Linux).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, "VmHWM:").map(|kib| kib * 1024)
}

/// A `/proc/<pid>/status` field given in KiB.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `peak RSS (VmHWM) <n> MB`, or that the kernel does not tell.
fn peak_line(peak: Option<u64>) -> String {
    match peak {
        Some(bytes) => format!(
            "peak RSS (VmHWM) {:.1} MB",
            bytes as f64 / (1024.0 * 1024.0)
        ),
        None => "peak RSS (VmHWM) unknown: no /proc/self/status".to_owned(),
    }
}

/// The `main` of a peak-memory example, in two runs of the program.
///
/// The first run (`<program> [SIZE]`) calls `prepare` with its first
/// argument, if any (the size asked), which writes the input and returns
/// its path; it then runs the program again as `<program> --measure
/// <path>`, removes the input, and exits with that run's status. The
/// second run calls `measure` on the input and prints its peak memory.
///
/// # Panics
///
/// When the program cannot be run again, or the second run is not given
/// the input (a program's measurement does not go on half done).
pub fn measure_in_a_fresh_process(
    prepare: impl FnOnce(Option<&str>) -> PathBuf,
    measure: impl FnOnce(&Path),
) {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some(MEASURE) => {
            let input = args.next().expect("--measure names the input");
            measure(Path::new(&input));
            println!("{}", peak_line(peak_rss()));
        }
        size => {
            let input = prepare(size);
            let program = std::env::current_exe().expect("the program's path");
            let status = Command::new(program)
                .arg(MEASURE)
                .arg(&input)
                .status()
                .expect("the program runs again");
            // The input is test data: a leftover only takes room.
            let _ = std::fs::remove_file(&input);
            std::process::exit(status.code().unwrap_or(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_high_water_mark_is_read_in_kib() {
        let status = "Name:\tdemo\nVmPeak:\t  900 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(1536));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        assert_eq!(peak_line(Some(1536 * 1024)), "peak RSS (VmHWM) 1.5 MB");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_peak_grows_with_what_the_process_touches() {
        let before = peak_rss().expect("Linux tells the peak");
        let touched = vec![1u8; 64 << 20];
        let after = peak_rss().expect("Linux tells the peak");
        assert!(
            after >= before + (32 << 20),
            "{before} then {after} with {} bytes held",
            touched.iter().map(|&byte| u64::from(byte)).sum::<u64>()
        );
    }
}
