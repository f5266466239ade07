//! The records of a feed package as NTI sends them, one JSON object a line.
//!
//! All kinds share one layout (the Python connector reads them alike), so
//! one [`Record`] carries every key a kind may have: IOC records
//! (`pattern`, `observables`, `threat_types` ...), basic records (`object`
//! plus `locations` and `ases` for IPs, `ips` for domains, the category
//! lists for URLs) and samples (`metadata`, `names`). Every key is optional
//! here: which ones an object needs is the converter's business, which
//! names the missing key. A key of the wrong type or an unknown `object.type`
//! fails the line, the error naming the key's path
//! (`observables[0].value: invalid type ...`).

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Number;
use serde_path_to_error::Segment;

use crate::codes;

/// One record of any kind.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Record {
    /// `sample` for sample records; other kinds say `indicator` or nothing.
    #[serde(rename = "type")]
    pub record_type: Option<String>,
    /// IOC: the STIX pattern of the indicator.
    pub pattern: Option<String>,
    /// IOC: what the indicator detects; the first one counts.
    pub observables: Option<Vec<IocObservable>>,
    /// IOC: threat type codes (see [`codes::THREAT_TYPES`]).
    pub threat_types: Option<Vec<ThreatTypeCode>>,
    /// IOC: 1 (low) to 5.
    pub threat_level: Option<f64>,
    /// IOC: 0 to 100.
    pub confidence: Option<f64>,
    /// IOC: labels.
    pub tags: Option<Vec<Tag>>,
    /// Last change, any kind.
    pub modified: Option<String>,
    /// IOC: end of validity.
    pub valid_until: Option<String>,
    /// IOC: withdrawn by NTI.
    pub revoked: Option<bool>,
    /// Basic records (IP, domain, URL): the observable described.
    pub object: Option<BasicObject>,
    /// IP: where the address is.
    pub locations: Option<Vec<RecordLocation>>,
    /// IP: the autonomous systems announcing it.
    pub ases: Option<Vec<RecordAs>>,
    /// Domain: the addresses it resolved to.
    pub ips: Option<Vec<Resolution>>,
    /// URL: content category codes.
    pub contents: Option<Vec<Categories>>,
    /// URL: industry codes.
    pub industries: Option<Vec<Categories>>,
    /// URL: business type codes.
    pub businesses: Option<Vec<Categories>>,
    /// Sample: the file's hashes, size and type.
    pub metadata: Option<Metadata>,
    /// Sample: the file's names; the first one counts.
    pub names: Option<Vec<String>>,
}

/// An observable of an IOC record: `{type, value}`, `{type: "file", hashes}`
/// or, for addresses, nested in `address`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IocObservable {
    /// A STIX observable type; types without an OpenCTI observable give the
    /// indicator alone, so any text is accepted.
    #[serde(rename = "type")]
    pub observable_type: Option<String>,
    /// The observed value.
    pub value: Option<String>,
    /// Files: hashes by NTI's algorithm names.
    pub hashes: Option<Hashes>,
    /// Addresses: the observable itself.
    pub address: Option<Address>,
}

/// The nested observable of an address IOC.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Address {
    /// `ipv4-addr` or `ipv6-addr`.
    #[serde(rename = "type")]
    pub address_type: Option<String>,
    /// The address.
    pub value: Option<String>,
}

impl Address {
    /// Whether it says anything (Python skipped an empty `address`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.address_type.is_none() && self.value.is_none()
    }
}

/// The observable of a basic record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BasicObject {
    /// Its type; a type without an OpenCTI observable fails the line.
    #[serde(rename = "type")]
    pub object_type: Option<ObjectType>,
    /// The observed value.
    pub value: Option<String>,
}

/// The observable types NTI records describe and OpenCTI has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectType {
    /// `ipv4-addr`.
    Ipv4Addr,
    /// `ipv6-addr`.
    Ipv6Addr,
    /// `domain-name`.
    DomainName,
    /// `url`.
    Url,
    /// `email-addr`.
    EmailAddr,
    /// `file`.
    File,
}

impl ObjectType {
    /// The type named `stix_name`, if OpenCTI has it.
    #[must_use]
    pub fn from_stix_name(stix_name: &str) -> Option<Self> {
        [
            Self::Ipv4Addr,
            Self::Ipv6Addr,
            Self::DomainName,
            Self::Url,
            Self::EmailAddr,
            Self::File,
        ]
        .into_iter()
        .find(|object_type| object_type.stix_name() == stix_name)
    }

    /// The STIX name of the type.
    #[must_use]
    pub fn stix_name(self) -> &'static str {
        match self {
            Self::Ipv4Addr => "ipv4-addr",
            Self::Ipv6Addr => "ipv6-addr",
            Self::DomainName => "domain-name",
            Self::Url => "url",
            Self::EmailAddr => "email-addr",
            Self::File => "file",
        }
    }
}

/// A threat type code: a number, or NTI's one textual code `"-1"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, expecting = "a threat type code (a number, or \"-1\")")]
pub enum ThreatTypeCode {
    /// A code of [`codes::THREAT_TYPES`].
    Number(Number),
    /// `"-1"` ("Other"); other texts name nothing.
    Text(String),
}

impl ThreatTypeCode {
    /// The indicator type it names, if any.
    #[must_use]
    pub fn name(&self) -> Option<&'static str> {
        match self {
            Self::Text(text) if text == "-1" => Some("Other"),
            Self::Text(_) => None,
            Self::Number(number) => codes::lookup(codes::THREAT_TYPES, number.as_i64()?),
        }
    }
}

/// A tag of an IOC record: a type and its values (scalars of any kind,
/// printed as Python prints them).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Tag {
    /// `malware_family`, `direction` ...
    pub tag_type: Option<String>,
    /// The values.
    pub tag_values: Option<Vec<serde_json::Value>>,
}

/// A location of an IP record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RecordLocation {
    /// Country name.
    pub country: Option<String>,
    /// Region name.
    pub region: Option<String>,
    /// City name.
    pub city: Option<String>,
    /// Street address.
    pub street_address: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Latitude in degrees.
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    pub longitude: Option<f64>,
}

/// An autonomous system of an IP record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RecordAs {
    /// `AS64500` or `64500`.
    pub number: Option<AsNumber>,
    /// Its name.
    pub name: Option<String>,
    /// Its regional internet registry.
    pub rir: Option<String>,
    /// Its country code.
    pub country_code: Option<String>,
    /// Registration dates; the first one counts.
    pub registered: Option<Vec<serde_json::Value>>,
    /// When NTI first saw it.
    pub first_seen: Option<String>,
    /// When NTI last saw it.
    pub last_seen: Option<String>,
}

/// An AS number as NTI writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, expecting = "an AS number (64500 or \"AS64500\")")]
pub enum AsNumber {
    /// `64500`.
    Number(Number),
    /// `AS64500`.
    Text(String),
}

/// A resolution of a domain record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Resolution {
    /// The addresses; the first one counts.
    pub ips: Option<Vec<String>>,
    /// When NTI first saw the resolution.
    pub first_seen: Option<String>,
    /// When NTI last saw it.
    pub last_seen: Option<String>,
}

/// A group of URL category codes; the key repeats the list's
/// (`contents: [{contents: [29]}]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Categories {
    /// Content type codes.
    #[serde(default)]
    pub contents: Vec<i64>,
    /// Industry codes.
    #[serde(default)]
    pub industries: Vec<i64>,
    /// Business type codes.
    #[serde(default)]
    pub businesses: Vec<i64>,
}

/// The file a sample record describes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Metadata {
    /// Hashes by NTI's algorithm names.
    pub hashes: Option<Hashes>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// MIME type.
    pub mime_type: Option<String>,
}

impl Metadata {
    /// Whether it says anything (Python skipped an empty `metadata`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hashes.is_none() && self.size.is_none() && self.mime_type.is_none()
    }
}

/// Hashes in the record's order, by NTI's algorithm names (`MD5`, `SHA1`,
/// `SHA256`, `SHA3-256`, `1KHASH` ...); null digests are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hashes(pub Vec<(String, String)>);

impl Hashes {
    /// The digest of `algorithm` (NTI's spelling).
    #[must_use]
    pub fn get(&self, algorithm: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == algorithm)
            .map(|(_, digest)| digest.as_str())
    }
}

impl<'de> Deserialize<'de> for Hashes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HashesVisitor;
        impl<'de> Visitor<'de> for HashesVisitor {
            type Value = Hashes;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an object of hash digests")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Hashes, A::Error> {
                let mut hashes = Vec::new();
                while let Some((algorithm, digest)) = map.next_entry::<String, Option<String>>()? {
                    if let Some(digest) = digest {
                        hashes.push((algorithm, digest));
                    }
                }
                Ok(Hashes(hashes))
            }
        }
        deserializer.deserialize_map(HashesVisitor)
    }
}

/// Parses one line of a package file into a record. The error names the
/// key at fault by its path, and the position in the line.
///
/// # Errors
/// The reason, when the line is not a JSON object or a key does not have
/// the expected type.
pub fn parse_line(line: &[u8]) -> Result<Record, String> {
    // serde would read an array as a struct's fields in order: refused first.
    if line.trim_ascii_start().first() != Some(&b'{') {
        return Err("expected a JSON object".to_owned());
    }
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let record = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = key_path(error.path());
        let reason = within_line(error.inner());
        if path.is_empty() {
            reason
        } else {
            format!("field \"{path}\": {reason}")
        }
    })?;
    deserializer.end().map_err(|error| within_line(&error))?;
    Ok(record)
}

/// `observables[0].value`; stops where the parser had not yet read a key.
fn key_path(path: &serde_path_to_error::Path) -> String {
    let mut text = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => text.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Segment::Unknown => break,
        }
    }
    text
}

/// serde_json's message with the column only: a record is one line, whose
/// number in the file the caller reports.
fn within_line(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&position) {
        Some(reason) => format!("{reason} (column {})", error.column()),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_keep_the_record_order_and_drop_null_digests() {
        let record =
            parse_line(br#"{"metadata": {"hashes": {"SHA1": "b", "MD5": "a", "1KHASH": null}}}"#)
                .unwrap();
        let hashes = record.metadata.unwrap().hashes.unwrap();
        assert_eq!(
            hashes.0,
            [
                ("SHA1".to_owned(), "b".to_owned()),
                ("MD5".to_owned(), "a".to_owned())
            ]
        );
    }

    #[test]
    fn errors_name_the_key_and_the_column() {
        let error = |line: &str| parse_line(line.as_bytes()).unwrap_err();
        assert_eq!(
            error(r#"{"ases": [{"number": true}]}"#),
            r#"field "ases[0].number": an AS number (64500 or "AS64500") (column 26)"#
        );
        assert_eq!(
            error(r#"{"confidence": "high"}"#),
            r#"field "confidence": invalid type: string "high", expected f64 (column 21)"#
        );
        assert_eq!(
            error(r#"{"revoked": false, "#),
            "EOF while parsing a value (column 19)"
        );
        assert_eq!(error("[1, 2]"), "expected a JSON object");
        assert_eq!(error("{} {}"), "trailing characters (column 4)");
    }

    #[test]
    fn threat_type_codes_are_numbers_or_minus_one() {
        let record = parse_line(br#"{"threat_types": [40702, "-1", "x", 999, 1.5]}"#).unwrap();
        let names: Vec<_> = record
            .threat_types
            .unwrap()
            .iter()
            .map(ThreatTypeCode::name)
            .collect();
        assert_eq!(names, [Some("C&C host"), Some("Other"), None, None, None]);
    }
}
