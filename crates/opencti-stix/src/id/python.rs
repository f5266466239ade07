//! The few Python semantics the id rules depend on.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, Timelike};
use serde_json::Value;

/// Python's `str.isspace()`: what `str.strip()` removes.
///
/// Unlike `char::is_whitespace` it includes U+001C–U+001F (the ASCII
/// separators) and excludes nothing else that matters here.
fn is_python_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{1f}'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Python's `text.strip()`.
pub(super) fn strip(text: &str) -> &str {
    text.trim_matches(is_python_space)
}

/// Python's `text.lower().strip()`, pycti's normalisation of names.
///
/// Rust's `to_lowercase` applies the same full mappings as Python 3.11
/// (including the final-sigma rule).
pub(super) fn normalise(text: &str) -> String {
    let lower = text.to_lowercase();
    let stripped = strip(&lower);
    if stripped.len() == lower.len() {
        lower
    } else {
        stripped.to_owned()
    }
}

/// Python's truthiness of a JSON value (`x or y` picks `y` when `x` is falsy).
pub(super) fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// Python's `datetime.isoformat()` of a naive datetime.
///
/// Python datetimes hold microseconds: finer digits are dropped, as the
/// conversion to a Python datetime would drop them.
pub(super) fn isoformat_naive(moment: &NaiveDateTime) -> String {
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        moment.year(),
        moment.month(),
        moment.day(),
        moment.hour(),
        moment.minute(),
        moment.second()
    );
    let micros = (moment.nanosecond() % 1_000_000_000) / 1_000;
    if micros != 0 {
        out.push_str(&format!(".{micros:06}"));
    }
    out
}

/// Python's `datetime.isoformat()` of an aware datetime: local time followed
/// by the offset (`+00:00` for UTC, never `Z`).
pub(super) fn isoformat_aware(moment: &DateTime<FixedOffset>) -> String {
    let mut out = isoformat_naive(&moment.naive_local());
    let offset = moment.offset().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.unsigned_abs();
    out.push_str(&format!(
        "{sign}{:02}:{:02}",
        offset / 3600,
        (offset / 60) % 60
    ));
    if !offset.is_multiple_of(60) {
        out.push_str(&format!(":{:02}", offset % 60));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_matches_python_isspace() {
        assert_eq!(strip("\u{1c}\u{1f}\u{85}\u{3000} x y\t\u{2029}"), "x y");
        // Zero-width space, BOM and the Mongolian vowel separator stay.
        assert_eq!(
            strip("\u{200b}x\u{feff}\u{180e}"),
            "\u{200b}x\u{feff}\u{180e}"
        );
    }

    #[test]
    fn normalise_lowercases_fully() {
        assert_eq!(normalise(" İ "), "i\u{307}");
        assert_eq!(normalise("ΟΔΟΣ ΟΔΟΣ"), "οδο\u{3c2} οδο\u{3c2}");
        assert_eq!(normalise("Ａ\u{1e9e}"), "ａß");
    }

    #[test]
    fn isoformat_matches_python() {
        let aware = DateTime::parse_from_rfc3339("2020-03-01T07:04:56.123-05:30").unwrap();
        assert_eq!(isoformat_aware(&aware), "2020-03-01T07:04:56.123000-05:30");
        let utc = DateTime::parse_from_rfc3339("2020-03-01T12:34:56Z").unwrap();
        assert_eq!(isoformat_aware(&utc), "2020-03-01T12:34:56+00:00");
        let naive = utc.naive_utc();
        assert_eq!(isoformat_naive(&naive), "2020-03-01T12:34:56");
    }
}
