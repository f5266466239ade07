//! The simulator seeded with this connector's `fixtures/seed.jsonl` and its
//! binary listening to it (the shared part is `tests/export_goldens.rs`).

use std::path::PathBuf;

use opencti_sim::SimHandle;

pub(crate) use crate::export_goldens::{Running, TIMEOUT};

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The simulator with the seed objects stored.
pub(crate) async fn seeded_sim() -> SimHandle {
    crate::export_goldens::seeded_sim(&fixtures()).await
}

/// The connector's binary, registered and listening.
pub(crate) async fn start(sim: &SimHandle) -> Running {
    Running::start(sim, env!("CARGO_BIN_EXE_opencti-export-file-txt")).await
}
