//! An incremental server-sent-events parser.
//!
//! Bytes arrive in arbitrary network chunks; [`SseParser::feed`] accepts each
//! chunk as it comes and emits the events completed so far. A line ending may
//! be `\r\n`, `\n` or `\r`, including a `\r` that ends one chunk and a `\n`
//! that starts the next. A UTF-8 byte-order mark at the start of a stream is
//! skipped. [`SseParser::reset`] drops whatever was half received when a
//! connection ends, so a truncated event is never dispatched.

use std::time::Duration;

/// The UTF-8 byte-order mark, ignored when a stream starts with it.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The value of the `id` field carried by this event, if it had one.
    ///
    /// Unlike a browser's `EventSource`, the id does not carry over to later
    /// events: the platform's `connected` event has none and must not inherit
    /// the previous position.
    pub id: Option<String>,
    /// The `event` field, `"message"` when absent.
    pub event: String,
    /// The `data` lines joined with `\n`.
    pub data: String,
}

/// Incremental parser state for one SSE byte stream.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line that has not been terminated yet.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` opening the next chunk
    /// belongs to the same line ending.
    skip_leading_lf: bool,
    /// Bytes seen since the last reset, up to the length of the BOM; used to
    /// recognise a BOM split across chunks.
    start: Vec<u8>,
    /// Whether the start of the stream has been checked for a BOM.
    started: bool,
    pending: PendingEvent,
    retry: Option<Duration>,
}

/// Fields of the event being assembled.
#[derive(Debug, Default)]
struct PendingEvent {
    id: Option<String>,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl PendingEvent {
    fn is_empty(&self) -> bool {
        self.id.is_none() && self.event.is_none() && !self.has_data
    }
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The reconnection delay last announced by the server with `retry:`.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Forgets any partial line and partial event, ready for a new
    /// connection. The announced `retry` delay is kept.
    pub fn reset(&mut self) {
        self.line.clear();
        self.skip_leading_lf = false;
        self.start.clear();
        self.started = false;
        self.pending = PendingEvent::default();
    }

    /// Parses `chunk` and appends every event it completes to `events`.
    pub fn feed(&mut self, chunk: &[u8], events: &mut Vec<SseEvent>) {
        let stripped = self.strip_bom(chunk);
        let mut rest: &[u8] = &stripped;
        if self.skip_leading_lf && !rest.is_empty() {
            self.skip_leading_lf = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            if self.line.is_empty() {
                self.process_line(&rest[..end], events);
            } else {
                self.line.extend_from_slice(&rest[..end]);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, events);
                // Give the allocation back for the next partial line.
                self.line = line;
                self.line.clear();
            }
            let terminator = rest[end];
            rest = &rest[end + 1..];
            if terminator == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.skip_leading_lf = true,
                }
            }
        }
        self.line.extend_from_slice(rest);
    }

    /// Removes a leading BOM, possibly spread over several chunks. Bytes
    /// held back while undecided are returned once the question is settled.
    fn strip_bom<'a>(&mut self, chunk: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        if self.started {
            return std::borrow::Cow::Borrowed(chunk);
        }
        self.start.extend_from_slice(chunk);
        let seen = self.start.len().min(BOM.len());
        if self.start[..seen] != BOM[..seen] {
            self.started = true;
            return std::borrow::Cow::Owned(std::mem::take(&mut self.start));
        }
        if self.start.len() < BOM.len() {
            return std::borrow::Cow::Borrowed(&[]);
        }
        self.started = true;
        let mut after_bom = std::mem::take(&mut self.start);
        after_bom.drain(..BOM.len());
        std::borrow::Cow::Owned(after_bom)
    }

    fn process_line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                if self.pending.has_data {
                    self.pending.data.push('\n');
                }
                self.pending.has_data = true;
                self.pending.data.push_str(&String::from_utf8_lossy(value));
            }
            b"event" => self.pending.event = Some(String::from_utf8_lossy(value).into_owned()),
            // An id containing NUL is ignored, as in the HTML standard.
            b"id" if !value.contains(&0) => {
                self.pending.id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Some(millis) = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                    self.retry = Some(Duration::from_millis(millis));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        events.push(SseEvent {
            id: pending.id,
            event: pending.event.unwrap_or_else(|| "message".to_owned()),
            data: pending.data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut events);
        }
        events
    }

    fn event(id: Option<&str>, name: &str, data: &str) -> SseEvent {
        SseEvent {
            id: id.map(str::to_owned),
            event: name.to_owned(),
            data: data.to_owned(),
        }
    }

    #[test]
    fn parses_platform_events() {
        let events = parse_chunks(&[
            b"event: connected\ndata: {\"a\":1}\n\nid: 1-0\nevent: heartbeat\ndata: \"x\"\n\n",
        ]);
        assert_eq!(
            events,
            vec![
                event(None, "connected", "{\"a\":1}"),
                event(Some("1-0"), "heartbeat", "\"x\"")
            ]
        );
    }

    #[test]
    fn joins_multi_line_data_and_defaults_the_event_name() {
        let events = parse_chunks(&[b"data: one\ndata:two\ndata\n\n"]);
        assert_eq!(events, vec![event(None, "message", "one\ntwo\n")]);
    }

    #[test]
    fn ignores_comments_unknown_fields_and_empty_blocks() {
        let events = parse_chunks(&[b": keep-alive\n\nfoo: bar\n\n\n\nid: 7\n: note\ndata: d\n\n"]);
        assert_eq!(events, vec![event(Some("7"), "message", "d")]);
    }

    #[test]
    fn accepts_every_line_ending() {
        let events =
            parse_chunks(&[b"id: 1\r\ndata: a\r\n\r\nid: 2\rdata: b\r\rid: 3\ndata: c\n\n"]);
        let ids: Vec<_> = events
            .iter()
            .map(|e| e.id.as_deref().unwrap_or_default())
            .collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(events[1].data, "b");
    }

    #[test]
    fn carriage_return_at_chunk_end_then_line_feed() {
        let events = parse_chunks(&[b"id: 1\r", b"\ndata: a\r", b"\n\r", b"\n"]);
        assert_eq!(events, vec![event(Some("1"), "message", "a")]);
    }

    #[test]
    fn carriage_return_at_chunk_end_then_empty_line() {
        // `\r` then `\r` is two line endings: the second ends the event.
        let events = parse_chunks(&[b"data: a\r", b"\r"]);
        assert_eq!(events, vec![event(None, "message", "a")]);
    }

    #[test]
    fn skips_a_byte_order_mark_split_over_chunks() {
        let events = parse_chunks(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"]);
        assert_eq!(events, vec![event(None, "message", "x")]);
        let events = parse_chunks(&[b"\xEF\xBB"]);
        assert!(events.is_empty());
    }

    #[test]
    fn a_byte_order_mark_later_in_the_stream_is_data() {
        let events = parse_chunks(&[b"data: \xEF\xBB\xBFx\n\n"]);
        assert_eq!(events[0].data, "\u{feff}x");
    }

    #[test]
    fn retry_sets_the_reconnection_delay_only_when_numeric() {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        parser.feed(b"retry: 1500\n\nretry: 2s\n\n", &mut events);
        assert!(events.is_empty());
        assert_eq!(parser.retry(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn reset_discards_a_partial_event() {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        parser.feed(b"id: 1\ndata: half", &mut events);
        parser.reset();
        parser.feed(b"\n\nid: 2\ndata: whole\n\n", &mut events);
        assert_eq!(events, vec![event(Some("2"), "message", "whole")]);
    }

    #[test]
    fn id_with_nul_is_ignored() {
        let events = parse_chunks(&[b"id: a\0b\ndata: x\n\n"]);
        assert_eq!(events, vec![event(None, "message", "x")]);
    }
}
