//! Every configuration problem is reported at once, naming the variable.

use opencti_connector::config::Settings;
use opencti_enrichment_connector::{EnricherConfig, VARS};

fn settings(pairs: &[(&str, &str)]) -> Settings {
    Settings::from_env_pairs(&[VARS], pairs.iter().copied())
}

#[test]
fn defaults_label_special_ranges_with_ip_prefix() {
    let config = EnricherConfig::try_from(&settings(&[])).unwrap();
    assert_eq!(config.label_prefix, "ip-");
    assert!(!config.label_public);
}

#[test]
fn a_bad_prefix_and_a_bad_flag_are_both_reported() {
    let long = "p".repeat(33);
    let errors = EnricherConfig::try_from(&settings(&[
        ("OBSERVABLE_ENRICHER_LABEL_PREFIX", &long),
        ("OBSERVABLE_ENRICHER_LABEL_PUBLIC", "maybe"),
    ]))
    .unwrap_err();
    let text = errors.to_string();
    assert_eq!(errors.len(), 2, "{text}");
    assert!(
        text.contains("OBSERVABLE_ENRICHER_LABEL_PREFIX") && text.contains("32"),
        "{text}"
    );
    assert!(text.contains("OBSERVABLE_ENRICHER_LABEL_PUBLIC"), "{text}");
    let spaced = [("OBSERVABLE_ENRICHER_LABEL_PREFIX", "ip range ")];
    let errors = EnricherConfig::try_from(&settings(&spaced)).unwrap_err();
    assert!(errors.to_string().contains("spaces"), "{errors}");
}
