//! Integration tests of `opencti-stix` against the pycti vectors in `fixtures/`.

mod ids;
mod split;
mod patterns;
mod cli;
