//! Integration tests of `opencti-sim` against the local RabbitMQ.

mod binary;
mod common;
mod graphql;
mod jwt;
mod operations;
mod pycti;
mod roundtrip;
mod stream;
