//! Canonical JSON: the exact text pycti and stix2 hash into deterministic ids.
//!
//! The format is the one of stix2's `canonicalize(data, utf8=False)`, itself a
//! port of the RFC 8785 (JCS) reference code:
//!
//! * no whitespace;
//! * object keys sorted by their UTF-16 code units;
//! * strings escaped minimally: `"`, `\`, the five short control escapes
//!   (`\b \t \n \f \r`) and `\u00xx` (lower-case hex) for the other
//!   characters below U+0020; everything else, including `/`, DEL and
//!   non-ASCII, is written raw;
//! * every number is converted to an IEEE double and written the way
//!   ECMAScript's `Number.prototype.toString` writes it (`48.0` → `48`,
//!   `1e-7`, `1e+21`, `-0` → `0`). Integers above 2^53 therefore lose
//!   precision, exactly as they do in pycti.

use std::fmt::Write as _;

use serde_json::Value;

/// Serialises `value` as canonical JSON (see the [module docs](self)).
///
/// ```
/// use serde_json::json;
/// use opencti_stix::canonical::canonical_json;
///
/// let data = json!({"name": "apt28", "latitude": 48.0, "a": "é\n"});
/// assert_eq!(canonical_json(&data), r#"{"a":"é\n","latitude":48,"name":"apt28"}"#);
/// ```
#[must_use]
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => {
            // Without serde_json's `arbitrary_precision` every number converts.
            let double = number.as_f64().unwrap_or(f64::NAN);
            write_number(double, out);
        }
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|(left, _), (right, _)| compare_utf16(left, right));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

/// Orders keys by UTF-16 code units, as JCS requires.
///
/// UTF-8 byte order only differs from UTF-16 order when a character at or
/// above U+E000 meets one above U+FFFF, so ASCII keys (the usual case) take
/// the byte comparison.
fn compare_utf16(left: &str, right: &str) -> std::cmp::Ordering {
    if left.is_ascii() || right.is_ascii() {
        left.cmp(right)
    } else {
        left.encode_utf16().cmp(right.encode_utf16())
    }
}

fn write_string(text: &str, out: &mut String) {
    out.reserve(text.len() + 2);
    out.push('"');
    let mut plain_start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[plain_start..index]);
        if escape.is_empty() {
            // Infallible: writing to a String.
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        plain_start = index + 1;
    }
    out.push_str(&text[plain_start..]);
    out.push('"');
}

/// Writes `value` as ECMAScript's `Number.prototype.toString` does.
fn write_number(value: f64, out: &mut String) {
    if value == 0.0 {
        out.push('0');
        return;
    }
    if !value.is_finite() {
        // JSON values parsed by serde_json are always finite; keep the
        // ECMAScript spelling should one ever be built by hand.
        out.push_str(if value.is_nan() {
            "NaN"
        } else if value > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
        return;
    }
    if value < 0.0 {
        out.push('-');
    }
    // `{:e}` gives the shortest round-trip digits: `d[.ddd]e<exp>`.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digit_count = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    // The value is 0.DIGITS × 10^point.
    let point = exponent + 1;
    if digit_count <= point && point <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (point - digit_count) as usize));
    } else if 0 < point && point <= 21 {
        let (integer, fraction) = digits.split_at(point as usize);
        out.push_str(integer);
        out.push('.');
        out.push_str(fraction);
    } else if -6 < point && point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let sign = if exponent > 0 { '+' } else { '-' };
        let _ = write!(out, "e{sign}{}", exponent.unsigned_abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn number(value: f64) -> String {
        let mut out = String::new();
        write_number(value, &mut out);
        out
    }

    #[test]
    fn numbers_follow_ecmascript() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (48.0, "48"),
            (-2.25, "-2.25"),
            (0.1, "0.1"),
            (0.000001, "0.000001"),
            (0.0000123, "0.0000123"),
            (1e-7, "1e-7"),
            (5e-324, "5e-324"),
            (1e21, "1e+21"),
            (1.2345678901234568e20, "123456789012345680000"),
            (123456789.125, "123456789.125"),
            (1.5e300, "1.5e+300"),
            (-1.25e-10, "-1.25e-10"),
            (9007199254740993.0, "9007199254740992"),
        ];
        for (value, expected) in cases {
            assert_eq!(number(value), expected, "{value:e}");
        }
    }

    #[test]
    fn strings_escape_controls_only() {
        let text = "\"\\\u{8}\t\n\u{c}\r\u{1}\u{1f}/\u{7f}\u{2028}é🐻";
        assert_eq!(
            canonical_json(&json!(text)),
            "\"\\\"\\\\\\b\\t\\n\\f\\r\\u0001\\u001f/\u{7f}\u{2028}é🐻\""
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+FF21 (one UTF-16 unit 0xFF21) sorts after U+1F43B (surrogate
        // 0xD83D) in UTF-16, but before it in UTF-8 byte order.
        let value = json!({"\u{ff21}": 1, "\u{1f43b}": 2, "b": [true, null], "a": {}});
        assert_eq!(
            canonical_json(&value),
            "{\"a\":{},\"b\":[true,null],\"\u{1f43b}\":2,\"\u{ff21}\":1}"
        );
    }
}
