//! The kit's own tests: the fake vendor's faults as a client meets them,
//! the output drill over good and bad connectors, a stream sink run over a
//! scripted stream, a binary run as a connector's
//! process, and no test support in the shipped binaries.

mod bench;
mod import;
mod output_drill;
mod process;
mod release_features;
mod restart;
mod stream;
mod vendor;
