//! Canonical JSON (RFC 8785 / stix2 `canonicalize`), the input of every id.
