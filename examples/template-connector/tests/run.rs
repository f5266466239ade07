//! `run` alone, with a recording context: what it sends, reports and
//! stores, and that a second run with the stored state sends nothing new.

use opencti_connector::config::Settings;
use opencti_connector::{Connector, ImportSource, RunContext};
use opencti_template_connector::{Template, TemplateConfig, VARS};

fn template(file: &std::path::Path) -> Template {
    let file = file.display().to_string();
    let settings = Settings::from_env_pairs(&[VARS], [("TEMPLATE_FILE", file)]);
    Template::from_config(TemplateConfig::try_from(&settings).unwrap()).unwrap()
}

#[tokio::test]
async fn new_lines_are_sent_once_and_bad_lines_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("addresses.txt");
    std::fs::write(&file, "192.0.2.1\n  192.0.2.2  \n192.0.2.300\n").unwrap();
    let mut source = template(&file);

    let (ctx, probe) = RunContext::for_test(None);
    let summary = source.run(&ctx).await.unwrap();
    assert_eq!(summary, "2 new indicators sent");
    let bundles = probe.bundles();
    assert_eq!(bundles.len(), 1);
    let types: Vec<&str> = bundles[0]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["identity", "marking-definition", "indicator", "indicator"]
    );
    let patterns: Vec<&str> = bundles[0]["objects"].as_array().unwrap()[2..]
        .iter()
        .map(|object| object["pattern"].as_str().unwrap())
        .collect();
    assert_eq!(
        patterns,
        [
            "[ipv4-addr:value = '192.0.2.1']",
            "[ipv4-addr:value = '192.0.2.2']"
        ]
    );
    let errors = probe.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].source.ends_with("addresses.txt:3"), "{errors:?}");
    let state = probe.state().unwrap();
    assert_eq!(state["lines"], 3);

    let (ctx, probe) = RunContext::for_test(Some(state.clone()));
    assert_eq!(source.run(&ctx).await.unwrap(), "0 new indicators sent");
    assert!(probe.bundles().is_empty(), "nothing new, nothing sent");
    assert!(
        probe.errors().is_empty(),
        "the bad line is not reported twice"
    );
    assert_eq!(probe.state(), Some(state));
}
