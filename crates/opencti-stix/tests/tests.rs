//! Integration tests of `opencti-stix` against the pycti vectors in `fixtures/`.

mod cli;
mod ids;
mod objects;
mod patterns;
mod split;
