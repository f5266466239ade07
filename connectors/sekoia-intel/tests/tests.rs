//! Integration tests of the Sekoia connector against the in-process fake Sekoia.

#[path = "../../../tests/catalog_metadata.rs"]
mod catalog_metadata;
mod client;
mod connector;
mod end_to_end;
mod examples;
#[path = "../../../tests/hostile_answers.rs"]
mod hostile_answers;
#[path = "../../../tests/hostile_front.rs"]
mod hostile_front;
mod metadata;
mod network;
#[path = "../../../tests/shipped_binary.rs"]
mod shipped_binary;
mod signals;
#[path = "../../../tests/sink_drills.rs"]
mod sink_drills;
#[path = "../../../tests/sink_startup.rs"]
mod sink_startup;
mod vendor_drills;
#[path = "../../../tests/vendor_network.rs"]
mod vendor_network;
mod version;
