//! Throughput of the bundle rewrite: a large TeamT5 report bundle stamped
//! with the author and TLP, its Report built, and the result serialised.

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use opencti_teamt5::mapping::{self, Kind, Stamp};
use serde_json::{Value, json};

fn objects(count: usize) -> Vec<Value> {
    (0..count)
        .map(|index| {
            if index % 2 == 0 {
                json!({
                    "type": "indicator", "spec_version": "2.1",
                    "id": format!("indicator--00000000-0000-4000-8000-{index:012}"),
                    "created": "2025-11-20T00:00:00.000Z", "modified": "2025-11-20T00:00:00.000Z",
                    "pattern": format!("[ipv4-addr:value = '10.{}.{}.{}']", index >> 16 & 255, index >> 8 & 255, index & 255),
                    "pattern_type": "stix", "valid_from": "2025-11-20T00:00:00Z",
                    "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]
                })
            } else {
                json!({
                    "type": "ipv4-addr", "spec_version": "2.1",
                    "id": format!("ipv4-addr--00000000-0000-5000-8000-{index:012}"),
                    "value": format!("10.{}.{}.{}", index >> 16 & 255, index >> 8 & 255, index & 255)
                })
            }
        })
        .collect()
}

fn rewrite(c: &mut Criterion) {
    let item = json!({"alias": "bench", "title": "Bench report", "date": 1_763_625_600, "type_name": "Flash Report"});
    let reference =
        mapping::bundle_ref(Kind::Report, &item, "https://api.threatvision.org").unwrap();
    let stamp = Stamp::new("Team T5 External Import Connector", "amber", Utc::now());
    let mut group = c.benchmark_group("report_bundle");
    for count in [1_000, 20_000] {
        let upstream = objects(count);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(count),
            &upstream,
            |b, upstream| {
                b.iter(|| {
                    let publication = mapping::publication_objects(
                        &reference,
                        upstream.clone(),
                        &stamp,
                        Utc::now(),
                    )
                    .unwrap();
                    serde_json::to_vec(&mapping::bundle(publication.objects)).unwrap()
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, rewrite);
criterion_main!(benches);
