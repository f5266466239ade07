//! Reading a downloaded feed package (a ZIP of JSON-Lines files) from disk,
//! one entry at a time and one batch of records at a time, so that memory
//! does not grow with the package.
//!
//! Entry names are `data.NTI.API.V2.0.<kind>[-updated].<YYYYMMDD>.<NNNN>.json`;
//! the first line of an entry is a header (ignored), each further line one
//! JSON record.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::sync::mpsc;

/// Why the package or one of its entries cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The download is not a readable ZIP archive.
    #[error("the feed package is not a readable ZIP archive: {0}")]
    Archive(String),
    /// An entry cannot be decompressed or fails its checksum.
    #[error("entry {entry} of the feed package is corrupt: {reason}")]
    Entry {
        /// The entry's name.
        entry: String,
        /// What failed.
        reason: String,
    },
}

/// One entry of the package, as listed in its central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Position in the archive.
    pub index: usize,
    /// File name.
    pub name: String,
    /// CRC-32 of the content, identifying it across downloads.
    pub crc32: u32,
    /// Uncompressed size in bytes.
    pub size: u64,
}

impl EntryInfo {
    /// The task name of the entry, as the Python connector derives it
    /// (`name.rsplit(".", 3)[0]`): `data.NTI.API.V2.0.ioc-updated` for
    /// `data.NTI.API.V2.0.ioc-updated.20250425.0001.json`.
    #[must_use]
    pub fn task(&self) -> &str {
        self.name.rsplitn(4, '.').last().unwrap_or(&self.name)
    }
}

/// A line of an entry: its number (1-based, the header being line 1) and
/// the record, or why it is not one.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordLine {
    /// Line number in the entry.
    pub line: usize,
    /// The record (a JSON object), or the parse error.
    pub record: Result<Value, String>,
}

/// Lists the entries of the archive at `path`, in archive order.
///
/// # Errors
/// [`PackageError::Archive`] when the file is not a ZIP archive.
pub fn list_entries(path: &Path) -> Result<Vec<EntryInfo>, PackageError> {
    let mut archive = open(path)?;
    let mut entries = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|error| PackageError::Archive(error.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        entries.push(EntryInfo {
            index,
            name: entry.name().to_owned(),
            crc32: entry.crc32(),
            size: entry.size(),
        });
    }
    Ok(entries)
}

fn open(path: &Path) -> Result<zip::ZipArchive<BufReader<fs::File>>, PackageError> {
    let file = fs::File::open(path).map_err(|error| PackageError::Archive(error.to_string()))?;
    zip::ZipArchive::new(BufReader::new(file))
        .map_err(|error| PackageError::Archive(error.to_string()))
}

/// Reads entry `entry` of the archive at `path` on a blocking thread and
/// hands its records over in batches of at most `batch_size`. The channel
/// holds two batches, so at most about four batches are in memory at once.
/// A corrupt entry ends the stream with an error (after the batches read
/// before the corruption was detected).
#[must_use]
pub fn stream_records(
    path: PathBuf,
    entry: EntryInfo,
    batch_size: usize,
) -> mpsc::Receiver<Result<Vec<RecordLine>, PackageError>> {
    let (sender, receiver) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        if let Err(error) = read_entry(&path, &entry, batch_size.max(1), &sender) {
            // The reader may be gone already (the run stopped); nothing to do then.
            let _ = sender.blocking_send(Err(error));
        }
    });
    receiver
}

fn read_entry(
    path: &Path,
    entry: &EntryInfo,
    batch_size: usize,
    sender: &mpsc::Sender<Result<Vec<RecordLine>, PackageError>>,
) -> Result<(), PackageError> {
    let corrupt = |reason: String| PackageError::Entry {
        entry: entry.name.clone(),
        reason,
    };
    let mut archive = open(path)?;
    let file = archive
        .by_index(entry.index)
        .map_err(|error| corrupt(error.to_string()))?;
    let mut reader = BufReader::new(file);
    let mut batch = Vec::with_capacity(batch_size);
    let mut buffer = Vec::new();
    let mut line = 0;
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|error| corrupt(error.to_string()))?;
        if read == 0 {
            break;
        }
        line += 1;
        // Line 1 is the package's header; blank lines carry nothing.
        if line == 1 || buffer.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = match serde_json::from_slice::<Value>(&buffer) {
            Ok(record) if record.is_object() => Ok(record),
            Ok(_) => Err("expected a JSON object".to_owned()),
            Err(error) => Err(error.to_string()),
        };
        batch.push(RecordLine { line, record });
        if batch.len() == batch_size {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
            if sender.blocking_send(Ok(full)).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = sender.blocking_send(Ok(batch));
    }
    Ok(())
}
