//! One test binary: the soak.

mod soak;
