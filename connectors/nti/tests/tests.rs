//! Integration tests of the NTI connector (one binary, see the modules).

mod golden;
mod support;
