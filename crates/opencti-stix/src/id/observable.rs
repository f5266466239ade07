//! Ids of STIX Cyber Observables, as the stix2 library (3.0.2) computes them,
//! including the custom observables pycti registers with stix2.

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use serde_json::{Map, Value};

use super::{IdError, python};

/// How stix2 cleans an id-contributing property before hashing it.
#[derive(Debug, Clone, Copy)]
enum Property {
    /// A string, hashed as is.
    Text,
    /// An integer; numeric strings are converted first.
    Integer,
    /// A timestamp, normalised to UTC with a trimmed fraction.
    Timestamp,
    /// A hash dictionary: one hash is kept, its algorithm name normalised.
    Hashes,
    /// A list or dictionary, hashed as is.
    Structured,
}

use Property::{Hashes, Integer, Structured, Text, Timestamp};

const VALUE: &[(&str, Property)] = &[("value", Text)];

/// The id-contributing properties of every observable type.
///
/// `process` has none: stix2 gives processes a random id.
const RULES: &[(&str, &[(&str, Property)])] = &[
    ("artifact", &[("hashes", Hashes), ("payload_bin", Text)]),
    ("autonomous-system", &[("number", Integer)]),
    ("directory", &[("path", Text)]),
    ("domain-name", VALUE),
    ("email-addr", VALUE),
    ("ipv4-addr", VALUE),
    ("ipv6-addr", VALUE),
    ("mac-addr", VALUE),
    ("url", VALUE),
    (
        "email-message",
        &[("from_ref", Text), ("subject", Text), ("body", Text)],
    ),
    (
        "file",
        &[
            ("hashes", Hashes),
            ("name", Text),
            ("parent_directory_ref", Text),
            ("extensions", Structured),
        ],
    ),
    ("mutex", &[("name", Text)]),
    (
        "network-traffic",
        &[
            ("start", Timestamp),
            ("end", Timestamp),
            ("src_ref", Text),
            ("dst_ref", Text),
            ("src_port", Integer),
            ("dst_port", Integer),
            ("protocols", Structured),
            ("extensions", Structured),
        ],
    ),
    ("process", &[]),
    (
        "software",
        &[
            ("name", Text),
            ("cpe", Text),
            ("swid", Text),
            ("vendor", Text),
            ("version", Text),
        ],
    ),
    (
        "user-account",
        &[
            ("account_type", Text),
            ("user_id", Text),
            ("account_login", Text),
        ],
    ),
    (
        "windows-registry-key",
        &[("key", Text), ("values", Structured)],
    ),
    (
        "x509-certificate",
        &[("hashes", Hashes), ("serial_number", Text)],
    ),
    // OpenCTI's custom observables (pycti `CustomObservable*`).
    ("hostname", VALUE),
    ("cryptocurrency-wallet", VALUE),
    ("text", VALUE),
    ("user-agent", VALUE),
    ("phone-number", VALUE),
    ("credential", VALUE),
    ("tracking-number", VALUE),
    ("cryptographic-key", VALUE),
    ("ssh-key", VALUE),
    ("ai-prompt", VALUE),
    ("imei", VALUE),
    ("iccid", VALUE),
    ("imsi", VALUE),
    ("bank-account", &[("iban", Text)]),
    ("payment-card", &[("card_number", Text)]),
    ("media-content", &[("url", Text)]),
    ("persona", &[("persona_name", Text), ("persona_type", Text)]),
];

/// Whether `object_type` is an observable type with a stix2 id rule.
pub(super) fn is_observable(object_type: &str) -> bool {
    rule(object_type).is_some()
}

fn rule(object_type: &str) -> Option<&'static [(&'static str, Property)]> {
    RULES
        .iter()
        .find(|(name, _)| *name == object_type)
        .map(|(_, properties)| *properties)
}

/// The data stix2 hashes for an observable of `object_type` (`None` when the
/// type is not an observable).
pub(super) fn id_data(
    object_type: &str,
    properties: &Map<String, Value>,
) -> Option<Result<Map<String, Value>, IdError>> {
    let rule = rule(object_type)?;
    Some(collect(object_type, rule, properties))
}

fn collect(
    object_type: &str,
    rule: &[(&'static str, Property)],
    properties: &Map<String, Value>,
) -> Result<Map<String, Value>, IdError> {
    let mut data = Map::new();
    for &(name, kind) in rule {
        let Some(value) = properties.get(name) else {
            continue;
        };
        // stix2 drops `None` and empty lists before anything else.
        if value.is_null() || value.as_array().is_some_and(Vec::is_empty) {
            continue;
        }
        let invalid = |reason: &str| IdError::invalid(object_type, name, reason);
        let cleaned = match kind {
            Text if value.is_string() => value.clone(),
            Text => return Err(invalid("expected a string")),
            Integer => integer(value).ok_or_else(|| invalid("expected an integer"))?,
            Timestamp => timestamp(value).map_err(invalid)?,
            Hashes => match chosen_hash(value) {
                Ok(hash) => hash,
                Err(reason) => return Err(invalid(reason)),
            },
            Structured => value.clone(),
        };
        data.insert(name.to_owned(), cleaned);
    }
    if data.is_empty() {
        return Err(IdError::NotDeterministic {
            object_type: object_type.to_owned(),
        });
    }
    Ok(data)
}

/// stix2's `IntegerProperty`: integers, integral floats and numeric strings.
fn integer(value: &Value) -> Option<Value> {
    match value {
        Value::Number(number) if number.is_i64() || number.is_u64() => Some(value.clone()),
        Value::Number(number) => {
            let float = number.as_f64()?;
            let is_integral = float.fract() == 0.0 && float.abs() < 9.3e18;
            // The bound check above keeps the cast exact.
            #[allow(clippy::cast_possible_truncation)]
            is_integral.then(|| Value::from(float as i64))
        }
        Value::String(text) => python::strip(text).parse::<i64>().ok().map(Value::from),
        _ => None,
    }
}

/// stix2's timestamp normalisation: UTC (a naive time is taken as UTC),
/// `YYYY-MM-DDTHH:MM:SS`, the fraction without trailing zeros, then `Z`.
fn timestamp(value: &Value) -> Result<Value, &'static str> {
    let text = value.as_str().ok_or("expected a timestamp string")?;
    let moment: DateTime<Utc> = match DateTime::parse_from_rfc3339(text) {
        Ok(aware) => aware.with_timezone(&Utc),
        Err(_) => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .map_err(|_| "expected an RFC 3339 timestamp")?
            .and_utc(),
    };
    let nanos = moment.nanosecond();
    if !nanos.is_multiple_of(1_000) || nanos >= 1_000_000_000 {
        return Err("timestamps are limited to microsecond precision");
    }
    let mut out = moment.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos != 0 {
        let fraction = format!("{:06}", nanos / 1_000);
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    Ok(Value::String(out))
}

/// Hash algorithm names stix2 recognises (compared without `-`, upper-cased)
/// and the spelling the STIX 2.1 specification gives them.
const HASH_NAMES: &[(&str, &str)] = &[
    ("MD5", "MD5"),
    ("SHA1", "SHA-1"),
    ("SHA256", "SHA-256"),
    ("SHA512", "SHA-512"),
    ("SHA3256", "SHA3-256"),
    ("SHA3512", "SHA3-512"),
    ("SSDEEP", "SSDEEP"),
    ("TLSH", "TLSH"),
];

/// The algorithms stix2 prefers, in order, when several hashes are given.
const PREFERRED_HASHES: [&str; 4] = ["MD5", "SHA-1", "SHA-256", "SHA-512"];

fn spec_hash_name(name: &str) -> Option<&'static str> {
    let squashed: String = name
        .chars()
        .filter(|&c| c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    HASH_NAMES
        .iter()
        .find(|(key, _)| *key == squashed)
        .map(|(_, spec)| *spec)
}

/// The single hash stix2 keeps for the id: `{"<ALG>": value}`.
fn chosen_hash(value: &Value) -> Result<Value, &'static str> {
    let hashes = value.as_object().ok_or("expected a dictionary of hashes")?;
    if hashes.is_empty() {
        return Err("the hashes dictionary is empty");
    }
    // Normalise names first; a later spelling of one algorithm replaces an
    // earlier one, as it does in the Python dictionary.
    let mut normalised: Vec<(&str, &Value)> = Vec::with_capacity(hashes.len());
    for (name, hash) in hashes {
        let name = spec_hash_name(name).unwrap_or(name.as_str());
        match normalised.iter_mut().find(|(known, _)| *known == name) {
            Some(slot) => slot.1 = hash,
            None => normalised.push((name, hash)),
        }
    }
    let (name, hash) = PREFERRED_HASHES
        .iter()
        .find_map(|preferred| normalised.iter().find(|(name, _)| name == preferred))
        .unwrap_or(&normalised[0]);
    let mut chosen = Map::new();
    chosen.insert((*name).to_owned(), (*hash).clone());
    Ok(Value::Object(chosen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_are_normalised_to_utc() {
        let cases = [
            ("2020-01-01T00:00:00.000Z", "2020-01-01T00:00:00Z"),
            ("2020-01-01T00:00:00.100Z", "2020-01-01T00:00:00.1Z"),
            ("2020-01-01T02:00:00+02:00", "2020-01-01T00:00:00Z"),
            ("2020-01-01T00:00:00.120000", "2020-01-01T00:00:00.12Z"),
        ];
        for (input, expected) in cases {
            assert_eq!(timestamp(&json!(input)), Ok(json!(expected)), "{input}");
        }
        assert!(timestamp(&json!("2020-01-01T00:00:00.1234567Z")).is_err());
        assert!(timestamp(&json!("yesterday")).is_err());
    }

    #[test]
    fn hash_choice_prefers_md5_then_sha() {
        let hashes = json!({"sha512": "c", "Sha-256": "b", "tlsh": "t"});
        assert_eq!(chosen_hash(&hashes), Ok(json!({"SHA-256": "b"})));
        let hashes = json!({"custom": "x", "SSDEEP": "y"});
        assert_eq!(chosen_hash(&hashes), Ok(json!({"custom": "x"})));
        assert!(chosen_hash(&json!({})).is_err());
    }

    #[test]
    fn integers_accept_numeric_strings() {
        assert_eq!(integer(&json!(" 15169 ")), Some(json!(15169)));
        assert_eq!(integer(&json!(443.0)), Some(json!(443)));
        assert_eq!(integer(&json!(443.5)), None);
        assert_eq!(integer(&json!("AS15169")), None);
    }
}
