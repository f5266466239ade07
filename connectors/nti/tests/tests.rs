//! Integration tests of the NTI connector (one binary, see the modules).

#[path = "../../../tests/catalog_metadata.rs"]
mod catalog_metadata;
mod client;
mod config;
mod drills;
mod end_to_end;
mod golden;
mod metadata;
mod network;
mod platform_drills;
mod records;
mod run;
#[path = "../../../tests/shipped_binary.rs"]
mod shipped_binary;
mod shipped_examples;
mod signals;
mod support;
#[path = "../../../tests/vendor_network.rs"]
mod vendor_network;
mod version;
