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

use std::path::Path;
use std::time::Instant;

use opencti_misp_feed::convert::{ConvertOptions, Converter, parse_event};
use opencti_testkit::memory;

#[allow(dead_code)]
#[path = "../tests/support/generator.rs"]
mod generator;

fn measure(path: &Path) {
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
}

fn main() {
    memory::measure_in_a_fresh_process(
        |count| {
            let attributes = count.and_then(|arg| arg.parse().ok()).unwrap_or(50_000);
            let directory = std::env::temp_dir().join("misp-feed-convert-memory");
            std::fs::create_dir_all(&directory).unwrap();
            let path = directory.join(format!("event-{attributes}.json"));
            let event = generator::event(0, attributes, 1_705_312_800);
            std::fs::write(&path, serde_json::to_vec(&event).unwrap()).unwrap();
            path
        },
        measure,
    );
}
