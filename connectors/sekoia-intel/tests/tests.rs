//! Integration tests of the Sekoia connector against the in-process fake Sekoia.

#[path = "../../../tests/catalog_metadata.rs"]
mod catalog_metadata;
mod client;
mod connector;
mod end_to_end;
mod examples;
mod metadata;
mod network;
#[path = "../../../tests/shipped_binary.rs"]
mod shipped_binary;
mod signals;
mod vendor_drills;
mod version;
