//! From stream events to Sekoia IoC-collection changes. Pure: no I/O.
//!
//! The Python connector reads patterns with stix-shifter's `parse`
//! translation; [`parse_pattern`] reproduces what it yields, quirks
//! included, so the requests are the same byte for byte:
//!
//! - observations keep their order, but the comparisons inside one
//!   observation come out last first (`[a = '1' OR a = '2']` gives `2`, then
//!   `1`);
//! - the comparison operator is not looked at (`!=`, `LIKE`, `MATCHES` values
//!   are values like any other);
//! - string values keep the backslash of an escaped quote (`'it\'s'` gives
//!   `it\'s`), and only strings are IoC values: numbers, sets (`IN`) and
//!   timestamps are dropped;
//! - the import `format` comes from the first comparison only, by substring
//!   of its `object:path`.

use opencti_connector::stream::event::{EventKind, OPENCTI_EXTENSION, StreamEvent};
use opencti_stix::pattern::{
    ComparisonExpression, Literal, ObservationExpression, Pattern, PatternError, Predicate,
    PropertyTest,
};
use serde_json::{Map, Value};

/// Why an indicator cannot become an IoC import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// A STIX indicator without a string `pattern`.
    #[error("indicator {id} has no STIX pattern")]
    MissingPattern {
        /// The indicator's STIX id.
        id: String,
    },
    /// The pattern does not parse.
    #[error("cannot parse the STIX pattern of indicator {id}: {reason}")]
    Pattern {
        /// The indicator's STIX id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The value of one comparison, as stix-shifter hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedValue {
    /// A string (also `b'…'` and `h'…'` literals, which stix-shifter keeps as
    /// written).
    Text(String),
    /// A number, a set, a timestamp or a boolean: never an IoC value.
    Other,
}

/// One comparison of a pattern: `object:path` and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedComparison {
    /// `object-type:path`, quotes removed (`file:hashes.SHA-256`).
    pub attribute: String,
    /// The compared value.
    pub value: ParsedValue,
}

/// The comparisons of `pattern` in stix-shifter's order (see the module
/// documentation).
///
/// # Errors
///
/// The parser's message when the pattern is not valid STIX 2.1.
pub fn parse_pattern(pattern: &str) -> Result<Vec<ParsedComparison>, String> {
    let (parsed, renamed) =
        parse_without_hash_checks(pattern).map_err(|error| error.to_string())?;
    let mut found = Vec::new();
    collect_observation(&parsed.expression, &mut found);
    for comparison in &mut found {
        // Latest first, so that `xhash1` is not taken for the start of `xhash10`.
        for (placeholder, algorithm) in renamed.iter().rev() {
            comparison.attribute = comparison.attribute.replace(placeholder, algorithm);
        }
    }
    Ok(found)
}

/// Most hash keys renamed in one pattern before giving up.
const MAX_RENAMED_HASH_KEYS: usize = 64;

/// Parses `pattern` as stix-shifter does: its grammar, without the
/// validator's check of hash literals (`[file:hashes.MD5 = 'aaaa']` is
/// accepted). `opencti-stix` applies that check, so each key it complains
/// about is renamed to a placeholder no algorithm is called, and the
/// pattern parsed again; the renamings are returned to be undone.
fn parse_without_hash_checks(
    pattern: &str,
) -> Result<(Pattern, Vec<(String, String)>), PatternError> {
    let mut text: Vec<char> = pattern.chars().collect();
    let mut renamed: Vec<(String, String)> = Vec::new();
    loop {
        let error = match Pattern::parse(&text.iter().collect::<String>()) {
            Ok(parsed) => return Ok((parsed, renamed)),
            Err(error) => error,
        };
        let PatternError::InvalidHash {
            position,
            algorithm,
            ..
        } = &error
        else {
            return Err(error);
        };
        let key: Vec<char> = algorithm.chars().collect();
        let found = (position.offset..=text.len().saturating_sub(key.len()))
            .find(|&start| !key.is_empty() && text[start..].starts_with(&key));
        let (Some(start), true) = (found, renamed.len() < MAX_RENAMED_HASH_KEYS) else {
            return Err(error);
        };
        let placeholder = format!("xhash{}", renamed.len());
        text.splice(start..start + key.len(), placeholder.chars());
        renamed.push((placeholder, algorithm.clone()));
    }
}

fn collect_observation(expression: &ObservationExpression, found: &mut Vec<ParsedComparison>) {
    match expression {
        ObservationExpression::Observation { comparison, .. } => {
            collect_comparison(comparison, found);
        }
        ObservationExpression::Group { expression, .. } => collect_observation(expression, found),
        ObservationExpression::Compound { operands, .. } => {
            for operand in operands {
                collect_observation(operand, found);
            }
        }
    }
}

/// stix-shifter's listener builds each AND/OR node with its operands
/// swapped, and its translator walks them in that order: last first.
fn collect_comparison(expression: &ComparisonExpression, found: &mut Vec<ParsedComparison>) {
    match expression {
        ComparisonExpression::And(operands) | ComparisonExpression::Or(operands) => {
            for operand in operands.iter().rev() {
                collect_comparison(operand, found);
            }
        }
        ComparisonExpression::Test(PropertyTest {
            path, predicate, ..
        }) => {
            let value = match predicate {
                Predicate::Equal(literal)
                | Predicate::NotEqual(literal)
                | Predicate::Less(literal)
                | Predicate::LessOrEqual(literal)
                | Predicate::Greater(literal)
                | Predicate::GreaterOrEqual(literal) => literal_value(literal),
                Predicate::In(_) => ParsedValue::Other,
                Predicate::Like(text)
                | Predicate::Matches(text)
                | Predicate::IsSubset(text)
                | Predicate::IsSuperset(text) => ParsedValue::Text(shifter_string(text)),
            };
            found.push(ParsedComparison {
                attribute: format!("{}:{}", path.object_type, path.property_path()),
                value,
            });
        }
        ComparisonExpression::Exists(_) => {}
    }
}

fn literal_value(literal: &Literal) -> ParsedValue {
    match literal {
        Literal::String(text) => ParsedValue::Text(shifter_string(text)),
        Literal::Binary(base64) => ParsedValue::Text(format!("b'{base64}'")),
        Literal::Hex(hex) => ParsedValue::Text(format!("h'{hex}'")),
        Literal::Integer(_) | Literal::Float(_) | Literal::Boolean(_) | Literal::Timestamp(_) => {
            ParsedValue::Other
        }
    }
}

/// A string literal as stix-shifter returns it: the literal as written,
/// every quote at either end stripped, and `\\` turned into `\` (so an
/// escaped quote keeps its backslash).
fn shifter_string(unescaped: &str) -> String {
    let written = format!("'{}'", unescaped.replace('\\', "\\\\").replace('\'', "\\'"));
    written.trim_matches('\'').replace("\\\\", "\\")
}

/// The `format` of a Sekoia text import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IocFormat {
    /// `ipv4-addr.value`
    Ipv4,
    /// `ipv6-addr.value`
    Ipv6,
    /// `domain-name.value`
    DomainName,
    /// `url.value`
    Url,
    /// `email-addr.value`
    Email,
    /// `file.hashes`
    FileHashes,
    /// `one_per_line`
    OnePerLine,
}

impl IocFormat {
    /// The name Sekoia expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ipv4 => "ipv4-addr.value",
            Self::Ipv6 => "ipv6-addr.value",
            Self::DomainName => "domain-name.value",
            Self::Url => "url.value",
            Self::Email => "email-addr.value",
            Self::FileHashes => "file.hashes",
            Self::OnePerLine => "one_per_line",
        }
    }

    /// The format of an `object:path` attribute: the first of `ipv4`,
    /// `ipv6`, `domain`, `url`, `email`, `hashes` it contains.
    pub fn of_attribute(attribute: &str) -> Self {
        const BY_SUBSTRING: [(&str, IocFormat); 6] = [
            ("ipv4", IocFormat::Ipv4),
            ("ipv6", IocFormat::Ipv6),
            ("domain", IocFormat::DomainName),
            ("url", IocFormat::Url),
            ("email", IocFormat::Email),
            ("hashes", IocFormat::FileHashes),
        ];
        BY_SUBSTRING
            .iter()
            .find(|(needle, _)| attribute.contains(needle))
            .map_or(Self::OnePerLine, |(_, format)| *format)
    }
}

impl std::fmt::Display for IocFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `POST …/indicators/text` body: values sharing a format, validity,
/// kill chain and description.
#[derive(Debug, Clone, PartialEq)]
pub struct IocImport {
    /// The import format.
    pub format: IocFormat,
    /// The values, in pattern order (never empty).
    pub values: Vec<String>,
    /// The indicator's `kill_chain_phases`, verbatim.
    pub kill_chain_phases: Option<Value>,
    /// The indicator's `valid_from`, verbatim.
    pub valid_from: Option<Value>,
    /// The indicator's `valid_until`, verbatim.
    pub valid_until: Option<Value>,
    /// The link back to the indicator in OpenCTI.
    pub description: Option<String>,
}

impl IocImport {
    /// The JSON body, keys in the Python connector's order, absent ones left out.
    pub fn body(&self) -> Value {
        self.body_with(&self.values)
    }

    /// The body for a subset of the values.
    pub fn body_with(&self, values: &[String]) -> Value {
        let mut body = Map::new();
        body.insert("format".to_owned(), Value::from(self.format.as_str()));
        body.insert("indicators".to_owned(), Value::from(values.join("\n")));
        let optional = [
            ("kill_chain_phases", self.kill_chain_phases.clone()),
            ("valid_from", self.valid_from.clone()),
            ("valid_until", self.valid_until.clone()),
            ("description", self.description.clone().map(Value::from)),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                body.insert(key.to_owned(), value);
            }
        }
        Value::Object(body)
    }

    /// Everything but the values: imports with equal keys can share a request.
    pub fn group_key(&self) -> String {
        self.body_with(&[]).to_string()
    }
}

/// What one stream event asks of Sekoia.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Nothing (not a STIX indicator, or no string value in its pattern).
    Nothing,
    /// Push these values.
    Push(Box<IocImport>),
    /// Revoke every IoC holding one of these values.
    Revoke(Vec<String>),
}

/// What `kind` of event on `object` asks of Sekoia. `opencti_url` is the
/// platform's address, for the link in the IoC description.
///
/// # Errors
///
/// A STIX indicator whose pattern is missing or does not parse.
pub fn action(
    kind: EventKind,
    object: &Map<String, Value>,
    opencti_url: &str,
) -> Result<Action, MappingError> {
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    if text("type") != Some("indicator") || text("pattern_type") != Some("stix") {
        return Ok(Action::Nothing);
    }
    let revoked = object.get("revoked").and_then(Value::as_bool) == Some(true);
    let revoke = match kind {
        EventKind::Create | EventKind::Update => revoked,
        EventKind::Delete => true,
        _ => return Ok(Action::Nothing),
    };
    let Some(import) = ioc_import(object, opencti_url)? else {
        return Ok(Action::Nothing);
    };
    Ok(if revoke {
        Action::Revoke(revoked_values(&import.values))
    } else {
        Action::Push(Box::new(import))
    })
}

/// What `event` asks of Sekoia, in order: [`action`], preceded for an
/// update that changed the pattern by the revocation of the values the
/// previous pattern had and the new one has not (the Python connector left
/// them active).
///
/// # Errors
///
/// As [`action`]; a previous pattern that does not parse is only logged.
pub fn actions(event: &StreamEvent, opencti_url: &str) -> Result<Vec<Action>, MappingError> {
    let kind = event.kind;
    let current = action(kind, event.object.as_map(), opencti_url)?;
    let mut steps = Vec::with_capacity(2);
    if kind == EventKind::Update
        && let Some(previous) = event.previous_fields(&PATTERN_FIELDS)
    {
        let previous_values = match action(EventKind::Delete, &previous, opencti_url) {
            Ok(Action::Revoke(values)) => values,
            Ok(_) => Vec::new(),
            Err(error) => {
                tracing::debug!(%error, "the previous pattern gives no value to revoke");
                Vec::new()
            }
        };
        let current_values: Vec<String> = match &current {
            Action::Push(import) => revoked_values(&import.values),
            Action::Revoke(values) => values.clone(),
            Action::Nothing => Vec::new(),
        };
        let mut stale: Vec<String> = Vec::new();
        for value in previous_values {
            if !current_values.contains(&value) && !stale.contains(&value) {
                stale.push(value);
            }
        }
        if !stale.is_empty() {
            steps.push(Action::Revoke(stale));
        }
    }
    steps.push(current);
    Ok(steps)
}

/// The top-level fields whose change may revoke values.
const PATTERN_FIELDS: [&str; 3] = ["type", "pattern", "pattern_type"];

/// The IoC import of a STIX indicator; `None` when its pattern holds no
/// string value.
///
/// # Errors
///
/// A missing or unparsable pattern.
pub fn ioc_import(
    indicator: &Map<String, Value>,
    opencti_url: &str,
) -> Result<Option<IocImport>, MappingError> {
    let id = || {
        indicator
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let pattern = indicator
        .get("pattern")
        .and_then(Value::as_str)
        .ok_or_else(|| MappingError::MissingPattern { id: id() })?;
    let parsed =
        parse_pattern(pattern).map_err(|reason| MappingError::Pattern { id: id(), reason })?;
    let Some(first) = parsed.first() else {
        return Ok(None);
    };
    let format = IocFormat::of_attribute(&first.attribute);
    let values: Vec<String> = parsed
        .iter()
        .filter_map(|comparison| match &comparison.value {
            ParsedValue::Text(text) => Some(text.clone()),
            ParsedValue::Other => None,
        })
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    let verbatim = |key: &str| indicator.get(key).filter(|value| !value.is_null()).cloned();
    Ok(Some(IocImport {
        format,
        values,
        kill_chain_phases: verbatim("kill_chain_phases"),
        valid_from: verbatim("valid_from"),
        valid_until: verbatim("valid_until"),
        description: opencti_id(indicator).map(|id| {
            format!(
                "{}/dashboard/observations/indicators/{id}",
                opencti_url.trim_end_matches('/')
            )
        }),
    }))
}

/// The indicator's OpenCTI id: from the OpenCTI extension, else (as the
/// Python connector always did) from the first extension carrying an `id`.
fn opencti_id(indicator: &Map<String, Value>) -> Option<&str> {
    let extensions = indicator.get("extensions")?.as_object()?;
    fn id_of(extension: &Value) -> Option<&str> {
        extension.get("id").and_then(Value::as_str)
    }
    extensions
        .get(OPENCTI_EXTENSION)
        .and_then(id_of)
        .or_else(|| extensions.values().find_map(id_of))
}

/// The values to revoke: each non-empty line of the import's `indicators`.
fn revoked_values(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|value| value.split('\n'))
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `(attribute, value)` pairs, `None` for non-string values.
    fn parsed(pattern: &str) -> Vec<(String, Option<String>)> {
        parse_pattern(pattern)
            .unwrap()
            .into_iter()
            .map(|comparison| {
                let value = match comparison.value {
                    ParsedValue::Text(text) => Some(text),
                    ParsedValue::Other => None,
                };
                (comparison.attribute, value)
            })
            .collect()
    }

    fn indicator(pattern: &str) -> Map<String, Value> {
        let Value::Object(object) = json!({
            "type": "indicator",
            "id": "indicator--3ae0b0a2-7289-5fda-8a85-02d057ba0968",
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": "2025-11-24T10:00:00.000Z",
            "valid_until": "2026-02-22T10:00:00.000Z",
            "revoked": false,
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}],
            "extensions": {OPENCTI_EXTENSION: {"id": "5c8b1f0e-2d9a-4c61-9f3e-7a1b2c3d4e5f", "type": "Indicator"}},
        }) else {
            unreachable!()
        };
        object
    }

    /// `(format, indicators)` of the import of `pattern`, `None` without one.
    fn converted(pattern: &str) -> Option<(&'static str, String)> {
        ioc_import(&indicator(pattern), "https://opencti.example.org")
            .unwrap()
            .map(|import| (import.format.as_str(), import.values.join("\n")))
    }

    #[test]
    fn stix_shifter_vectors() {
        let cases: [(&str, Option<(&str, &str)>); 12] = [
            (
                "[ipv4-addr:value = '172.86.102.98']",
                Some(("ipv4-addr.value", "172.86.102.98")),
            ),
            (
                "[ipv4-addr:value = '10.0.0.1' OR ipv4-addr:value = '10.0.0.2']",
                Some(("ipv4-addr.value", "10.0.0.2\n10.0.0.1")),
            ),
            (
                "[file:hashes.MD5 = 'aaaa' OR file:hashes.'SHA-1' = 'bbbb']",
                Some(("file.hashes", "bbbb\naaaa")),
            ),
            (
                "[file:hashes.'SHA-256' = '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f']",
                Some((
                    "file.hashes",
                    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
                )),
            ),
            (
                "[domain-name:value = 'a.com'] AND [ipv4-addr:value = '1.2.3.4']",
                Some(("domain-name.value", "a.com\n1.2.3.4")),
            ),
            (
                "[url:value = 'http://evil.example.com/a?b=c']",
                Some(("url.value", "http://evil.example.com/a?b=c")),
            ),
            (
                r"[url:value = 'http://x/it\'s']",
                Some(("url.value", r"http://x/it\'s")),
            ),
            (
                "[email-message:from_ref.value = 'x@y.com']",
                Some(("email-addr.value", "x@y.com")),
            ),
            (
                "[network-traffic:dst_ref.value = '1.2.3.4' AND network-traffic:dst_port = 443]",
                Some(("one_per_line", "1.2.3.4")),
            ),
            ("[autonomous-system:number = 1234]", None),
            ("[ipv4-addr:value IN ('1.1.1.1','2.2.2.2')]", None),
            (
                "[fake-type:value = '172.86.102.98']",
                Some(("one_per_line", "172.86.102.98")),
            ),
        ];
        for (pattern, expected) in cases {
            let expected = expected.map(|(format, values)| (format, values.to_owned()));
            assert_eq!(converted(pattern), expected, "{pattern}");
        }
        let error = ioc_import(&indicator("not a pattern"), "https://o").unwrap_err();
        assert!(
            matches!(&error, MappingError::Pattern { id, .. } if id.starts_with("indicator--")),
            "{error}"
        );
    }

    #[test]
    fn comparisons_come_out_last_first_within_an_observation() {
        assert_eq!(
            parsed(
                "[network-traffic:dst_ref.value = '1.2.3.4' AND network-traffic:dst_port = 443]"
            ),
            [
                ("network-traffic:dst_port".to_owned(), None),
                (
                    "network-traffic:dst_ref.value".to_owned(),
                    Some("1.2.3.4".to_owned())
                ),
            ]
        );
        let values: Vec<_> = parsed(
            "[a:v = '1' OR (a:v = '2' AND a:v = '3')] FOLLOWEDBY [b:v = '4' OR b:v = '5'] WITHIN 5 SECONDS",
        )
        .into_iter()
        .filter_map(|(_, value)| value)
        .collect();
        assert_eq!(values, ["3", "2", "1", "5", "4"]);
        assert_eq!(
            parsed("[file:hashes.MD5 = 'aaaa' OR file:hashes.'SHA-1' = 'bbbb']"),
            [
                ("file:hashes.SHA-1".to_owned(), Some("bbbb".to_owned())),
                ("file:hashes.MD5".to_owned(), Some("aaaa".to_owned())),
            ]
        );
    }

    #[test]
    fn operators_are_ignored_and_literals_kept_as_stix_shifter_does() {
        let values: Vec<_> = parsed(
            r"[url:value != 'a' AND url:value LIKE 'b%' AND url:value MATCHES '^c\\d' AND url:value NOT = 'd']",
        )
        .into_iter()
        .filter_map(|(_, value)| value)
        .collect();
        assert_eq!(values, ["d", r"^c\d", "b%", "a"]);
        assert_eq!(
            parsed("[artifact:payload_bin = b'AAEC' OR file:x = h'00ff' OR file:y = 1.5 OR file:z = t'2020-01-01T00:00:00Z']")
                .into_iter()
                .map(|(_, value)| value)
                .collect::<Vec<_>>(),
            [None, None, Some("h'00ff'".to_owned()), Some("b'AAEC'".to_owned())]
        );
        // A value ending with an escaped quote loses it, as strip("'") does.
        assert_eq!(parsed(r"[x:y = 'it\'']")[0].1.as_deref(), Some(r"it\"));
        assert_eq!(parsed(r"[x:y = 'a\\b']")[0].1.as_deref(), Some(r"a\b"));
    }

    #[test]
    fn the_body_follows_the_python_key_order() {
        let import = ioc_import(
            &indicator("[ipv4-addr:value = '10.0.0.1' OR ipv4-addr:value = '10.0.0.2']"),
            "https://opencti.example.org",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            import.body().to_string(),
            json!({
                "format": "ipv4-addr.value",
                "indicators": "10.0.0.2\n10.0.0.1",
                "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}],
                "valid_from": "2025-11-24T10:00:00.000Z",
                "valid_until": "2026-02-22T10:00:00.000Z",
                "description": "https://opencti.example.org/dashboard/observations/indicators/5c8b1f0e-2d9a-4c61-9f3e-7a1b2c3d4e5f",
            })
            .to_string()
        );
    }

    #[test]
    fn absent_and_null_properties_are_left_out() {
        let mut object = indicator("[ipv4-addr:value = '172.86.102.98']");
        object.remove("valid_until");
        object.insert("kill_chain_phases".to_owned(), Value::Null);
        object.remove("extensions");
        let import = ioc_import(&object, "https://o").unwrap().unwrap();
        assert_eq!(
            import.body(),
            json!({"format": "ipv4-addr.value", "indicators": "172.86.102.98", "valid_from": "2025-11-24T10:00:00.000Z"})
        );
        // The Python test's kill chain is a string: forwarded as it is.
        object.insert("kill_chain_phases".to_owned(), json!("[]"));
        let import = ioc_import(&object, "https://o").unwrap().unwrap();
        assert_eq!(import.body()["kill_chain_phases"], json!("[]"));
    }

    #[test]
    fn the_description_uses_the_opencti_extension_and_no_double_slash() {
        let mut object = indicator("[ipv4-addr:value = '1.2.3.4']");
        object.insert(
            "extensions".to_owned(),
            json!({
                "extension-definition--00000000-0000-4000-8000-000000000000": {"id": "not-opencti"},
                OPENCTI_EXTENSION: {"id": "opencti-internal-id"},
            }),
        );
        let import = ioc_import(&object, "https://opencti.example.org/")
            .unwrap()
            .unwrap();
        assert_eq!(
            import.description.as_deref(),
            Some(
                "https://opencti.example.org/dashboard/observations/indicators/opencti-internal-id"
            )
        );
        object.insert(
            "extensions".to_owned(),
            json!({"extension-definition--x": {"id": "first"}}),
        );
        let import = ioc_import(&object, "https://o").unwrap().unwrap();
        assert_eq!(
            import.description.as_deref(),
            Some("https://o/dashboard/observations/indicators/first")
        );
    }

    #[test]
    fn events_become_pushes_revocations_or_nothing() {
        let url = "https://o";
        let active = indicator("[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']");
        let mut revoked = active.clone();
        revoked.insert("revoked".to_owned(), json!(true));
        let mut yara = active.clone();
        yara.insert("pattern_type".to_owned(), json!("yara"));
        let mut observable = active.clone();
        observable.insert("type".to_owned(), json!("ipv4-addr"));

        assert!(matches!(
            action(EventKind::Create, &active, url),
            Ok(Action::Push(_))
        ));
        assert!(matches!(
            action(EventKind::Update, &active, url),
            Ok(Action::Push(_))
        ));
        let both = Action::Revoke(vec!["5.6.7.8".to_owned(), "1.2.3.4".to_owned()]);
        assert_eq!(action(EventKind::Update, &revoked, url).unwrap(), both);
        assert_eq!(action(EventKind::Create, &revoked, url).unwrap(), both);
        assert_eq!(action(EventKind::Delete, &active, url).unwrap(), both);
        for (kind, object) in [
            (EventKind::Create, &yara),
            (EventKind::Delete, &yara),
            (EventKind::Create, &observable),
            (EventKind::Merge, &active),
        ] {
            assert_eq!(action(kind, object, url).unwrap(), Action::Nothing);
        }
        let mut no_value = active.clone();
        no_value.insert(
            "pattern".to_owned(),
            json!("[autonomous-system:number = 1]"),
        );
        assert_eq!(
            action(EventKind::Delete, &no_value, url).unwrap(),
            Action::Nothing
        );
        let mut no_pattern = active;
        no_pattern.remove("pattern");
        assert!(matches!(
            action(EventKind::Create, &no_pattern, url),
            Err(MappingError::MissingPattern { .. })
        ));
    }

    /// An event of `kind` on `object` whose context undoes `reverse_patch`.
    fn event(kind: EventKind, object: &Map<String, Value>, reverse_patch: &[Value]) -> StreamEvent {
        let context = json!({ "reverse_patch": reverse_patch });
        StreamEvent::for_test("1-0", kind, Value::Object(object.clone()), Some(context))
    }

    #[test]
    fn a_changed_pattern_revokes_the_values_it_lost() {
        let url = "https://o";
        let object = indicator("[ipv4-addr:value = '10.0.0.2' OR ipv4-addr:value = '10.0.0.3']");
        let reverse = [json!({"op": "replace", "path": "/pattern",
            "value": "[ipv4-addr:value = '10.0.0.1' OR ipv4-addr:value = '10.0.0.2']"})];
        let steps = actions(&event(EventKind::Update, &object, &reverse), url).unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0], Action::Revoke(vec!["10.0.0.1".to_owned()]));
        assert!(
            matches!(&steps[1], Action::Push(import) if import.values == ["10.0.0.3", "10.0.0.2"])
        );

        // Other changes, creations and deletions: only the event's own action.
        let other = [json!({"op": "replace", "path": "/name", "value": "old"})];
        assert_eq!(
            actions(&event(EventKind::Update, &object, &other), url)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            actions(&event(EventKind::Create, &object, &reverse), url)
                .unwrap()
                .len(),
            1
        );
        // A previous pattern that was not STIX had nothing in Sekoia.
        let was_yara = [
            reverse[0].clone(),
            json!({"op": "replace", "path": "/pattern_type", "value": "yara"}),
        ];
        assert_eq!(
            actions(&event(EventKind::Update, &object, &was_yara), url)
                .unwrap()
                .len(),
            1
        );
        let was_garbage = [json!({"op": "replace", "path": "/pattern", "value": "garbage"})];
        assert_eq!(
            actions(&event(EventKind::Update, &object, &was_garbage), url)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn the_python_connector_unit_tests() {
        let mut object = indicator("[ipv4-addr:value = '172.86.102.98']");
        object.insert("valid_from".to_owned(), json!("2024-01-01T00:00:00.000Z"));
        object.insert("valid_until".to_owned(), json!("2024-12-31T00:00:00.000Z"));
        object.insert("confidence".to_owned(), json!(70));
        object.insert("kill_chain_phases".to_owned(), json!("[]"));
        let import = ioc_import(&object, "https://o").unwrap().unwrap();
        assert_eq!(import.format.as_str(), "ipv4-addr.value");
        assert_eq!(import.body()["indicators"], "172.86.102.98");
        object.insert(
            "pattern".to_owned(),
            json!("[fake-type:value = '172.86.102.98']"),
        );
        let import = ioc_import(&object, "https://o").unwrap().unwrap();
        assert_eq!(import.format.as_str(), "one_per_line");
        assert_eq!(import.body()["indicators"], "172.86.102.98");
    }
}
