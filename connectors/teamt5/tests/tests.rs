//! Integration tests of the TeamT5 connector (one binary, see the modules).

#[path = "../../../tests/catalog_metadata.rs"]
mod catalog_metadata;
mod client;
mod config;
mod connector_run;
mod end_to_end;
mod mapping;
mod metadata;
mod network;
mod platform_drills;
#[path = "../../../tests/shipped_binary.rs"]
mod shipped_binary;
mod shipped_examples;
mod signals;
mod support;
mod vendor_drills;
#[path = "../../../tests/vendor_network.rs"]
mod vendor_network;
mod version;
