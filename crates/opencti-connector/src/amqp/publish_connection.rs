//! The connection messages are published on: our own AMQP 0-9-1 client
//! for this one job (a channel in confirm mode, `basic.publish`, the
//! confirms), run by the publishing task itself.
//!
//! lapin, which the consumers use, hands every publish to its I/O thread
//! and back (frames queued under a lock, a wake-up, a promise for the
//! write and one for the confirm): 11 to 13 µs of CPU per message in the
//! bare publisher (`broker_ceiling`) on the bench host, more than the rest
//! of the send path together. Here a batch of messages is encoded into one
//! buffer and written by one system call, and confirms are read in the
//! same loop: 1.4 to 1.6 µs per message (docs/performance.md).

use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use lapin::tcp::RustlsConnector;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::compat::{FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

use super::error::AmqpError;
use super::link::{CONNECT_TIMEOUT, HEARTBEAT_SECONDS};
use super::params::BrokerParams;
use super::wire::{self, Frame, FrameReader, Incoming, Outgoing};

/// What the broker said about the messages published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confirm {
    /// Stored: the message of `tag`, or every one up to it if `multiple`.
    Ack { tag: u64, multiple: bool },
    /// Refused by the broker.
    Nack { tag: u64, multiple: bool },
    /// A message could not be routed; its confirm follows.
    Returned,
}

/// The channel messages are published on.
const CHANNEL: u16 = 1;
/// Largest frame asked of the broker: a body above it goes in several
/// frames; the reader accepts no larger frame.
const FRAME_MAX: u32 = 128 * 1024;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An open connection with its publishing channel in confirm mode.
pub(crate) struct PublishConnection {
    stream: Box<dyn Stream>,
    frames: FrameReader,
    read_buffer: Box<[u8]>,
    frame_max: u32,
    heartbeat: Duration,
    /// The delivery tag of the next message published.
    next_tag: u64,
    /// Why the broker holds publishers back (`connection.blocked`).
    blocked: Option<String>,
    last_read: Instant,
    last_write: Instant,
}

impl PublishConnection {
    /// Connects, logs in and opens a confirm channel, within
    /// [`CONNECT_TIMEOUT`].
    pub(crate) async fn open(
        params: &BrokerParams,
        tls: Option<&RustlsConnector>,
    ) -> Result<Self, AmqpError> {
        let failed = |reason: String| AmqpError::Connect {
            address: params.address(),
            reason,
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, Self::handshake(params, tls)).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(Failure::Tls(reason))) => Err(AmqpError::TlsHandshake {
                address: params.address(),
                reason,
            }),
            Ok(Err(Failure::Other(reason))) => Err(failed(reason)),
            Err(_) => Err(failed(format!(
                "no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn handshake(
        params: &BrokerParams,
        tls: Option<&RustlsConnector>,
    ) -> Result<Self, Failure> {
        let tcp = TcpStream::connect((params.host.as_str(), params.port))
            .await
            .map_err(|error| Failure::Other(error.to_string()))?;
        tcp.set_nodelay(true)
            .map_err(|error| Failure::Other(error.to_string()))?;
        let stream: Box<dyn Stream> = match tls {
            None => Box::new(tcp),
            Some(connector) => Box::new(
                connector
                    .connect_async(&params.host, tcp.compat())
                    .await
                    .map_err(|error| Failure::io(&error))?
                    .compat(),
            ),
        };
        let now = Instant::now();
        let mut connection = Self {
            stream,
            frames: FrameReader::new(FRAME_MAX as usize),
            read_buffer: vec![0; READ_CHUNK].into_boxed_slice(),
            frame_max: FRAME_MAX,
            heartbeat: Duration::from_secs(u64::from(HEARTBEAT_SECONDS)),
            next_tag: 1,
            blocked: None,
            last_read: now,
            last_write: now,
        };
        connection.send(wire::PROTOCOL_HEADER).await?;
        let Incoming::Start { mechanisms } = connection.expect("connection.start").await? else {
            unreachable!("expect returns the method asked for")
        };
        if !mechanisms.split(' ').any(|mechanism| mechanism == "PLAIN") {
            return Err(Failure::Other(format!(
                "the broker offers no PLAIN login (only {mechanisms})"
            )));
        }
        let mut out = Vec::new();
        wire::write_method(
            &mut out,
            0,
            &Outgoing::StartOk {
                user: &params.user,
                password: params.pass.expose(),
                connection_name: "opencti-connector publisher",
            },
        );
        connection.send(&out).await?;
        let Incoming::Tune {
            channel_max,
            frame_max,
            heartbeat,
        } = connection.expect("connection.tune").await?
        else {
            unreachable!("expect returns the method asked for")
        };
        connection.frame_max = match frame_max {
            0 => FRAME_MAX,
            offered => offered.min(FRAME_MAX),
        };
        let heartbeat = match heartbeat {
            0 => HEARTBEAT_SECONDS,
            offered => offered.min(HEARTBEAT_SECONDS),
        };
        connection.heartbeat = Duration::from_secs(u64::from(heartbeat));
        connection
            .frames
            .set_max_frame(connection.frame_max as usize);
        out.clear();
        wire::write_method(
            &mut out,
            0,
            &Outgoing::TuneOk {
                channel_max,
                frame_max: connection.frame_max,
                heartbeat,
            },
        );
        wire::write_method(
            &mut out,
            0,
            &Outgoing::Open {
                vhost: &params.vhost,
            },
        );
        wire::write_method(&mut out, CHANNEL, &Outgoing::ChannelOpen);
        wire::write_method(&mut out, CHANNEL, &Outgoing::ConfirmSelect);
        connection.send(&out).await?;
        connection.expect("connection.open-ok").await?;
        connection.expect("channel.open-ok").await?;
        connection.expect("confirm.select-ok").await?;
        Ok(connection)
    }

    /// Whether the broker still holds this connection open after it sat
    /// unused: it closes one that sent nothing for two heartbeats.
    pub(crate) fn fresh(&self) -> bool {
        self.last_write.elapsed() < self.heartbeat
    }

    /// Why the broker holds publishers back, while it does: messages
    /// written now wait unread.
    pub(crate) fn blocked(&self) -> Option<&str> {
        self.blocked.as_deref()
    }

    /// The delivery tag the next message published gets.
    pub(crate) fn next_tag(&self) -> u64 {
        self.next_tag
    }

    /// Appends one message to `out`, for [`PublishConnection::exchange`];
    /// it gets the delivery tag [`PublishConnection::next_tag`] gave.
    pub(crate) fn publish(
        &mut self,
        out: &mut Vec<u8>,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
    ) {
        wire::write_publish(out, CHANNEL, exchange, routing_key, body, self.frame_max);
        self.next_tag += 1;
    }

    /// One round of I/O: writes what it can of `out` (from `written` on;
    /// `out` is emptied once written and flushed) and reads what has
    /// arrived, waiting until one of the two moves or a heartbeat is due
    /// (then appended to `out`). Frames read are then taken with
    /// [`PublishConnection::next_frame`].
    ///
    /// # Errors
    ///
    /// Why the connection is lost: a socket error, the broker closing it,
    /// or no frame from it for two heartbeats.
    pub(crate) async fn exchange(
        &mut self,
        out: &mut Vec<u8>,
        written: &mut usize,
    ) -> Result<(), String> {
        // Wake up when a heartbeat is due, or when the broker's silence
        // means the connection is gone.
        let heartbeat = self.heartbeat;
        let wake = (self.last_write + heartbeat / 2).min(self.last_read + heartbeat * 2);
        let io = std::future::poll_fn(|cx| {
            let (mut wrote, mut read) = (false, false);
            if *written < out.len() {
                match Pin::new(&mut self.stream).poll_write(cx, &out[*written..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(closed())),
                    Poll::Ready(Ok(n)) => {
                        *written += n;
                        wrote = true;
                    }
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => {}
                }
            }
            if *written == out.len() && !out.is_empty() {
                match Pin::new(&mut self.stream).poll_flush(cx) {
                    Poll::Ready(Ok(())) => {
                        out.clear();
                        *written = 0;
                        wrote = true;
                    }
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => {}
                }
            }
            let mut buffer = ReadBuf::new(&mut self.read_buffer);
            match Pin::new(&mut self.stream).poll_read(cx, &mut buffer) {
                Poll::Ready(Ok(())) if buffer.filled().is_empty() => {
                    return Poll::Ready(Err(closed()));
                }
                Poll::Ready(Ok(())) => {
                    self.frames.extend(buffer.filled());
                    read = true;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {}
            }
            if wrote || read {
                Poll::Ready(Ok((wrote, read)))
            } else {
                Poll::Pending
            }
        });
        let (wrote, read) = tokio::select! {
            moved = io => moved,
            () = tokio::time::sleep_until(wake) => Ok((false, false)),
        }
        .map_err(|error| error.to_string())?;
        let now = Instant::now();
        if wrote {
            self.last_write = now;
        }
        if read {
            self.last_read = now;
        }
        let silent = now - self.last_read;
        if silent >= heartbeat * 2 {
            return Err(format!(
                "no frame from the broker for {} s (heartbeats missed)",
                silent.as_secs()
            ));
        }
        if out.is_empty() && now - self.last_write >= heartbeat / 2 {
            wire::write_heartbeat(out);
        }
        Ok(())
    }

    /// The next confirm read, if one has arrived; the connection's own
    /// business (heartbeats, `connection.blocked`, a returned message's
    /// content) is dealt with on the way.
    ///
    /// # Errors
    ///
    /// Why the connection cannot go on: the broker closed it or the
    /// channel, or broke the protocol.
    pub(crate) fn next_confirm(&mut self) -> Result<Option<Confirm>, String> {
        loop {
            let method = match self
                .frames
                .next_frame()
                .map_err(|error| error.to_string())?
            {
                None => return Ok(None),
                Some(Frame::Method { method, .. }) => method,
                Some(Frame::Content | Frame::Heartbeat) => continue,
            };
            return Ok(Some(match method {
                Incoming::Ack { tag, multiple } => Confirm::Ack { tag, multiple },
                Incoming::Nack { tag, multiple } => Confirm::Nack { tag, multiple },
                Incoming::Return { .. } => Confirm::Returned,
                Incoming::Blocked { reason } => {
                    self.blocked = Some(reason);
                    continue;
                }
                Incoming::Unblocked => {
                    self.blocked = None;
                    continue;
                }
                Incoming::Close { code, text } | Incoming::ChannelClose { code, text } => {
                    return Err(format!("closed by the broker: {code} {text}"));
                }
                other => return Err(format!("unexpected {other:?} from the broker")),
            }));
        }
    }

    /// Closes the connection politely, waiting at most `patience` for
    /// the broker's answer.
    pub(crate) async fn close(mut self, patience: Duration) {
        let mut out = Vec::new();
        wire::write_method(&mut out, 0, &Outgoing::Close);
        // A connection that cannot even be closed has nothing left to lose.
        let _ = tokio::time::timeout(patience, async {
            self.send(&out).await?;
            loop {
                match self.read_frame().await? {
                    Frame::Method {
                        method: Incoming::CloseOk | Incoming::Close { .. },
                        ..
                    } => return Ok::<(), Failure>(()),
                    _ => continue,
                }
            }
        })
        .await;
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|error| Failure::io(&error))?;
        self.stream
            .flush()
            .await
            .map_err(|error| Failure::io(&error))?;
        self.last_write = Instant::now();
        Ok(())
    }

    async fn read_frame(&mut self) -> Result<Frame, Failure> {
        use tokio::io::AsyncReadExt as _;
        loop {
            if let Some(frame) = self
                .frames
                .next_frame()
                .map_err(|e| Failure::Other(e.to_string()))?
            {
                return Ok(frame);
            }
            let read = self
                .stream
                .read(&mut self.read_buffer)
                .await
                .map_err(|error| Failure::io(&error))?;
            if read == 0 {
                return Err(Failure::Other(closed().to_string()));
            }
            self.frames.extend(&self.read_buffer[..read]);
            self.last_read = Instant::now();
        }
    }

    /// The next method of the handshake, which must be `what`; a close
    /// from the broker says why it refused.
    async fn expect(&mut self, what: &str) -> Result<Incoming, Failure> {
        let method = loop {
            if let Frame::Method { method, .. } = self.read_frame().await? {
                break method;
            }
        };
        let expected = match (&method, what) {
            (Incoming::Start { .. }, "connection.start")
            | (Incoming::Tune { .. }, "connection.tune")
            | (Incoming::OpenOk, "connection.open-ok")
            | (Incoming::ChannelOpenOk, "channel.open-ok")
            | (Incoming::SelectOk, "confirm.select-ok") => true,
            (Incoming::Close { code, text } | Incoming::ChannelClose { code, text }, _) => {
                return Err(Failure::Other(format!(
                    "the broker refused the connection: {code} {text}"
                )));
            }
            _ => false,
        };
        if !expected {
            return Err(Failure::Other(format!(
                "expected {what}, the broker sent {method:?}"
            )));
        }
        Ok(method)
    }
}

/// Why opening failed: the TLS handshake (not retried) or anything else.
enum Failure {
    Tls(String),
    Other(String),
}

impl Failure {
    /// With TLS 1.3 the broker's refusal of our certificate arrives after
    /// the handshake, on the first read: any I/O error may be a TLS one.
    fn io(error: &io::Error) -> Self {
        match super::link::tls_io_failure(error) {
            Some(reason) => Self::Tls(reason),
            None => Self::Other(error.to_string()),
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the broker closed the connection",
    )
}
