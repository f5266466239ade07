//! Test doubles shared by the integration tests.

pub(crate) mod feed_server;
pub(crate) mod generator;
pub(crate) mod s3_server;
