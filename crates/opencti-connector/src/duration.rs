//! Schedule periods, parsed the way pycti's connectors parse
//! `CONNECTOR_DURATION_PERIOD` (pydantic's `timedelta` validation, which is
//! `speedate` underneath).
//!
//! Accepted: ISO 8601 durations (`PT1H`, `P1D`, `P1W`, `P1M` = 30 days,
//! `P1Y` = 365 days, fractions such as `PT1.5S`), `[D days,] HH:MM:SS`, and the
//! literal `"0"` that pycti special-cases. Bare numbers such as `"3600"` and
//! lowercase designators (`p1d`) are rejected, as pydantic rejects them.
//! Fractional seconds are truncated (`PT1.5S` is one second) because pycti
//! schedules on `int(total_seconds())`.

use std::time::Duration;

/// Why a period string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The text is not an ISO 8601 duration nor `HH:MM:SS`. (The parser's
    /// own explanation is an internal code such as `duration_invalid_days`,
    /// which tells an operator nothing: it is left out.)
    #[error("`{text}` is not a period: expected ISO 8601 (e.g. PT1H, P1D), HH:MM:SS or 0")]
    Invalid {
        /// The rejected text.
        text: String,
    },
    /// The duration is negative.
    #[error("`{text}` is a negative duration")]
    Negative {
        /// The rejected text.
        text: String,
    },
}

/// Parses a schedule period. `Duration::ZERO` means "run once and terminate".
pub fn parse_period(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    let parsed = speedate::Duration::parse_str(trimmed).map_err(|_| DurationError::Invalid {
        text: text.to_owned(),
    })?;
    if !parsed.positive && (parsed.day > 0 || parsed.second > 0 || parsed.microsecond > 0) {
        return Err(DurationError::Negative {
            text: text.to_owned(),
        });
    }
    let seconds = u64::from(parsed.day) * 86_400 + u64::from(parsed.second);
    Ok(Duration::from_secs(seconds))
}

/// Renders a period in ISO 8601 (`PT3600S` style is avoided: days and
/// seconds are split the way a human writes them).
pub fn format_period(period: Duration) -> String {
    let total = period.as_secs();
    if total == 0 {
        return "PT0S".to_owned();
    }
    let (days, rest) = (total / 86_400, total % 86_400);
    let (hours, rest) = (rest / 3600, rest % 3600);
    let (minutes, seconds) = (rest / 60, rest % 60);
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if hours + minutes + seconds > 0 {
        out.push('T');
        for (value, unit) in [(hours, 'H'), (minutes, 'M'), (seconds, 'S')] {
            if value > 0 {
                out.push_str(&format!("{value}{unit}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The period table pycti's connectors rely on.
    #[test]
    fn accepts_the_pydantic_forms() {
        let table = [
            ("PT1H", 3600),
            ("PT5M", 300),
            ("P1D", 86_400),
            ("P1W", 604_800),
            ("P1M", 2_592_000),
            ("P1Y", 31_536_000),
            ("PT1.5S", 1),
            ("01:00:00", 3600),
            ("PT0S", 0),
            ("P0D", 0),
            ("0", 0),
            ("P1DT2H", 93_600),
            ("1 day, 00:00:30", 86_430),
        ];
        for (text, seconds) in table {
            assert_eq!(
                parse_period(text),
                Ok(Duration::from_secs(seconds)),
                "parsing {text}"
            );
        }
    }

    #[test]
    fn rejects_what_pydantic_rejects() {
        for text in ["3600", "p1d", "", "PT", "one hour", "-PT1H"] {
            assert!(parse_period(text).is_err(), "{text} should be rejected");
        }
        assert!(matches!(
            parse_period("-PT1H"),
            Err(DurationError::Negative { .. })
        ));
    }

    #[test]
    fn rejections_say_what_is_expected_without_parser_codes() {
        for text in ["-5", "3600", "PT", "one hour"] {
            let message = parse_period(text).unwrap_err().to_string();
            assert!(!message.contains("duration_"), "{text}: {message}");
            assert!(message.contains("PT1H"), "{text}: {message}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for text in ["PT1H", "P1D", "P1DT2H30M5S", "PT0S", "PT45S"] {
            let period = parse_period(text).unwrap();
            assert_eq!(format_period(period), text);
        }
    }
}
