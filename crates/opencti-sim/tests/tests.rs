//! Integration tests of `opencti-sim` against the local RabbitMQ.

mod binary;
mod common;
mod control;
mod graphql;
mod jwt;
mod listen;
mod operations;
mod pycti;
mod roundtrip;
mod stream;
