//! An in-process fake NTI download endpoint for tests and demos: it serves
//! a feed package at `/api/v2/download/feed/`, checks the `X-Ns-Nti-Key`
//! header like NTI (401 with NTI's error body), can gzip the transfer, and
//! plays queued faults (error statuses with `Retry-After`, connections
//! broken in the middle of the body, corrupt packages).

use std::collections::VecDeque;
use std::io::{Cursor, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use zip::write::SimpleFileOptions;

/// The path of the download endpoint under the server's root.
pub const FEED_PATH: &str = "/api/v2/download/feed/";

/// What the next download request gets instead of the package.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// An error status with a JSON body, and `Retry-After` seconds if set.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` in seconds.
        retry_after: Option<u64>,
        /// The body.
        body: String,
    },
    /// Half the package, then the connection closed.
    Truncated,
    /// These bytes instead of the package (200, `application/zip`).
    Body(Vec<u8>),
    /// A body that never ends (chunks of zeros, 200, `application/zip`).
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
            body: r#"{"message": "Over limit"}"#.to_owned(),
        }
    }

    /// A server error.
    #[must_use]
    pub fn server_error(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
            body: "upstream failure".to_owned(),
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

#[derive(Debug)]
struct Inner {
    key: String,
    package: Vec<u8>,
    gzip: bool,
    faults: VecDeque<Fault>,
    requests: Vec<SeenRequest>,
}

/// The fake server; stops when dropped.
#[derive(Debug)]
pub struct FakeNti {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeNti {
    fn drop(&mut self) {
        self.task.abort();
    }
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
            faults: VecDeque::new(),
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route(FEED_PATH, get(download))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner, task }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `NTI_BASE_URL` to use (`http://127.0.0.1:<port>/api/v2/`).
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v2/", self.addr)
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
        self.inner().faults.push_back(fault);
    }

    /// Requests received so far.
    #[must_use]
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.inner().requests.clone()
    }
}

async fn download(
    State(inner): State<Arc<Mutex<Inner>>>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let mut inner = inner.lock().unwrap_or_else(PoisonError::into_inner);
    let key = text("x-ns-nti-key");
    inner.requests.push(SeenRequest {
        package_type: query
            .iter()
            .find(|(name, _)| name == "type")
            .map(|(_, value)| value.clone()),
        key: key.clone(),
        accept_encoding: text("accept-encoding"),
    });
    if key.as_deref() != Some(inner.key.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"message": "Invalid NTI key"}"#,
        )
            .into_response();
    }
    let body = match inner.faults.pop_front() {
        Some(Fault::Status {
            status,
            retry_after,
            body,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, body).into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            return response;
        }
        Some(Fault::Truncated) => {
            // Half the package, then the body fails: the connection is
            // closed before the chunked body is complete.
            let half = inner.package[..inner.package.len() / 2].to_vec();
            let parts: Vec<Result<Vec<u8>, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::other("connection dropped by the fake")),
            ];
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/zip")],
                Body::from_stream(futures::stream::iter(parts)),
            )
                .into_response();
        }
        Some(Fault::Endless) => {
            let chunks =
                futures::stream::repeat_with(|| Ok::<_, std::io::Error>(vec![0u8; 64 << 10]));
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/zip")],
                Body::from_stream(chunks),
            )
                .into_response();
        }
        Some(Fault::LoginPage) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><form action=\"/login\">Sign in</form></body></html>",
            )
                .into_response();
        }
        Some(Fault::Body(bytes)) => bytes,
        None => inner.package.clone(),
    };
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
        *response.body_mut() = gzip_stored(&body).into();
    } else {
        *response.body_mut() = body.into();
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
