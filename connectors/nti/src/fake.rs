//! An in-process fake NTI download endpoint for tests and demos: it serves
//! a feed package at `/api/v2/download/feed/`, checks the `X-Ns-Nti-Key`
//! header like NTI (401 with NTI's error body), can gzip the transfer, and
//! plays queued faults (error statuses with `Retry-After`, connections
//! broken in the middle of the body, corrupt packages). It runs on the
//! test kit's [`FakeVendor`], which serves it, plays the faults once the
//! key is checked and records every request.

use std::io::{Cursor, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use opencti_testkit::axum::Router;
use opencti_testkit::axum::extract::State;
use opencti_testkit::axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use opencti_testkit::axum::response::{IntoResponse, Response};
use opencti_testkit::axum::routing::get;
use opencti_testkit::vendor::{self, Answer, FakeVendor, RetryAfter};
use serde_json::Value;
use zip::write::SimpleFileOptions;

/// The path of the download endpoint under the server's root.
pub const FEED_PATH: &str = "/api/v2/download/feed/";

/// The header NTI reads the key from.
const KEY_HEADER: &str = "x-ns-nti-key";

/// What the next download request gets instead of the package, in NTI's
/// words (played as the kit's [`vendor::Fault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// An error status with a body, and `Retry-After` seconds if set.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` in seconds.
        retry_after: Option<u64>,
        /// The body.
        body: &'static str,
    },
    /// Half the package, then the connection closed.
    Truncated,
    /// These bytes instead of the package (200, `application/zip`, the
    /// length declared).
    Body(&'static [u8]),
    /// A body that never ends (200, no length).
    Endless,
    /// A login page answered with 200 (a proxy or portal in the way).
    LoginPage,
}

impl Fault {
    /// NTI's rate-limit answer (429 `Over limit`) with `Retry-After`.
    #[must_use]
    pub fn over_limit(retry_after: u64) -> Self {
        Self::Status {
            status: 429,
            retry_after: Some(retry_after),
            body: r#"{"message": "Over limit"}"#,
        }
    }

    /// A server error.
    #[must_use]
    pub fn server_error(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
            body: "upstream failure",
        }
    }
}

impl From<Fault> for vendor::Fault {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::Status {
                status,
                retry_after,
                body,
            } => {
                let answer =
                    Answer::new(status).with_body("text/plain; charset=utf-8", body.as_bytes());
                Self::Answer(match retry_after {
                    Some(seconds) => answer.with_retry_after(RetryAfter::Seconds(seconds)),
                    None => answer,
                })
            }
            Fault::Truncated => Self::Drop,
            Fault::Body(bytes) => Answer::new(200).with_body("application/zip", bytes).into(),
            Fault::Endless => Self::Oversized(u64::MAX),
            Fault::LoginPage => Answer::html(
                200,
                "<html><body><form action=\"/login\">Sign in</form></body></html>",
            )
            .into(),
        }
    }
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// The `type` query parameter.
    pub package_type: Option<String>,
    /// The `X-Ns-Nti-Key` header.
    pub key: Option<String>,
    /// The `Accept-Encoding` header.
    pub accept_encoding: Option<String>,
}

impl From<&vendor::RecordedRequest> for SeenRequest {
    fn from(request: &vendor::RecordedRequest) -> Self {
        Self {
            package_type: request
                .query_pairs()
                .into_iter()
                .find(|(name, _)| name == "type")
                .map(|(_, value)| value),
            key: request.header(KEY_HEADER).map(str::to_owned),
            accept_encoding: request.header("accept-encoding").map(str::to_owned),
        }
    }
}

#[derive(Debug)]
struct Inner {
    key: String,
    package: Vec<u8>,
    gzip: bool,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the request carries the key NTI expects.
fn has_key(shared: &Shared, headers: &HeaderMap) -> bool {
    let sent = headers
        .get(KEY_HEADER)
        .and_then(|value| value.to_str().ok());
    sent == Some(lock(shared).key.as_str())
}

/// The fake server; stops when dropped.
#[derive(Debug)]
pub struct FakeNti {
    inner: Shared,
    vendor: FakeVendor,
}

impl FakeNti {
    /// Starts a server on 127.0.0.1 accepting `key`, serving an empty
    /// package until [`FakeNti::set_package`].
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(key: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            key: key.to_owned(),
            package: package::<&str, &str>(&[]),
            gzip: false,
        }));
        let routes = Router::new()
            .route(FEED_PATH, get(download))
            .with_state(Arc::clone(&inner));
        // NTI checks the key first: a request without it gets its 401 and
        // leaves the faults queued.
        let gate = Arc::clone(&inner);
        let vendor =
            FakeVendor::start_gated(routes, move |request| has_key(&gate, &request.headers))
                .await
                .expect("bind a loopback port");
        Self { inner, vendor }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// The `NTI_BASE_URL` to use (`http://127.0.0.1:<port>/api/v2/`).
    #[must_use]
    pub fn base_url(&self) -> String {
        self.vendor.url_for("/api/v2/")
    }

    /// Serves `package` from now on.
    pub fn set_package(&self, package: Vec<u8>) {
        self.inner().package = package;
    }

    /// Whether the package is sent with `Content-Encoding: gzip`.
    pub fn set_gzip(&self, gzip: bool) {
        self.inner().gzip = gzip;
    }

    /// Queues a fault for the next request.
    pub fn push_fault(&self, fault: Fault) {
        self.vendor.fail_next([fault.into()]);
    }

    /// Requests received so far.
    #[must_use]
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.vendor
            .requests_to(FEED_PATH)
            .iter()
            .map(SeenRequest::from)
            .collect()
    }
}

async fn download(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    if !has_key(&inner, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"message": "Invalid NTI key"}"#,
        )
            .into_response();
    }
    let inner = lock(&inner);
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/zip"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=nti-feed-updated.zip",
            ),
        ],
    )
        .into_response();
    if inner.gzip {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        *response.body_mut() = gzip_stored(&inner.package).into();
    } else {
        *response.body_mut() = inner.package.clone().into();
    }
    response
}

/// A feed package: a ZIP (deflated) of `(file name, content)` entries.
///
/// # Panics
/// Never for in-memory archives.
#[must_use]
pub fn package<Name: AsRef<str>, Content: AsRef<[u8]>>(entries: &[(Name, Content)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        writer
            .start_file(name.as_ref(), options)
            .expect("start a zip entry");
        writer
            .write_all(content.as_ref())
            .expect("write a zip entry");
    }
    writer.finish().expect("finish the zip").into_inner()
}

/// A zip bomb: one deflated entry `name` whose content is a header line
/// then `size` bytes of one record line that never ends (zeros compress
/// about a thousandfold).
///
/// # Panics
/// Never for in-memory archives.
#[must_use]
pub fn bomb(name: &str, size: usize) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(size > u32::MAX as usize);
    writer.start_file(name, options).expect("start a zip entry");
    writer
        .write_all(b"{\"header\": \"NTI feed\"}\n{\"padding\": \"")
        .expect("write a zip entry");
    let zeros = vec![b'0'; 1 << 20];
    let mut left = size;
    while left > 0 {
        let part = left.min(zeros.len());
        writer.write_all(&zeros[..part]).expect("write a zip entry");
        left -= part;
    }
    writer.finish().expect("finish the zip").into_inner()
}

/// `package` with every entry's declared uncompressed size set to
/// `declared` (local headers and central directory), as a hostile server
/// would lie about it. Only for archives without ZIP64 records.
#[must_use]
pub fn declare_sizes(mut package: Vec<u8>, declared: u32) -> Vec<u8> {
    const LOCAL: [u8; 4] = *b"PK\x03\x04";
    const CENTRAL: [u8; 4] = *b"PK\x01\x02";
    let bytes = declared.to_le_bytes();
    let mut at = 0;
    while at + 4 <= package.len() {
        let signature = &package[at..at + 4];
        let field = if signature == LOCAL {
            Some(at + 22)
        } else if signature == CENTRAL {
            Some(at + 24)
        } else {
            None
        };
        if let Some(field) = field {
            package[field..field + 4].copy_from_slice(&bytes);
            at = field;
        } else {
            at += 1;
        }
    }
    package
}

/// A feed file's content: a header line, then one record per line.
#[must_use]
pub fn entry_content(records: &[Value]) -> String {
    let mut content = String::from("{\"header\": \"NTI feed\"}\n");
    for record in records {
        content.push_str(&record.to_string());
        content.push('\n');
    }
    content
}

/// `data` as a gzip member made of stored (uncompressed) deflate blocks:
/// valid gzip without a compressor.
#[must_use]
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend([1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let length = u16::try_from(chunk.len()).expect("chunks of at most 65535 bytes");
        out.push(last);
        out.extend(length.to_le_bytes());
        out.extend((!length).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend(crc32(data).to_le_bytes());
    let size = u32::try_from(data.len() % (1 << 32)).unwrap_or(u32::MAX);
    out.extend(size.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
