//! Peak memory of reading and converting one large feed file (200,000 IP
//! records with a location and an AS each by default), measured from the
//! kernel's high-water mark (`VmHWM`):
//!
//! ```sh
//! cargo run --release -p opencti-nti --example package_memory [RECORDS]
//! ```
//!
//! The package is generated first, then the example runs itself again on
//! it, so the peak is only what the connector needs to read the file a
//! batch at a time, convert each batch and serialise its bundle.

use std::path::{Path, PathBuf};
use std::time::Instant;

use opencti_nti::config::PackageLimits;
use opencti_nti::convert::{Converted, Converter};
use opencti_nti::fake;
use opencti_nti::package::{self, RecordLine};
use opencti_testkit::memory;
use serde_json::json;

/// A package of `records` IP records at a temporary path.
fn generate(records: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("nti-package-memory-{records}.zip"));
    let mut content = String::from("{\"header\": \"NTI feed\"}\n");
    for index in 0..records {
        let record = json!({"object": {"type": "ipv4-addr", "value": format!("10.{}.{}.{}", index / 65_536 % 256, index / 256 % 256, index % 256)},
            "modified": "2025-04-25T00:00:00Z",
            "locations": [{"country": "United States", "region": "California", "city": format!("City {}", index % 500),
                "latitude": 34.05, "longitude": -118.24, "postal_code": "90001", "street_address": ""}],
            "ases": [{"number": format!("AS{}", 64_500 + index % 1000), "name": "EXAMPLE-NET", "rir": "ARIN", "country_code": "US",
                "registered": ["2001-05-01"], "first_seen": "2024-01-01", "last_seen": "2025-04-24"}]});
        content.push_str(&record.to_string());
        content.push('\n');
    }
    let name = "data.NTI.API.V2.0.ip-basic-updated.20250425.0001.json";
    std::fs::write(&path, fake::package(&[(name, content)])).unwrap();
    path
}

async fn measure(path: &Path) {
    let started = Instant::now();
    let entries = package::list_entries(path).unwrap();
    let entry = entries[0].clone();
    let size = entry.size;
    let converter = Converter::new(opencti_stix::marking::TLP_WHITE.clone());
    let mut batches =
        package::stream_records(path.to_owned(), entry, 1_000, PackageLimits::default());
    let (mut records, mut objects, mut bundle_bytes) = (0usize, 0usize, 0usize);
    while let Some(batch) = batches.recv().await {
        let mut converted = Converted::default();
        for RecordLine { record, .. } in batch.unwrap() {
            converter.ip(&record.unwrap(), &mut converted).unwrap();
            records += 1;
        }
        let mut all = converted.entities;
        all.extend(converted.relationships);
        objects += all.len();
        bundle_bytes += converter.bundle(all).to_json().len();
    }
    println!(
        "{records} records ({:.1} MB uncompressed) -> {objects} objects, {:.1} MB of bundles, {:.2} s",
        size as f64 / 1e6,
        bundle_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    memory::measure_in_a_fresh_process(
        |count| generate(count.and_then(|arg| arg.parse().ok()).unwrap_or(200_000)),
        |path| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(measure(path));
        },
    );
}
