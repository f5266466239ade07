//! Writes a generated MISP feed (`manifest.json` + one file per event) and
//! prints how many STIX objects the connector makes of it with indicators
//! and observables on (the figure throughput is measured against):
//!
//! ```sh
//! cargo run --release -p opencti-misp-feed --example generate_feed -- DIR [EVENTS] [ATTRIBUTES]
//! ```

use opencti_misp_feed::convert::{ConvertOptions, Converter, parse_event};

#[allow(dead_code)]
#[path = "../tests/support/generator.rs"]
mod generator;

fn main() {
    let mut args = std::env::args().skip(1);
    let directory = std::path::PathBuf::from(
        args.next()
            .expect("usage: generate_feed DIR [EVENTS] [ATTRIBUTES]"),
    );
    let events: usize = args
        .next()
        .map_or(1_000, |arg| arg.parse().expect("EVENTS"));
    let attributes: usize = args
        .next()
        .map_or(50, |arg| arg.parse().expect("ATTRIBUTES"));
    std::fs::create_dir_all(&directory).expect("the feed directory");
    generator::write_feed(&directory, events, attributes, 1_700_000_000);

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
    println!("{events} events of {attributes} attributes -> {objects} objects");
}
