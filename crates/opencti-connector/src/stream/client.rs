//! The live-stream connection: one HTTP request per connection, kept alive
//! by a background reader that reconnects after every failure.
//!
//! The reader never gives up: a dropped connection is resumed with
//! `Last-Event-ID` after an exponential, jittered delay; a refused token
//! (401/403) is logged clearly and retried slowly, and a missing or stopped
//! stream (404/410) is retried within seconds, then ever more slowly while
//! it lasts, since an operator can fix either without restarting the
//! connector; a platform that does not answer the request, or a connection
//! that delivers no id-bearing message, for
//! [`ReconnectPolicy::silence_timeout`] is dropped and reopened; and an
//! event over [`StreamSettings::max_event_bytes`] drops the connection
//! before it is buffered whole. A delay the server announces with `retry:`
//! is honoured up to [`ReconnectPolicy::max`].

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::metrics::StreamMetrics;
use super::position::StreamPosition;
use super::sse::{DEFAULT_MAX_EVENT_BYTES, SseEvent, SseParser};
use crate::config::{LiveStreamConfig, OpenctiConfig, PlatformTls};
use crate::http::{BuildError, ClientOptions, Network};

/// How many id-bearing messages the reader may parse ahead of the sink...
const READ_AHEAD: usize = 256;
/// ... and how many bytes they may hold together (a message larger than
/// this takes the whole budget), so that large events do not pile up.
const READ_AHEAD_BYTES: usize = 16 << 20;

/// Delays of the reconnection loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// First delay after a dropped connection or a server error; a larger
    /// `retry:` announced by the server wins, up to [`Self::max`].
    pub initial: Duration,
    /// Upper bound of that delay (before jitter, which adds up to 100 %),
    /// and of a server's `retry:`.
    pub max: Duration,
    /// First delay after 401/403; doubles up to [`Self::max_slow`].
    pub unauthorized: Duration,
    /// First delay after 404/410 (a stream stopped in the platform may be
    /// restarted at any moment); doubles up to [`Self::max_slow`] while the
    /// answer stays the same.
    pub unavailable: Duration,
    /// Upper bound of the slow delays.
    pub max_slow: Duration,
    /// A request whose response headers take longer than this, or a
    /// connection with no id-bearing message (event or heartbeat) for this
    /// long, is considered dead.
    pub silence_timeout: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            unauthorized: Duration::from_secs(60),
            unavailable: Duration::from_secs(2),
            max_slow: Duration::from_secs(600),
            silence_timeout: Duration::from_secs(45),
        }
    }
}

/// What the stream request looks like.
#[derive(Clone)]
pub struct StreamSettings {
    /// `OPENCTI_URL`.
    pub opencti_url: String,
    /// `CONNECTOR_LIVE_STREAM_ID`; the raw `/stream` when absent.
    pub stream_id: Option<String>,
    /// `CONNECTOR_LIVE_STREAM_LISTEN_DELETE`.
    pub listen_delete: bool,
    /// `CONNECTOR_LIVE_STREAM_NO_DEPENDENCIES`.
    pub no_dependencies: bool,
    /// `CONNECTOR_LIVE_STREAM_WITH_INFERENCES`.
    pub with_inferences: bool,
    /// Reconnection delays.
    pub reconnect: ReconnectPolicy,
    /// `CONNECTOR_LIVE_STREAM_MAX_EVENT_SIZE_MB`: the most bytes one line,
    /// or the fields of one event, may take.
    pub max_event_bytes: usize,
    authorization: HeaderValue,
}

impl std::fmt::Debug for StreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSettings")
            .field("opencti_url", &self.opencti_url)
            .field("stream_id", &self.stream_id)
            .field("listen_delete", &self.listen_delete)
            .field("no_dependencies", &self.no_dependencies)
            .field("with_inferences", &self.with_inferences)
            .field("reconnect", &self.reconnect)
            .field("max_event_bytes", &self.max_event_bytes)
            .finish_non_exhaustive()
    }
}

/// The stream connection cannot be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The token cannot be sent as an HTTP header.
    #[error(
        "the live stream token (CONNECTOR_LIVE_STREAM_OPENCTI_TOKEN, or OPENCTI_TOKEN) contains characters that are not allowed in an HTTP header"
    )]
    InvalidToken,
    /// The CA bundle of `OPENCTI_SSL_VERIFY` cannot be used.
    #[error("OPENCTI_SSL_VERIFY: cannot use the CA bundle {path}: {reason}")]
    CaBundle {
        /// The bundle's path.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The HTTP client cannot be built.
    #[error("cannot build the live stream HTTP client: {reason}")]
    HttpClient {
        /// What failed.
        reason: String,
    },
}

/// An HTTP client for the live stream: the platform's TLS settings and
/// network (proxies, extra CAs), a connect timeout, and no overall timeout
/// (a stream response lasts as long as the connection).
pub fn http_client(tls: &PlatformTls, network: &Network) -> Result<reqwest::Client, SetupError> {
    ClientOptions::new("opencti-connector-rs", env!("CARGO_PKG_VERSION"))
        .connect_timeout(Duration::from_secs(30))
        .verification(tls.verification())
        .network(network.clone())
        .build()
        .map_err(|error| match error {
            BuildError::CaBundle { path, reason } => SetupError::CaBundle { path, reason },
            other => SetupError::HttpClient {
                reason: other.to_string(),
            },
        })
}

impl StreamSettings {
    /// Settings with pycti's defaults: deletes and no dependencies on,
    /// inferences off.
    pub fn new(
        opencti_url: &str,
        token: &str,
        stream_id: Option<&str>,
    ) -> Result<Self, SetupError> {
        let mut authorization = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| SetupError::InvalidToken)?;
        authorization.set_sensitive(true);
        Ok(Self {
            opencti_url: opencti_url.to_owned(),
            stream_id: stream_id.filter(|id| !id.is_empty()).map(str::to_owned),
            listen_delete: true,
            no_dependencies: true,
            with_inferences: false,
            reconnect: ReconnectPolicy::default(),
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            authorization,
        })
    }

    /// Settings from the connector configuration (`CONNECTOR_LIVE_STREAM_*`;
    /// the stream's platform and token are `CONNECTOR_LIVE_STREAM_OPENCTI_URL`
    /// and `_TOKEN`, each defaulting to `OPENCTI_URL` / `OPENCTI_TOKEN`).
    pub fn from_config(
        opencti: &OpenctiConfig,
        live_stream: &LiveStreamConfig,
    ) -> Result<Self, SetupError> {
        let url = live_stream.opencti_url.as_ref().unwrap_or(&opencti.url);
        let token = live_stream.opencti_token.as_ref().unwrap_or(&opencti.token);
        let mut settings = Self::new(url.as_str(), token.expose(), live_stream.id.as_deref())?;
        settings.listen_delete = live_stream.listen_delete;
        settings.no_dependencies = live_stream.no_dependencies;
        settings.with_inferences = live_stream.with_inferences;
        settings.max_event_bytes = live_stream.max_event_bytes;
        Ok(settings)
    }

    /// The stream URL for `position`: `recover` is appended verbatim, as
    /// pycti does.
    pub fn url(&self, position: &StreamPosition) -> String {
        let mut url = format!("{}/stream", self.opencti_url.trim_end_matches('/'));
        if let Some(id) = &self.stream_id {
            url.push('/');
            url.push_str(id);
        }
        if let Some(recover) = position.recover_query() {
            url.push_str("?recover=");
            url.push_str(recover);
        }
        url
    }

    /// The request headers, resuming after `last_event_id`.
    pub fn headers(&self, last_event_id: Option<&str>) -> HeaderMap {
        let flag = |on: bool| HeaderValue::from_static(if on { "true" } else { "false" });
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(
            HeaderName::from_static("listen-delete"),
            flag(self.listen_delete),
        );
        headers.insert(
            HeaderName::from_static("no-dependencies"),
            flag(self.no_dependencies),
        );
        headers.insert(
            HeaderName::from_static("with-inferences"),
            flag(self.with_inferences),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        if let Some(id) = last_event_id.and_then(|id| HeaderValue::try_from(id).ok()) {
            headers.insert(HeaderName::from_static("last-event-id"), id);
        }
        headers
    }
}

/// Id-bearing messages of the live stream, read by a background task that
/// reconnects by itself. Dropping the reader closes the connection.
#[derive(Debug)]
pub struct StreamReader {
    messages: mpsc::Receiver<(SseEvent, OwnedSemaphorePermit)>,
    task: JoinHandle<()>,
}

impl StreamReader {
    /// Starts reading the stream from `position`.
    ///
    /// `http` must have no overall request timeout: a stream response lasts
    /// as long as the connection.
    pub fn spawn(
        settings: StreamSettings,
        http: reqwest::Client,
        position: &StreamPosition,
        metrics: Arc<StreamMetrics>,
    ) -> Self {
        let (sender, messages) = mpsc::channel(READ_AHEAD);
        let read_ahead = Arc::new(Semaphore::new(READ_AHEAD_BYTES));
        let connection = Connection {
            url: settings.url(position),
            last_event_id: position.last_event_id().map(str::to_owned),
            parser: SseParser::with_max_event_bytes(settings.max_event_bytes),
            settings,
            http,
            metrics,
            sender,
            read_ahead,
        };
        Self {
            messages,
            task: tokio::spawn(connection.run()),
        }
    }

    /// Whether no message is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The next message that carries an id, in stream order. Cancel-safe.
    pub async fn next(&mut self) -> Option<SseEvent> {
        // The message's bytes leave the read-ahead budget.
        self.messages.recv().await.map(|(message, _permit)| message)
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a connection attempt ended.
enum Ended {
    /// Transient: reconnect after the normal backoff.
    Dropped,
    /// 401/403.
    Unauthorized,
    /// 404/410.
    Unavailable,
    /// The reader was dropped.
    Closed,
}

struct Connection {
    settings: StreamSettings,
    http: reqwest::Client,
    url: String,
    last_event_id: Option<String>,
    parser: SseParser,
    metrics: Arc<StreamMetrics>,
    sender: mpsc::Sender<(SseEvent, OwnedSemaphorePermit)>,
    read_ahead: Arc<Semaphore>,
}

impl Connection {
    async fn run(mut self) {
        let policy = self.settings.reconnect;
        let mut normal = Backoff::new(policy.initial, policy.max);
        let mut unauthorized = Backoff::new(policy.unauthorized, policy.max_slow);
        let mut unavailable = Backoff::new(policy.unavailable, policy.max_slow);
        loop {
            let (ended, delivered) = self.connect_and_read().await;
            if delivered {
                normal.reset();
                unauthorized.reset();
                unavailable.reset();
            }
            let delay = match ended {
                Ended::Closed => return,
                // The server's `retry:` may ask for longer, within reason.
                Ended::Dropped => normal
                    .next_delay()
                    .max(self.parser.retry().unwrap_or_default().min(policy.max)),
                Ended::Unauthorized => unauthorized.next_delay(),
                Ended::Unavailable => unavailable.next_delay(),
            };
            tracing::info!(
                url = %self.url,
                last_event_id = self.last_event_id.as_deref(),
                "reconnecting to the live stream in {delay:?}"
            );
            self.metrics.reconnects.inc();
            tokio::time::sleep(delay).await;
        }
    }

    /// One connection; also says whether it delivered an id-bearing message.
    async fn connect_and_read(&mut self) -> (Ended, bool) {
        let request = self
            .http
            .get(&self.url)
            .headers(self.settings.headers(self.last_event_id.as_deref()));
        let silence = self.settings.reconnect.silence_timeout;
        let response = match tokio::time::timeout(silence, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                tracing::warn!(url = %self.url, "cannot connect to the live stream: {error}");
                return (Ended::Dropped, false);
            }
            Err(_) => {
                tracing::warn!(
                    url = %self.url,
                    "the platform did not answer the live stream request within {silence:?}; reconnecting"
                );
                return (Ended::Dropped, false);
            }
        };
        let status = response.status();
        if let Some(ended) = self.refused(status) {
            return (ended, false);
        }
        if let Some(kind) = response.headers().get(CONTENT_TYPE)
            && !kind.as_bytes().starts_with(b"text/event-stream")
        {
            tracing::warn!(url = %self.url, content_type = ?kind, "the live stream answered with a non-SSE body");
            return (Ended::Dropped, false);
        }
        tracing::info!(url = %self.url, last_event_id = self.last_event_id.as_deref(), "live stream connected");
        self.read(response).await
    }

    /// Maps a non-success status to how to retry, logging why.
    fn refused(&self, status: StatusCode) -> Option<Ended> {
        let url = &self.url;
        match status {
            _ if status.is_success() => None,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                tracing::error!(
                    %url,
                    status = status.as_u16(),
                    "the platform refused access to the live stream: check OPENCTI_TOKEN, the user's \
                     rights on the stream, and that CONNECTOR_LIVE_STREAM_ID exists; retrying slowly"
                );
                Some(Ended::Unauthorized)
            }
            StatusCode::NOT_FOUND | StatusCode::GONE => {
                tracing::error!(
                    %url,
                    status = status.as_u16(),
                    "the live stream is missing or stopped: start it in the platform \
                     (Data sharing) or fix CONNECTOR_LIVE_STREAM_ID; retrying slowly"
                );
                Some(Ended::Unavailable)
            }
            _ => {
                tracing::warn!(%url, status = status.as_u16(), "the live stream request failed");
                Some(Ended::Dropped)
            }
        }
    }

    async fn read(&mut self, response: reqwest::Response) -> (Ended, bool) {
        let silence = self.settings.reconnect.silence_timeout;
        let mut body = std::pin::pin!(response.bytes_stream());
        let mut parsed = Vec::new();
        let mut delivered = false;
        let mut deadline = Instant::now() + silence;
        self.parser.reset();
        loop {
            let next = match tokio::time::timeout_at(deadline, body.next()).await {
                Ok(next) => next,
                Err(_) => {
                    // Bytes that arrived together with the deadline are not
                    // silence: let the connection task hand them over first.
                    tokio::task::yield_now().await;
                    match body.next().now_or_never() {
                        Some(next) => next,
                        None => {
                            tracing::warn!(
                                url = %self.url,
                                "no heartbeat or event from the live stream for {silence:?}; reconnecting"
                            );
                            return (Ended::Dropped, delivered);
                        }
                    }
                }
            };
            let chunk = match next {
                None => {
                    tracing::warn!(url = %self.url, "the platform closed the live stream");
                    return (Ended::Dropped, delivered);
                }
                Some(Err(error)) => {
                    tracing::warn!(url = %self.url, "the live stream connection failed: {error}");
                    return (Ended::Dropped, delivered);
                }
                Some(Ok(chunk)) => chunk,
            };
            let fed = self.parser.feed(&chunk, &mut parsed);
            let mut got_id = false;
            for message in parsed.drain(..) {
                let Some(id) = &message.id else {
                    tracing::debug!(event = %message.event, data = %message.data, "live stream message without id");
                    continue;
                };
                self.last_event_id = Some(id.clone());
                got_id = true;
                let size = message.data.len() + id.len() + message.event.len();
                let permits = u32::try_from(size.min(READ_AHEAD_BYTES)).unwrap_or(u32::MAX);
                let Ok(permit) = Arc::clone(&self.read_ahead)
                    .acquire_many_owned(permits)
                    .await
                else {
                    return (Ended::Closed, delivered);
                };
                if self.sender.send((message, permit)).await.is_err() {
                    return (Ended::Closed, delivered);
                }
            }
            if got_id {
                delivered = true;
                // Time spent waiting for the sink to catch up is not silence.
                deadline = Instant::now() + silence;
            }
            if let Err(too_large) = fed {
                self.metrics.oversized.inc();
                tracing::error!(
                    url = %self.url,
                    last_event_id = self.last_event_id.as_deref(),
                    limit_bytes = too_large.limit,
                    "the live stream sent an event larger than CONNECTOR_LIVE_STREAM_MAX_EVENT_SIZE_MB \
                     allows; dropping the connection and resuming from the last event (raise the limit \
                     if the platform's events are that large)"
                );
                return (Ended::Dropped, delivered);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::position::RecoverUntil;

    fn position(start_from: &str, recover: RecoverUntil) -> StreamPosition {
        StreamPosition {
            start_from: start_from.to_owned(),
            recover_until: recover,
        }
    }

    #[test]
    fn builds_the_url_like_pycti() {
        let settings = StreamSettings::new("http://octi:8080/", "t", Some("live")).unwrap();
        let date = RecoverUntil::Date("2026-01-15T10:30:00Z".to_owned());
        assert_eq!(
            settings.url(&position("0-0", date)),
            "http://octi:8080/stream/live?recover=2026-01-15T10:30:00Z"
        );
        assert_eq!(
            settings.url(&position("0-0", RecoverUntil::Disabled)),
            "http://octi:8080/stream/live"
        );
        let raw = StreamSettings::new("http://octi", "t", Some("")).unwrap();
        assert_eq!(
            raw.url(&position("0-0", RecoverUntil::Date("None".to_owned()))),
            "http://octi/stream"
        );
    }

    #[test]
    fn sends_pycti_headers_and_hides_the_token() {
        let mut settings = StreamSettings::new("http://octi", "s3cret", Some("live")).unwrap();
        settings.with_inferences = true;
        let headers = settings.headers(Some("0-0"));
        assert_eq!(headers["authorization"], "Bearer s3cret");
        assert!(headers["authorization"].is_sensitive());
        assert_eq!(headers["listen-delete"], "true");
        assert_eq!(headers["no-dependencies"], "true");
        assert_eq!(headers["with-inferences"], "true");
        assert_eq!(headers["cache-control"], "no-cache");
        assert_eq!(headers["accept"], "text/event-stream");
        assert_eq!(headers["last-event-id"], "0-0");
        assert!(settings.headers(None).get("last-event-id").is_none());
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn large_messages_are_not_read_far_ahead_of_the_sink() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let data = "x".repeat(6 << 20);
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 4096];
            let _ = socket.read(&mut head).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
                .await;
            for n in 0..10 {
                let event = format!("id: {n}-0\nevent: create\ndata: {data}\n\n");
                if socket.write_all(event.as_bytes()).await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        });
        let settings = StreamSettings::new(&format!("http://{address}"), "t", None).unwrap();
        let mut reader = StreamReader::spawn(
            settings,
            reqwest::Client::new(),
            &position("0-0", RecoverUntil::Disabled),
            Arc::default(),
        );
        // Time enough to read all 60 MiB if nothing held the reader back.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut queued = 0;
        while reader.messages.try_recv().is_ok() {
            queued += 1;
        }
        // 16 MiB of read-ahead holds two of them.
        assert!(
            (1..=2).contains(&queued),
            "{queued} messages of 6 MiB read ahead"
        );
    }

    #[test]
    fn rejects_a_token_that_is_not_a_header_value() {
        assert_eq!(
            StreamSettings::new("http://octi", "bad\ntoken", None).unwrap_err(),
            SetupError::InvalidToken
        );
    }
}
