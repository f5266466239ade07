//! One test binary: the soak, and the leak it found.

mod leaks;
mod soak;
