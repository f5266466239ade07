//! The OpenCTI connector runtime.

#[cfg(feature = "stream")]
pub mod stream;
