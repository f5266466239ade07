//! Answers of a hostile vendor that the test kit's faults do not play,
//! shared by the vendor drills with `#[path]`: a body whose announced
//! length is never sent, one that drips for ever, a login page with 200.

use std::convert::Infallible;
use std::time::Duration;

use opencti_testkit::axum::body::{Body, Bytes};
use opencti_testkit::axum::http::header;
use opencti_testkit::axum::response::{IntoResponse, Response};

/// A single sign-on proxy's page.
const LOGIN_PAGE: &str =
    "<!DOCTYPE html><html><body><form action=\"/login\">Sign in</form></body></html>";

/// A whole answer (`200`) given instead of the vendor's.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hostile {
    /// JSON, its length a tebibyte, then nothing: only a client that reads
    /// before it checks the length waits (until its read timeout).
    Announced,
    /// JSON, a space every 100 ms, for ever, without a length: no read
    /// times out, only a deadline on the whole answer ends it.
    Drip,
    /// [`LOGIN_PAGE`], as HTML.
    LoginPage,
}

impl Hostile {
    pub(crate) fn answer(self) -> Response {
        match self {
            Hostile::Announced => {
                let never = futures::stream::pending::<Result<Bytes, Infallible>>();
                (
                    [
                        (header::CONTENT_TYPE, "application/json".to_owned()),
                        (header::CONTENT_LENGTH, (1u64 << 40).to_string()),
                    ],
                    Body::from_stream(never),
                )
                    .into_response()
            }
            Hostile::Drip => {
                let drip = futures::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Ok::<_, Infallible>(Bytes::from_static(b" ")), ()))
                });
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    Body::from_stream(drip),
                )
                    .into_response()
            }
            Hostile::LoginPage => {
                ([(header::CONTENT_TYPE, "text/html")], LOGIN_PAGE).into_response()
            }
        }
    }
}
