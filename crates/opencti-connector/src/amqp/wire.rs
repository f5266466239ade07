//! The AMQP 0-9-1 frames of a confirmed publisher: the ones it writes
//! (handshake, `basic.publish` with its content, heartbeats, closing) and
//! the ones it reads (handshake replies, confirms, returns, closes,
//! `connection.blocked`). Pure encoding and decoding; the connection that
//! uses them is `publish_connection.rs`.

use std::fmt;

const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xCE;
/// Type, channel and size before a frame's payload, the end octet after.
const FRAME_OVERHEAD: usize = 8;

/// `basic`'s class id, as content headers carry it.
const CLASS_BASIC: u16 = 60;
/// Property flags of a published message: `content-encoding` and
/// `delivery-mode`, in that order on the wire.
const FLAG_CONTENT_ENCODING: u16 = 1 << 14;
const FLAG_DELIVERY_MODE: u16 = 1 << 12;

/// The protocol header that opens a connection.
pub(crate) const PROTOCOL_HEADER: &[u8] = b"AMQP\x00\x00\x09\x01";

/// A frame or method that does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError(pub(crate) String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AMQP protocol error: {}", self.0)
    }
}

fn malformed(what: &str) -> WireError {
    WireError(format!("malformed {what}"))
}

/// A method the publisher writes (no `Debug`: the login holds the
/// password).
pub(crate) enum Outgoing<'a> {
    StartOk {
        user: &'a str,
        password: &'a str,
        connection_name: &'a str,
    },
    TuneOk {
        channel_max: u16,
        frame_max: u32,
        heartbeat: u16,
    },
    Open {
        vhost: &'a str,
    },
    Close,
    ChannelOpen,
    ConfirmSelect,
}

/// A method the publisher reads; others are reported by their ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    Start {
        mechanisms: String,
    },
    Tune {
        channel_max: u16,
        frame_max: u32,
        heartbeat: u16,
    },
    OpenOk,
    Close {
        code: u16,
        text: String,
    },
    CloseOk,
    Blocked {
        reason: String,
    },
    Unblocked,
    ChannelOpenOk,
    ChannelClose {
        code: u16,
        text: String,
    },
    SelectOk,
    Ack {
        tag: u64,
        multiple: bool,
    },
    Nack {
        tag: u64,
        multiple: bool,
    },
    Return {
        code: u16,
        text: String,
    },
    Other {
        class: u16,
        method: u16,
    },
}

/// A frame read from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Method {
        channel: u16,
        method: Incoming,
    },
    /// A content header or body (a returned message's): nothing to do.
    Content,
    Heartbeat,
}

/// Appends the frames of `method` on `channel` to `out`.
pub(crate) fn write_method(out: &mut Vec<u8>, channel: u16, method: &Outgoing<'_>) {
    let start = begin_frame(out, FRAME_METHOD, channel);
    match method {
        Outgoing::StartOk {
            user,
            password,
            connection_name,
        } => {
            ids(out, 10, 11);
            let properties = out.len();
            out.extend_from_slice(&[0; 4]);
            table_entry_str(out, "product", "opencti-connector");
            table_entry_str(out, "connection_name", connection_name);
            out.push(b"capabilities".len() as u8);
            out.extend_from_slice(b"capabilities");
            out.push(b'F');
            let capabilities = out.len();
            out.extend_from_slice(&[0; 4]);
            for capability in [
                "publisher_confirms",
                "connection.blocked",
                "authentication_failure_close",
            ] {
                short_str(out, capability);
                out.extend_from_slice(&[b't', 1]);
            }
            patch_len(out, capabilities);
            patch_len(out, properties);
            short_str(out, "PLAIN");
            let response = [b"\0", user.as_bytes(), b"\0", password.as_bytes()].concat();
            long_str(out, &response);
            short_str(out, "en_US");
        }
        Outgoing::TuneOk {
            channel_max,
            frame_max,
            heartbeat,
        } => {
            ids(out, 10, 31);
            out.extend_from_slice(&channel_max.to_be_bytes());
            out.extend_from_slice(&frame_max.to_be_bytes());
            out.extend_from_slice(&heartbeat.to_be_bytes());
        }
        Outgoing::Open { vhost } => {
            ids(out, 10, 40);
            short_str(out, vhost);
            short_str(out, "");
            out.push(0);
        }
        Outgoing::Close => {
            ids(out, 10, 50);
            out.extend_from_slice(&200_u16.to_be_bytes());
            short_str(out, "closing");
            out.extend_from_slice(&[0; 4]);
        }
        Outgoing::ChannelOpen => {
            ids(out, 20, 10);
            short_str(out, "");
        }
        Outgoing::ConfirmSelect => {
            ids(out, 85, 10);
            out.push(0);
        }
    }
    end_frame(out, start);
}

/// Appends a persistent, mandatory `basic.publish` of `body` (its
/// `content_encoding` `utf-8`, as pycti's) on `channel`, body frames at
/// most `frame_max` bytes each.
pub(crate) fn write_publish(
    out: &mut Vec<u8>,
    channel: u16,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    frame_max: u32,
) {
    let start = begin_frame(out, FRAME_METHOD, channel);
    ids(out, CLASS_BASIC, 40);
    out.extend_from_slice(&[0, 0]);
    short_str(out, exchange);
    short_str(out, routing_key);
    out.push(1); // mandatory, not immediate
    end_frame(out, start);

    let start = begin_frame(out, FRAME_HEADER, channel);
    out.extend_from_slice(&CLASS_BASIC.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(&(FLAG_CONTENT_ENCODING | FLAG_DELIVERY_MODE).to_be_bytes());
    short_str(out, "utf-8");
    out.push(2); // persistent
    end_frame(out, start);

    let chunk = (frame_max as usize).saturating_sub(FRAME_OVERHEAD).max(1);
    for part in body.chunks(chunk) {
        let start = begin_frame(out, FRAME_BODY, channel);
        out.extend_from_slice(part);
        end_frame(out, start);
    }
}

/// Appends a heartbeat frame.
pub(crate) fn write_heartbeat(out: &mut Vec<u8>) {
    out.extend_from_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}

fn begin_frame(out: &mut Vec<u8>, kind: u8, channel: u16) -> usize {
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.len()
}

fn end_frame(out: &mut Vec<u8>, payload_start: usize) {
    patch_len(out, payload_start - 4);
    out.push(FRAME_END);
}

/// Writes the length of what follows the 4-byte slot at `at`.
fn patch_len(out: &mut [u8], at: usize) {
    let len = u32::try_from(out.len() - at - 4).expect("frames are far below 4 GiB");
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn ids(out: &mut Vec<u8>, class: u16, method: u16) {
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&method.to_be_bytes());
}

/// A short string: callers pass exchange and queue names, which the
/// broker limits to 255 bytes; a longer one is cut rather than corrupting
/// the frame (the broker then refuses it by name).
fn short_str(out: &mut Vec<u8>, value: &str) {
    let bytes = &value.as_bytes()[..value.len().min(255)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn long_str(out: &mut Vec<u8>, value: &[u8]) {
    let len = u32::try_from(value.len()).expect("credentials are far below 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

fn table_entry_str(out: &mut Vec<u8>, key: &str, value: &str) {
    short_str(out, key);
    out.push(b'S');
    long_str(out, value.as_bytes());
}

/// A frame of `kind` as a broker writes it, for fake brokers in tests.
#[cfg(test)]
pub(crate) fn test_frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = begin_frame(&mut out, kind, channel);
    out.extend_from_slice(payload);
    end_frame(&mut out, start);
    out
}

/// A method frame as a broker writes it, for fake brokers in tests.
#[cfg(test)]
pub(crate) fn test_method(channel: u16, class: u16, method: u16, args: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(4 + args.len());
    ids(&mut payload, class, method);
    payload.extend_from_slice(args);
    test_frame(FRAME_METHOD, channel, &payload)
}

/// Frames read from a byte stream, in order. A frame larger than the
/// bound (the negotiated frame size) is an error, so a broken or hostile
/// peer cannot make the buffer grow without limit.
#[derive(Debug)]
pub(crate) struct FrameReader {
    buffer: Vec<u8>,
    start: usize,
    max_frame: usize,
}

impl FrameReader {
    /// A reader accepting frames of up to `max_frame` bytes of payload.
    pub(crate) fn new(max_frame: usize) -> Self {
        Self {
            buffer: Vec::new(),
            start: 0,
            max_frame,
        }
    }

    /// Sets the bound once the frame size is negotiated.
    pub(crate) fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame;
    }

    /// Appends bytes read from the stream.
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame, if the buffer holds one.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        let available = &self.buffer[self.start..];
        if available.len() < 7 {
            return Ok(None);
        }
        let kind = available[0];
        let channel = u16::from_be_bytes([available[1], available[2]]);
        let size =
            u32::from_be_bytes([available[3], available[4], available[5], available[6]]) as usize;
        if size > self.max_frame {
            return Err(WireError(format!(
                "a frame of {size} bytes, above the negotiated {} bytes",
                self.max_frame
            )));
        }
        if available.len() < size + FRAME_OVERHEAD {
            return Ok(None);
        }
        if available[7 + size] != FRAME_END {
            return Err(malformed("frame end"));
        }
        let payload = &available[7..7 + size];
        let frame = match kind {
            FRAME_METHOD => Frame::Method {
                channel,
                method: parse_method(payload)?,
            },
            FRAME_HEADER | FRAME_BODY => Frame::Content,
            FRAME_HEARTBEAT => Frame::Heartbeat,
            other => return Err(WireError(format!("unknown frame type {other}"))),
        };
        self.start += size + FRAME_OVERHEAD;
        Ok(Some(frame))
    }
}

/// Reads a method's arguments in order.
struct Args<'a>(&'a [u8]);

impl<'a> Args<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(malformed(what));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self, what: &str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, WireError> {
        let bytes = self.take(2, what)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, WireError> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_be_bytes(bytes.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &str) -> Result<u64, WireError> {
        let bytes = self.take(8, what)?;
        Ok(u64::from_be_bytes(bytes.try_into().expect("8 bytes")))
    }
    fn short_str(&mut self, what: &str) -> Result<String, WireError> {
        let len = self.u8(what)? as usize;
        Ok(String::from_utf8_lossy(self.take(len, what)?).into_owned())
    }
    fn long_bytes(&mut self, what: &str) -> Result<&'a [u8], WireError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }
}

fn parse_method(payload: &[u8]) -> Result<Incoming, WireError> {
    let mut args = Args(payload);
    let class = args.u16("method")?;
    let method = args.u16("method")?;
    let parsed = match (class, method) {
        (10, 10) => {
            args.take(2, "connection.start")?;
            args.long_bytes("connection.start server properties")?;
            let mechanisms = args.long_bytes("connection.start mechanisms")?;
            Incoming::Start {
                mechanisms: String::from_utf8_lossy(mechanisms).into_owned(),
            }
        }
        (10, 30) => Incoming::Tune {
            channel_max: args.u16("connection.tune")?,
            frame_max: args.u32("connection.tune")?,
            heartbeat: args.u16("connection.tune")?,
        },
        (10, 41) => Incoming::OpenOk,
        (10, 50) => Incoming::Close {
            code: args.u16("connection.close")?,
            text: args.short_str("connection.close")?,
        },
        (10, 51) => Incoming::CloseOk,
        (10, 60) => Incoming::Blocked {
            reason: args.short_str("connection.blocked")?,
        },
        (10, 61) => Incoming::Unblocked,
        (20, 11) => Incoming::ChannelOpenOk,
        (20, 40) => Incoming::ChannelClose {
            code: args.u16("channel.close")?,
            text: args.short_str("channel.close")?,
        },
        (85, 11) => Incoming::SelectOk,
        (60, 80) => Incoming::Ack {
            tag: args.u64("basic.ack")?,
            multiple: args.u8("basic.ack")? & 1 == 1,
        },
        (60, 120) => Incoming::Nack {
            tag: args.u64("basic.nack")?,
            multiple: args.u8("basic.nack")? & 1 == 1,
        },
        (60, 50) => Incoming::Return {
            code: args.u16("basic.return")?,
            text: args.short_str("basic.return")?,
        },
        (class, method) => Incoming::Other { class, method },
    };
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(bytes: &[u8], max_frame: usize) -> Result<Vec<Frame>, WireError> {
        let mut reader = FrameReader::new(max_frame);
        let mut frames = Vec::new();
        // One byte at a time: a frame split anywhere is read whole.
        for byte in bytes {
            reader.extend(std::slice::from_ref(byte));
            while let Some(frame) = reader.next_frame()? {
                frames.push(frame);
            }
        }
        Ok(frames)
    }

    #[test]
    fn a_publish_is_a_method_a_header_and_body_frames_within_the_frame_size() {
        let body: Vec<u8> = (0..10_000_u32).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        write_publish(&mut out, 1, "amqp.worker", "push_routing_x", &body, 4096);
        // Method: class, method, reserved, two short strings, the bits.
        let method_len = 4 + 2 + 1 + 11 + 1 + 14 + 1;
        assert_eq!(&out[..7], &[1, 0, 1, 0, 0, 0, method_len as u8]);
        assert_eq!(&out[7..11], &[0, 60, 0, 40]);
        assert_eq!(out[7 + method_len - 1], 1, "mandatory");
        let header = &out[8 + method_len..];
        assert_eq!(header[0], FRAME_HEADER);
        let header_len = u32::from_be_bytes(header[3..7].try_into().unwrap()) as usize;
        let payload = &header[7..7 + header_len];
        assert_eq!(&payload[..4], &[0, 60, 0, 0]);
        assert_eq!(
            u64::from_be_bytes(payload[4..12].try_into().unwrap()),
            10_000
        );
        assert_eq!(&payload[12..14], &0x5000_u16.to_be_bytes());
        assert_eq!(&payload[14..], b"\x05utf-8\x02");
        // Body frames of at most 4,088 bytes of payload, in order.
        let mut rest = &header[8 + header_len..];
        let mut read = Vec::new();
        while !rest.is_empty() {
            assert_eq!(rest[0], FRAME_BODY);
            let len = u32::from_be_bytes(rest[3..7].try_into().unwrap()) as usize;
            assert!(len <= 4096 - FRAME_OVERHEAD, "{len}");
            read.extend_from_slice(&rest[7..7 + len]);
            assert_eq!(rest[7 + len], FRAME_END);
            rest = &rest[8 + len..];
        }
        assert_eq!(read, body);
    }

    #[test]
    fn the_login_carries_the_credentials_and_the_capabilities_it_relies_on() {
        let mut out = Vec::new();
        write_method(
            &mut out,
            0,
            &Outgoing::StartOk {
                user: "opencti",
                password: "s3cret",
                connection_name: "opencti-connector",
            },
        );
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("\x05PLAIN\x00\x00\x00\x0f\0opencti\0s3cret\x05en_US"),
            "{text:?}"
        );
        for capability in [
            "publisher_confirms",
            "connection.blocked",
            "authentication_failure_close",
        ] {
            assert!(text.contains(&format!("{capability}t\x01")), "{capability}");
        }
        // The frame's declared size is its payload's.
        let size = u32::from_be_bytes(out[3..7].try_into().unwrap()) as usize;
        assert_eq!(out.len(), size + FRAME_OVERHEAD);
        assert_eq!(out.last(), Some(&FRAME_END));
    }

    #[test]
    fn confirms_returns_and_closes_are_read_across_any_split() {
        let mut bytes = Vec::new();
        bytes.extend(test_method(1, 60, 80, &[0, 0, 0, 0, 0, 0, 0, 7, 1]));
        bytes.extend(test_method(1, 60, 120, &[0, 0, 0, 0, 0, 0, 0, 9, 0]));
        bytes.extend(test_method(
            1,
            60,
            50,
            &[&[1, 56, 8][..], b"NO_ROUTE", &[0, 0]].concat(),
        ));
        bytes.extend(test_frame(FRAME_HEADER, 1, &[0; 14]));
        write_heartbeat(&mut bytes);
        bytes.extend(test_method(0, 10, 60, b"\x0blow on disk"));
        bytes.extend(test_method(
            1,
            20,
            40,
            &[&[1, 148, 9][..], b"NOT_FOUND", &[0, 60, 0, 40]].concat(),
        ));
        let read = frames(&bytes, 4096).unwrap();
        let method = |channel, method| Frame::Method { channel, method };
        assert_eq!(
            read,
            vec![
                method(
                    1,
                    Incoming::Ack {
                        tag: 7,
                        multiple: true
                    }
                ),
                method(
                    1,
                    Incoming::Nack {
                        tag: 9,
                        multiple: false
                    }
                ),
                method(
                    1,
                    Incoming::Return {
                        code: 312,
                        text: "NO_ROUTE".into()
                    }
                ),
                Frame::Content,
                Frame::Heartbeat,
                method(
                    0,
                    Incoming::Blocked {
                        reason: "low on disk".into()
                    }
                ),
                method(
                    1,
                    Incoming::ChannelClose {
                        code: 404,
                        text: "NOT_FOUND".into()
                    }
                ),
            ]
        );
    }

    #[test]
    fn an_oversized_or_malformed_frame_is_an_error_not_a_wait() {
        let mut huge = vec![FRAME_METHOD, 0, 1];
        huge.extend_from_slice(&(1_000_000_u32).to_be_bytes());
        let error = frames(&huge, 131_072).unwrap_err();
        assert!(error.0.contains("1000000 bytes"), "{error}");

        let mut bad_end = test_method(1, 60, 80, &[0; 9]);
        *bad_end.last_mut().unwrap() = 0;
        assert_eq!(frames(&bad_end, 4096).unwrap_err(), malformed("frame end"));

        let truncated_ack = test_method(1, 60, 80, &[0; 3]);
        assert_eq!(
            frames(&truncated_ack, 4096).unwrap_err(),
            malformed("basic.ack")
        );
    }
}
