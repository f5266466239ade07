//! The simulator seeded with this connector's `fixtures/seed.jsonl` and its
//! binary listening to it (the shared part is `tests/export_goldens.rs`).

use std::path::PathBuf;

use opencti_sim::SimHandle;

use crate::export_goldens::Running;

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The simulator with the seed objects stored, and the connector's binary
/// registered and listening to it.
pub(crate) async fn started() -> (SimHandle, Running) {
    let sim = crate::export_goldens::seeded_sim(&fixtures()).await;
    let running = Running::start(&sim, env!("CARGO_BIN_EXE_opencti-export-file-txt")).await;
    (sim, running)
}
