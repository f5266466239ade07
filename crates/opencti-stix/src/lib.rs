//! Typed STIX 2.1 objects, deterministic ids, patterns and the bundle
//! splitter, byte-compatible with pycti.
//!
//! This crate does no I/O and is not async.

pub mod builder;
pub mod bundle;
pub mod canonical;
mod error;
pub mod id;
pub mod marking;
pub mod object;
pub mod pattern;
pub mod split;

pub use bundle::Bundle;
pub use error::StixError;
pub use object::StixObject;

/// Reads one STIX object from its JSON value (see [`StixObject::from_value`]).
///
/// # Errors
/// [`StixError::InvalidObject`] naming the object's id and the path of the
/// property at fault.
pub fn from_value(value: serde_json::Value) -> Result<StixObject, StixError> {
    StixObject::from_value(value)
}
