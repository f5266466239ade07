//! Typed STIX 2.1 objects, deterministic ids, patterns and the bundle
//! splitter, byte-compatible with pycti.
//!
//! This crate does no I/O and is not async.

pub mod canonical;
pub mod id;
pub mod pattern;
pub mod split;
