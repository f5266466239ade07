//! The bundle under construction, written straight into its final JSON
//! text: each object is serialised once, when added, so a huge event never
//! holds its objects both as trees and as text.

use serde_json::Value;

/// A bundle being written.
pub(crate) struct BundleWriter {
    /// UTF-8 JSON (serde_json only writes UTF-8).
    bytes: Vec<u8>,
    /// Byte ranges of the objects inside `bytes`.
    spans: Vec<(usize, usize)>,
}

impl BundleWriter {
    pub(crate) fn new(bundle_id: &str) -> Self {
        let mut bytes = Vec::with_capacity(4096);
        bytes.extend_from_slice(br#"{"type":"bundle","id":""#);
        bytes.extend_from_slice(bundle_id.as_bytes());
        bytes.extend_from_slice(br#"","objects":["#);
        Self {
            bytes,
            spans: Vec::new(),
        }
    }

    /// Appends an object (objects always start with `type`, `spec_version`, `id`).
    pub(crate) fn push(&mut self, object: &impl serde::Serialize) {
        if !self.spans.is_empty() {
            self.bytes.push(b',');
        }
        let start = self.bytes.len();
        // Objects are maps with string keys and the writer is a Vec: this
        // cannot fail.
        serde_json::to_writer(&mut self.bytes, object).expect("STIX objects serialise");
        self.spans.push((start, self.bytes.len()));
    }

    /// Number of objects written.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    fn text_of(&self, (start, end): (usize, usize)) -> &str {
        std::str::from_utf8(&self.bytes[start..end]).unwrap_or_default()
    }

    fn id_of(&self, span: (usize, usize)) -> &str {
        let object = self.text_of(span);
        let Some(at) = object.find(r#""id":""#) else {
            return "";
        };
        let rest = &object[at + 6..];
        &rest[..rest.find('"').unwrap_or(0)]
    }

    /// The first object whose id ends with `--<uuid>` (the Python
    /// connector's `_find_type_by_uuid`), parsed back.
    pub(crate) fn find_by_uuid(&self, uuid: &str) -> Option<Value> {
        let suffix = format!("--{uuid}");
        let span = self
            .spans
            .iter()
            .copied()
            .find(|&span| self.id_of(span).ends_with(&suffix))?;
        serde_json::from_str(self.text_of(span)).ok()
    }

    /// The finished bundle JSON.
    pub(crate) fn finish(mut self) -> String {
        self.bytes.extend_from_slice(b"]}");
        self.bytes.shrink_to_fit();
        String::from_utf8(self.bytes).expect("serde_json writes UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_a_bundle_and_finds_objects_by_uuid_suffix() {
        let mut bundle = BundleWriter::new("bundle--1");
        bundle.push(&json!({"type": "x", "spec_version": "2.1", "id": "x--aaa", "value": "v"}));
        bundle.push(&json!({"type": "y", "spec_version": "2.1", "id": "y--bbb"}));
        assert_eq!(bundle.len(), 2);
        assert_eq!(bundle.find_by_uuid("aaa").unwrap()["value"], "v");
        assert!(bundle.find_by_uuid("a").is_none());
        let text = bundle.finish();
        assert!(text.ends_with(r#",{"type":"y","spec_version":"2.1","id":"y--bbb"}]}"#));
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["id"], "bundle--1");
        assert_eq!(parsed["objects"][1]["id"], "y--bbb");
    }
}
