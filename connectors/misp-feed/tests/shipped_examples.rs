//! The configurations and the sample feed shipped in `examples/misp-feed`
//! stay valid.

use std::path::PathBuf;

use chrono::Utc;
use opencti_connector::config::{Settings, Source};
use opencti_connector::{Connector, ImportSource, RunContext};
use opencti_misp_feed::MispFeed;
use opencti_misp_feed::config::{MispFeedConfig, SourceConfig, VARS};
use opencti_misp_feed::source::FeedLocation;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/misp-feed")
}

fn load(file: &str) -> MispFeedConfig {
    let source = Source::new().with_yaml_file(&examples().join(file));
    let settings = Settings::resolve(&[VARS], &source);
    MispFeedConfig::from_settings(&settings, Utc::now()).unwrap()
}

#[test]
fn the_circl_configuration_loads() {
    let config = load("config.circl.yml");
    assert!(config.convert.create_indicators && config.convert.create_observables);
    assert_eq!(config.convert.import_to_ids_no_score, Some(40));
    let SourceConfig::Url { location, .. } = config.source else {
        panic!("url mode expected");
    };
    assert_eq!(
        location,
        FeedLocation::Http("https://www.circl.lu/doc/misp/feed-osint".into())
    );
}

#[tokio::test]
async fn the_sample_feed_imports_cleanly() {
    let mut config = load("config.sample.yml");
    assert!(matches!(
        &config.source,
        SourceConfig::Url {
            location: FeedLocation::Directory(_),
            ..
        }
    ));
    // The configuration's path is relative to the repository root.
    config.source = SourceConfig::Url {
        location: FeedLocation::Directory(examples().join("sample-feed")),
        authorization: None,
    };
    let mut feed = MispFeed::from_config(config).unwrap();
    let (ctx, probe) = RunContext::for_test(None);
    feed.run(&ctx).await.unwrap();
    assert!(probe.errors().is_empty(), "{:?}", probe.errors());
    let bundles = probe.bundles();
    let reports: Vec<String> = bundles
        .iter()
        .flat_map(|bundle| bundle["objects"].as_array().unwrap().clone())
        .filter(|object| object["type"] == "report")
        .map(|report| report["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reports,
        [
            "Sample - Credential phishing against a parcel service",
            "Sample - Loader delivered through invoice archives",
            "Sample - Detection rule for the loader",
        ]
    );
    let loader = &bundles[1]["objects"];
    let has = |predicate: &dyn Fn(&serde_json::Value) -> bool| {
        loader.as_array().unwrap().iter().any(predicate)
    };
    assert!(has(&|o| o["description"]
        == "Original Relationship: communicates-with  \nComment: Beacons every 5 minutes"));
    assert!(has(
        &|o| o["type"] == "note" && o["content"].as_str().unwrap().contains("(tag:tlp:amber)")
    ));
    assert!(has(&|o| o["pattern"] == "[text:value = '8443']"));
    assert_eq!(
        probe.state().unwrap()["last_event_timestamp"],
        1_710_237_600
    );
}
