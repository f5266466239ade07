//! OpenCTI live-stream connector keeping Positive Technologies NAD reputation
//! lists in sync with the indicators of a stream.

pub mod client;
#[cfg(feature = "fake")]
pub mod fake;
pub mod mapping;
