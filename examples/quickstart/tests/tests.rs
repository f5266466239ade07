//! The quick-start crate's tests: the demo itself, and the checks that keep
//! the README and `docker/` in line with the connectors' code.

mod catalog;
mod compose;
mod demo;
mod docker;
mod images;
mod readme;
mod shipped;
