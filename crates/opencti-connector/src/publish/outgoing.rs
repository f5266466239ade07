//! What a connector hands to `send_bundle`: a bundle in whichever form it
//! has, held without an extra copy until the send needs it.

use opencti_stix::Bundle;
use opencti_stix::split::{CompactBundle, SplitError};
use serde::Serialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::error::SendError;

/// A bundle to send: typed, a JSON value, JSON text, or already compact.
///
/// Whatever the form, the send turns it into a [`CompactBundle`] (the
/// objects' JSON text plus their references) as it reads it, dropping the
/// input object by object, so no second full copy of the bundle exists at
/// any point. JSON text is kept as it is. Converted with `From`, so
/// [`crate::RunContext::send_bundle`] takes any of them directly.
#[derive(Debug)]
#[non_exhaustive]
pub enum OutgoingBundle {
    /// A typed bundle.
    Typed(Bundle),
    /// A bundle as a JSON value.
    Value(Value),
    /// A bundle as JSON text (pycti's `send_stix2_bundle` takes text too).
    Text(String),
    /// A bundle already held compactly.
    Compact(Box<CompactBundle>),
}

impl From<Bundle> for OutgoingBundle {
    fn from(bundle: Bundle) -> Self {
        Self::Typed(bundle)
    }
}

impl From<Value> for OutgoingBundle {
    fn from(bundle: Value) -> Self {
        Self::Value(bundle)
    }
}

impl From<String> for OutgoingBundle {
    fn from(bundle: String) -> Self {
        Self::Text(bundle)
    }
}

/// Copies the text; pass a `String` to hand it over instead.
impl From<&str> for OutgoingBundle {
    fn from(bundle: &str) -> Self {
        Self::Text(bundle.to_owned())
    }
}

impl From<CompactBundle> for OutgoingBundle {
    fn from(bundle: CompactBundle) -> Self {
        Self::Compact(Box::new(bundle))
    }
}

fn invalid(error: &impl std::fmt::Display) -> SendError {
    SendError::InvalidBundle {
        reason: error.to_string(),
    }
}

impl OutgoingBundle {
    /// The compact form the queue path splits.
    pub(crate) fn into_compact(self) -> Result<CompactBundle, SendError> {
        match self {
            Self::Typed(bundle) => CompactBundle::from_bundle(bundle),
            Self::Value(bundle) => CompactBundle::from_value(bundle),
            Self::Text(text) => CompactBundle::from_json(text),
            Self::Compact(bundle) => Ok(*bundle),
        }
        .map_err(|error: SplitError| invalid(&error))
    }

    /// The bundle as a JSON value (a test context records bundles so).
    ///
    /// # Errors
    ///
    /// [`SendError::InvalidBundle`] for text that is not JSON.
    pub fn into_value(self) -> Result<Value, SendError> {
        match self {
            Self::Typed(bundle) => Ok(bundle.into_value()),
            Self::Value(bundle) => Ok(bundle),
            Self::Text(text) => serde_json::from_str(&text).map_err(|error| invalid(&error)),
            Self::Compact(bundle) => Ok(bundle.to_value()),
        }
    }

    /// Compact JSON text of the whole bundle, for the sends that take it
    /// whole (`stixBundlePush`, the workbench); text is sent as given once
    /// checked to be JSON.
    pub(crate) fn to_json(&self) -> Result<String, SendError> {
        fn written(bundle: &impl Serialize) -> Result<String, SendError> {
            serde_json::to_string(bundle).map_err(|error| invalid(&error))
        }
        match self {
            Self::Typed(bundle) => written(bundle),
            Self::Value(bundle) => written(bundle),
            Self::Text(text) => {
                serde_json::from_str::<IgnoredAny>(text).map_err(|error| invalid(&error))?;
                Ok(text.clone())
            }
            Self::Compact(bundle) => written(bundle),
        }
    }
}
