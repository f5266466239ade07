//! Integration tests of the Sekoia connector against the in-process fake Sekoia.

mod client;
mod connector;
mod end_to_end;
mod examples;
mod network;
#[path = "../../../tests/shipped_binary.rs"]
mod shipped_binary;
mod version;
