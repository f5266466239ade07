//! `CONNECTOR_MAX_TLP`: which TLP levels an enrichment connector may send
//! to its vendor (pycti's `check_max_tlp`).

/// The TLP levels, lowest first; `CLEAR` and `WHITE` are one level.
const LEVELS: &[(&str, u8)] = &[
    ("TLP:CLEAR", 0),
    ("TLP:WHITE", 0),
    ("TLP:GREEN", 1),
    ("TLP:AMBER", 2),
    ("TLP:AMBER+STRICT", 3),
    ("TLP:RED", 4),
];

fn level(tlp: &str) -> Option<u8> {
    let upper = tlp.to_ascii_uppercase();
    LEVELS
        .iter()
        .find(|(name, _)| *name == upper)
        .map(|(_, level)| *level)
}

/// Checks a `CONNECTOR_MAX_TLP` value: `Err` names the accepted ones.
pub(crate) fn parse_max(max: &str) -> Result<String, String> {
    match level(max) {
        Some(_) => Ok(max.to_ascii_uppercase()),
        None => Err(format!(
            "expected one of {}",
            LEVELS
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Whether an entity marked `tlp` may be processed under `max` (both as
/// the platform writes them, any case). No marking, or no maximum, allows
/// it; a marking that is not a TLP level is refused.
pub fn check_max_tlp(tlp: Option<&str>, max: Option<&str>) -> bool {
    let (Some(tlp), Some(max)) = (tlp, max) else {
        return true;
    };
    let Some(max) = level(max) else {
        return false;
    };
    level(tlp).is_some_and(|tlp| tlp <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_as_pycti_orders_them() {
        assert!(check_max_tlp(Some("TLP:WHITE"), Some("TLP:CLEAR")));
        assert!(check_max_tlp(Some("tlp:clear"), Some("TLP:GREEN")));
        assert!(check_max_tlp(Some("TLP:AMBER"), Some("TLP:AMBER")));
        assert!(!check_max_tlp(Some("TLP:AMBER+STRICT"), Some("TLP:AMBER")));
        assert!(check_max_tlp(Some("TLP:AMBER+STRICT"), Some("TLP:RED")));
        assert!(!check_max_tlp(Some("TLP:RED"), Some("TLP:AMBER+STRICT")));
        assert!(!check_max_tlp(Some("TLP:GREEN"), Some("TLP:WHITE")));
        assert!(check_max_tlp(None, Some("TLP:CLEAR")));
        assert!(check_max_tlp(Some("TLP:RED"), None));
        assert!(!check_max_tlp(Some("PAP:RED"), Some("TLP:RED")));
        assert!(parse_max("tlp:amber").is_ok());
        assert!(parse_max("AMBER").unwrap_err().contains("TLP:AMBER+STRICT"));
    }
}
