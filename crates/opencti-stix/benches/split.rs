//! Splitter throughput on generated bundles shaped like a feed connector's:
//! one author, TLP markings, indicators with external references and kill
//! chain phases, their observables, and `based-on` relationships.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opencti_stix::split::{SplitOptions, split_bundle, split_bundle_str};
use serde_json::{Value, json};

const AUTHOR: &str = "identity--9f2a5c3e-1b7d-5e4f-8a6b-0c1d2e3f4a5b";
const TLP_GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
const TLP_AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";

/// A bundle of `size` objects: 3 fixed ones, then (indicator, observable,
/// relationship) triples.
fn generated_bundle(size: usize) -> Value {
    let mut objects = vec![
        json!({"type": "identity", "spec_version": "2.1", "id": AUTHOR, "name": "Feed",
               "identity_class": "organization", "created": "2024-01-01T00:00:00.000Z",
               "modified": "2024-01-01T00:00:00.000Z"}),
        json!({"type": "marking-definition", "spec_version": "2.1", "id": TLP_GREEN,
               "definition_type": "TLP", "name": "TLP:GREEN", "definition": {"tlp": "green"},
               "created": "2022-10-01T00:00:00.000Z"}),
        json!({"type": "marking-definition", "spec_version": "2.1", "id": TLP_AMBER,
               "definition_type": "TLP", "name": "TLP:AMBER", "definition": {"tlp": "amber"},
               "created": "2022-10-01T00:00:00.000Z"}),
    ];
    let mut index = 0;
    while objects.len() < size {
        let address = format!(
            "10.{}.{}.{}",
            index >> 16 & 255,
            index >> 8 & 255,
            index & 255
        );
        let indicator = format!("indicator--{index:08x}-0000-5000-8000-000000000000");
        let observable = format!("ipv4-addr--{index:08x}-0000-5000-8000-000000000001");
        let relationship = format!("relationship--{index:08x}-0000-5000-8000-000000000002");
        objects.push(json!({
            "type": "indicator", "spec_version": "2.1", "id": indicator,
            "created": "2024-02-01T10:00:00.000Z", "modified": "2024-02-01T10:00:00.000Z",
            "name": address, "pattern": format!("[ipv4-addr:value = '{address}']"),
            "pattern_type": "stix", "valid_from": "2024-02-01T10:00:00.000Z",
            "created_by_ref": AUTHOR, "object_marking_refs": [TLP_GREEN, TLP_AMBER],
            "labels": ["c2", "botnet"], "x_opencti_score": 80,
            "external_references": [
                {"source_name": "feed", "url": format!("https://feed.example/ioc/{index}")},
                {"source_name": "feed", "url": format!("https://feed.example/ioc/{index}")},
                {"source_name": "feed", "external_id": format!("IOC-{index}")},
            ],
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}],
        }));
        objects.push(json!({
            "type": "ipv4-addr", "spec_version": "2.1", "id": observable, "value": address,
            "object_marking_refs": [TLP_GREEN], "x_opencti_created_by_ref": AUTHOR,
        }));
        objects.push(json!({
            "type": "relationship", "spec_version": "2.1", "id": relationship,
            "relationship_type": "based-on", "source_ref": indicator, "target_ref": observable,
            "created_by_ref": AUTHOR, "object_marking_refs": [TLP_GREEN],
            "created": "2024-02-01T10:00:00.000Z", "modified": "2024-02-01T10:00:00.000Z",
        }));
        index += 1;
    }
    objects.truncate(size);
    json!({"type": "bundle", "id": "bundle--0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "objects": objects})
}

fn split_throughput(c: &mut Criterion) {
    for size in [10_000, 100_000] {
        let bundle = generated_bundle(size);
        let text = bundle.to_string();
        let mut group = c.benchmark_group(format!("split/{size}"));
        group.throughput(Throughput::Elements(size as u64));
        group.sample_size(10);
        group.bench_function("value", |bencher| {
            bencher.iter_batched(
                || bundle.clone(),
                |bundle| black_box(split_bundle(bundle, &SplitOptions::default()).expect("splits")),
                BatchSize::LargeInput,
            );
        });
        group.bench_function("value_with_cleanup", |bencher| {
            let options = SplitOptions {
                cleanup_inconsistent_bundle: true,
                event_version: None,
            };
            bencher.iter_batched(
                || bundle.clone(),
                |bundle| black_box(split_bundle(bundle, &options).expect("splits")),
                BatchSize::LargeInput,
            );
        });
        group.bench_function("text_including_parse", |bencher| {
            bencher.iter(|| {
                black_box(split_bundle_str(&text, &SplitOptions::default()).expect("splits"))
            });
        });
        group.finish();
    }
}

criterion_group!(benches, split_throughput);
criterion_main!(benches);
