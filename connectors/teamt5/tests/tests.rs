//! Integration tests of the TeamT5 connector (one binary, see the modules).

mod client;
mod config;
mod connector_run;
mod end_to_end;
mod mapping;
mod network;
mod shipped_examples;
mod support;
