//! Recursive-descent parser of the STIX 2.1 pattern grammar, plus the checks
//! the reference validator runs on a grammatical pattern.

use super::lexer::{Kind, Token, tokenize};
use super::{
    ComparisonExpression, IntegerLiteral, Literal, MAX_NESTING, ObjectPath, ObservationExpression,
    ObservationOperator, PathStep, Pattern, PatternError, Position, Predicate, PropertyTest,
    Qualifier,
};

pub(super) fn parse(text: &str) -> Result<Pattern, PatternError> {
    check_start(text)?;
    let chars: Vec<char> = text.chars().collect();
    let mut parser = Parser {
        tokens: tokenize(&chars),
        chars: &chars,
        next: 0,
        depth: 0,
        negative_indexes: Vec::new(),
        hash_indexes: Vec::new(),
        duplicate_qualifiers: Vec::new(),
        invalid_hashes: Vec::new(),
    };
    let expression = parser.observation_expressions()?;
    if parser.peek().kind != Kind::Eof {
        return Err(parser.unexpected("AND, OR, FOLLOWEDBY, a qualifier or the end of the pattern"));
    }
    // The validator only looks further once the grammar is satisfied, and
    // then fails in this order.
    for errors in [
        parser.negative_indexes,
        parser.hash_indexes,
        parser.duplicate_qualifiers,
        parser.invalid_hashes,
    ] {
        if let Some(error) = errors.into_iter().next() {
            return Err(error);
        }
    }
    Ok(Pattern { expression })
}

/// The validator's shortcut check: the first two characters that are not
/// Python `string.whitespace` must be `[` or `([` .
fn check_start(text: &str) -> Result<(), PatternError> {
    let start: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}'))
        .take(2)
        .collect();
    if start.is_empty() {
        return Err(PatternError::Empty);
    }
    if start.starts_with('[') || start == "([" {
        Ok(())
    } else {
        Err(PatternError::MissingBracket { found: start })
    }
}

struct Parser<'a> {
    chars: &'a [char],
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
    negative_indexes: Vec<PatternError>,
    hash_indexes: Vec<PatternError>,
    duplicate_qualifiers: Vec<PatternError>,
    invalid_hashes: Vec<PatternError>,
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        self.tokens[self.next]
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens[self.next];
        if token.kind != Kind::Eof {
            self.next += 1;
        }
        token
    }

    fn eat(&mut self, kind: Kind) -> bool {
        let matched = self.peek().kind == kind;
        if matched {
            self.bump();
        }
        matched
    }

    fn expect(&mut self, kind: Kind, expected: &str) -> Result<Token, PatternError> {
        if self.peek().kind == kind {
            Ok(self.bump())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn text(&self, token: Token) -> String {
        self.chars[token.start..token.end].iter().collect()
    }

    fn position(&self, offset: usize) -> Position {
        Position::locate(self.chars, offset)
    }

    fn unexpected(&self, expected: &str) -> PatternError {
        let token = self.peek();
        let found = if token.kind == Kind::Eof {
            "the end of the pattern".to_owned()
        } else {
            format!("{:?}", self.text(token))
        };
        PatternError::Syntax {
            position: self.position(token.start),
            expected: expected.to_owned(),
            found,
        }
    }

    fn enter(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(PatternError::TooDeep {
                position: self.position(self.peek().start),
            });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// `observationExpressions`: FOLLOWEDBY binds loosest, then OR, then AND.
    fn observation_expressions(&mut self) -> Result<ObservationExpression, PatternError> {
        self.observation_chain(ObservationOperator::FollowedBy)
    }

    fn observation_chain(
        &mut self,
        operator: ObservationOperator,
    ) -> Result<ObservationExpression, PatternError> {
        let (token, tighter) = match operator {
            ObservationOperator::FollowedBy => (Kind::FollowedBy, Some(ObservationOperator::Or)),
            ObservationOperator::Or => (Kind::Or, Some(ObservationOperator::And)),
            ObservationOperator::And => (Kind::And, None),
        };
        let operand = |parser: &mut Self| match tighter {
            Some(tighter) => parser.observation_chain(tighter),
            None => parser.observation_expression(),
        };
        let mut operands = vec![operand(self)?];
        while self.eat(token) {
            operands.push(operand(self)?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            ObservationExpression::Compound { operator, operands }
        })
    }

    /// `[ comparison ] qualifier*` or `( observationExpressions ) qualifier*`.
    fn observation_expression(&mut self) -> Result<ObservationExpression, PatternError> {
        match self.peek().kind {
            Kind::LBrack => {
                self.bump();
                self.enter()?;
                let comparison = self.comparison_chain(Kind::Or)?;
                self.expect(Kind::RBrack, "AND, OR or ']'")?;
                self.leave();
                let qualifiers = self.qualifiers(true)?;
                Ok(ObservationExpression::Observation {
                    comparison,
                    qualifiers,
                })
            }
            Kind::LParen => {
                self.bump();
                self.enter()?;
                let expression = self.observation_expressions()?;
                self.expect(Kind::RParen, "AND, OR, FOLLOWEDBY, a qualifier or ')'")?;
                self.leave();
                // The validator resets its duplicate check on groups.
                let qualifiers = self.qualifiers(false)?;
                Ok(ObservationExpression::Group {
                    expression: Box::new(expression),
                    qualifiers,
                })
            }
            _ => Err(self.unexpected("'[' or '('")),
        }
    }

    fn qualifiers(&mut self, check_duplicates: bool) -> Result<Vec<Qualifier>, PatternError> {
        let mut qualifiers: Vec<Qualifier> = Vec::new();
        loop {
            let start = self.peek().start;
            let qualifier = match self.peek().kind {
                Kind::Start => {
                    self.bump();
                    let start = self.timestamp()?;
                    self.expect(Kind::Stop, "STOP")?;
                    let stop = self.timestamp()?;
                    Qualifier::StartStop { start, stop }
                }
                Kind::Within => {
                    self.bump();
                    if !matches!(self.peek().kind, Kind::IntPos | Kind::FloatPos) {
                        return Err(self.unexpected("a non-negative number of seconds"));
                    }
                    let seconds = self.primitive_literal()?;
                    self.expect(Kind::Seconds, "SECONDS")?;
                    Qualifier::Within { seconds }
                }
                Kind::Repeats => {
                    self.bump();
                    let token = self.expect(Kind::IntPos, "a non-negative integer")?;
                    self.expect(Kind::Times, "TIMES")?;
                    Qualifier::Repeats {
                        times: IntegerLiteral::from_token(&self.text(token)),
                    }
                }
                _ => return Ok(qualifiers),
            };
            if check_duplicates
                && qualifiers
                    .iter()
                    .any(|seen| seen.name() == qualifier.name())
            {
                self.duplicate_qualifiers
                    .push(PatternError::DuplicateQualifier {
                        position: self.position(start),
                        qualifier: qualifier.name(),
                    });
            }
            qualifiers.push(qualifier);
        }
    }

    fn timestamp(&mut self) -> Result<String, PatternError> {
        let token = self.expect(
            Kind::Timestamp,
            "a timestamp literal t'YYYY-MM-DDTHH:MM:SSZ'",
        )?;
        let text = self.text(token);
        Ok(text[2..text.len() - 1].to_owned())
    }

    /// `comparisonExpression` (OR of ANDs of property tests).
    fn comparison_chain(&mut self, operator: Kind) -> Result<ComparisonExpression, PatternError> {
        let mut operands = vec![if operator == Kind::Or {
            self.comparison_chain(Kind::And)?
        } else {
            self.property_test()?
        }];
        while self.eat(operator) {
            operands.push(if operator == Kind::Or {
                self.comparison_chain(Kind::And)?
            } else {
                self.property_test()?
            });
        }
        Ok(match (operands.len(), operator) {
            (1, _) => operands.remove(0),
            (_, Kind::Or) => ComparisonExpression::Or(operands),
            _ => ComparisonExpression::And(operands),
        })
    }

    fn property_test(&mut self) -> Result<ComparisonExpression, PatternError> {
        match self.peek().kind {
            Kind::LParen => {
                self.bump();
                self.enter()?;
                let inner = self.comparison_chain(Kind::Or)?;
                self.expect(Kind::RParen, "AND, OR or ')'")?;
                self.leave();
                Ok(inner)
            }
            Kind::Exists => {
                self.bump();
                Ok(ComparisonExpression::Exists(self.object_path()?))
            }
            Kind::IdentWithoutHyphen | Kind::IdentWithHyphen => {
                let start = self.peek().start;
                let path = self.object_path()?;
                let negated = self.eat(Kind::Not);
                let operator = self.bump();
                let first_operand = self.next;
                let predicate = match operator.kind {
                    Kind::Eq => Predicate::Equal(self.primitive_literal()?),
                    Kind::Neq => Predicate::NotEqual(self.primitive_literal()?),
                    Kind::Lt => Predicate::Less(self.orderable_literal()?),
                    Kind::Le => Predicate::LessOrEqual(self.orderable_literal()?),
                    Kind::Gt => Predicate::Greater(self.orderable_literal()?),
                    Kind::Ge => Predicate::GreaterOrEqual(self.orderable_literal()?),
                    Kind::In => Predicate::In(self.set_literal()?),
                    Kind::Like => Predicate::Like(self.string_operand()?),
                    Kind::Matches => Predicate::Matches(self.string_operand()?),
                    Kind::IsSubset => Predicate::IsSubset(self.string_operand()?),
                    Kind::IsSuperset => Predicate::IsSuperset(self.string_operand()?),
                    _ => {
                        self.next -= usize::from(operator.kind != Kind::Eof);
                        let expected = if negated {
                            "a comparison operator after NOT"
                        } else {
                            "NOT or a comparison operator"
                        };
                        return Err(self.unexpected(expected));
                    }
                };
                let operand_text: String = self.tokens[first_operand..self.next]
                    .iter()
                    .map(|&token| self.text(token))
                    .collect();
                self.check_hash(&path, &operand_text, start);
                Ok(ComparisonExpression::Test(PropertyTest {
                    path,
                    negated,
                    predicate,
                }))
            }
            _ => Err(self.unexpected("an object path, EXISTS or '('")),
        }
    }

    fn object_path(&mut self) -> Result<ObjectPath, PatternError> {
        let type_token = self.peek();
        if !matches!(
            type_token.kind,
            Kind::IdentWithoutHyphen | Kind::IdentWithHyphen
        ) {
            return Err(self.unexpected("an object type"));
        }
        self.bump();
        self.expect(Kind::Colon, "':'")?;
        let property = self.property_name("a property name")?;
        let mut steps = Vec::new();
        loop {
            match self.peek().kind {
                Kind::Dot => {
                    self.bump();
                    steps.push(PathStep::Key(self.property_name(
                        "a property name (quote names that are not identifiers: 'SHA-256')",
                    )?));
                }
                Kind::LBrack => {
                    self.bump();
                    let token = self.bump();
                    steps.push(match token.kind {
                        Kind::Asterisk => PathStep::AnyIndex,
                        Kind::IntPos | Kind::IntNeg => {
                            let index = IntegerLiteral::from_token(&self.text(token));
                            if index.is_negative() {
                                self.negative_indexes.push(PatternError::NegativeIndex {
                                    position: self.position(token.start),
                                    index: index.to_string(),
                                });
                            }
                            PathStep::Index(index)
                        }
                        _ => {
                            self.next -= usize::from(token.kind != Kind::Eof);
                            return Err(self.unexpected("a list index or '*'"));
                        }
                    });
                    self.expect(Kind::RBrack, "']'")?;
                }
                _ => break,
            }
        }
        Ok(ObjectPath {
            object_type: self.text(type_token),
            property,
            steps,
        })
    }

    fn property_name(&mut self, expected: &str) -> Result<String, PatternError> {
        let token = self.peek();
        match token.kind {
            Kind::IdentWithoutHyphen => {
                self.bump();
                Ok(self.text(token))
            }
            Kind::Str => {
                self.bump();
                Ok(unescape(&self.text(token)))
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    fn primitive_literal(&mut self) -> Result<Literal, PatternError> {
        let token = self.peek();
        let literal = self
            .literal_of(token)
            .ok_or_else(|| self.unexpected("a literal"))?;
        self.bump();
        Ok(literal)
    }

    fn orderable_literal(&mut self) -> Result<Literal, PatternError> {
        if self.peek().kind == Kind::Bool {
            return Err(self.unexpected("a literal other than a boolean"));
        }
        self.primitive_literal()
    }

    /// The literal a token stands for, if it is one.
    fn literal_of(&self, token: Token) -> Option<Literal> {
        let text = self.text(token);
        let inner = || text[2..text.len() - 1].to_owned();
        Some(match token.kind {
            Kind::IntPos | Kind::IntNeg => Literal::Integer(IntegerLiteral::from_token(&text)),
            Kind::FloatPos | Kind::FloatNeg => {
                Literal::Float(text.parse().expect("float tokens are valid Rust floats"))
            }
            Kind::Str => Literal::String(unescape(&text)),
            Kind::Binary => Literal::Binary(inner()),
            Kind::Hex => Literal::Hex(inner()),
            Kind::Timestamp => Literal::Timestamp(inner()),
            Kind::Bool => Literal::Boolean(text == "true"),
            _ => return None,
        })
    }

    fn set_literal(&mut self) -> Result<Vec<Literal>, PatternError> {
        self.expect(Kind::LParen, "'(' opening a set")?;
        let mut set = Vec::new();
        if self.eat(Kind::RParen) {
            return Ok(set);
        }
        loop {
            set.push(self.primitive_literal()?);
            if self.eat(Kind::RParen) {
                return Ok(set);
            }
            self.expect(Kind::Comma, "',' or ')'")?;
        }
    }

    fn string_operand(&mut self) -> Result<String, PatternError> {
        let token = self.expect(Kind::Str, "a string literal")?;
        Ok(unescape(&self.text(token)))
    }

    /// The validator's hash check: a comparison on a path containing a
    /// `hashes` component is checked against the format of the algorithm
    /// named by the path's last component, on the operand's source text
    /// with every `'` removed.
    fn check_hash(&mut self, path: &ObjectPath, operand_text: &str, start: usize) {
        let mentions_hashes = path.property == "hashes"
            || path
                .steps
                .iter()
                .any(|step| matches!(step, PathStep::Key(key) if key == "hashes"));
        if !mentions_hashes {
            return;
        }
        let selector = match path.steps.last() {
            None => &path.property,
            Some(PathStep::Key(key)) => key,
            Some(PathStep::AnyIndex) => return,
            Some(PathStep::Index(_)) => {
                self.hash_indexes.push(PatternError::HashIndex {
                    position: self.position(start),
                });
                return;
            }
        };
        let algorithm = selector.to_uppercase().replace(['-', '\''], "");
        let value = operand_text.replace('\'', "");
        if let Some(valid) = hash_format(&algorithm)
            && !valid(&value)
        {
            self.invalid_hashes.push(PatternError::InvalidHash {
                position: self.position(start),
                algorithm: selector.clone(),
                value,
            });
        }
    }
}

/// The text inside a string literal token, unescaped.
fn unescape(token: &str) -> String {
    let inner = &token[1..token.len() - 1];
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            // The lexer only lets `\'` and `\\` through.
            text.extend(chars.next());
        } else {
            text.push(c);
        }
    }
    text
}

/// The validator's hash formats (`HASHES_REGEX`), keyed by the upper-cased
/// algorithm name without `-`.
fn hash_format(algorithm: &str) -> Option<fn(&str) -> bool> {
    Some(match algorithm {
        "MD5" => |value| hex_of_length(value, 32),
        "MD6" => md6,
        "RIPEMD160" | "SHA1" => |value| hex_of_length(value, 40),
        "SHA224" | "SHA3224" => |value| hex_of_length(value, 56),
        "SHA256" | "SHA3256" => |value| hex_of_length(value, 64),
        "SHA384" | "SHA3384" => |value| hex_of_length(value, 96),
        "SHA512" | "SHA3512" | "WHIRLPOOL" => |value| hex_of_length(value, 128),
        "SSDEEP" => ssdeep,
        _ => return None,
    })
}

/// Python's `$` also matches before a final newline.
fn without_final_newline(value: &str) -> [&str; 2] {
    [value, value.strip_suffix('\n').unwrap_or(value)]
}

fn hex_of_length(value: &str, length: usize) -> bool {
    without_final_newline(value).into_iter().any(|candidate| {
        candidate.len() == length && candidate.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The validator's MD6 expression lacks a group around its alternatives, so
/// only its first one (32 hex digits, at the start) and a fourth one
/// (newline, four spaces, 64 hex digits) are effective.
fn md6(value: &str) -> bool {
    let hex_prefix = |text: &str, length: usize| {
        text.len() >= length && text.as_bytes()[..length].iter().all(u8::is_ascii_hexdigit)
    };
    hex_prefix(value, 32)
        || value
            .strip_prefix("\n    ")
            .is_some_and(|rest| hex_prefix(rest, 64))
}

fn ssdeep(value: &str) -> bool {
    without_final_newline(value).into_iter().any(|candidate| {
        (1..=128).contains(&candidate.chars().count())
            && candidate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | ':' | '.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> PatternError {
        parse(text).expect_err(text)
    }

    #[test]
    fn syntax_errors_say_where_and_what_was_expected() {
        assert_eq!(
            error("[ipv4-addr:value = '1.2.3.4'] and [x:y = 1]").to_string(),
            "line 1, column 31: expected AND, OR, FOLLOWEDBY, a qualifier or the end of the pattern, found \"and\""
        );
        assert_eq!(
            error("[file:hashes.SHA-256 = 'x']").to_string(),
            "line 1, column 14: expected a property name (quote names that are not identifiers: 'SHA-256'), found \"SHA-256\""
        );
        assert_eq!(
            error("[a:b = 1]\n WITHIN SECONDS").to_string(),
            "line 2, column 9: expected a non-negative number of seconds, found \"SECONDS\""
        );
        assert_eq!(
            error("[a:b NOT '1']").to_string(),
            "line 1, column 10: expected a comparison operator after NOT, found \"'1'\""
        );
    }

    #[test]
    fn start_is_checked_on_python_whitespace_only() {
        assert_eq!(error("   "), PatternError::Empty);
        assert!(parse(" \t\n([a:b = 1])").is_ok());
        assert!(matches!(
            error("(([a:b = 1]))"),
            PatternError::MissingBracket { .. }
        ));
        assert!(matches!(
            error("\u{a0}[a:b = 1]"),
            PatternError::MissingBracket { .. }
        ));
        assert!(matches!(
            error("/* c */ [a:b = 1]"),
            PatternError::MissingBracket { .. }
        ));
    }

    #[test]
    fn validator_checks_after_the_grammar() {
        assert!(matches!(
            error("[a:b[-1] = 1]"),
            PatternError::NegativeIndex { .. }
        ));
        assert!(matches!(
            error("[file:hashes[0] = 1]"),
            PatternError::HashIndex { .. }
        ));
        assert!(parse("[file:hashes[*] = 'x']").is_ok());
        assert!(matches!(
            error("[a:b = 1] REPEATS 1 TIMES WITHIN 1 SECONDS REPEATS 2 TIMES"),
            PatternError::DuplicateQualifier {
                qualifier: "REPEATS",
                ..
            }
        ));
        assert!(parse("([a:b = 1]) WITHIN 1 SECONDS WITHIN 2 SECONDS").is_ok());
        assert!(parse("[file:hashes.'sha-256' != 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855']").is_ok());
        assert!(matches!(
            error("[file:hashes.MD5 IN ('d41d8cd98f00b204e9800998ecf8427e')]"),
            PatternError::InvalidHash { .. }
        ));
        assert!(parse("[file:hashes.MD5 = 12345678901234567890123456789012]").is_ok());
        assert!(parse("[file:hashes.MD5 = +1234567890123456789012345678901]").is_err());
        assert!(parse("[file:hashes.SSDEEP = true]").is_ok());
        assert!(parse("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e\n']").is_ok());
        assert!(parse("[file:hashes.MD6 = 'd41d8cd98f00b204e9800998ecf8427eXYZ']").is_ok());
        assert!(parse("[file:hashes.'X-UNKNOWN' = 'anything']").is_ok());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut nested = "a:b = 1".to_owned();
        for _ in 0..=MAX_NESTING {
            nested = format!("({nested})");
        }
        assert!(matches!(
            error(&format!("[{nested}]")),
            PatternError::TooDeep { .. }
        ));
    }
}
