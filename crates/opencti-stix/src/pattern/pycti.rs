//! Port of pycti's `OpenCTIStix2Utils.create_stix_pattern`.

use serde_json::Value;

/// pycti's `PATTERN_MAPPING`: observable type (case-sensitive) → path.
const PATTERN_MAPPING: &[(&str, &[&str])] = &[
    ("AI-Prompt", &["value"]),
    ("Autonomous-System", &["number"]),
    ("Bank-Account", &["iban"]),
    ("Credential", &["value"]),
    ("Directory", &["path"]),
    ("Domain-Name", &["value"]),
    ("Email-Addr", &["value"]),
    ("Email-Message_Body", &["body"]),
    ("Email-Message_Subject", &["subject"]),
    ("Email-Mime-Part-Type", &["body"]),
    ("File_md5", &["hashes", "MD5"]),
    ("File_sha1", &["hashes", "SHA-1"]),
    ("File_sha256", &["hashes", "SHA-256"]),
    ("File_sha512", &["hashes", "SHA-512"]),
    ("Hostname", &["value"]),
    ("ICCID", &["value"]),
    ("IMEI", &["value"]),
    ("IMSI", &["value"]),
    ("IPv4-Addr", &["value"]),
    ("IPv6-Addr", &["value"]),
    ("Mac-Addr", &["value"]),
    ("Media-Content", &["url"]),
    ("Mutex", &["name"]),
    ("Network-Traffic", &["dst_port"]),
    ("Payment-Card", &["card_number"]),
    ("Phone-Number", &["value"]),
    ("Process", &["pid"]),
    ("Software", &["name"]),
    ("Tracking-Number", &["value"]),
    ("Url", &["value"]),
    ("User-Account", &["account_login"]),
    ("Windows-Registry-Key", &["key"]),
    ("Windows-Registry-Value-Type", &["name"]),
];

/// The pattern pycti's `create_stix_pattern(observable_type, value)` returns.
///
/// `observable_type` is looked up case-sensitively (`IPv4-Addr`,
/// `File_sha256`, `Email-Message_Subject`, ...); the object type is its part
/// before `_`, lower-cased. Path components containing `-` are quoted.
/// An integer is written bare; a string is quoted and escaped, except that,
/// like stix2's `make_constant`, a string that Python's
/// `strptime("%Y-%m-%dT%H:%M:%S[.%f]Z")` accepts becomes a timestamp literal
/// (`'2020-01-01T00:00:00.500Z'` → `t'2020-01-01T00:00:00.5Z'`). Only ASCII
/// digits are recognised there (Python also takes other Unicode digits).
///
/// Returns `None` for a type pycti has no mapping for (`Text`,
/// `User-Agent`, `StixFile`, lower-case names, ...) and for values other
/// than strings and integers, which pycti is never given.
///
/// ```
/// use opencti_stix::pattern::create_stix_pattern;
/// use serde_json::json;
///
/// assert_eq!(
///     create_stix_pattern("File_sha1", &json!("da39a3ee5e6b4b0d3255bfef95601890afd80709")).as_deref(),
///     Some("[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']"),
/// );
/// assert_eq!(create_stix_pattern("Autonomous-System", &json!(15169)).as_deref(), Some("[autonomous-system:number = 15169]"));
/// assert_eq!(create_stix_pattern("Text", &json!("x")), None);
/// ```
#[must_use]
pub fn create_stix_pattern(observable_type: &str, value: &Value) -> Option<String> {
    let (_, path) = PATTERN_MAPPING
        .iter()
        .find(|(candidate, _)| *candidate == observable_type)?;
    let object_type = observable_type
        .split('_')
        .next()
        .unwrap_or(observable_type)
        .to_ascii_lowercase();
    let path: Vec<String> = path
        .iter()
        .map(|component| {
            if component.contains('-') {
                format!("'{component}'")
            } else {
                (*component).to_owned()
            }
        })
        .collect();
    let literal = match value {
        Value::String(text) => match python_stix_timestamp(text) {
            Some(timestamp) => format!("t'{timestamp}'"),
            None => format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'")),
        },
        Value::Number(number) if number.is_i64() || number.is_u64() => number.to_string(),
        _ => return None,
    };
    Some(format!("[{object_type}:{} = {literal}]", path.join(".")))
}

/// What stix2's `parse_into_datetime` + `format_datetime` make of a string,
/// or `None` when `datetime.strptime` rejects it.
///
/// Python's `strptime` compiles the format into a case-insensitive regular
/// expression in which most fields accept one or two digits (and the day a
/// leading space), then builds a `datetime`, which rejects impossible dates
/// and seconds 60 and 61.
fn python_stix_timestamp(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let with_fraction = text.contains('.');
    let mut fields = Fields::default();
    if !match_from(&chars, 0, &format_parts(with_fraction), &mut fields) {
        return None;
    }
    let Fields {
        year,
        month,
        day,
        hour,
        minute,
        second,
        microsecond,
    } = fields;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_length = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if year == 0 || day > month_length || second > 59 {
        return None;
    }
    // glibc's `%Y` does not pad years below 1000.
    let mut formatted = format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if microsecond > 0 {
        let fraction = format!("{microsecond:06}");
        formatted.push('.');
        formatted.push_str(fraction.trim_end_matches('0'));
    }
    formatted.push('Z');
    Some(formatted)
}

#[derive(Debug, Default, Clone, Copy)]
struct Fields {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    microsecond: u32,
}

#[derive(Debug, Clone, Copy)]
enum Part {
    /// A literal character, matched case-insensitively.
    Char(char),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Fraction,
}

/// `%Y-%m-%dT%H:%M:%SZ` or `%Y-%m-%dT%H:%M:%S.%fZ`.
fn format_parts(with_fraction: bool) -> Vec<Part> {
    let mut parts = vec![
        Part::Year,
        Part::Char('-'),
        Part::Month,
        Part::Char('-'),
        Part::Day,
        Part::Char('T'),
        Part::Hour,
        Part::Char(':'),
        Part::Minute,
        Part::Char(':'),
        Part::Second,
    ];
    if with_fraction {
        parts.extend([Part::Char('.'), Part::Fraction]);
    }
    parts.push(Part::Char('Z'));
    parts
}

/// The lengths a field's alternatives match at `text`, in the order
/// Python's regular expression tries them.
fn candidates(part: Part, text: &[char]) -> Vec<usize> {
    let digit = |index: usize| text.get(index).is_some_and(char::is_ascii_digit);
    let at = |index: usize| text.get(index).copied().unwrap_or('\0');
    let in_range = |index: usize, low: char, high: char| (low..=high).contains(&at(index));
    let alternatives: Vec<(bool, usize)> = match part {
        Part::Year => vec![((0..4).all(digit), 4)],
        // 1[0-2] | 0[1-9] | [1-9]
        Part::Month => vec![
            (at(0) == '1' && in_range(1, '0', '2'), 2),
            (at(0) == '0' && in_range(1, '1', '9'), 2),
            (in_range(0, '1', '9'), 1),
        ],
        // 3[01] | [12]\d | 0[1-9] | [1-9] | ' '[1-9]
        Part::Day => vec![
            (at(0) == '3' && in_range(1, '0', '1'), 2),
            (in_range(0, '1', '2') && digit(1), 2),
            (at(0) == '0' && in_range(1, '1', '9'), 2),
            (in_range(0, '1', '9'), 1),
            (at(0) == ' ' && in_range(1, '1', '9'), 2),
        ],
        // 2[0-3] | [01]\d | \d
        Part::Hour => vec![
            (at(0) == '2' && in_range(1, '0', '3'), 2),
            (in_range(0, '0', '1') && digit(1), 2),
            (digit(0), 1),
        ],
        // [0-5]\d | \d
        Part::Minute => vec![(in_range(0, '0', '5') && digit(1), 2), (digit(0), 1)],
        // 6[01] | [0-5]\d | \d
        Part::Second => vec![
            (at(0) == '6' && in_range(1, '0', '1'), 2),
            (in_range(0, '0', '5') && digit(1), 2),
            (digit(0), 1),
        ],
        // [0-9]{1,6}, greedy
        Part::Fraction => (1..=6)
            .rev()
            .map(|length| ((0..length).all(digit), length))
            .collect(),
        Part::Char(expected) => vec![(at(0).eq_ignore_ascii_case(&expected), 1)],
    };
    alternatives
        .into_iter()
        .filter_map(|(matches, length)| matches.then_some(length))
        .collect()
}

/// Full match of `parts` against `text[position..]`, backtracking like a
/// regular expression, filling `fields` on success.
fn match_from(text: &[char], position: usize, parts: &[Part], fields: &mut Fields) -> bool {
    let Some((&part, rest)) = parts.split_first() else {
        return position == text.len();
    };
    for length in candidates(part, &text[position..]) {
        if match_from(text, position + length, rest, fields) {
            let captured: String = text[position..position + length].iter().collect();
            let number = || captured.trim().parse::<u32>().unwrap_or(0);
            match part {
                Part::Year => fields.year = number(),
                Part::Month => fields.month = number(),
                Part::Day => fields.day = number(),
                Part::Hour => fields.hour = number(),
                Part::Minute => fields.minute = number(),
                Part::Second => fields.second = number(),
                Part::Fraction => {
                    fields.microsecond = format!("{captured:0<6}").parse().unwrap_or(0);
                }
                Part::Char(_) => {}
            }
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strptime_quirks() {
        let cases = [
            ("2020-01-01T00:00:00Z", Some("2020-01-01T00:00:00Z")),
            ("2020-01-01T00:00:00.500Z", Some("2020-01-01T00:00:00.5Z")),
            ("2020-01-01T00:00:00.000Z", Some("2020-01-01T00:00:00Z")),
            ("2020-1-2t3:4:5z", Some("2020-01-02T03:04:05Z")),
            ("2020-01- 2T00:00:00Z", Some("2020-01-02T00:00:00Z")),
            ("0999-01-01T00:00:00Z", Some("999-01-01T00:00:00Z")),
            ("2020-02-29T00:00:00Z", Some("2020-02-29T00:00:00Z")),
            ("2021-02-29T00:00:00Z", None),
            ("2020-01-01T00:00:60Z", None),
            ("0000-01-01T00:00:00Z", None),
            ("2020-01-01T00:00:00.1234567Z", None),
            ("2020-01-01T00:00:00", None),
            ("2020-01-01", None),
            ("2020-01-01T00:00:00+00:00", None),
        ];
        for (input, expected) in cases {
            assert_eq!(python_stix_timestamp(input).as_deref(), expected, "{input}");
        }
    }

    #[test]
    fn types_are_case_sensitive_and_values_strings_or_integers() {
        assert_eq!(
            create_stix_pattern("ipv4-addr", &Value::from("1.2.3.4")),
            None
        );
        assert_eq!(create_stix_pattern("Url", &Value::from(1.5)), None);
        assert_eq!(
            create_stix_pattern("Email-Message_Subject", &Value::from("a'b\\c\nd")).as_deref(),
            Some("[email-message:subject = 'a\\'b\\\\c\nd']")
        );
    }
}
