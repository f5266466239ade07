//! `CONNECTOR_SEND_TO_DIRECTORY`: a copy of each bundle in a directory, as
//! pycti writes it, with old copies pruned.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::python_json::write_python_json;
use crate::config::DirectoryOutput;
use crate::error::SendError;

/// Identity fields of the directory copy.
#[derive(Debug, Clone)]
pub(super) struct ConnectorIdentity {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) connector_type: String,
    pub(super) scope_text: String,
    pub(super) auto: bool,
}

#[derive(Serialize)]
struct DirectoryBundle<'a, B> {
    bundle_type: &'static str,
    applicant_id: Option<&'a str>,
    connector: ConnectorFields<'a>,
    entities_types: Option<()>,
    bundle: &'a B,
    update: bool,
}

#[derive(Serialize)]
struct ConnectorFields<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    connector_type: &'a str,
    scope: &'a str,
    auto: bool,
    validate_before_import: bool,
}

/// The side copy's text: pycti's `DIRECTORY_BUNDLE` (or, for S3,
/// `S3_BUNDLE`) document around `bundle`, written as Python's `json.dumps`
/// writes it.
pub(super) fn document(
    bundle_type: &'static str,
    identity: &ConnectorIdentity,
    applicant_id: Option<&str>,
    validate_before_import: bool,
    bundle: &impl Serialize,
) -> Vec<u8> {
    let document = DirectoryBundle {
        bundle_type,
        applicant_id,
        connector: ConnectorFields {
            id: &identity.id,
            name: &identity.name,
            connector_type: &identity.connector_type,
            scope: &identity.scope_text,
            auto: identity.auto,
            validate_before_import,
        },
        entities_types: None,
        bundle,
        update: false,
    };
    let mut text = Vec::with_capacity(4096);
    write_python_json(&mut text, &document);
    text
}

/// Writes `text` as a new file of `directory` (through a temporary file)
/// and removes the `*.json` files older than the retention.
pub(super) async fn write(
    directory: &DirectoryOutput,
    connector_name: &str,
    text: Vec<u8>,
) -> Result<(), SendError> {
    let file_name = file_name(connector_name);
    let directory = directory.clone();
    tokio::task::spawn_blocking(move || write_and_prune(&directory, &file_name, &text))
        .await
        .map_err(|error| SendError::Directory {
            path: String::new(),
            reason: error.to_string(),
        })?
}

/// `<name lowercased, spaces as _>-<local %Y%m%d-%H%M%S>-<epoch seconds>.json`.
pub(super) fn file_name(connector_name: &str) -> String {
    let now = chrono::Local::now();
    let epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    format!(
        "{}-{}-{epoch}.json",
        connector_name.to_lowercase().replace(' ', "_"),
        now.format("%Y%m%d-%H%M%S")
    )
}

fn write_and_prune(
    directory: &DirectoryOutput,
    file_name: &str,
    text: &[u8],
) -> Result<(), SendError> {
    let failed = |path: &Path, error: std::io::Error| SendError::Directory {
        path: path.display().to_string(),
        reason: error.to_string(),
    };
    let target: PathBuf = directory.path.join(file_name);
    let temporary = target.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary).map_err(|error| failed(&temporary, error))?;
    #[cfg(any(test, feature = "test-util"))]
    let planned = fault::planned(&directory.path);
    #[cfg(not(any(test, feature = "test-util")))]
    let planned: Option<std::io::Error> = None;
    let written = match planned {
        Some(error) => Err(error),
        None => file.write_all(text).and_then(|()| file.sync_all()),
    };
    drop(file);
    // A partial copy is not left behind: pruning only removes `*.json`
    // files, a `.tmp` left at each failure would stay for good.
    let forget = |error: SendError| {
        if let Err(removal) = std::fs::remove_file(&temporary) {
            tracing::warn!(attributes.path = %temporary.display(), "Cannot remove a partial bundle file: {removal}");
        }
        error
    };
    written.map_err(|error| forget(failed(&temporary, error)))?;
    std::fs::rename(&temporary, &target).map_err(|error| forget(failed(&target, error)))?;
    if directory.retention_days > 0 {
        let horizon = Duration::from_secs(u64::from(directory.retention_days) * 86_400);
        let entries =
            std::fs::read_dir(&directory.path).map_err(|error| failed(&directory.path, error))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let expired = path
                .extension()
                .is_some_and(|extension| extension == "json")
                && entry
                    .metadata()
                    .and_then(|metadata| metadata.modified())
                    .ok()
                    .and_then(|modified| modified.elapsed().ok())
                    .is_some_and(|age| age > horizon);
            if expired && let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(attributes.path = %path.display(), "Cannot remove an expired bundle file: {error}");
            }
        }
    }
    Ok(())
}

/// A test hook: makes the writes of a directory copy fail, from a given
/// write on, as on a full disk (the file is created, writing it fails).
/// Only with the `test-util` feature: never in a release binary.
#[cfg(any(test, feature = "test-util"))]
pub(super) mod fault {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    /// Directories with a planned failure: the path, the writes made so
    /// far, and the first write to fail (1 for the first).
    static PLANS: Mutex<Vec<(PathBuf, u64, u64)>> = Mutex::new(Vec::new());

    fn plans() -> std::sync::MutexGuard<'static, Vec<(PathBuf, u64, u64)>> {
        PLANS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The writes of the directory copy in `directory` fail from the
    /// `from_write`-th on (1 for the first), counted from now, until the
    /// value returned is dropped. `directory` is compared as given to
    /// `CONNECTOR_SEND_TO_DIRECTORY_PATH`.
    #[must_use = "the fault is removed when this is dropped"]
    #[derive(Debug)]
    pub struct DirectoryFault {
        directory: PathBuf,
    }

    impl DirectoryFault {
        /// Plans the failure; replaces any plan for the same directory.
        pub fn from_write(directory: &Path, from_write: u64) -> Self {
            let mut plans = plans();
            plans.retain(|(path, _, _)| path != directory);
            plans.push((directory.to_path_buf(), 0, from_write));
            Self {
                directory: directory.to_path_buf(),
            }
        }

        /// The writes attempted in the directory since the plan was made,
        /// the failed ones included.
        pub fn writes(&self) -> u64 {
            plans()
                .iter()
                .find(|(path, _, _)| *path == self.directory)
                .map_or(0, |(_, writes, _)| *writes)
        }
    }

    impl Drop for DirectoryFault {
        fn drop(&mut self) {
            plans().retain(|(path, _, _)| *path != self.directory);
        }
    }

    /// Counts a write into `directory`; the error it must fail with, if
    /// one is planned.
    pub(super) fn planned(directory: &Path) -> Option<std::io::Error> {
        let mut plans = plans();
        let (_, writes, from) = plans.iter_mut().find(|(path, _, _)| path == directory)?;
        *writes += 1;
        (*writes >= *from).then(|| {
            std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (test fault)",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output(path: &Path) -> DirectoryOutput {
        DirectoryOutput {
            path: path.to_path_buf(),
            retention_days: 0,
        }
    }

    fn files(path: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_failed_write_leaves_no_partial_file_and_the_fault_counts_from_its_write() {
        let scratch = tempfile::tempdir().unwrap();
        let directory = output(scratch.path());
        let fault = fault::DirectoryFault::from_write(scratch.path(), 2);
        write_and_prune(&directory, "first.json", b"{}").unwrap();
        let error = write_and_prune(&directory, "second.json", b"{}").unwrap_err();
        assert!(
            error.to_string().contains("no space left"),
            "the planned error: {error}"
        );
        assert!(write_and_prune(&directory, "third.json", b"{}").is_err());
        assert_eq!(fault.writes(), 3);
        assert_eq!(files(scratch.path()), ["first.json"], "no partial file");
        drop(fault);
        write_and_prune(&directory, "fourth.json", b"{}").unwrap();
        assert_eq!(files(scratch.path()), ["first.json", "fourth.json"]);
    }

    #[test]
    fn a_failed_rename_leaves_no_partial_file() {
        let scratch = tempfile::tempdir().unwrap();
        // The target is a directory that is not empty: the rename fails.
        std::fs::create_dir_all(scratch.path().join("taken.json/inside")).unwrap();
        let error = write_and_prune(&output(scratch.path()), "taken.json", b"{}").unwrap_err();
        assert!(error.to_string().contains("taken.json"), "{error}");
        assert_eq!(files(scratch.path()), ["taken.json"], "no partial file");
    }

    #[test]
    fn the_document_is_pycti_s_directory_bundle() {
        let identity = ConnectorIdentity {
            id: "c-1".to_owned(),
            name: "Feed".to_owned(),
            connector_type: "EXTERNAL_IMPORT".to_owned(),
            scope_text: "indicator".to_owned(),
            auto: false,
        };
        let bundle = json!({"type": "bundle", "objects": []});
        let text = document("DIRECTORY_BUNDLE", &identity, Some("user-1"), true, &bundle);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "{\"bundle_type\": \"DIRECTORY_BUNDLE\", \"applicant_id\": \"user-1\", \"connector\": {\"id\": \"c-1\", \"name\": \"Feed\", \"type\": \"EXTERNAL_IMPORT\", \"scope\": \"indicator\", \"auto\": false, \"validate_before_import\": true}, \"entities_types\": null, \"bundle\": {\"type\": \"bundle\", \"objects\": []}, \"update\": false}"
        );
    }
}
