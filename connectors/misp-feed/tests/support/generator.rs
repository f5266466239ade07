//! Deterministic MISP feeds of any size: `manifest.json` plus one event file
//! per event, in the PyMISP feed format (integers as strings).
//!
//! Shared by the integration tests and the `convert_memory` example
//! (`#[path]`-included there), so it only uses serde_json.

use serde_json::{Value, json};

/// The UUID of event `index`.
pub(crate) fn event_uuid(index: usize) -> String {
    format!("5f1d9c8e-0000-4000-8000-{index:012x}")
}

/// One attribute of kind `index % 8`, unique per `(event, index)`.
fn attribute(event: usize, index: usize, timestamp: i64) -> Value {
    let n = event * 100_000 + index;
    let (kind, category, value) = match index % 8 {
        0 => (
            "ip-dst",
            "Network activity",
            format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
        ),
        1 => (
            "domain",
            "Network activity",
            format!("host-{n}.example.net"),
        ),
        2 => (
            "url",
            "Network activity",
            format!("https://bad-{n}.example.org/path?q={n}"),
        ),
        3 => ("md5", "Payload delivery", format!("{n:032x}")),
        4 => ("sha256", "Payload delivery", format!("{n:064x}")),
        5 => (
            "filename|md5",
            "Payload delivery",
            format!("dropper-{n}.exe|{:032x}", n + 7),
        ),
        6 => (
            "email-src",
            "Payload delivery",
            format!("phisher{n}@example.com"),
        ),
        _ => (
            "hostname",
            "Network activity",
            format!("c2-{n}.example.com"),
        ),
    };
    json!({
        "uuid": format!("a1b2c3d4-{:04x}-4000-8000-{n:012x}", index % 0xffff),
        "type": kind,
        "category": category,
        "value": value,
        "to_ids": !index.is_multiple_of(3),
        "comment": if index.is_multiple_of(5) { "seen in campaign" } else { "" },
        "timestamp": timestamp.to_string(),
    })
}

/// An event with `attributes` attributes (one in ten inside a MISP object).
pub(crate) fn event(index: usize, attributes: usize, timestamp: i64) -> Value {
    let in_objects = attributes / 10;
    let top: Vec<Value> = (0..attributes - in_objects)
        .map(|i| attribute(index, i, timestamp))
        .collect();
    let objects: Vec<Value> = (0..in_objects)
        .map(|i| {
            json!({
                "uuid": format!("b1b2c3d4-0000-4000-8000-{:012x}", index * 100_000 + i),
                "name": "file",
                "meta-category": "file",
                "description": "File object",
                "timestamp": timestamp.to_string(),
                "Attribute": [attribute(index, attributes + i, timestamp)],
            })
        })
        .collect();
    json!({"Event": {
        "uuid": event_uuid(index),
        "info": format!("Generated event {index}"),
        "date": "2024-01-15",
        "timestamp": timestamp.to_string(),
        "threat_level_id": "2",
        "analysis": "2",
        "published": true,
        "Orgc": {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"},
        "Tag": [
            {"name": "tlp:green"},
            {"name": "type:OSINT"},
            {"name": format!("misp-galaxy:threat-actor=\"Actor {}\"", index % 7)},
        ],
        "Galaxy": [{"namespace": "misp", "name": "Sector", "GalaxyCluster": [
            {"value": "Financial", "description": "Banks", "meta": {}}
        ]}],
        "Attribute": top,
        "Object": objects,
    }})
}

/// The manifest entry of an event.
pub(crate) fn manifest_entry(index: usize, timestamp: i64) -> (String, Value) {
    (
        event_uuid(index),
        json!({
            "Orgc": {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"},
            "Tag": [{"name": "tlp:green", "colour": "#33FF00", "local": false}],
            "info": format!("Generated event {index}"),
            "date": "2024-01-15",
            "analysis": "2",
            "threat_level_id": "2",
            "timestamp": timestamp.to_string(),
        }),
    )
}

/// Writes a feed of `events` events of `attributes` attributes into
/// `directory`; event `i` has timestamp `first_timestamp + i`.
pub(crate) fn write_feed(
    directory: &std::path::Path,
    events: usize,
    attributes: usize,
    first_timestamp: i64,
) {
    write_feed_of_sizes(directory, &vec![attributes; events], first_timestamp);
}

/// Attribute counts of `events` events with a long tail, as in real feeds
/// (most events small, a few thousands of times larger): a Pareto
/// distribution of shape 1.16 (a fifth of the events hold four fifths of
/// the attributes) whose mean is about `mean`, capped at 200 × `mean`.
/// Deterministic: event `i` always gets the same count.
pub(crate) fn long_tailed_sizes(events: usize, mean: usize) -> Vec<usize> {
    const SHAPE: f64 = 1.16;
    let smallest = mean as f64 * (SHAPE - 1.0) / SHAPE;
    let largest = (mean * 200) as f64;
    (0..events)
        .map(|index| {
            // SplitMix64 of the index, as a uniform number in (0, 1].
            let mut z = (index as u64)
                .wrapping_add(1)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let uniform = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            let size = smallest / uniform.powf(1.0 / SHAPE);
            size.min(largest).max(1.0) as usize
        })
        .collect()
}

/// Writes a feed whose event `i` has `sizes[i]` attributes and timestamp
/// `first_timestamp + i` into `directory`.
pub(crate) fn write_feed_of_sizes(
    directory: &std::path::Path,
    sizes: &[usize],
    first_timestamp: i64,
) {
    let mut manifest = serde_json::Map::new();
    for (index, &attributes) in sizes.iter().enumerate() {
        let timestamp = first_timestamp + index as i64;
        let (key, entry) = manifest_entry(index, timestamp);
        manifest.insert(key.clone(), entry);
        let body = serde_json::to_vec(&event(index, attributes, timestamp)).unwrap();
        std::fs::write(directory.join(format!("{key}.json")), body).unwrap();
    }
    std::fs::write(
        directory.join("manifest.json"),
        serde_json::to_vec(&Value::Object(manifest)).unwrap(),
    )
    .unwrap();
}
