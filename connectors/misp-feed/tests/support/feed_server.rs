//! A MISP feed served over HTTP on 127.0.0.1, with scripted faults.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;

/// What the next request for a file gets instead of the file.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// This status, no body.
    Status(u16),
    /// This status with a `Retry-After` header.
    StatusRetryAfter(u16, &'static str),
    /// A few bytes of the body, then the connection breaks.
    Drop,
    /// A 200 with this body instead of the real file.
    Body(&'static [u8]),
}

#[derive(Default)]
struct Files {
    content: HashMap<String, Bytes>,
    faults: HashMap<String, VecDeque<Fault>>,
    hits: HashMap<String, usize>,
}

#[derive(Clone)]
struct ServerState {
    files: Arc<Mutex<Files>>,
    authorization: Option<String>,
}

/// The server; stops when dropped.
pub(crate) struct FeedServer {
    base: String,
    files: Arc<Mutex<Files>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FeedServer {
    /// Serves `/feed/<name>`; with `authorization`, any request without
    /// exactly that `Authorization` header gets a 401.
    pub(crate) async fn start(authorization: Option<&str>) -> Self {
        let files = Arc::new(Mutex::new(Files::default()));
        let state = ServerState {
            files: Arc::clone(&files),
            authorization: authorization.map(str::to_owned),
        };
        let app = Router::new()
            .route("/feed/{name}", get(serve))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base: format!("http://{address}/feed"),
            files,
            task,
        }
    }

    /// The feed's base URL (what `MISP_FEED_URL` would hold).
    pub(crate) fn url(&self) -> &str {
        &self.base
    }

    /// Publishes (or replaces) a file.
    pub(crate) fn put(&self, name: &str, content: impl Into<Bytes>) {
        self.files
            .lock()
            .unwrap()
            .content
            .insert(name.to_owned(), content.into());
    }

    /// The next requests for `name` get these faults, in order.
    pub(crate) fn fail_next(&self, name: &str, faults: impl IntoIterator<Item = Fault>) {
        self.files
            .lock()
            .unwrap()
            .faults
            .entry(name.to_owned())
            .or_default()
            .extend(faults);
    }

    /// How many requests `name` received.
    pub(crate) fn hits(&self, name: &str) -> usize {
        self.files
            .lock()
            .unwrap()
            .hits
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}

async fn serve(
    State(state): State<ServerState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (fault, content) = {
        let mut files = state.files.lock().unwrap();
        *files.hits.entry(name.clone()).or_default() += 1;
        let fault = files.faults.get_mut(&name).and_then(VecDeque::pop_front);
        (fault, files.content.get(&name).cloned())
    };
    if let Some(expected) = &state.authorization {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if sent != Some(expected.as_str()) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    match fault {
        Some(Fault::Status(status)) => StatusCode::from_u16(status).unwrap().into_response(),
        Some(Fault::StatusRetryAfter(status, after)) => (
            StatusCode::from_u16(status).unwrap(),
            [(header::RETRY_AFTER, after)],
        )
            .into_response(),
        Some(Fault::Drop) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"{\"Event\": {")),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "dropped",
                )),
            ];
            Response::new(Body::from_stream(futures::stream::iter(chunks)))
        }
        Some(Fault::Body(body)) => Response::new(Body::from(body)),
        None => match content {
            Some(content) => Response::new(Body::from(content)),
            None => StatusCode::NOT_FOUND.into_response(),
        },
    }
}
