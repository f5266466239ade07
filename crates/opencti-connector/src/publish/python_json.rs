//! JSON text as Python's `json.dumps` writes it, which is what pycti puts
//! in queue messages and directory copies.

use serde::Serialize;

/// JSON text as Python's `json.dumps` writes it by default: `", "` and
/// `": "` separators and every non-ASCII character escaped.
pub fn python_json(value: &impl Serialize) -> String {
    String::from_utf8(python_json_bytes(value)).unwrap_or_default()
}

/// [`python_json`] as bytes.
pub fn python_json_bytes(value: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_python_json(&mut out, value);
    out
}

/// Writes the Python-style JSON of `value` to `writer`, an in-memory one
/// (a `&mut Vec<u8>` appends); errors are ignored, since serialising JSON
/// values and plain structs into memory cannot fail.
pub(crate) fn write_python_json(writer: impl std::io::Write, value: &impl Serialize) {
    let mut serializer = serde_json::Serializer::with_formatter(writer, PythonFormatter);
    let _ = value.serialize(&mut serializer);
}

struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        separate(writer, first)
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        separate(writer, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        if fragment.is_ascii() {
            return writer.write_all(fragment.as_bytes());
        }
        let mut units = [0u16; 2];
        for character in fragment.chars() {
            if character.is_ascii() {
                writer.write_all(&[character as u8])?;
            } else {
                for unit in character.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// Python's item separator, before every item but the first.
fn separate<W: ?Sized + std::io::Write>(writer: &mut W, first: bool) -> std::io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_style_json() {
        let value = json!({"a": [1, 2], "b": "é\u{1F600}\n", "c": {"d": null}});
        assert_eq!(
            python_json(&value),
            "{\"a\": [1, 2], \"b\": \"\\u00e9\\ud83d\\ude00\\n\", \"c\": {\"d\": null}}"
        );
    }
}
