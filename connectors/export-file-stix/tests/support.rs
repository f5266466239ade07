//! The simulator seeded with this connector's `fixtures/seed.jsonl` and its
//! binary listening to it (the shared part is `tests/export_goldens.rs`).

use std::path::PathBuf;

use opencti_sim::SimHandle;
use serde_json::Value;

use crate::export_goldens::Running;

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The simulator with the seed objects stored, and the connector's binary
/// registered and listening to it.
pub(crate) async fn started() -> (SimHandle, Running) {
    let sim = crate::export_goldens::seeded_sim(&fixtures()).await;
    let running = Running::start(&sim, env!("CARGO_BIN_EXE_opencti-export-file-stix")).await;
    (sim, running)
}

/// The exported bundle with its random id replaced.
pub(crate) fn normalised(text: &str) -> String {
    let value: Value = serde_json::from_str(text).expect("the export is JSON");
    let id = value["id"].as_str().expect("a bundle id");
    assert!(id.starts_with("bundle--"), "bundle id {id}");
    text.replacen(id, "bundle--<id>", 1)
}
