//! Deterministic id throughput: `generate_id_from_data` over a mix of the
//! objects a feed connector produces, and the typed rules alone.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opencti_stix::id;
use serde_json::{Value, json};

/// One object of each common kind, with realistic sizes and extra
/// properties that the rules must skip.
fn objects() -> Vec<Value> {
    vec![
        json!({"type": "indicator", "id": "indicator--x", "name": "198.51.100.7",
               "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix",
               "valid_from": "2024-01-15T10:00:00Z", "x_opencti_score": 60,
               "labels": ["OSINT"], "object_marking_refs": ["marking-definition--1"]}),
        json!({"type": "ipv4-addr", "value": "198.51.100.7", "x_opencti_score": 60,
               "object_marking_refs": ["marking-definition--1"]}),
        json!({"type": "domain-name", "value": "login-bank.example.net"}),
        json!({"type": "url", "value": "https://login-bank.example.net/verify?account=42"}),
        json!({"type": "file", "name": "invoice.exe",
               "hashes": {"SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                          "MD5": "44d88612fea8a8f36de82e1278abb02f"}}),
        json!({"type": "relationship", "relationship_type": "based-on",
               "source_ref": "indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968",
               "target_ref": "ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db",
               "created": "2024-01-15T10:00:00.000Z"}),
        json!({"type": "malware", "name": "Emotet", "is_family": true,
               "description": "Banking trojan turned loader"}),
        json!({"type": "identity", "name": "ACME CERT", "identity_class": "organization"}),
        json!({"type": "report", "name": "OSINT - Example phishing campaign against banks",
               "published": "2024-01-15T00:00:00Z", "object_refs": ["indicator--x"]}),
        json!({"type": "sighting", "sighting_of_ref": "indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968",
               "where_sighted_refs": ["identity--f1252f7b-d79f-5fa0-a0a8-f257c6d774c0"],
               "first_seen": "2024-01-15T11:00:00Z", "last_seen": "2024-01-15T12:00:00Z"}),
    ]
}

fn generate_id_from_data(c: &mut Criterion) {
    let objects = objects();
    let mut group = c.benchmark_group("ids");
    group.throughput(Throughput::Elements(objects.len() as u64));
    group.bench_function("generate_id_from_data/mix", |b| {
        b.iter(|| {
            for object in &objects {
                black_box(id::generate_id_from_data(black_box(object)).ok());
            }
        });
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("typed/indicator", |b| {
        b.iter(|| id::indicator(black_box("[ipv4-addr:value = '198.51.100.7']")));
    });
    group.bench_function("typed/relationship", |b| {
        b.iter(|| {
            id::relationship(
                black_box("based-on"),
                black_box("indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968"),
                black_box("ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db"),
                None,
                None,
            )
        });
    });
    group.finish();
}

criterion_group!(benches, generate_id_from_data);
criterion_main!(benches);
