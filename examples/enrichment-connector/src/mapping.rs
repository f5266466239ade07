//! What an observable's value says, and the STIX objects that say it.
//! Pure: no I/O, so it is tested without a platform.
//!
//! * IPv4 and IPv6 addresses: the special-purpose range they fall in
//!   (IANA's registries), as a label; an IPv6 address not written in its
//!   canonical form (RFC 5952) gets that form, one that embeds an IPv4
//!   address (`::ffff:a.b.c.d`) gets that address.
//! * Domain names and hostnames: the normalised form (refanged, lower
//!   case, no final dot), and the other spelling of an internationalised
//!   name: punycode (`xn--...`) for a Unicode name, Unicode for a punycode
//!   one.
//! * URLs: the normalised form (refanged, WHATWG serialisation: scheme and
//!   host in lower case, host in punycode, default port dropped), and the
//!   host as a domain name or address.
//!
//! Defanged values (`hxxp://example[.]com`) are read as what they stand
//! for: every variant is refanged.

use std::net::{Ipv4Addr, Ipv6Addr};

use std::net::IpAddr;

use opencti_stix::builder::{BuildError, StixModel as _};
use opencti_stix::object::{
    DomainName, Hostname, Identity, Ipv4Address, Ipv6Address, Relationship, StixObject, Url,
};
use reqwest::Url as WhatwgUrl;
use serde_json::Value;

/// Longest value analysed; longer ones are refused (a URL may be long, a
/// domain name is at most 253 characters).
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// Why an observable could not be analysed or its objects built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// The value is not what the observable's type says it is.
    #[error("`{value}` is not a valid {kind} value")]
    Invalid {
        /// The observable's type, as the platform names it.
        kind: &'static str,
        /// The value, cut to 200 characters.
        value: String,
    },
    /// The value is longer than [`MAX_VALUE_BYTES`].
    #[error("the {kind} value is {bytes} bytes long, more than the {MAX_VALUE_BYTES} analysed")]
    TooLong {
        /// The observable's type.
        kind: &'static str,
        /// Its length.
        bytes: usize,
    },
    /// A STIX object could not be built.
    #[error(transparent)]
    Stix(#[from] BuildError),
}

/// The observable types the connector enriches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ipv4-addr`.
    Ipv4,
    /// `ipv6-addr`.
    Ipv6,
    /// `domain-name`.
    DomainName,
    /// `hostname` (OpenCTI's custom observable).
    Hostname,
    /// `url`.
    Url,
}

impl Kind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [Kind; 5] = [
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::DomainName,
        Kind::Hostname,
        Kind::Url,
    ];

    /// The kind of a STIX type (`ipv4-addr`, ...); `None` for the others.
    pub fn of_stix_type(stix_type: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.stix_type() == stix_type)
    }

    /// The STIX type.
    pub fn stix_type(self) -> &'static str {
        match self {
            Kind::Ipv4 => "ipv4-addr",
            Kind::Ipv6 => "ipv6-addr",
            Kind::DomainName => "domain-name",
            Kind::Hostname => "hostname",
            Kind::Url => "url",
        }
    }

    /// The type as the platform names it (and `CONNECTOR_SCOPE` lists it).
    pub fn entity_type(self) -> &'static str {
        match self {
            Kind::Ipv4 => "IPv4-Addr",
            Kind::Ipv6 => "IPv6-Addr",
            Kind::DomainName => "Domain-Name",
            Kind::Hostname => "Hostname",
            Kind::Url => "Url",
        }
    }
}

/// The special-purpose address ranges an address may fall in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 ranges, IPv6 unique local addresses (`fc00::/7`).
    Private,
    /// `100.64.0.0/10`, shared by carrier-grade NATs (RFC 6598).
    Shared,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// RFC 5737 and RFC 3849 / RFC 9637 ranges, for examples only.
    Documentation,
    /// `198.18.0.0/15`, for benchmarks (RFC 2544).
    Benchmarking,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// The other ranges IANA keeps out of the global routing table.
    Reserved,
    /// Globally routable.
    Global,
}

impl AddressClass {
    /// The label's text after the prefix.
    pub fn name(self) -> &'static str {
        match self {
            AddressClass::Unspecified => "unspecified",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::Shared => "shared",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Documentation => "documentation",
            AddressClass::Benchmarking => "benchmarking",
            AddressClass::Multicast => "multicast",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Reserved => "reserved",
            AddressClass::Global => "global",
        }
    }
}

/// Whether `address` is in `network/prefix`.
fn in_v4(address: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(address) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

fn in_v6(address: Ipv6Addr, network: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(address) & mask == u128::from(Ipv6Addr::from(network)) & mask
}

/// The range an IPv4 address falls in.
pub fn classify_v4(address: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    let ranges: &[([u8; 4], u32, AddressClass)] = &[
        ([0, 0, 0, 0], 32, Unspecified),
        ([255, 255, 255, 255], 32, Broadcast),
        ([0, 0, 0, 0], 8, Reserved),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, Shared),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Documentation),
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 168, 0, 0], 16, Private),
        ([198, 18, 0, 0], 15, Benchmarking),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([224, 0, 0, 0], 4, Multicast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    ranges
        .iter()
        .find(|(network, prefix, _)| in_v4(address, *network, *prefix))
        .map_or(Global, |(_, _, class)| *class)
}

/// The range an IPv6 address falls in; an IPv4-mapped address
/// (`::ffff:0:0/96`) is classified as the IPv4 address it carries.
pub fn classify_v6(address: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    if let Some(v4) = address.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let ranges: &[([u16; 8], u32, AddressClass)] = &[
        ([0; 8], 128, Unspecified),
        ([0, 0, 0, 0, 0, 0, 0, 1], 128, Loopback),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, Reserved),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, Documentation),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Documentation),
        ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48, Benchmarking),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, Reserved),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, Private),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, LinkLocal),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Multicast),
    ];
    ranges
        .iter()
        .find(|(network, prefix, _)| in_v6(address, *network, *prefix))
        .map_or(Global, |(_, _, class)| *class)
}

/// Undoes the usual defanging: `hxxp` → `http`, `[.]` → `.`, `[:]` →
/// `:`, `[@]` → `@` (and their `(...)`, `{...}` and `dot`/`at` spellings).
pub fn refang(text: &str) -> String {
    let mut refanged = text.trim().to_owned();
    for (defanged, plain) in [
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("(dot)", "."),
        ("[DOT]", "."),
        ("[:]", ":"),
        ("[://]", "://"),
        ("[/]", "/"),
        ("[@]", "@"),
        ("[at]", "@"),
        ("[AT]", "@"),
    ] {
        if refanged.contains(defanged) {
            refanged = refanged.replace(defanged, plain);
        }
    }
    for (defanged, plain) in [("hxxp", "http"), ("hXXp", "http"), ("fxp", "ftp")] {
        if let Some(rest) = refanged.strip_prefix(defanged) {
            refanged = format!("{plain}{rest}");
        }
    }
    refanged
}

/// Why a variant was added; the relationship's description says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The value with its defanging undone.
    Refanged,
    /// The normalised spelling.
    Normalised,
    /// The canonical text of an IPv6 address (RFC 5952).
    Canonical,
    /// The IPv4 address an IPv6 address carries.
    EmbeddedIpv4,
    /// The punycode (ASCII) spelling of an internationalised name.
    Punycode,
    /// The Unicode spelling of a punycode name.
    Unicode,
    /// The host of a URL.
    Host,
}

impl Reason {
    /// The relationship's description.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Refanged => "Refanged form of the observable",
            Reason::Normalised => "Normalised form of the observable",
            Reason::Canonical => "Canonical text of the address (RFC 5952)",
            Reason::EmbeddedIpv4 => "IPv4 address carried by the IPv6 address",
            Reason::Punycode => "Punycode (IDNA ASCII) form of the name",
            Reason::Unicode => "Unicode form of the punycode name",
            Reason::Host => "Host of the URL",
        }
    }
}

/// Another observable standing for the same thing, or part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Its type.
    pub kind: Kind,
    /// Its value.
    pub value: String,
    /// Why it was added.
    pub reason: Reason,
}

/// What one observable's value says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// The address's range, when it is an address.
    pub class: Option<AddressClass>,
    /// Other forms of the observable, none equal to its value or to each other.
    pub variants: Vec<Variant>,
}

impl Findings {
    fn add(&mut self, original: &str, kind: Kind, value: String, reason: Reason) {
        let known = value == original
            || self
                .variants
                .iter()
                .any(|variant| variant.kind == kind && variant.value == value);
        if !known {
            self.variants.push(Variant {
                kind,
                value,
                reason,
            });
        }
    }
}

/// Reads `value`, an observable of `kind`.
///
/// # Errors
///
/// [`MappingError::Invalid`] when the value is not of its kind (once
/// refanged), [`MappingError::TooLong`] beyond [`MAX_VALUE_BYTES`].
pub fn analyse(kind: Kind, value: &str) -> Result<Findings, MappingError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(MappingError::TooLong {
            kind: kind.entity_type(),
            bytes: value.len(),
        });
    }
    let invalid = || MappingError::Invalid {
        kind: kind.entity_type(),
        value: value.chars().take(200).collect(),
    };
    let refanged = refang(value);
    let mut findings = Findings::default();
    match kind {
        Kind::Ipv4 => {
            let address: Ipv4Addr = refanged.parse().map_err(|_| invalid())?;
            findings.class = Some(classify_v4(address));
            findings.add(value, kind, address.to_string(), Reason::Refanged);
        }
        Kind::Ipv6 => {
            let address: Ipv6Addr = refanged.parse().map_err(|_| invalid())?;
            findings.class = Some(classify_v6(address));
            findings.add(value, kind, address.to_string(), Reason::Canonical);
            if let Some(v4) = address.to_ipv4_mapped() {
                findings.add(value, Kind::Ipv4, v4.to_string(), Reason::EmbeddedIpv4);
            }
        }
        Kind::DomainName | Kind::Hostname => {
            let name = normalise_name(&refanged).ok_or_else(invalid)?;
            let reason = if refanged == value.trim() {
                Reason::Normalised
            } else {
                Reason::Refanged
            };
            findings.add(value, kind, name.clone(), reason);
            add_other_spelling(&mut findings, value, kind, &name);
        }
        Kind::Url => {
            let url = WhatwgUrl::parse(&refanged).map_err(|_| invalid())?;
            let mut normalised = url.as_str().to_owned();
            // The parser adds the root path to `http://host`; a URL written
            // without it is not worth a variant for that alone.
            if url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && !refanged.ends_with('/')
            {
                normalised.pop();
            }
            let reason = if refanged == value.trim() {
                Reason::Normalised
            } else {
                Reason::Refanged
            };
            findings.add(value, kind, normalised, reason);
            add_host(&mut findings, value, &url);
        }
    }
    Ok(findings)
}

/// A name in lower case without its final dot, if the URL host parser
/// takes it as a domain (not an address).
fn normalise_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_lowercase();
    if name.is_empty() || name.contains(['/', ':', '@', '?', '#', ' ']) {
        return None;
    }
    let url = WhatwgUrl::parse(&format!("http://{name}/")).ok()?;
    url.domain().is_some().then_some(name)
}

/// The punycode spelling of a name with Unicode in it, or the Unicode one
/// of a name with punycode labels.
fn add_other_spelling(findings: &mut Findings, original: &str, kind: Kind, name: &str) {
    if !name.is_ascii() {
        if let Some(ascii) = to_ascii(name) {
            findings.add(original, kind, ascii, Reason::Punycode);
        }
    } else if name.split('.').any(|label| label.starts_with("xn--"))
        && let Some(unicode) = to_unicode(name)
    {
        findings.add(original, kind, unicode, Reason::Unicode);
    }
}

/// A URL's host as a domain name, an IPv4 or an IPv6 address.
fn add_host(findings: &mut Findings, original: &str, url: &WhatwgUrl) {
    if let Some(domain) = url.domain() {
        findings.add(original, Kind::DomainName, domain.to_owned(), Reason::Host);
        return;
    }
    // Any other host is an address; IPv6 ones are written in brackets.
    let host = url.host_str().unwrap_or_default();
    match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(IpAddr::V4(address)) => {
            findings.add(original, Kind::Ipv4, address.to_string(), Reason::Host);
        }
        Ok(IpAddr::V6(address)) => {
            findings.add(original, Kind::Ipv6, address.to_string(), Reason::Host);
        }
        Err(_) => {}
    }
}

/// IDNA's ASCII form of `name` (UTS #46 mapping, punycode labels), as the
/// URL host parser gives it.
pub fn to_ascii(name: &str) -> Option<String> {
    let url = WhatwgUrl::parse(&format!("http://{name}/")).ok()?;
    url.domain().map(str::to_owned)
}

/// The Unicode form of `name`, its `xn--` labels decoded; `None` when one
/// does not decode, or does not encode back to itself.
pub fn to_unicode(name: &str) -> Option<String> {
    let labels: Option<Vec<String>> = name
        .split('.')
        .map(|label| match label.strip_prefix("xn--") {
            Some(encoded) => punycode_decode(encoded),
            None => Some(label.to_owned()),
        })
        .collect();
    let unicode = labels?.join(".");
    (to_ascii(&unicode).as_deref() == Some(name)).then_some(unicode)
}

/// Longest punycode label decoded (DNS labels are at most 63 bytes).
const MAX_LABEL_BYTES: usize = 63;

/// Decodes one punycode label (RFC 3492, without the `xn--` prefix).
fn punycode_decode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    const INITIAL_BIAS: u32 = 72;
    const INITIAL_N: u32 = 128;
    if input.len() > MAX_LABEL_BYTES || !input.is_ascii() {
        return None;
    }
    let (basic, extended) = match input.rfind('-') {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => ("", input),
    };
    let mut output: Vec<char> = basic.chars().collect();
    let (mut n, mut i, mut bias) = (INITIAL_N, 0u32, INITIAL_BIAS);
    let mut digits = extended.bytes();
    let mut next = digits.next();
    while let Some(first) = next {
        let old_i = i;
        let (mut weight, mut k, mut byte) = (1u32, BASE, first);
        loop {
            let digit = match byte {
                b'a'..=b'z' => u32::from(byte - b'a'),
                b'A'..=b'Z' => u32::from(byte - b'A'),
                b'0'..=b'9' => u32::from(byte - b'0') + 26,
                _ => return None,
            };
            i = i.checked_add(digit.checked_mul(weight)?)?;
            let threshold = k.saturating_sub(bias).clamp(T_MIN, T_MAX);
            if digit < threshold {
                break;
            }
            weight = weight.checked_mul(BASE - threshold)?;
            k += BASE;
            byte = digits.next()?;
        }
        let length = u32::try_from(output.len()).ok()? + 1;
        bias = adapt(i - old_i, length, old_i == 0);
        n = n.checked_add(i / length)?;
        i %= length;
        output.insert(usize::try_from(i).ok()?, char::from_u32(n)?);
        i += 1;
        next = digits.next();
    }
    Some(output.into_iter().collect())
}

/// RFC 3492's bias adaptation.
fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    let mut delta = if first { delta / DAMP } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

/// The author of everything the connector sends.
pub fn author() -> Result<Identity, MappingError> {
    Ok(Identity::organization("Observable enricher").build()?)
}

/// The STIX objects of `findings` about `entity`: each variant as an
/// observable `related-to` from the entity, authored by `author` and
/// marked as the entity is.
pub fn variant_objects(
    entity: &Value,
    findings: &Findings,
    author: &Identity,
) -> Result<Vec<Value>, MappingError> {
    let entity_id = entity["id"].as_str().unwrap_or_default();
    let markings: Vec<String> = entity["object_marking_refs"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|marking| marking.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut objects = Vec::with_capacity(findings.variants.len() * 2);
    for variant in &findings.variants {
        let observable = observable(variant, author, &markings)?;
        let observable_id = observable["id"].as_str().unwrap_or_default().to_owned();
        let relationship = Relationship::builder("related-to", entity_id, observable_id)
            .description(variant.reason.describe())
            .created_by(author.id())
            .markings(markings.iter().cloned())
            .build()?;
        objects.push(observable);
        objects.push(StixObject::from(relationship).into_value());
    }
    Ok(objects)
}

fn observable(
    variant: &Variant,
    author: &Identity,
    markings: &[String],
) -> Result<Value, MappingError> {
    let value = variant.value.clone();
    let object: StixObject = match variant.kind {
        Kind::Ipv4 => Ipv4Address::builder(value)
            .created_by(author.id())
            .markings(markings.iter().cloned())
            .build()?
            .into(),
        Kind::Ipv6 => Ipv6Address::builder(value)
            .created_by(author.id())
            .markings(markings.iter().cloned())
            .build()?
            .into(),
        Kind::DomainName => DomainName::builder(value)
            .created_by(author.id())
            .markings(markings.iter().cloned())
            .build()?
            .into(),
        Kind::Hostname => Hostname::builder(value)
            .created_by(author.id())
            .markings(markings.iter().cloned())
            .build()?
            .into(),
        Kind::Url => Url::builder(value)
            .created_by(author.id())
            .markings(markings.iter().cloned())
            .build()?
            .into(),
    };
    Ok(object.into_value())
}

/// `entity` with `label` added to its labels (once).
pub fn with_label(entity: &Value, label: &str) -> Value {
    let mut entity = entity.clone();
    if let Value::Object(object) = &mut entity {
        let labels = object
            .entry("labels")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !labels.is_array() {
            *labels = Value::Array(Vec::new());
        }
        if let Value::Array(labels) = labels
            && !labels.iter().any(|known| known == label)
        {
            labels.push(Value::from(label));
        }
    }
    entity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variants(kind: Kind, value: &str) -> Vec<(Kind, String, Reason)> {
        analyse(kind, value)
            .unwrap()
            .variants
            .into_iter()
            .map(|variant| (variant.kind, variant.value, variant.reason))
            .collect()
    }

    #[test]
    fn ipv4_ranges() {
        let class = |text: &str| classify_v4(text.parse().unwrap());
        assert_eq!(class("10.1.2.3"), AddressClass::Private);
        assert_eq!(class("172.31.255.255"), AddressClass::Private);
        assert_eq!(class("172.32.0.1"), AddressClass::Global);
        assert_eq!(class("192.168.0.1"), AddressClass::Private);
        assert_eq!(class("100.64.0.1"), AddressClass::Shared);
        assert_eq!(class("100.128.0.1"), AddressClass::Global);
        assert_eq!(class("127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("169.254.10.10"), AddressClass::LinkLocal);
        assert_eq!(class("192.0.2.7"), AddressClass::Documentation);
        assert_eq!(class("198.51.100.7"), AddressClass::Documentation);
        assert_eq!(class("203.0.113.7"), AddressClass::Documentation);
        assert_eq!(class("198.19.255.1"), AddressClass::Benchmarking);
        assert_eq!(class("224.0.0.251"), AddressClass::Multicast);
        assert_eq!(class("250.1.1.1"), AddressClass::Reserved);
        assert_eq!(class("255.255.255.255"), AddressClass::Broadcast);
        assert_eq!(class("0.0.0.0"), AddressClass::Unspecified);
        assert_eq!(class("0.1.2.3"), AddressClass::Reserved);
        assert_eq!(class("8.8.8.8"), AddressClass::Global);
    }

    #[test]
    fn ipv6_ranges() {
        let class = |text: &str| classify_v6(text.parse().unwrap());
        assert_eq!(class("::"), AddressClass::Unspecified);
        assert_eq!(class("::1"), AddressClass::Loopback);
        assert_eq!(class("fd12:3456::1"), AddressClass::Private);
        assert_eq!(class("fe80::1"), AddressClass::LinkLocal);
        assert_eq!(class("2001:db8::1"), AddressClass::Documentation);
        assert_eq!(class("3fff:0fff::1"), AddressClass::Documentation);
        assert_eq!(class("2001:2::1"), AddressClass::Benchmarking);
        assert_eq!(class("2001:0:1::1"), AddressClass::Reserved);
        assert_eq!(class("ff02::1"), AddressClass::Multicast);
        assert_eq!(class("::ffff:10.0.0.1"), AddressClass::Private);
        assert_eq!(class("2606:4700::1111"), AddressClass::Global);
    }

    #[test]
    fn addresses_get_their_refanged_and_canonical_forms() {
        assert_eq!(variants(Kind::Ipv4, "192.0.2.1"), []);
        assert_eq!(
            variants(Kind::Ipv4, "192.0.2[.]1"),
            [(Kind::Ipv4, "192.0.2.1".to_owned(), Reason::Refanged)]
        );
        assert_eq!(
            variants(Kind::Ipv6, "2001:DB8:0:0:0:0:0:1"),
            [(Kind::Ipv6, "2001:db8::1".to_owned(), Reason::Canonical)]
        );
        assert_eq!(
            variants(Kind::Ipv6, "::ffff:192.0.2.1"),
            [(Kind::Ipv4, "192.0.2.1".to_owned(), Reason::EmbeddedIpv4)]
        );
        assert!(matches!(
            analyse(Kind::Ipv4, "192.0.2.300"),
            Err(MappingError::Invalid {
                kind: "IPv4-Addr",
                ..
            })
        ));
        assert!(matches!(
            analyse(Kind::Ipv6, "not-an-address"),
            Err(MappingError::Invalid {
                kind: "IPv6-Addr",
                ..
            })
        ));
    }

    #[test]
    fn names_get_their_normalised_and_other_idn_spelling() {
        assert_eq!(variants(Kind::DomainName, "example.com"), []);
        assert_eq!(
            variants(Kind::DomainName, "Example.COM."),
            [(
                Kind::DomainName,
                "example.com".to_owned(),
                Reason::Normalised
            )]
        );
        assert_eq!(
            variants(Kind::DomainName, "evil[.]example"),
            [(
                Kind::DomainName,
                "evil.example".to_owned(),
                Reason::Refanged
            )]
        );
        assert_eq!(
            variants(Kind::DomainName, "bücher.example"),
            [(
                Kind::DomainName,
                "xn--bcher-kva.example".to_owned(),
                Reason::Punycode
            )]
        );
        assert_eq!(
            variants(Kind::Hostname, "xn--mnchen-3ya.de"),
            [(Kind::Hostname, "münchen.de".to_owned(), Reason::Unicode)]
        );
        assert_eq!(
            variants(Kind::DomainName, "xn--80ak6aa92e.com"),
            [(Kind::DomainName, "аррӏе.com".to_owned(), Reason::Unicode)],
            "a homograph shows its Cyrillic letters"
        );
        // Punycode that does not decode is refused, as the platform's
        // resolvers would.
        assert!(analyse(Kind::DomainName, "xn--a.example").is_err());
        assert!(analyse(Kind::DomainName, "not a domain").is_err());
        assert!(analyse(Kind::DomainName, "192.0.2.1").is_err());
    }

    #[test]
    fn punycode_round_trips() {
        for name in ["bücher", "münchen", "日本語", "ñandú", "straße"] {
            let ascii = to_ascii(&format!("{name}.example")).unwrap();
            let label = ascii.strip_suffix(".example").unwrap();
            let decoded = punycode_decode(label.strip_prefix("xn--").unwrap()).unwrap();
            assert_eq!(decoded, name, "{ascii}");
        }
        assert_eq!(punycode_decode("99999999999999"), None, "overflow");
        assert_eq!(punycode_decode(&"a".repeat(64)), None, "too long");
    }

    #[test]
    fn urls_get_their_normalised_form_and_host() {
        assert_eq!(
            variants(Kind::Url, "https://example.com/a?b=c"),
            [(Kind::DomainName, "example.com".to_owned(), Reason::Host)]
        );
        assert_eq!(
            variants(Kind::Url, "hxxps://evil[.]example/login"),
            [
                (
                    Kind::Url,
                    "https://evil.example/login".to_owned(),
                    Reason::Refanged
                ),
                (Kind::DomainName, "evil.example".to_owned(), Reason::Host),
            ]
        );
        assert_eq!(
            variants(Kind::Url, "HTTP://Bücher.Example:80"),
            [
                (
                    Kind::Url,
                    "http://xn--bcher-kva.example".to_owned(),
                    Reason::Normalised
                ),
                (
                    Kind::DomainName,
                    "xn--bcher-kva.example".to_owned(),
                    Reason::Host
                ),
            ]
        );
        assert_eq!(
            variants(Kind::Url, "http://[2001:db8::1]:8080/"),
            [(Kind::Ipv6, "2001:db8::1".to_owned(), Reason::Host)]
        );
        assert!(analyse(Kind::Url, "no scheme here").is_err());
        assert!(matches!(
            analyse(
                Kind::Url,
                &format!("http://a.example/{}", "a".repeat(MAX_VALUE_BYTES))
            ),
            Err(MappingError::TooLong { .. })
        ));
    }

    #[test]
    fn variants_are_related_to_the_entity_and_marked_as_it_is() {
        let entity = serde_json::json!({"type": "domain-name", "id": "domain-name--5a3f4c2e-0c1d-5f1e-9b8a-2f0c1d2e3f40",
            "value": "bücher.example", "object_marking_refs": ["marking-definition--green"]});
        let findings = analyse(Kind::DomainName, "bücher.example").unwrap();
        let author = author().unwrap();
        let objects = variant_objects(&entity, &findings, &author).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0]["type"], "domain-name");
        assert_eq!(objects[0]["value"], "xn--bcher-kva.example");
        assert_eq!(objects[1]["type"], "relationship");
        assert_eq!(objects[1]["relationship_type"], "related-to");
        assert_eq!(objects[1]["source_ref"], entity["id"]);
        assert_eq!(objects[1]["target_ref"], objects[0]["id"]);
        for object in &objects {
            assert_eq!(
                object["object_marking_refs"],
                serde_json::json!(["marking-definition--green"])
            );
            assert_eq!(object["created_by_ref"].as_str(), Some(author.id()));
        }
        // Deterministic ids: the same finding twice is the same objects
        // (the relationship's `created` is the time of the call).
        let ids = |objects: &[Value]| -> Vec<Value> {
            objects.iter().map(|object| object["id"].clone()).collect()
        };
        assert_eq!(
            ids(&objects),
            ids(&variant_objects(&entity, &findings, &author).unwrap())
        );
    }

    #[test]
    fn a_label_is_added_once_next_to_the_existing_ones() {
        let entity = serde_json::json!({"type": "ipv4-addr", "labels": ["seen"]});
        let labelled = with_label(&with_label(&entity, "ip-private"), "ip-private");
        assert_eq!(
            labelled["labels"],
            serde_json::json!(["seen", "ip-private"])
        );
        let bare = with_label(&serde_json::json!({"type": "ipv4-addr"}), "ip-loopback");
        assert_eq!(bare["labels"], serde_json::json!(["ip-loopback"]));
    }
}
