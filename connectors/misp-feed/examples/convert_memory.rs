//! Peak memory of converting one huge event (50,000 attributes by default,
//! with indicators, observables and object observables on), measured from
//! the kernel's high-water mark (`VmHWM`). Run in release mode:
//!
//! ```sh
//! cargo run --release -p opencti-misp-feed --example convert_memory [ATTRIBUTES]
//! ```
//!
//! The event file is generated first, then the example runs itself again
//! on that file, so the peak is only what the connector needs: the
//! downloaded bytes, the parsed event and the bundle.

use std::process::Command;
use std::time::Instant;

use opencti_misp_feed::convert::{ConvertOptions, Converter, parse_event};

#[allow(dead_code)]
#[path = "../tests/support/generator.rs"]
mod generator;

/// A `/proc/self/status` field in KiB (Linux only).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn measure(path: &str) {
    let bytes = std::fs::read(path).unwrap();
    let size = bytes.len();
    let started = Instant::now();
    let event = parse_event(&bytes).unwrap();
    drop(bytes);
    let attributes = event.attributes.len()
        + event
            .objects
            .iter()
            .map(|object| object.attributes.len())
            .sum::<usize>();
    let options = ConvertOptions {
        create_indicators: true,
        create_observables: true,
        create_object_observables: true,
        ..ConvertOptions::default()
    };
    let converted = Converter::new(options)
        .convert(event, None, chrono::Utc::now())
        .unwrap();
    let elapsed = started.elapsed();
    println!(
        "{attributes} attributes ({:.1} MB file) -> {} objects, bundle {:.1} MB, {:.2} s",
        size as f64 / 1e6,
        converted.object_count,
        converted.bundle.len() as f64 / 1e6,
        elapsed.as_secs_f64()
    );
    println!(
        "peak RSS (VmHWM) {:.1} MB",
        status_kib("VmHWM:").unwrap_or(0) as f64 / 1024.0
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("--measure") => measure(&args.next().expect("a file")),
        count => {
            let attributes = count.and_then(|arg| arg.parse().ok()).unwrap_or(50_000);
            let directory = std::env::temp_dir().join("misp-feed-convert-memory");
            std::fs::create_dir_all(&directory).unwrap();
            let path = directory.join(format!("event-{attributes}.json"));
            let event = generator::event(0, attributes, 1_705_312_800);
            std::fs::write(&path, serde_json::to_vec(&event).unwrap()).unwrap();
            drop(event);
            let status = Command::new(std::env::current_exe().unwrap())
                .arg("--measure")
                .arg(&path)
                .status()
                .unwrap();
            std::fs::remove_file(&path).unwrap();
            std::process::exit(status.code().unwrap_or(1));
        }
    }
}
