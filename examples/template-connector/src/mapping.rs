//! From an address to STIX. Pure: no I/O, so it is tested without a run.

use std::net::Ipv4Addr;

use opencti_stix::builder::{BuildError, StixModel as _};
use opencti_stix::object::{Identity, Indicator};
use opencti_stix::{marking::TLP_GREEN, pattern};

/// Why a STIX object could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// A STIX object could not be built.
    #[error(transparent)]
    Stix(#[from] BuildError),
    /// A STIX pattern could not be written.
    #[error(transparent)]
    Pattern(#[from] pattern::BuildError),
}

/// The author of everything the connector sends.
pub fn author() -> Result<Identity, MappingError> {
    Ok(Identity::organization("Template").build()?)
}

/// The indicator of one address, by `author`, marked TLP:GREEN.
pub fn indicator(
    address: Ipv4Addr,
    score: u8,
    author: &Identity,
) -> Result<Indicator, MappingError> {
    let text = pattern::equality_pattern("ipv4-addr", &["value"], address.to_string())?;
    let indicator = Indicator::builder(text, "stix", chrono::Utc::now())
        .name(address.to_string())
        .score(score)
        .created_by(author.id())
        .marking(TLP_GREEN.id());
    Ok(indicator.build()?)
}
