//! Typed values and the pycti conversion rules.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use figment::value::Value as YamlValue;
use reqwest::Url;

use super::var::VarKind;
use crate::duration::{format_period, parse_period};

/// A resolved configuration value, typed by its variable's [`VarKind`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// [`VarKind::String`].
    String(String),
    /// [`VarKind::Bool`].
    Bool(bool),
    /// [`VarKind::Int`].
    Int(i64),
    /// [`VarKind::Float`].
    Float(f64),
    /// [`VarKind::Duration`].
    Duration(Duration),
    /// [`VarKind::List`].
    List(Vec<String>),
    /// [`VarKind::Url`].
    Url(Url),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(text) => f.write_str(text),
            Self::Bool(flag) => write!(f, "{flag}"),
            Self::Int(number) => write!(f, "{number}"),
            Self::Float(number) => write!(f, "{number}"),
            Self::Duration(period) => f.write_str(&format_period(*period)),
            Self::List(items) => f.write_str(&items.join(",")),
            Self::Url(url) => f.write_str(url.as_str()),
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// An environment variable (the name actually read, maybe an alias).
    Env(String),
    /// The `config.yml` file.
    File(PathBuf),
    /// The variable's default.
    Default,
    /// Nowhere: the variable is unset and has no default.
    Unset,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "environment {name}"),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Default => f.write_str("default"),
            Self::Unset => f.write_str("unset"),
        }
    }
}

/// Raw input before conversion: text (environment, defaults) or a YAML node.
#[derive(Debug, Clone)]
pub(crate) enum Raw {
    Text(String),
    Yaml(YamlValue),
}

impl Raw {
    /// The text shown in reports (before masking).
    pub(crate) fn display(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Yaml(value) => yaml_display(value),
        }
    }

    /// pycti rule: an empty value (or a YAML null) means "use the default".
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Self::Text(text) => text.is_empty(),
            Self::Yaml(YamlValue::String(_, text)) => text.is_empty(),
            Self::Yaml(YamlValue::Empty(..)) => true,
            Self::Yaml(_) => false,
        }
    }
}

fn yaml_display(value: &YamlValue) -> String {
    match value {
        YamlValue::String(_, text) => text.clone(),
        YamlValue::Char(_, c) => c.to_string(),
        YamlValue::Bool(_, flag) => flag.to_string(),
        YamlValue::Num(_, number) => number_text(number),
        YamlValue::Empty(..) => String::new(),
        YamlValue::Array(_, items) => items.iter().map(yaml_display).collect::<Vec<_>>().join(","),
        YamlValue::Dict(..) => "{...}".to_owned(),
    }
}

fn number_integer(number: &figment::value::Num) -> Option<i128> {
    number
        .to_i128()
        .or_else(|| number.to_u128().and_then(|wide| i128::try_from(wide).ok()))
}

fn number_float(number: &figment::value::Num) -> Option<f64> {
    number_integer(number)
        .map(|integer| integer as f64)
        .or_else(|| number.to_f64())
}

fn number_text(number: &figment::value::Num) -> String {
    match number_integer(number) {
        Some(integer) => integer.to_string(),
        None => number.to_f64().map(|f| f.to_string()).unwrap_or_default(),
    }
}

/// The boolean spellings of every variable, runtime and connectors alike:
/// pycti's (`yes`/`true`/`True`, `no`/`false`/`False`) and the lax ones the
/// Python connectors' pydantic settings accept, in any case. A value pycti
/// would have kept as a (truthy) string is refused instead.
pub(crate) fn parse_bool_text(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" | "t" | "y" => Some(true),
        "false" | "no" | "0" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// The one message for a value [`parse_bool_text`] refuses.
const EXPECTED_BOOLEAN: &str =
    "expected a boolean: true, yes, on, 1 or false, no, off, 0 (any case)";

fn parse_bool(text: &str) -> Result<bool, String> {
    parse_bool_text(text).ok_or_else(|| EXPECTED_BOOLEAN.to_owned())
}

/// Converts raw input into a value of `kind`; the error is a reason phrase.
pub(crate) fn convert(kind: VarKind, raw: &Raw) -> Result<Value, String> {
    match (kind, raw) {
        (VarKind::String, raw) => match raw {
            Raw::Yaml(YamlValue::Array(..) | YamlValue::Dict(..)) => {
                Err("expected a single text value".to_owned())
            }
            raw => Ok(Value::String(raw.display())),
        },
        (VarKind::Bool, Raw::Yaml(YamlValue::Bool(_, flag))) => Ok(Value::Bool(*flag)),
        (VarKind::Bool, raw) => parse_bool(&raw.display()).map(Value::Bool),
        (VarKind::Int, Raw::Yaml(YamlValue::Num(_, number))) => number_integer(number)
            .and_then(|n| i64::try_from(n).ok())
            .map(Value::Int)
            .ok_or_else(|| "expected an integer".to_owned()),
        (VarKind::Int, raw) => raw
            .display()
            .trim()
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| "expected an integer".to_owned()),
        (VarKind::Float, Raw::Yaml(YamlValue::Num(_, number))) => number_float(number)
            .map(Value::Float)
            .ok_or_else(|| "expected a number".to_owned()),
        (VarKind::Float, raw) => raw
            .display()
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|number| number.is_finite())
            .map(Value::Float)
            .ok_or_else(|| "expected a number".to_owned()),
        // A YAML number is a count of seconds, as pydantic reads a Python int.
        (VarKind::Duration, Raw::Yaml(YamlValue::Num(_, number))) => number_float(number)
            .filter(|seconds| *seconds >= 0.0 && seconds.is_finite())
            .map(|seconds| Value::Duration(Duration::from_secs(seconds as u64)))
            .ok_or_else(|| "expected a non-negative number of seconds".to_owned()),
        (VarKind::Duration, raw) => parse_period(&raw.display())
            .map(Value::Duration)
            .map_err(|error| error.to_string()),
        (VarKind::List, Raw::Yaml(YamlValue::Array(_, items))) => Ok(Value::List(
            items
                .iter()
                .map(|item| yaml_display(item).trim().to_owned())
                .filter(|item| !item.is_empty())
                .collect(),
        )),
        (VarKind::List, raw) => Ok(Value::List(
            raw.display()
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        (VarKind::Url, raw) => {
            let text = raw.display();
            let url = Url::parse(text.trim()).map_err(|error| format!("not a URL: {error}"))?;
            if url.cannot_be_a_base() {
                return Err("expected an absolute URL such as https://host:port".to_owned());
            }
            Ok(Value::Url(url))
        }
    }
}

/// Conversion from a resolved [`Value`] into a Rust type, used by
/// [`super::Check::get`].
pub trait FromValue: Sized {
    /// Converts, or explains why the value does not fit.
    fn from_value(value: &Value) -> Result<Self, String>;
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        Ok(value.to_string())
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Bool(flag) => Ok(*flag),
            other => parse_bool(&other.to_string()),
        }
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Int(number) => Ok(*number),
            Value::String(text) => text
                .trim()
                .parse()
                .map_err(|_| "expected an integer".to_owned()),
            _ => Err("expected an integer".to_owned()),
        }
    }
}

macro_rules! bounded_integer {
    ($($ty:ty),*) => {$(
        impl FromValue for $ty {
            fn from_value(value: &Value) -> Result<Self, String> {
                let wide = i64::from_value(value)?;
                <$ty>::try_from(wide)
                    .map_err(|_| out_of_range(wide, <$ty>::MIN as i128, <$ty>::MAX as i128))
            }
        }
    )*};
}

/// Why `wide` does not fit in `min..=max`, in the operator's terms: a
/// negative count is "negative", not "outside 0..18446744073709551615".
fn out_of_range(wide: i64, min: i128, max: i128) -> String {
    let wide = i128::from(wide);
    if min == 0 && wide < 0 {
        "must not be negative (expected 0 or more)".to_owned()
    } else if wide > max {
        format!("expected at most {max}")
    } else {
        format!("expected at least {min}")
    }
}
bounded_integer!(u16, u32, u64, usize, i32);

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Float(number) => Ok(*number),
            Value::Int(number) => Ok(*number as f64),
            Value::String(text) => text
                .trim()
                .parse()
                .map_err(|_| "expected a number".to_owned()),
            _ => Err("expected a number".to_owned()),
        }
    }
}

impl FromValue for Duration {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Duration(period) => Ok(*period),
            Value::String(text) => parse_period(text).map_err(|error| error.to_string()),
            _ => Err("expected a duration".to_owned()),
        }
    }
}

impl FromValue for Vec<String> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::List(items) => Ok(items.clone()),
            other => Ok(other
                .to_string()
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()),
        }
    }
}

impl FromValue for Url {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Url(url) => Ok(url.clone()),
            other => Url::parse(&other.to_string()).map_err(|error| format!("not a URL: {error}")),
        }
    }
}

impl FromValue for PathBuf {
    fn from_value(value: &Value) -> Result<Self, String> {
        Ok(PathBuf::from(value.to_string()))
    }
}
