//! The bundle under construction, written straight into its final JSON
//! text: each object is serialised once, when added, so a huge event never
//! holds its objects both as trees and as text.
//!
//! A writer made with [`BundleWriter::in_pieces`] hands the text on in
//! pieces of about a given size, each a complete bundle of the same id, so
//! that an event of tens of thousands of objects never holds its whole
//! bundle; it keeps only what look-ups by MISP uuid need of the objects
//! already handed on.

use serde_json::{Value, json};

/// One piece of a bundle written in pieces: a complete bundle.
#[derive(Debug)]
pub struct Piece {
    /// The bundle's JSON text.
    pub text: String,
    /// Objects in it.
    pub objects: usize,
}

/// Takes each piece; `false` once nobody takes them any more (the rest of
/// the event is then dropped as it is written).
pub(crate) type PieceSink<'s> = Box<dyn FnMut(Piece) -> bool + 's>;

/// A bundle being written.
pub(crate) struct BundleWriter<'s> {
    bundle_id: String,
    /// UTF-8 JSON (serde_json only writes UTF-8).
    bytes: Vec<u8>,
    /// Byte ranges of the objects inside `bytes`.
    spans: Vec<(usize, usize)>,
    /// Objects written in earlier pieces.
    handed_on: usize,
    pieces: Option<Pieces<'s>>,
}

struct Pieces<'s> {
    piece_bytes: usize,
    sink: PieceSink<'s>,
    /// The sink refused a piece: later objects are dropped.
    closed: bool,
    /// What [`BundleWriter::find_by_uuid`] needs of handed-on objects,
    /// when the event has look-ups at all.
    earlier: Option<Vec<EarlierObject>>,
}

/// An object already handed on: its id and the text a note mention shows
/// for it (an indicator's pattern, or an observable's value).
#[derive(serde::Deserialize)]
struct EarlierObject {
    id: String,
    pattern: Option<String>,
    value: Option<String>,
}

impl EarlierObject {
    fn to_value(&self) -> Value {
        let mut object = json!({ "id": self.id });
        if let Some(pattern) = &self.pattern {
            object["pattern"] = Value::from(pattern.as_str());
        }
        if let Some(value) = &self.value {
            object["value"] = Value::from(value.as_str());
        }
        object
    }
}

impl<'s> BundleWriter<'s> {
    /// A writer that keeps the whole bundle.
    pub(crate) fn new(bundle_id: &str) -> Self {
        let mut writer = Self {
            bundle_id: bundle_id.to_owned(),
            bytes: Vec::with_capacity(4096),
            spans: Vec::new(),
            handed_on: 0,
            pieces: None,
        };
        writer.open();
        writer
    }

    /// A writer that hands `sink` a piece each time about `piece_bytes`
    /// of objects are written, and the rest at [`BundleWriter::finish`].
    /// `lookups`: whether [`BundleWriter::find_by_uuid`] will be asked
    /// (it then keeps each handed-on object's id and mention text).
    pub(crate) fn in_pieces(
        bundle_id: &str,
        piece_bytes: usize,
        lookups: bool,
        sink: PieceSink<'s>,
    ) -> Self {
        let mut writer = Self::new(bundle_id);
        writer.pieces = Some(Pieces {
            piece_bytes: piece_bytes.max(1),
            sink,
            closed: false,
            earlier: lookups.then(Vec::new),
        });
        writer
    }

    fn open(&mut self) {
        self.bytes.extend_from_slice(br#"{"type":"bundle","id":""#);
        self.bytes.extend_from_slice(self.bundle_id.as_bytes());
        self.bytes.extend_from_slice(br#"","objects":["#);
    }

    /// Appends an object (objects always start with `type`, `spec_version`, `id`).
    pub(crate) fn push(&mut self, object: &impl serde::Serialize) {
        if self.pieces.as_ref().is_some_and(|pieces| pieces.closed) {
            self.handed_on += 1;
            return;
        }
        if !self.spans.is_empty() {
            self.bytes.push(b',');
        }
        let start = self.bytes.len();
        // Objects are maps with string keys and the writer is a Vec: this
        // cannot fail.
        serde_json::to_writer(&mut self.bytes, object).expect("STIX objects serialise");
        self.spans.push((start, self.bytes.len()));
        if self
            .pieces
            .as_ref()
            .is_some_and(|pieces| self.bytes.len() >= pieces.piece_bytes)
        {
            self.hand_on();
        }
    }

    /// Sends what is written as one piece and starts the next.
    fn hand_on(&mut self) {
        let Some(pieces) = self.pieces.as_mut() else {
            return;
        };
        if self.spans.is_empty() {
            return;
        }
        if let Some(earlier) = pieces.earlier.as_mut() {
            for &(start, end) in &self.spans {
                if let Ok(object) = serde_json::from_slice(&self.bytes[start..end]) {
                    earlier.push(object);
                }
            }
        }
        self.bytes.extend_from_slice(b"]}");
        // The piece is held until its messages are confirmed: without the
        // room it grew into (up to twice its size).
        self.bytes.shrink_to_fit();
        let text =
            String::from_utf8(std::mem::take(&mut self.bytes)).expect("serde_json writes UTF-8");
        let objects = self.spans.len();
        self.handed_on += objects;
        self.spans.clear();
        pieces.closed = !(pieces.sink)(Piece { text, objects });
        if !pieces.closed {
            self.open();
        }
    }

    /// Number of objects written.
    pub(crate) fn len(&self) -> usize {
        self.handed_on + self.spans.len()
    }

    fn text_of(&self, (start, end): (usize, usize)) -> &str {
        std::str::from_utf8(&self.bytes[start..end]).unwrap_or_default()
    }

    fn id_of(&self, span: (usize, usize)) -> &str {
        id_in(self.text_of(span))
    }

    /// The first object whose id ends with `--<uuid>` (the Python
    /// connector's `_find_type_by_uuid`), parsed back; of an object handed
    /// on in an earlier piece, only its `id` and `pattern` or `value`.
    pub(crate) fn find_by_uuid(&self, uuid: &str) -> Option<Value> {
        let suffix = format!("--{uuid}");
        let earlier = self
            .pieces
            .as_ref()
            .and_then(|pieces| pieces.earlier.as_ref());
        if let Some(found) = earlier
            .into_iter()
            .flatten()
            .find(|object| object.id.ends_with(&suffix))
        {
            return Some(found.to_value());
        }
        let span = self
            .spans
            .iter()
            .copied()
            .find(|&span| self.id_of(span).ends_with(&suffix))?;
        serde_json::from_str(self.text_of(span)).ok()
    }

    /// The finished bundle JSON; written in pieces, the last piece goes to
    /// the sink and the text returned is empty.
    pub(crate) fn finish(mut self) -> String {
        if self.pieces.is_some() {
            if !self.pieces.as_ref().is_some_and(|pieces| pieces.closed) {
                self.hand_on();
            }
            return String::new();
        }
        self.bytes.extend_from_slice(b"]}");
        self.bytes.shrink_to_fit();
        String::from_utf8(self.bytes).expect("serde_json writes UTF-8")
    }
}

/// The `id` of an object's text (objects start with `type`,
/// `spec_version`, `id`).
fn id_in(object: &str) -> &str {
    let Some(at) = object.find(r#""id":""#) else {
        return "";
    };
    let rest = &object[at + 6..];
    &rest[..rest.find('"').unwrap_or(0)]
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

    #[test]
    fn pieces_are_whole_bundles_and_earlier_objects_are_still_found() {
        let mut pieces = Vec::new();
        let sink = Box::new(|piece: Piece| {
            pieces.push(piece);
            true
        });
        let mut bundle = BundleWriter::in_pieces("bundle--1", 100, true, sink);
        for n in 0..5 {
            bundle.push(&json!({"type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--{n}aa"), "pattern": format!("[p:{n}]")}));
        }
        assert_eq!(bundle.len(), 5);
        let found = bundle.find_by_uuid("0aa").expect("handed on, still found");
        assert_eq!(found["id"], "indicator--0aa");
        assert_eq!(found["pattern"], "[p:0]");
        assert!(bundle.find_by_uuid("9aa").is_none());
        assert_eq!(bundle.finish(), "", "everything went to the sink");
        assert!(pieces.len() > 1, "{} pieces", pieces.len());
        let mut ids = Vec::new();
        for piece in &pieces {
            let parsed: Value = serde_json::from_str(&piece.text).unwrap();
            assert_eq!(parsed["id"], "bundle--1");
            let objects = parsed["objects"].as_array().unwrap();
            assert_eq!(objects.len(), piece.objects);
            ids.extend(objects.iter().map(|o| o["id"].as_str().unwrap().to_owned()));
        }
        assert_eq!(
            ids,
            (0..5)
                .map(|n| format!("indicator--{n}aa"))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_piece_holds_its_text_and_no_more() {
        let mut pieces = Vec::new();
        let sink = Box::new(|piece: Piece| {
            pieces.push(piece);
            true
        });
        let mut bundle = BundleWriter::in_pieces("bundle--1", 50_000, false, sink);
        for n in 0..2_000 {
            bundle.push(&json!({"type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--{n}"), "pattern": format!("[ipv4-addr:value = '10.0.{}.{}']", n / 256, n % 256)}));
        }
        bundle.finish();
        assert!(pieces.len() > 2, "{} pieces", pieces.len());
        for piece in &pieces {
            assert_eq!(
                piece.text.capacity(),
                piece.text.len(),
                "held until confirmed"
            );
        }
    }

    #[test]
    fn a_refused_piece_drops_the_rest() {
        let mut calls = 0;
        let sink = Box::new(|_: Piece| {
            calls += 1;
            false
        });
        let mut bundle = BundleWriter::in_pieces("bundle--1", 10, false, sink);
        for n in 0..4 {
            bundle.push(&json!({"type": "x", "spec_version": "2.1", "id": format!("x--{n}")}));
        }
        assert_eq!(bundle.len(), 4, "counted, not kept");
        assert!(bundle.spans.is_empty() && bundle.bytes.is_empty());
        bundle.finish();
        assert_eq!(calls, 1, "nothing more is offered once refused");
    }
}
