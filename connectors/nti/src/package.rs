//! Reading a downloaded feed package (a ZIP of JSON-Lines files) from disk,
//! one entry at a time and one batch of records at a time, so that memory
//! does not grow with the package.
//!
//! Entry names are `data.NTI.API.V2.0.<kind>[-updated].<YYYYMMDD>.<NNNN>.json`;
//! the first line of an entry is a header (ignored), each further line one
//! JSON record.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::config::PackageLimits;
use crate::record::{self, Record};

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
    /// An entry declares or inflates to more than `NTI_MAX_FILE_SIZE_MB`.
    #[error(
        "entry {entry} of the feed package is larger than {limit_mib} MiB uncompressed; refused (raise NTI_MAX_FILE_SIZE_MB if the file is genuine)"
    )]
    EntryTooLarge {
        /// The entry's name.
        entry: String,
        /// The limit in MiB.
        limit_mib: u64,
    },
    /// A line of an entry is longer than `NTI_MAX_LINE_SIZE_MB`.
    #[error(
        "line {line} of entry {entry} of the feed package is longer than {limit_mib} MiB; refused (raise NTI_MAX_LINE_SIZE_MB if the record is genuine)"
    )]
    LineTooLong {
        /// The entry's name.
        entry: String,
        /// The line number (1-based).
        line: usize,
        /// The limit in MiB.
        limit_mib: u64,
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

    /// Refuses an entry whose declared uncompressed size is over the limit
    /// (the bytes actually inflated are counted too, while reading).
    ///
    /// # Errors
    /// [`PackageError::EntryTooLarge`].
    pub fn check_size(&self, limits: &PackageLimits) -> Result<(), PackageError> {
        if self.size > limits.max_file_bytes {
            return Err(self.too_large(limits));
        }
        Ok(())
    }

    fn too_large(&self, limits: &PackageLimits) -> PackageError {
        PackageError::EntryTooLarge {
            entry: self.name.clone(),
            limit_mib: limits.max_file_bytes >> 20,
        }
    }
}

/// A line of an entry: its number (1-based, the header being line 1) and
/// the record, or why it is not one.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordLine {
    /// Line number in the entry.
    pub line: usize,
    /// The record, or why the line is not one (naming the key at fault).
    pub record: Result<Record, String>,
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
/// A corrupt entry, one inflating to more than the file limit or a line
/// over the line limit ends the stream with an error (after the batches
/// read before it was detected).
#[must_use]
pub fn stream_records(
    path: PathBuf,
    entry: EntryInfo,
    batch_size: usize,
    limits: PackageLimits,
) -> mpsc::Receiver<Result<Vec<RecordLine>, PackageError>> {
    let (sender, receiver) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        if let Err(error) = read_entry(&path, &entry, batch_size.max(1), &limits, &sender) {
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
    limits: &PackageLimits,
    sender: &mpsc::Sender<Result<Vec<RecordLine>, PackageError>>,
) -> Result<(), PackageError> {
    entry.check_size(limits)?;
    let corrupt = |reason: String| PackageError::Entry {
        entry: entry.name.clone(),
        reason,
    };
    let mut archive = open(path)?;
    let file = archive
        .by_index(entry.index)
        .map_err(|error| corrupt(error.to_string()))?;
    // The declared size may lie: the bytes inflated are counted, one past
    // the limit being enough to know it is exceeded.
    let mut reader = BufReader::new(file.take(limits.max_file_bytes.saturating_add(1)));
    let mut batch = Vec::with_capacity(batch_size);
    let mut buffer = Vec::new();
    let mut line = 0;
    loop {
        buffer.clear();
        let read = (&mut reader)
            .take(limits.max_line_bytes.saturating_add(1))
            .read_until(b'\n', &mut buffer)
            .map_err(|error| corrupt(error.to_string()))?;
        if reader.get_ref().limit() == 0 {
            return Err(entry.too_large(limits));
        }
        if read == 0 {
            break;
        }
        line += 1;
        // A line ends at its newline (not counted) or at the entry's end.
        let content = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
        if content.len() as u64 > limits.max_line_bytes {
            return Err(PackageError::LineTooLong {
                entry: entry.name.clone(),
                line,
                limit_mib: limits.max_line_bytes >> 20,
            });
        }
        // Line 1 is the package's header; blank lines carry nothing.
        if line == 1 || buffer.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = record::parse_line(&buffer);
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
