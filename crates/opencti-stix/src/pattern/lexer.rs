//! The STIX 2.1 pattern tokenizer.
//!
//! It reproduces the ANTLR lexer of stix2-patterns 2.1.2: at each position
//! the longest match of any rule wins, and among rules matching the same
//! length the one declared first in the grammar. That is what makes
//! `hashes.SHA-256` fail (`SHA-256` is one hyphenated identifier, which a
//! property name cannot be), `and` an identifier rather than the keyword, and
//! a malformed `t'2020'` an identifier `t` followed by a string.

/// Token kinds, in the grammar's rule order (the tie-break order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    IntNeg,
    IntPos,
    FloatNeg,
    FloatPos,
    Hex,
    Binary,
    Str,
    Bool,
    Timestamp,
    And,
    Or,
    Not,
    FollowedBy,
    Like,
    Matches,
    IsSuperset,
    IsSubset,
    Exists,
    Last,
    In,
    Start,
    Stop,
    Seconds,
    Within,
    Repeats,
    Times,
    IdentWithoutHyphen,
    IdentWithHyphen,
    Eq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
    Quote,
    Colon,
    Dot,
    Comma,
    RParen,
    LParen,
    RBrack,
    LBrack,
    Plus,
    Hyphen,
    Power,
    Divide,
    Asterisk,
    /// Whitespace and comments: matched like tokens, then dropped.
    Skip,
    Invalid,
    Eof,
}

/// Keywords, in rule order. `true`/`false` are boolean literals (an earlier
/// rule), so the grammar's `TRUE`/`FALSE` keywords never win and are absent.
pub(super) const KEYWORDS: &[(&str, Kind)] = &[
    ("AND", Kind::And),
    ("OR", Kind::Or),
    ("NOT", Kind::Not),
    ("FOLLOWEDBY", Kind::FollowedBy),
    ("LIKE", Kind::Like),
    ("MATCHES", Kind::Matches),
    ("ISSUPERSET", Kind::IsSuperset),
    ("ISSUBSET", Kind::IsSubset),
    ("EXISTS", Kind::Exists),
    ("LAST", Kind::Last),
    ("IN", Kind::In),
    ("START", Kind::Start),
    ("STOP", Kind::Stop),
    ("SECONDS", Kind::Seconds),
    ("WITHIN", Kind::Within),
    ("REPEATS", Kind::Repeats),
    ("TIMES", Kind::Times),
];

/// One token: its kind and its span, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token {
    pub(super) kind: Kind,
    pub(super) start: usize,
    pub(super) end: usize,
}

/// Tokenizes a whole pattern, dropping whitespace and comments; the last
/// token is always [`Kind::Eof`].
pub(super) fn tokenize(chars: &[char]) -> Vec<Token> {
    let mut scanner = Scanner {
        chars,
        undotted_run_end: 0,
        last_comment_end: chars.windows(2).rposition(|pair| pair == ['*', '/']),
    };
    let mut tokens = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let (kind, length) = scanner.longest_match(start);
        let end = start + length;
        if kind != Kind::Skip {
            tokens.push(Token { kind, start, end });
        }
        start = end;
    }
    tokens.push(Token {
        kind: Kind::Eof,
        start: chars.len(),
        end: chars.len(),
    });
    tokens
}

/// Remembers what failed rules learnt about the rest of the input, so that
/// retrying them at each of the following positions stays linear.
struct Scanner<'a> {
    chars: &'a [char],
    /// End of a run of digits known not to be followed by `.digit`: no
    /// float starts inside it (a run of zeros lexes one `0` at a time).
    undotted_run_end: usize,
    /// Start of the input's last `*/`: a block comment opened after it
    /// cannot close.
    last_comment_end: Option<usize>,
}

impl Scanner<'_> {
    /// The rule that wins at `start` (before the end) and its length.
    fn longest_match(&mut self, start: usize) -> (Kind, usize) {
        let text = &self.chars[start..];
        let mut best = (Kind::Invalid, 0);
        let mut consider = |kind: Kind, length: Option<usize>| {
            if let Some(length) = length
                && length > best.1
            {
                best = (kind, length);
            }
        };
        consider(Kind::IntNeg, int_neg(text));
        consider(Kind::IntPos, int_pos(text));
        consider(Kind::FloatNeg, self.float(start, '-', true));
        consider(Kind::FloatPos, self.float(start, '+', false));
        consider(Kind::Hex, hex(text));
        consider(Kind::Binary, binary(text));
        consider(Kind::Str, string(text));
        consider(Kind::Bool, boolean(text));
        consider(Kind::Timestamp, timestamp(text));
        for &(keyword, kind) in KEYWORDS {
            consider(kind, literal(text, keyword));
        }
        consider(Kind::IdentWithoutHyphen, identifier(text, false));
        consider(Kind::IdentWithHyphen, identifier(text, true));
        for (symbol, kind) in [
            ("==", Kind::Eq),
            ("=", Kind::Eq),
            ("!=", Kind::Neq),
            ("<>", Kind::Neq),
            ("<", Kind::Lt),
            ("<=", Kind::Le),
            (">", Kind::Gt),
            (">=", Kind::Ge),
            ("'", Kind::Quote),
            (":", Kind::Colon),
            (".", Kind::Dot),
            (",", Kind::Comma),
            (")", Kind::RParen),
            ("(", Kind::LParen),
            ("]", Kind::RBrack),
            ("[", Kind::LBrack),
            ("+", Kind::Plus),
            ("-", Kind::Hyphen),
            ("^", Kind::Power),
            ("/", Kind::Divide),
            ("*", Kind::Asterisk),
        ] {
            consider(kind, literal(text, symbol));
        }
        consider(Kind::Skip, whitespace(text));
        consider(Kind::Skip, self.block_comment(start));
        consider(Kind::Skip, line_comment(text));
        consider(Kind::Invalid, Some(1));
        best
    }

    /// `sign [0-9]* '.' [0-9]+`, the sign required or optional.
    fn float(&mut self, start: usize, sign: char, sign_required: bool) -> Option<usize> {
        let signed = self.chars.get(start) == Some(&sign);
        if sign_required && !signed {
            return None;
        }
        let digits_start = start + usize::from(signed);
        if digits_start < self.undotted_run_end {
            return None;
        }
        let text = &self.chars[digits_start..];
        let integer = count_while(text, |c| c.is_ascii_digit());
        let fraction = match text.get(integer) {
            Some('.') => count_while(&text[integer + 1..], |c| c.is_ascii_digit()),
            _ => 0,
        };
        if fraction == 0 {
            self.undotted_run_end = self.undotted_run_end.max(digits_start + integer);
            return None;
        }
        Some(usize::from(signed) + integer + 1 + fraction)
    }

    /// `'/*' .*? '*/'`
    fn block_comment(&self, start: usize) -> Option<usize> {
        literal(&self.chars[start..], "/*")?;
        if self.last_comment_end? < start + 2 {
            return None;
        }
        self.chars[start + 2..]
            .windows(2)
            .position(|pair| pair == ['*', '/'])
            .map(|end| 2 + end + 2)
    }
}

/// The grammar's whitespace set (wider than Python's `string.whitespace`).
pub(super) fn is_pattern_whitespace(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

fn literal(text: &[char], expected: &str) -> Option<usize> {
    let mut length = 0;
    for c in expected.chars() {
        if text.get(length) != Some(&c) {
            return None;
        }
        length += 1;
    }
    Some(length)
}

fn count_while(text: &[char], predicate: impl Fn(char) -> bool) -> usize {
    text.iter().take_while(|&&c| predicate(c)).count()
}

/// `'0' | [1-9] [0-9]*`
fn unsigned_int(text: &[char]) -> Option<usize> {
    match text.first()? {
        '0' => Some(1),
        '1'..='9' => Some(1 + count_while(&text[1..], |c| c.is_ascii_digit())),
        _ => None,
    }
}

fn int_neg(text: &[char]) -> Option<usize> {
    (text.first() == Some(&'-')).then(|| unsigned_int(&text[1..]).map(|n| n + 1))?
}

fn int_pos(text: &[char]) -> Option<usize> {
    let sign = usize::from(text.first() == Some(&'+'));
    unsigned_int(&text[sign..]).map(|n| n + sign)
}

/// `'h' QUOTE (HexDigit HexDigit)* QUOTE`
fn hex(text: &[char]) -> Option<usize> {
    literal(text, "h'")?;
    let digits = count_while(&text[2..], |c| c.is_ascii_hexdigit());
    (digits % 2 == 0 && text.get(2 + digits) == Some(&'\'')).then_some(digits + 3)
}

fn is_base64(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '+' || c == '/'
}

/// `'b' QUOTE (B B B B)* (B B B B | B B B '=' | B B '==') QUOTE`
fn binary(text: &[char]) -> Option<usize> {
    literal(text, "b'")?;
    let chars = count_while(&text[2..], is_base64);
    let rest = &text[2 + chars..];
    let padding = match (chars % 4, rest) {
        (0, ['\'', ..]) if chars > 0 => 0,
        (3, ['=', '\'', ..]) => 1,
        (2, ['=', '=', '\'', ..]) => 2,
        _ => return None,
    };
    Some(2 + chars + padding + 1)
}

/// `QUOTE (~['\\] | '\\\'' | '\\\\')* QUOTE`
fn string(text: &[char]) -> Option<usize> {
    if text.first() != Some(&'\'') {
        return None;
    }
    let mut index = 1;
    loop {
        match text.get(index)? {
            '\'' => return Some(index + 1),
            '\\' => match text.get(index + 1)? {
                '\'' | '\\' => index += 2,
                _ => return None,
            },
            _ => index += 1,
        }
    }
}

fn boolean(text: &[char]) -> Option<usize> {
    literal(text, "true").or_else(|| literal(text, "false"))
}

/// `t'YYYY-MM-DDTHH:MM:SS[.fraction]Z'` with the grammar's digit ranges.
fn timestamp(text: &[char]) -> Option<usize> {
    literal(text, "t'")?;
    let body = timestamp_body(&text[2..])?;
    (text.get(2 + body) == Some(&'\'')).then_some(body + 3)
}

/// `YYYY-MM-DDTHH:MM:SS[.digits]Z` (month 01-12, day 01-31, hour 00-23,
/// minute 00-59, second 00-60); returns its length.
fn timestamp_body(text: &[char]) -> Option<usize> {
    let fixed = text.get(..19)?;
    let digit = |index: usize| fixed[index].is_ascii_digit();
    let pair = |index: usize| (fixed[index], fixed[index + 1]);
    let year = (0..4).all(digit);
    let month = matches!(pair(5), ('0', '1'..='9') | ('1', '0'..='2'));
    let day = matches!(
        pair(8),
        ('0', '1'..='9') | ('1' | '2', '0'..='9') | ('3', '0' | '1')
    );
    let hour = matches!(pair(11), ('0' | '1', '0'..='9') | ('2', '0'..='3'));
    let minute = matches!(pair(14), ('0'..='5', '0'..='9'));
    let second = matches!(pair(17), ('0'..='5', '0'..='9') | ('6', '0'));
    let separators = fixed[4] == '-'
        && fixed[7] == '-'
        && fixed[10] == 'T'
        && fixed[13] == ':'
        && fixed[16] == ':';
    if !(year && month && day && hour && minute && second && separators) {
        return None;
    }
    let mut length = 19;
    if text.get(length) == Some(&'.') {
        let fraction = count_while(&text[length + 1..], |c| c.is_ascii_digit());
        if fraction == 0 {
            return None;
        }
        length += 1 + fraction;
    }
    (text.get(length) == Some(&'Z')).then_some(length + 1)
}

/// `[a-zA-Z_] [a-zA-Z0-9_]*`, or with `-` allowed after the first character.
fn identifier(text: &[char], hyphen: bool) -> Option<usize> {
    let first = text.first()?;
    if !(first.is_ascii_alphabetic() || *first == '_') {
        return None;
    }
    Some(
        1 + count_while(&text[1..], |c| {
            c.is_ascii_alphanumeric() || c == '_' || (hyphen && c == '-')
        }),
    )
}

fn whitespace(text: &[char]) -> Option<usize> {
    let length = count_while(text, is_pattern_whitespace);
    (length > 0).then_some(length)
}

/// `'//' ~[\r\n]*`
fn line_comment(text: &[char]) -> Option<usize> {
    literal(text, "//")?;
    Some(2 + count_while(&text[2..], |c| c != '\r' && c != '\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Kind> {
        let chars: Vec<char> = text.chars().collect();
        tokenize(&chars)
            .into_iter()
            .map(|token| token.kind)
            .collect()
    }

    #[test]
    fn longest_match_then_rule_order() {
        use Kind::*;
        assert_eq!(
            kinds("ipv4-addr:value"),
            [IdentWithHyphen, Colon, IdentWithoutHyphen, Eof]
        );
        assert_eq!(
            kinds("AND ANDROID and"),
            [And, IdentWithoutHyphen, IdentWithoutHyphen, Eof]
        );
        assert_eq!(
            kinds("hashes.SHA-256"),
            [IdentWithoutHyphen, Dot, IdentWithHyphen, Eof]
        );
        assert_eq!(kinds("true trueish"), [Bool, IdentWithoutHyphen, Eof]);
        assert_eq!(
            kinds("-5 +5 5 .5 -.5 1.5"),
            [IntNeg, IntPos, IntPos, FloatPos, FloatNeg, FloatPos, Eof]
        );
        assert_eq!(kinds("007"), [IntPos, IntPos, IntPos, Eof]);
        assert_eq!(kinds("<> <= < == ="), [Neq, Le, Lt, Eq, Eq, Eof]);
    }

    #[test]
    fn literals_fall_back_to_shorter_tokens_when_malformed() {
        use Kind::*;
        assert_eq!(kinds("t'2020-01-01T00:00:00Z'"), [Timestamp, Eof]);
        assert_eq!(kinds("t'2020-01-01'"), [IdentWithoutHyphen, Str, Eof]);
        assert_eq!(
            kinds("t'2020-13-01T00:00:00Z'"),
            [IdentWithoutHyphen, Str, Eof]
        );
        assert_eq!(kinds("h'ffd8' h'f'"), [Hex, IdentWithoutHyphen, Str, Eof]);
        assert_eq!(
            kinds("b'aGVsbG8=' b'' b'YQ=='"),
            [Binary, IdentWithoutHyphen, Str, Binary, Eof]
        );
        assert_eq!(
            kinds(r"'a\'b' 'a\nb'"),
            [
                Str,
                Quote,
                IdentWithoutHyphen,
                Invalid,
                IdentWithoutHyphen,
                Quote,
                Eof
            ]
        );
    }

    #[test]
    fn zeros_and_unclosed_comments_lex_one_token_at_a_time() {
        assert_eq!(kinds(&"0".repeat(10)).len(), 11);
        assert_eq!(kinds(&("0".repeat(10) + ".5")), [Kind::FloatPos, Kind::Eof]);
        assert_eq!(
            kinds("0 00.5 -00.5"),
            [Kind::IntPos, Kind::FloatPos, Kind::FloatNeg, Kind::Eof]
        );
        assert_eq!(
            kinds("/* a */ /* b"),
            [
                Kind::Divide,
                Kind::Asterisk,
                Kind::IdentWithoutHyphen,
                Kind::Eof
            ]
        );
        // Large inputs of this shape must stay fast (they were quadratic).
        let chars: Vec<char> = "0"
            .repeat(200_000)
            .chars()
            .chain("/* ".repeat(100_000).chars())
            .collect();
        assert_eq!(tokenize(&chars).len(), 200_000 + 200_000 + 1);
    }

    #[test]
    fn whitespace_and_comments_are_dropped() {
        use Kind::*;
        assert_eq!(
            kinds("[ /* c */ a // end\n ]\u{a0}"),
            [LBrack, IdentWithoutHyphen, RBrack, Eof]
        );
        assert_eq!(
            kinds("/* open"),
            [Divide, Asterisk, IdentWithoutHyphen, Eof]
        );
        assert_eq!(kinds("é"), [Invalid, Eof]);
    }
}
