//! One request, one answer read with a bounded body, and what its status
//! says about trying again.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};

use super::redact::error_text;
use crate::error::answer_excerpt;

/// Largest success body [`send`] reads unless told otherwise (64 MiB).
pub const DEFAULT_MAX_ANSWER_BYTES: u64 = 64 << 20;

/// Largest error body read (64 KiB): enough for any vendor's error text,
/// and an error page is only quoted in part anyway.
pub const MAX_ERROR_ANSWER_BYTES: u64 = 64 << 10;

/// The request got no (complete) answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The connection, a read or the whole request took too long.
    #[error("timed out: {detail}")]
    Timeout {
        /// reqwest's description, URLs redacted.
        detail: String,
    },
    /// The connection was refused, failed (DNS, TLS) or broke.
    #[error("{detail}")]
    Failed {
        /// reqwest's description, URLs redacted.
        detail: String,
    },
    /// The body is larger than the limit; reading stopped there.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
}

impl TransportError {
    /// Sorts a reqwest error, its URLs redacted.
    pub fn from_reqwest(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout {
                detail: error_text(error),
            }
        } else {
            Self::Failed {
                detail: error_text(error),
            }
        }
    }

    /// Whether trying again may help: a timeout or a broken connection may
    /// pass, an oversized answer will not.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::TooLarge { .. })
    }
}

/// An answer read completely (its body bounded).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body: whole for a success, at most [`MAX_ERROR_ANSWER_BYTES`]
    /// otherwise.
    pub body: Bytes,
}

impl Answer {
    /// Reads `response`: a success body up to `max_bytes` (more is
    /// [`TransportError::TooLarge`]), an error body up to
    /// [`MAX_ERROR_ANSWER_BYTES`] (the rest is dropped).
    pub async fn read(response: Response, max_bytes: u64) -> Result<Self, TransportError> {
        let status = response.status();
        let headers = response.headers().clone();
        let body = if status.is_success() {
            read_body(response, max_bytes).await?
        } else {
            read_prefix(response, MAX_ERROR_ANSWER_BYTES).await?
        };
        Ok(Self {
            status,
            headers,
            body,
        })
    }

    /// The server's `Retry-After`, if it sent a usable one (uncapped; see
    /// [`super::server_delay`]).
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }

    /// The start of the body for an error message ([`answer_excerpt`]).
    pub fn excerpt(&self, max_chars: usize) -> String {
        answer_excerpt(&self.body, max_chars)
    }

    /// What the status says about trying again.
    pub fn class(&self) -> StatusClass {
        StatusClass::of(self.status)
    }
}

/// Sends `request` once and reads the answer ([`Answer::read`]).
pub async fn send(request: RequestBuilder, max_bytes: u64) -> Result<Answer, TransportError> {
    let response = request.send().await.map_err(TransportError::from_reqwest)?;
    Answer::read(response, max_bytes).await
}

/// The whole body of `response`, refused beyond `max_bytes` (announced or
/// received).
pub async fn read_body(mut response: Response, max_bytes: u64) -> Result<Bytes, TransportError> {
    let too_large = TransportError::TooLarge { limit: max_bytes };
    let announced = response.content_length();
    if announced.is_some_and(|length| length > max_bytes) {
        return Err(too_large);
    }
    // The announced length only sizes the buffer; the limit is enforced on
    // what actually arrives.
    let capacity = usize::try_from(announced.unwrap_or(0).min(max_bytes)).unwrap_or(0);
    let mut body = BytesMut::with_capacity(capacity);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(TransportError::from_reqwest)?
    {
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The first `max_bytes` of the body; the rest is not read.
async fn read_prefix(mut response: Response, max_bytes: u64) -> Result<Bytes, TransportError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(TransportError::from_reqwest)?
    {
        let room = usize::try_from(max_bytes).unwrap_or(usize::MAX) - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() as u64 >= max_bytes {
            break;
        }
    }
    Ok(body.freeze())
}

/// `Retry-After` as delta-seconds or an HTTP date (a date in the past means
/// now); `None` when absent or unreadable. Not capped: see
/// [`super::server_delay`].
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// What a status says about the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusClass {
    /// 2xx.
    Success,
    /// 408, 429 or 5xx: busy or failing; the same request may pass later.
    Transient,
    /// 401 or 403: the credentials or rights are refused.
    Unauthorized,
    /// 404 or 410.
    NotFound,
    /// Any other 4xx: the request itself is refused.
    Rejected,
    /// 1xx or 3xx left unfollowed: not an answer the client understands.
    Unexpected,
}

impl StatusClass {
    /// The class of `status`.
    pub fn of(status: StatusCode) -> Self {
        match status {
            _ if status.is_success() => Self::Success,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => Self::Transient,
            _ if status.is_server_error() => Self::Transient,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Self::Unauthorized,
            StatusCode::NOT_FOUND | StatusCode::GONE => Self::NotFound,
            _ if status.is_client_error() => Self::Rejected,
            _ => Self::Unexpected,
        }
    }
}

/// How one call to a vendor's API failed, sorted alike for every vendor
/// client: a connector's error enum is built from it, adding the call and
/// its own wording. Not `non_exhaustive`: a new kind must be placed by
/// every connector's mapping, which the compiler then asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    /// [`StatusClass::Transient`]: the vendor is busy or failing.
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// The start of the vendor's error text ([`Answer::excerpt`]).
        detail: String,
        /// The vendor's `Retry-After`, capped ([`super::server_delay`]).
        retry_after: Option<Duration>,
    },
    /// [`StatusClass::Unauthorized`]: 401 or 403.
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The start of the vendor's error text.
        detail: String,
    },
    /// [`StatusClass::NotFound`]: 404 or 410.
    NotFound {
        /// 404 or 410.
        status: u16,
        /// The start of the vendor's error text.
        detail: String,
    },
    /// [`StatusClass::Rejected`]: another 4xx.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The start of the vendor's error text.
        detail: String,
    },
    /// An answer the client cannot use: a status it does not understand
    /// (`HTTP <status>: <text>`), or a body over the limit.
    InvalidResponse {
        /// What was wrong with it.
        detail: String,
    },
    /// The request timed out.
    Timeout,
    /// The vendor could not be reached (refused or dropped connection,
    /// DNS, TLS).
    Unreachable {
        /// The transport's description, URLs redacted.
        detail: String,
    },
}

impl CallFailure {
    /// The failure a non-success `answer` stands for: its error text cut
    /// to `max_chars` characters, its `Retry-After` to `max_server_delay`
    /// (logged with `vendor` when cut).
    pub fn of_answer(
        answer: &Answer,
        max_chars: usize,
        max_server_delay: Duration,
        vendor: &str,
    ) -> Self {
        let status = answer.status;
        let detail = answer.excerpt(max_chars);
        match answer.class() {
            StatusClass::Transient => Self::Unavailable {
                status: status.as_u16(),
                detail,
                retry_after: answer
                    .retry_after()
                    .map(|asked| super::server_delay(asked, max_server_delay, vendor)),
            },
            StatusClass::Unauthorized => Self::Unauthorized {
                status: status.as_u16(),
                detail,
            },
            StatusClass::NotFound => Self::NotFound {
                status: status.as_u16(),
                detail,
            },
            StatusClass::Rejected => Self::Rejected {
                status: status.as_u16(),
                detail,
            },
            StatusClass::Success | StatusClass::Unexpected => Self::InvalidResponse {
                detail: format!("HTTP {status}: {detail}"),
            },
        }
    }
}

impl From<TransportError> for CallFailure {
    /// A timeout, an oversized answer (the client cannot use it), or a
    /// vendor out of reach.
    fn from(error: TransportError) -> Self {
        match error {
            TransportError::Timeout { .. } => Self::Timeout,
            TransportError::TooLarge { .. } => Self::InvalidResponse {
                detail: error.to_string(),
            },
            TransportError::Failed { .. } => Self::Unreachable {
                detail: error.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(retry_after(&HeaderMap::new()), None);
        assert_eq!(retry_after(&headers("120")), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(&headers(" 0 ")), Some(Duration::ZERO));
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO),
            "a date in the past means retry now"
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let wait = retry_after(&headers(&future)).unwrap();
        assert!(wait > Duration::from_secs(80) && wait <= Duration::from_secs(90));
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&headers("-5")), None);
    }

    fn answer(code: u16, retry_after: Option<&str>, body: &'static str) -> Answer {
        Answer {
            status: StatusCode::from_u16(code).unwrap(),
            headers: retry_after.map(headers).unwrap_or_default(),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn failed_calls_are_sorted_with_their_text_and_pause() {
        let failure = |code, retry_after, body| {
            CallFailure::of_answer(
                &answer(code, retry_after, body),
                8,
                Duration::from_secs(60),
                "vendor",
            )
        };
        assert_eq!(
            failure(429, Some("3600"), "slow down please"),
            CallFailure::Unavailable {
                status: 429,
                detail: "slow dow…".to_owned(),
                retry_after: Some(Duration::from_secs(60)),
            },
            "the text is cut, the pause capped"
        );
        assert_eq!(
            failure(503, None, ""),
            CallFailure::Unavailable {
                status: 503,
                detail: "(empty answer)".to_owned(),
                retry_after: None,
            }
        );
        assert_eq!(
            failure(403, None, "no"),
            CallFailure::Unauthorized {
                status: 403,
                detail: "no".to_owned()
            }
        );
        assert_eq!(
            failure(410, None, "gone"),
            CallFailure::NotFound {
                status: 410,
                detail: "gone".to_owned()
            }
        );
        assert_eq!(
            failure(422, None, "bad"),
            CallFailure::Rejected {
                status: 422,
                detail: "bad".to_owned()
            }
        );
        assert_eq!(
            failure(302, None, "moved"),
            CallFailure::InvalidResponse {
                detail: "HTTP 302 Found: moved".to_owned()
            }
        );
    }

    #[test]
    fn transport_errors_become_failures() {
        let detail = || "connection refused".to_owned();
        assert_eq!(
            CallFailure::from(TransportError::Timeout { detail: detail() }),
            CallFailure::Timeout
        );
        assert_eq!(
            CallFailure::from(TransportError::Failed { detail: detail() }),
            CallFailure::Unreachable { detail: detail() }
        );
        assert_eq!(
            CallFailure::from(TransportError::TooLarge { limit: 10 }),
            CallFailure::InvalidResponse {
                detail: "the answer is larger than 10 bytes".to_owned()
            }
        );
    }

    #[test]
    fn statuses_are_sorted_into_classes() {
        let class = |code: u16| StatusClass::of(StatusCode::from_u16(code).unwrap());
        assert_eq!(class(200), StatusClass::Success);
        assert_eq!(class(204), StatusClass::Success);
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(class(code), StatusClass::Transient, "{code}");
        }
        assert_eq!(class(401), StatusClass::Unauthorized);
        assert_eq!(class(403), StatusClass::Unauthorized);
        assert_eq!(class(404), StatusClass::NotFound);
        assert_eq!(class(410), StatusClass::NotFound);
        assert_eq!(class(400), StatusClass::Rejected);
        assert_eq!(class(413), StatusClass::Rejected);
        assert_eq!(class(302), StatusClass::Unexpected);
    }
}
