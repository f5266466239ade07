//! Writes a generated MISP feed (`manifest.json` + one file per event) and
//! prints how many STIX objects the connector makes of it with indicators
//! and observables on (the figure throughput is measured against):
//!
//! ```sh
//! cargo run --release -p opencti-misp-feed --example generate_feed -- DIR [EVENTS] [ATTRIBUTES] [uniform|long-tail]
//! ```
//!
//! `uniform` (the default) gives every event ATTRIBUTES attributes;
//! `long-tail` draws each event's size from a long-tailed distribution of
//! mean about ATTRIBUTES (most events small, a few up to 200 times the
//! mean), as in real feeds.

use opencti_misp_feed::convert::{ConvertOptions, Converter, parse_event};

#[allow(dead_code)]
#[path = "../tests/support/generator.rs"]
mod generator;

fn main() {
    let mut args = std::env::args().skip(1);
    let directory = std::path::PathBuf::from(
        args.next()
            .expect("usage: generate_feed DIR [EVENTS] [ATTRIBUTES] [uniform|long-tail]"),
    );
    let events: usize = args
        .next()
        .map_or(1_000, |arg| arg.parse().expect("EVENTS"));
    let attributes: usize = args
        .next()
        .map_or(50, |arg| arg.parse().expect("ATTRIBUTES"));
    let distribution = args.next().unwrap_or_else(|| "uniform".to_owned());
    let sizes = match distribution.as_str() {
        "uniform" => vec![attributes; events],
        "long-tail" => generator::long_tailed_sizes(events, attributes),
        other => panic!("unknown distribution {other:?}: uniform or long-tail"),
    };
    std::fs::create_dir_all(&directory).expect("the feed directory");
    generator::write_feed_of_sizes(&directory, &sizes, 1_700_000_000);

    let converter = Converter::new(ConvertOptions {
        create_indicators: true,
        create_observables: true,
        ..ConvertOptions::default()
    });
    let mut objects = 0;
    for index in 0..events {
        let path = directory.join(format!("{}.json", generator::event_uuid(index)));
        let event = parse_event(&std::fs::read(path).expect("an event file")).expect("an event");
        objects += converter
            .convert(event, None, chrono::Utc::now())
            .expect("a bundle")
            .object_count;
    }
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    let total: usize = sizes.iter().sum();
    // One line, the object count last but one (the bench scripts read it).
    println!(
        "{events} events of {attributes} attributes ({distribution}: min {}, median {}, max {}, mean {:.0}) -> {objects} objects",
        sorted.first().unwrap_or(&0),
        sorted.get(sorted.len() / 2).unwrap_or(&0),
        sorted.last().unwrap_or(&0),
        total as f64 / events.max(1) as f64
    );
}
