//! An incremental server-sent-events parser.
//!
//! Bytes arrive in arbitrary network chunks; [`SseParser::feed`] accepts each
//! chunk as it comes and emits the events completed so far. A line ending may
//! be `\r\n`, `\n` or `\r`, including a `\r` that ends one chunk and a `\n`
//! that starts the next. A UTF-8 byte-order mark at the start of a stream is
//! skipped. [`SseParser::reset`] drops whatever was half received when a
//! connection ends, so a truncated event is never dispatched.
//!
//! What the parser holds is bounded: the line being received plus the
//! fields kept for the event being assembled may not exceed
//! [`SseParser::max_event_bytes`]; past it, [`SseParser::feed`] fails with
//! [`EventTooLarge`] instead of buffering more.

use std::time::Duration;

/// The UTF-8 byte-order mark, ignored when a stream starts with it.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The default of [`SseParser::max_event_bytes`]: 64 MiB. The platform's
/// largest events (reports whose content embeds images, objects with
/// tens of thousands of references) weigh a few MB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 << 20;

/// The line buffer keeps its allocation for the next line up to this size;
/// a larger one is given back, so one big event does not pin its memory.
const RETAINED_LINE_CAPACITY: usize = 64 << 10;

/// A line, or the fields of one event, went over the parser's limit. The
/// parser must be [`reset`](SseParser::reset) (with a new connection)
/// before it is fed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a live stream event is larger than {limit} bytes")]
pub struct EventTooLarge {
    /// The limit, in bytes.
    pub limit: usize,
}

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
#[derive(Debug)]
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
    /// Bytes of the fields kept for the pending event.
    pending_bytes: usize,
    max_event_bytes: usize,
    retry: Option<Duration>,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }
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
    /// A parser at the start of a stream, accepting events up to
    /// [`DEFAULT_MAX_EVENT_BYTES`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser accepting events up to `max_event_bytes` (at least 1).
    pub fn with_max_event_bytes(max_event_bytes: usize) -> Self {
        Self {
            line: Vec::new(),
            skip_leading_lf: false,
            start: Vec::new(),
            started: false,
            pending: PendingEvent::default(),
            pending_bytes: 0,
            max_event_bytes: max_event_bytes.max(1),
            retry: None,
        }
    }

    /// The most bytes one line, or the fields of one event, may take.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// The reconnection delay last announced by the server with `retry:`.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Forgets any partial line and partial event, ready for a new
    /// connection. The announced `retry` delay is kept.
    pub fn reset(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.recycle_line(line);
        self.skip_leading_lf = false;
        self.start.clear();
        self.started = false;
        self.pending = PendingEvent::default();
        self.pending_bytes = 0;
    }

    /// Parses `chunk` and appends every event it completes to `events`.
    ///
    /// Fails when a line, or the fields of the event being assembled, would
    /// exceed [`max_event_bytes`](Self::max_event_bytes); the events
    /// completed before that point are in `events`, and the parser must be
    /// reset before it is fed again.
    pub fn feed(&mut self, chunk: &[u8], events: &mut Vec<SseEvent>) -> Result<(), EventTooLarge> {
        let stripped = self.strip_bom(chunk);
        let mut rest: &[u8] = &stripped;
        if self.skip_leading_lf && !rest.is_empty() {
            self.skip_leading_lf = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.within_limit(end)?;
            if self.line.is_empty() {
                self.process_line(&rest[..end], events);
            } else {
                self.line.extend_from_slice(&rest[..end]);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, events);
                self.recycle_line(line);
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
        self.within_limit(rest.len())?;
        self.line.extend_from_slice(rest);
        Ok(())
    }

    /// Whether `more` bytes of the current line still fit, with the line
    /// received so far and the fields kept for the pending event.
    fn within_limit(&self, more: usize) -> Result<(), EventTooLarge> {
        let held = self.pending_bytes + self.line.len();
        if held.saturating_add(more) > self.max_event_bytes {
            return Err(EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(())
    }

    /// Keeps `line`'s allocation for the next partial line, unless it grew
    /// large.
    fn recycle_line(&mut self, mut line: Vec<u8>) {
        line.clear();
        self.line = if line.capacity() > RETAINED_LINE_CAPACITY {
            Vec::new()
        } else {
            line
        };
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
                self.pending_bytes += line.len();
            }
            b"event" => {
                self.pending.event = Some(String::from_utf8_lossy(value).into_owned());
                self.pending_bytes += line.len();
            }
            // An id containing NUL is ignored, as in the HTML standard.
            b"id" if !value.contains(&0) => {
                self.pending.id = Some(String::from_utf8_lossy(value).into_owned());
                self.pending_bytes += line.len();
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
        self.pending_bytes = 0;
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
            parser.feed(chunk, &mut events).unwrap();
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
        parser
            .feed(b"retry: 1500\n\nretry: 2s\n\n", &mut events)
            .unwrap();
        assert!(events.is_empty());
        assert_eq!(parser.retry(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn reset_discards_a_partial_event() {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        parser.feed(b"id: 1\ndata: half", &mut events).unwrap();
        parser.reset();
        parser
            .feed(b"\n\nid: 2\ndata: whole\n\n", &mut events)
            .unwrap();
        assert_eq!(events, vec![event(Some("2"), "message", "whole")]);
    }

    #[test]
    fn a_line_longer_than_the_limit_fails_without_buffering_it() {
        let mut parser = SseParser::with_max_event_bytes(64);
        let mut events = Vec::new();
        parser.feed(b"id: 1\ndata: ok\n\n", &mut events).unwrap();
        // No line ending: the bytes would otherwise pile up forever.
        let endless = [b'x'; 40];
        parser.feed(&endless, &mut events).unwrap();
        assert_eq!(
            parser.feed(&endless, &mut events),
            Err(EventTooLarge { limit: 64 })
        );
        assert!(parser.line.len() <= 64, "{} bytes held", parser.line.len());
        assert_eq!(events, vec![event(Some("1"), "message", "ok")]);
        parser.reset();
        parser.feed(b"data: again\n\n", &mut events).unwrap();
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn many_short_data_lines_count_towards_the_event_limit() {
        let mut parser = SseParser::with_max_event_bytes(100);
        let mut events = Vec::new();
        let mut failed = false;
        for _ in 0..20 {
            if parser.feed(b"data: 0123456789\n", &mut events).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "an event of 20 data lines passed a 100-byte limit");
        assert!(parser.pending.data.len() <= 100);
        // Comments and unknown fields are not kept, so they do not count.
        let mut parser = SseParser::with_max_event_bytes(100);
        for _ in 0..20 {
            parser
                .feed(b": keep-alive 0123456789\n", &mut events)
                .unwrap();
        }
    }

    #[test]
    fn a_large_line_does_not_keep_its_allocation() {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        let big = format!("data: {}", "y".repeat(1 << 20));
        parser.feed(&big.as_bytes()[..1000], &mut events).unwrap();
        parser.feed(&big.as_bytes()[1000..], &mut events).unwrap();
        parser.feed(b"\n\n", &mut events).unwrap();
        assert_eq!(events.len(), 1);
        assert!(parser.line.capacity() <= RETAINED_LINE_CAPACITY);
    }

    #[test]
    fn id_with_nul_is_ignored() {
        let events = parse_chunks(&[b"id: a\0b\ndata: x\n\n"]);
        assert_eq!(events, vec![event(None, "message", "x")]);
    }
}
