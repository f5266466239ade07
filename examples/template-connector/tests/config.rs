//! Every configuration problem is reported at once, naming the variable.

use opencti_connector::config::Settings;
use opencti_template_connector::{TemplateConfig, VARS};

/// The connector's own table only: the runtime's are checked elsewhere.
fn settings(pairs: &[(&str, &str)]) -> Settings {
    Settings::from_env_pairs(&[VARS], pairs.iter().copied())
}

#[test]
fn a_missing_file_and_an_out_of_range_score_are_both_reported() {
    let errors = TemplateConfig::try_from(&settings(&[("TEMPLATE_SCORE", "101")])).unwrap_err();
    let text = errors.to_string();
    assert_eq!(errors.len(), 2, "{text}");
    assert!(text.contains("TEMPLATE_FILE"), "{text}");
    assert!(
        text.contains("TEMPLATE_SCORE") && text.contains("101"),
        "{text}"
    );
}
