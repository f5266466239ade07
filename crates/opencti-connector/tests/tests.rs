//! Integration tests of `opencti-connector` (one test binary).

mod stream_sse;
