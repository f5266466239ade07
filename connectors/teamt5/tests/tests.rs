//! Integration tests of the TeamT5 connector (one binary, see the modules).

mod client;
mod config;
mod connector_run;
mod mapping;
mod support;
