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

#[test]
fn the_list_comes_from_a_file_or_an_address_not_both() {
    let both = [
        ("TEMPLATE_FILE", "/tmp/addresses.txt"),
        ("TEMPLATE_URL", "https://vendor.example/list"),
    ];
    let errors = TemplateConfig::try_from(&settings(&both)).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors}");
    assert!(errors.to_string().contains("not both"), "{errors}");
    let url = [("TEMPLATE_URL", "https://vendor.example/list")];
    assert!(TemplateConfig::try_from(&settings(&url)).is_ok());
}
