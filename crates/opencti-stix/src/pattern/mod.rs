//! STIX 2.1 patterns: building them, parsing them, and extracting the plain
//! equalities (the observables an indicator names).
//!
//! [`Pattern::parse`] accepts exactly what the reference validator
//! (stix2-patterns 2.1.2, `validate(pattern, stix_version="2.1")`) accepts:
//! the STIX 2.1 grammar with its case-sensitive keywords, the requirement to
//! start with `[` or `([`, hash literal formats for `hashes.<algorithm>`
//! paths, and no repeated qualifier type on one observation. Malformed
//! patterns give a [`PatternError`] with the position and what was expected.
//!
//! [`equality_pattern`] builds the canonical single-comparison pattern of an
//! observable, and [`create_stix_pattern`] is a port of pycti's
//! `OpenCTIStix2Utils.create_stix_pattern`, quirks included.
//!
//! ```
//! use opencti_stix::pattern::{Pattern, equality_pattern};
//! use serde_json::json;
//!
//! let text = equality_pattern("file", &["hashes", "SHA-256"], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")?;
//! assert_eq!(text, "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']");
//!
//! let pattern = Pattern::parse(
//!     "[ipv4-addr:value = '198.51.100.7' OR ipv4-addr:value != '10.0.0.1'] \
//!      FOLLOWEDBY [url:value = 'http://evil.example/it\\'s'] WITHIN 60 SECONDS",
//! )?;
//! let found: Vec<_> = pattern
//!     .equalities()
//!     .into_iter()
//!     .map(|equality| (equality.object_type, equality.path, equality.value))
//!     .collect();
//! assert_eq!(found, [
//!     ("ipv4-addr".to_owned(), "value".to_owned(), json!("198.51.100.7")),
//!     ("url".to_owned(), "value".to_owned(), json!("http://evil.example/it's")),
//! ]);
//!
//! assert!(Pattern::parse("[ipv4-addr:value = '1.2.3.4'] and [url:value = 'x']").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod lexer;
mod parser;
mod pycti;

use std::fmt;

use serde::Serialize;
use serde_json::Value;

pub use pycti::create_stix_pattern;

/// A parsed (and validated) STIX 2.1 pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// The whole pattern.
    pub expression: ObservationExpression,
}

/// An observation expression: observations combined with AND/OR/FOLLOWEDBY.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationExpression {
    /// `[ comparison ]` followed by its qualifiers.
    Observation {
        /// What the observed objects must satisfy.
        comparison: ComparisonExpression,
        /// Qualifiers in source order.
        qualifiers: Vec<Qualifier>,
    },
    /// `( expression )` followed by its qualifiers.
    Group {
        /// The parenthesised expression.
        expression: Box<ObservationExpression>,
        /// Qualifiers in source order.
        qualifiers: Vec<Qualifier>,
    },
    /// Two or more expressions joined by one operator (left-associative).
    Compound {
        /// The operator joining every operand.
        operator: ObservationOperator,
        /// The operands, in source order.
        operands: Vec<ObservationExpression>,
    },
}

/// Operators between observation expressions, loosest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObservationOperator {
    /// `FOLLOWEDBY`
    FollowedBy,
    /// `OR`
    Or,
    /// `AND`
    And,
}

/// A qualifier of an observation expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Qualifier {
    /// `WITHIN n SECONDS`; `seconds` is a non-negative [`Literal::Integer`]
    /// or [`Literal::Float`].
    Within {
        /// The window length.
        seconds: Literal,
    },
    /// `REPEATS n TIMES`
    Repeats {
        /// How many times (non-negative).
        times: IntegerLiteral,
    },
    /// `START t'...' STOP t'...'` (the timestamps as written, without `t'`).
    StartStop {
        /// Start of the window.
        start: String,
        /// End of the window.
        stop: String,
    },
}

impl Qualifier {
    fn name(&self) -> &'static str {
        match self {
            Self::Within { .. } => "WITHIN",
            Self::Repeats { .. } => "REPEATS",
            Self::StartStop { .. } => "START/STOP",
        }
    }
}

/// The inside of an observation.
#[derive(Debug, Clone, PartialEq)]
pub enum ComparisonExpression {
    /// Every operand holds (`AND`).
    And(Vec<ComparisonExpression>),
    /// One operand holds (`OR`).
    Or(Vec<ComparisonExpression>),
    /// A property test.
    Test(PropertyTest),
    /// `EXISTS path`
    Exists(ObjectPath),
}

/// `path [NOT] operator operand`
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyTest {
    /// The tested property.
    pub path: ObjectPath,
    /// Whether the operator is preceded by `NOT`.
    pub negated: bool,
    /// The operator and its operand.
    pub predicate: Predicate,
}

/// A comparison operator with its operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// `=` or `==`
    Equal(Literal),
    /// `!=` or `<>`
    NotEqual(Literal),
    /// `<`
    Less(Literal),
    /// `<=`
    LessOrEqual(Literal),
    /// `>`
    Greater(Literal),
    /// `>=`
    GreaterOrEqual(Literal),
    /// `IN (a, b, ...)`
    In(Vec<Literal>),
    /// `LIKE '...'`
    Like(String),
    /// `MATCHES '...'`
    Matches(String),
    /// `ISSUBSET '...'`
    IsSubset(String),
    /// `ISSUPERSET '...'`
    IsSuperset(String),
}

/// `object-type:property.key[index]...`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectPath {
    /// The object type, as written (the grammar does not check its case).
    pub object_type: String,
    /// The first property name.
    pub property: String,
    /// The steps after the first property.
    pub steps: Vec<PathStep>,
}

/// One step of an object path after its first property.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// `.key` (or `.'quoted-key'`)
    Key(String),
    /// `[n]`
    Index(IntegerLiteral),
    /// `[*]`
    AnyIndex,
}

impl ObjectPath {
    /// A path of plain keys: `object_type:first.second...`.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidObjectType`] when the type cannot be written in a
    /// pattern, [`BuildError::EmptyPath`] without keys.
    pub fn from_keys(object_type: &str, keys: &[&str]) -> Result<Self, BuildError> {
        if !is_object_type(object_type) {
            return Err(BuildError::InvalidObjectType {
                object_type: object_type.to_owned(),
            });
        }
        let (first, rest) = keys.split_first().ok_or(BuildError::EmptyPath)?;
        Ok(Self {
            object_type: object_type.to_owned(),
            property: (*first).to_owned(),
            steps: rest
                .iter()
                .map(|key| PathStep::Key((*key).to_owned()))
                .collect(),
        })
    }

    /// The path without its object type and without quotes, as the pycti
    /// fixtures write it: `hashes.SHA-256`, `to_refs[*].value`.
    #[must_use]
    pub fn property_path(&self) -> String {
        let mut path = self.property.clone();
        for step in &self.steps {
            match step {
                PathStep::Key(key) => {
                    path.push('.');
                    path.push_str(key);
                }
                PathStep::Index(index) => path.push_str(&format!("[{index}]")),
                PathStep::AnyIndex => path.push_str("[*]"),
            }
        }
        path
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'` (unescaped).
    String(String),
    /// `42`, `-1`
    Integer(IntegerLiteral),
    /// `7.25`
    Float(f64),
    /// `true` / `false`
    Boolean(bool),
    /// `b'base64'` (the base64 text).
    Binary(String),
    /// `h'hex'` (the hex digits).
    Hex(String),
    /// `t'2020-01-01T00:00:00Z'` (the timestamp text).
    Timestamp(String),
}

impl Literal {
    /// The value as JSON, for strings, integers, floats and booleans.
    #[must_use]
    pub fn to_json(&self) -> Option<Value> {
        match self {
            Self::String(text) => Some(Value::String(text.clone())),
            Self::Integer(integer) => Some(integer.to_json()),
            Self::Float(float) => Some(Value::from(*float)),
            Self::Boolean(boolean) => Some(Value::Bool(*boolean)),
            Self::Binary(_) | Self::Hex(_) | Self::Timestamp(_) => None,
        }
    }
}

impl From<&str> for Literal {
    fn from(text: &str) -> Self {
        Self::String(text.to_owned())
    }
}

impl From<String> for Literal {
    fn from(text: String) -> Self {
        Self::String(text)
    }
}

impl From<i64> for Literal {
    fn from(integer: i64) -> Self {
        Self::Integer(integer.into())
    }
}

impl From<u64> for Literal {
    fn from(integer: u64) -> Self {
        Self::Integer(integer.into())
    }
}

impl From<f64> for Literal {
    fn from(float: f64) -> Self {
        Self::Float(float)
    }
}

impl From<bool> for Literal {
    fn from(boolean: bool) -> Self {
        Self::Boolean(boolean)
    }
}

/// An integer of any size, as patterns allow (Python's integers are unbounded).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IntegerLiteral {
    negative: bool,
    /// Decimal digits without leading zeros (`"0"` for zero).
    digits: String,
}

impl IntegerLiteral {
    /// Parses an integer token (`[+-]?(0|[1-9][0-9]*)`).
    fn from_token(text: &str) -> Self {
        let (negative, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        Self {
            negative: negative && digits != "0",
            digits: digits.to_owned(),
        }
    }

    /// Whether the value is below zero.
    #[must_use]
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The value, when it fits an `i64`.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        self.to_string().parse().ok()
    }

    /// The value as a JSON number; beyond 64 bits it can only be a float.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let text = self.to_string();
        if let Ok(integer) = text.parse::<i64>() {
            Value::from(integer)
        } else if let Ok(integer) = text.parse::<u64>() {
            Value::from(integer)
        } else {
            Value::from(text.parse::<f64>().unwrap_or(f64::NAN))
        }
    }
}

impl From<i64> for IntegerLiteral {
    fn from(integer: i64) -> Self {
        Self {
            negative: integer < 0,
            digits: integer.unsigned_abs().to_string(),
        }
    }
}

impl From<u64> for IntegerLiteral {
    fn from(integer: u64) -> Self {
        Self {
            negative: false,
            digits: integer.to_string(),
        }
    }
}

impl fmt::Display for IntegerLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        f.write_str(&self.digits)
    }
}

/// A plain equality found in a pattern: `object_type:path = value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Equality {
    /// The object type, as written.
    #[serde(rename = "type")]
    pub object_type: String,
    /// The property path without quotes ([`ObjectPath::property_path`]).
    pub path: String,
    /// The compared value: a string, a number or a boolean.
    pub value: Value,
}

impl Pattern {
    /// Parses and validates a pattern as stix2-patterns 2.1.2 does.
    ///
    /// # Errors
    ///
    /// A [`PatternError`] locating the first problem.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        parser::parse(text)
    }

    /// Every comparison `path = literal` (or `==`), not negated, whose
    /// literal is a string, number or boolean, in source order, duplicates
    /// kept: the observables the pattern names.
    #[must_use]
    pub fn equalities(&self) -> Vec<Equality> {
        let mut found = Vec::new();
        collect_observation(&self.expression, &mut found);
        found
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

fn collect_observation(expression: &ObservationExpression, found: &mut Vec<Equality>) {
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

fn collect_comparison(expression: &ComparisonExpression, found: &mut Vec<Equality>) {
    match expression {
        ComparisonExpression::And(operands) | ComparisonExpression::Or(operands) => {
            for operand in operands {
                collect_comparison(operand, found);
            }
        }
        ComparisonExpression::Test(PropertyTest {
            path,
            negated: false,
            predicate: Predicate::Equal(literal),
        }) => {
            if let Some(value) = literal.to_json() {
                found.push(Equality {
                    object_type: path.object_type.clone(),
                    path: path.property_path(),
                    value,
                });
            }
        }
        ComparisonExpression::Test(_) | ComparisonExpression::Exists(_) => {}
    }
}

/// Builds the canonical pattern `[object_type:path = value]`.
///
/// Path components that are not plain identifiers (`SHA-256`, keywords, ...)
/// are quoted; strings are quoted with `\` and `'` escaped; numbers and
/// booleans are written bare. Hash values are not checked here:
/// [`Pattern::parse`] the result to validate it.
///
/// # Errors
///
/// [`BuildError`] when the object type cannot appear in a pattern, the path
/// is empty, or a float is not finite.
pub fn equality_pattern(
    object_type: &str,
    path: &[&str],
    value: impl Into<Literal>,
) -> Result<String, BuildError> {
    let value = value.into();
    if matches!(value, Literal::Float(float) if !float.is_finite()) {
        return Err(BuildError::NonFiniteFloat);
    }
    let pattern = Pattern {
        expression: ObservationExpression::Observation {
            comparison: ComparisonExpression::Test(PropertyTest {
                path: ObjectPath::from_keys(object_type, path)?,
                negated: false,
                predicate: Predicate::Equal(value),
            }),
            qualifiers: Vec::new(),
        },
    };
    Ok(pattern.to_string())
}

/// Why a pattern could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Object types must match `[a-zA-Z_][a-zA-Z0-9_-]*` and not be a keyword.
    #[error("`{object_type}` cannot be written as a pattern object type")]
    InvalidObjectType {
        /// The rejected type.
        object_type: String,
    },
    /// A path needs at least one property.
    #[error("an object path needs at least one property")]
    EmptyPath,
    /// NaN and infinities have no pattern syntax.
    #[error("a float literal must be finite")]
    NonFiniteFloat,
}

/// Where a problem is, in characters from the start of the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Characters before the problem.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Position {
    fn locate(chars: &[char], offset: usize) -> Self {
        let before = &chars[..offset.min(chars.len())];
        let line_start = before
            .iter()
            .rposition(|&c| c == '\n')
            .map_or(0, |index| index + 1);
        Self {
            offset,
            line: 1 + before.iter().filter(|&&c| c == '\n').count(),
            column: 1 + offset - line_start,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a pattern is not a valid STIX 2.1 pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// Nothing but whitespace.
    #[error("empty pattern")]
    Empty,
    /// The first non-blank characters are neither `[` nor `([`.
    #[error("a pattern must start with '[' or '([', not {found:?}")]
    MissingBracket {
        /// The first non-blank characters.
        found: String,
    },
    /// The grammar does not allow this token here.
    #[error("{position}: expected {expected}, found {found}")]
    Syntax {
        /// Where the unexpected token starts.
        position: Position,
        /// What the grammar allows there.
        expected: String,
        /// The token found.
        found: String,
    },
    /// Parentheses or brackets nested beyond [`MAX_NESTING`].
    #[error("{position}: nested deeper than {MAX_NESTING} levels")]
    TooDeep {
        /// Where the limit was crossed.
        position: Position,
    },
    /// A negative list index (the reference validator crashes on them).
    #[error("{position}: negative list index {index}")]
    NegativeIndex {
        /// Where the index is.
        position: Position,
        /// The index as written.
        index: String,
    },
    /// A `hashes` path ending with a list index (the reference validator
    /// crashes on them).
    #[error("{position}: a `hashes` path cannot end with a list index")]
    HashIndex {
        /// Where the comparison starts.
        position: Position,
    },
    /// One observation has two qualifiers of the same kind.
    #[error("{position}: duplicate {qualifier} qualifier")]
    DuplicateQualifier {
        /// Where the second qualifier starts.
        position: Position,
        /// `WITHIN`, `REPEATS` or `START/STOP`.
        qualifier: &'static str,
    },
    /// A literal compared to `hashes.<algorithm>` is not such a hash.
    #[error("{position}: '{value}' is not a valid {algorithm} hash")]
    InvalidHash {
        /// Where the comparison starts.
        position: Position,
        /// The hash key as written.
        algorithm: String,
        /// The literal without quotes.
        value: String,
    },
}

/// How deep parentheses and brackets may nest.
pub const MAX_NESTING: usize = 100;

const RESERVED_WORDS: &[&str] = &["true", "false"];

/// A property name that can be written without quotes.
fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_reserved(name)
}

fn is_reserved(name: &str) -> bool {
    RESERVED_WORDS.contains(&name) || lexer::KEYWORDS.iter().any(|(keyword, _)| *keyword == name)
}

/// A name usable as an object type (hyphens allowed, never quoted).
fn is_object_type(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !is_reserved(name)
}

/// `'text'` with `\` and `'` escaped, as the grammar requires.
fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("'")?;
    for c in text.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\'' => f.write_str("\\'")?,
            _ => fmt::Write::write_char(f, c)?,
        }
    }
    f.write_str("'")
}

fn write_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if is_plain_identifier(name) {
        f.write_str(name)
    } else {
        write_quoted(f, name)
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(text) => write_quoted(f, text),
            Self::Integer(integer) => write!(f, "{integer}"),
            Self::Float(float) => {
                // Rust never uses an exponent here; the grammar needs a dot.
                let text = float.to_string();
                if text.contains('.') {
                    f.write_str(&text)
                } else {
                    write!(f, "{text}.0")
                }
            }
            Self::Boolean(boolean) => write!(f, "{boolean}"),
            Self::Binary(base64) => write!(f, "b'{base64}'"),
            Self::Hex(hex) => write!(f, "h'{hex}'"),
            Self::Timestamp(timestamp) => write!(f, "t'{timestamp}'"),
        }
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        write_name(f, &self.property)?;
        for step in &self.steps {
            match step {
                PathStep::Key(key) => {
                    f.write_str(".")?;
                    write_name(f, key)?;
                }
                PathStep::Index(index) => write!(f, "[{index}]")?,
                PathStep::AnyIndex => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for PropertyTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if self.negated {
            f.write_str(" NOT")?;
        }
        let (operator, operand) = match &self.predicate {
            Predicate::Equal(literal) => ("=", literal),
            Predicate::NotEqual(literal) => ("!=", literal),
            Predicate::Less(literal) => ("<", literal),
            Predicate::LessOrEqual(literal) => ("<=", literal),
            Predicate::Greater(literal) => (">", literal),
            Predicate::GreaterOrEqual(literal) => (">=", literal),
            Predicate::In(set) => {
                f.write_str(" IN (")?;
                for (index, literal) in set.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{literal}")?;
                }
                return f.write_str(")");
            }
            Predicate::Like(text) => return write_string_operator(f, "LIKE", text),
            Predicate::Matches(text) => return write_string_operator(f, "MATCHES", text),
            Predicate::IsSubset(text) => return write_string_operator(f, "ISSUBSET", text),
            Predicate::IsSuperset(text) => return write_string_operator(f, "ISSUPERSET", text),
        };
        write!(f, " {operator} {operand}")
    }
}

fn write_string_operator(f: &mut fmt::Formatter<'_>, operator: &str, text: &str) -> fmt::Result {
    write!(f, " {operator} ")?;
    write_quoted(f, text)
}

impl fmt::Display for ComparisonExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (separator, operands) = match self {
            Self::Test(test) => return write!(f, "{test}"),
            Self::Exists(path) => return write!(f, "EXISTS {path}"),
            Self::And(operands) => (" AND ", operands),
            Self::Or(operands) => (" OR ", operands),
        };
        for (index, operand) in operands.iter().enumerate() {
            if index > 0 {
                f.write_str(separator)?;
            }
            // Parentheses create no node in comparisons: always safe.
            if matches!(operand, Self::And(_) | Self::Or(_)) {
                write!(f, "({operand})")?;
            } else {
                write!(f, "{operand}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Within { seconds } => write!(f, "WITHIN {seconds} SECONDS"),
            Self::Repeats { times } => write!(f, "REPEATS {times} TIMES"),
            Self::StartStop { start, stop } => write!(f, "START t'{start}' STOP t'{stop}'"),
        }
    }
}

impl fmt::Display for ObservationExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let qualifiers = match self {
            Self::Observation {
                comparison,
                qualifiers,
            } => {
                write!(f, "[{comparison}]")?;
                qualifiers
            }
            Self::Group {
                expression,
                qualifiers,
            } => {
                write!(f, "({expression})")?;
                qualifiers
            }
            Self::Compound { operator, operands } => {
                let separator = match operator {
                    ObservationOperator::And => " AND ",
                    ObservationOperator::Or => " OR ",
                    ObservationOperator::FollowedBy => " FOLLOWEDBY ",
                };
                for (index, operand) in operands.iter().enumerate() {
                    if index > 0 {
                        f.write_str(separator)?;
                    }
                    // A tighter operator needs no parentheses (and adding
                    // some would create a group when parsed back).
                    match operand {
                        Self::Compound {
                            operator: inner, ..
                        } if inner <= operator => {
                            write!(f, "({operand})")?;
                        }
                        _ => write!(f, "{operand}")?,
                    }
                }
                return Ok(());
            }
        };
        for qualifier in qualifiers {
            write!(f, " {qualifier}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expression)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn building_quotes_what_the_grammar_requires() {
        assert_eq!(
            equality_pattern("ipv4-addr", &["value"], "1.2.3.4").unwrap(),
            "[ipv4-addr:value = '1.2.3.4']"
        );
        assert_eq!(
            equality_pattern("file", &["name"], r"it's C:\x").unwrap(),
            r"[file:name = 'it\'s C:\\x']"
        );
        assert_eq!(
            equality_pattern("network-traffic", &["dst_port"], 443_i64).unwrap(),
            "[network-traffic:dst_port = 443]"
        );
        assert_eq!(
            equality_pattern("x-thing", &["AND", "a b", "ok"], true).unwrap(),
            "[x-thing:'AND'.'a b'.ok = true]"
        );
        assert_eq!(
            equality_pattern("file", &["size"], 2.0).unwrap(),
            "[file:size = 2.0]"
        );
    }

    #[test]
    fn building_rejects_what_cannot_be_written() {
        assert!(matches!(
            equality_pattern("AND", &["value"], "x"),
            Err(BuildError::InvalidObjectType { .. })
        ));
        assert!(matches!(
            equality_pattern("ipv4 addr", &["value"], "x"),
            Err(BuildError::InvalidObjectType { .. })
        ));
        assert_eq!(
            equality_pattern("file", &[], "x"),
            Err(BuildError::EmptyPath)
        );
        assert_eq!(
            equality_pattern("file", &["size"], f64::NAN),
            Err(BuildError::NonFiniteFloat)
        );
    }

    #[test]
    fn display_parses_back_to_the_same_tree() {
        for text in [
            "[a:b = 'x' OR (a:c = 1 AND a:d NOT LIKE 'y%')] REPEATS 2 TIMES",
            "([a:b = 1] OR [a:c = 2]) AND [a:d IN ('x', 2, true)] WITHIN 1.5 SECONDS",
            "[a:b[*].'c-d'[0] = h'ff'] FOLLOWEDBY [EXISTS a:e] START t'2020-01-01T00:00:00Z' STOP t'2020-01-02T00:00:00.5Z'",
            "[a:b = 1] OR [a:c = 2] AND [a:d = 3] FOLLOWEDBY [a:e = -4.5]",
        ] {
            let pattern = Pattern::parse(text).unwrap();
            let printed = pattern.to_string();
            assert_eq!(Pattern::parse(&printed).unwrap(), pattern, "{printed}");
        }
    }

    #[test]
    fn big_integers_keep_their_digits() {
        let pattern = Pattern::parse("[x:y = 123456789012345678901234567890]").unwrap();
        assert_eq!(
            pattern.to_string(),
            "[x:y = 123456789012345678901234567890]"
        );
        assert_eq!(pattern.equalities()[0].value, json!(1.2345678901234568e29));
        assert_eq!(IntegerLiteral::from_token("-0").to_string(), "0");
        assert_eq!(IntegerLiteral::from_token("+7").as_i64(), Some(7));
    }
}
