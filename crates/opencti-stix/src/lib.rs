//! STIX 2.1 for OpenCTI connectors, byte-compatible with pycti.
//!
//! * [`object`]: typed models of the SDOs, SROs, observables (OpenCTI's
//!   custom ones included) and marking definitions, gathered in
//!   [`StixObject`]; unknown types and properties round-trip unchanged.
//! * [`builder`]: builders that fill what pycti/stix2 would (`spec_version`,
//!   `created`/`modified`, the deterministic id) from the required
//!   properties; [`marking`] holds the TLP markings with OpenCTI's ids.
//! * [`id`]: the deterministic ids of pycti's `generate_id` functions and
//!   stix2's observables, over [`canonical`] JSON.
//! * [`Bundle`]: the envelope objects travel in, read with errors that name
//!   the object and property at fault ([`StixError`]).
//! * [`pattern`]: building and parsing STIX patterns; [`split`]: pycti's
//!   bundle splitter.
//!
//! This crate does no I/O and is not async.
//!
//! ```
//! use chrono::Utc;
//! use opencti_stix::builder::StixModel as _;
//! use opencti_stix::object::{Identity, Indicator};
//! use opencti_stix::{Bundle, id};
//!
//! let author = Identity::organization("ACME CERT").build()?;
//! let indicator = Indicator::builder("[domain-name:value = 'example.com']", "stix", Utc::now())
//!     .created_by(author.id())
//!     .build()?;
//! assert_eq!(indicator.id(), id::indicator("[domain-name:value = 'example.com']"));
//! let bundle = Bundle::new(vec![author.into(), indicator.into()]);
//! assert_eq!(Bundle::from_json(&bundle.to_json()).unwrap(), bundle);
//! # Ok::<(), opencti_stix::builder::BuildError>(())
//! ```

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
