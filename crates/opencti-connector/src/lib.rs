//! The OpenCTI connector runtime.
