//! URL mode: a MISP feed served over HTTP(S) or sitting in a local directory
//! (`file://` URL or plain path).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use reqwest::Url;

use super::error::FetchError;
use super::http::{HttpFetcher, display_url};
use super::manifest::{Manifest, ManifestError};

/// Where the feed lives, from `MISP_FEED_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum FeedLocation {
    /// `http://` or `https://` base URL, without trailing `/`.
    Http(String),
    /// A local directory holding `manifest.json` and the event files.
    Directory(PathBuf),
}

impl std::fmt::Debug for FeedLocation {
    /// Credentials in the URL (`https://user:password@host/`) are left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedLocation::Http(base) => {
                let shown = Url::parse(base).map_or_else(
                    |_| opencti_connector::http::redact_urls(base),
                    |url| display_url(&url),
                );
                f.debug_tuple("Http").field(&shown).finish()
            }
            FeedLocation::Directory(path) => f.debug_tuple("Directory").field(path).finish(),
        }
    }
}

/// `MISP_FEED_URL` is neither an HTTP(S) URL, a `file://` URL nor a path.
#[derive(Debug, thiserror::Error)]
#[error("MISP_FEED_URL {value:?}: {reason}")]
#[non_exhaustive]
pub struct LocationError {
    /// The configured value.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FeedLocation {
    /// Interprets `MISP_FEED_URL`. A trailing `/` is dropped, as the Python
    /// connector does, before file names are appended.
    pub fn parse(value: &str) -> Result<Self, LocationError> {
        let error = |reason: &str| LocationError {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = value.trim().trim_end_matches('/');
        if trimmed.is_empty() {
            return Err(error("empty"));
        }
        let Some((scheme, _)) = trimmed.split_once("://") else {
            return Ok(FeedLocation::Directory(PathBuf::from(trimmed)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "http" | "https" => {
                Url::parse(trimmed).map_err(|parse| error(&parse.to_string()))?;
                Ok(FeedLocation::Http(trimmed.to_owned()))
            }
            "file" => {
                // `file:///srv/feed/` keeps a path even after trimming the slash.
                let url = Url::parse(value.trim()).map_err(|parse| error(&parse.to_string()))?;
                let path = url
                    .to_file_path()
                    .map_err(|()| error("not a local absolute path"))?;
                Ok(FeedLocation::Directory(path))
            }
            _ => Err(error(
                "only http://, https://, file:// URLs and local paths are supported",
            )),
        }
    }
}

/// Why the manifest could not be obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestFetchError {
    /// Download failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Downloaded but unreadable.
    #[error(transparent)]
    Parse(#[from] ManifestError),
}

/// Reads `manifest.json` and event files from a [`FeedLocation`].
#[derive(Debug, Clone)]
pub struct FeedReader {
    location: FeedLocation,
    http: HttpFetcher,
    max_file_size: u64,
}

impl FeedReader {
    /// A reader for `location`; `http` serves HTTP(S) locations, and its
    /// size limit also applies to local files.
    pub fn new(location: FeedLocation, http: HttpFetcher, max_file_size: u64) -> Self {
        Self {
            location,
            http,
            max_file_size,
        }
    }

    /// The same reader, its pauses between retries ending when `shutdown`
    /// fires.
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: opencti_connector::http::CancellationToken) -> Self {
        self.http = self.http.with_shutdown(shutdown);
        self
    }

    /// Where this reader reads from.
    pub fn location(&self) -> &FeedLocation {
        &self.location
    }

    /// Downloads and parses `manifest.json`.
    pub async fn manifest(&self) -> Result<Manifest, ManifestFetchError> {
        let bytes = self.file("manifest.json").await?;
        Ok(Manifest::parse(&bytes)?)
    }

    /// Downloads the event file `<key>.json`.
    pub async fn event(&self, key: &str) -> Result<Bytes, FetchError> {
        if !is_safe_key(key) {
            return Err(FetchError::InvalidKey {
                key: key.to_owned(),
            });
        }
        self.file(&format!("{key}.json")).await
    }

    async fn file(&self, name: &str) -> Result<Bytes, FetchError> {
        match &self.location {
            FeedLocation::Http(base) => {
                let raw = format!("{base}/{name}");
                let url = Url::parse(&raw).map_err(|error| FetchError::Transport {
                    location: opencti_connector::http::redact_urls(&raw),
                    message: error.to_string(),
                })?;
                self.http.get(&url).await
            }
            FeedLocation::Directory(directory) => {
                read_local(&directory.join(name), self.max_file_size).await
            }
        }
    }

    /// The location of a feed file as shown in logs (no credentials).
    pub fn describe(&self, name: &str) -> String {
        match &self.location {
            FeedLocation::Http(base) => match Url::parse(&format!("{base}/{name}")) {
                Ok(url) => display_url(&url),
                Err(_) => name.to_owned(),
            },
            FeedLocation::Directory(directory) => directory.join(name).display().to_string(),
        }
    }
}

/// Event keys are MISP UUIDs; anything that could step out of the feed
/// (separators, `..`, a leading dot) is refused.
fn is_safe_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
        && !key.contains("..")
}

async fn read_local(path: &Path, max_file_size: u64) -> Result<Bytes, FetchError> {
    let location = || path.display().to_string();
    let io_error = |error: std::io::Error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            FetchError::NotFound {
                location: location(),
            }
        } else {
            FetchError::Io {
                location: location(),
                message: error.to_string(),
            }
        }
    };
    let metadata = tokio::fs::metadata(path).await.map_err(io_error)?;
    if metadata.len() > max_file_size {
        return Err(FetchError::TooLarge {
            location: location(),
            limit: max_file_size,
        });
    }
    Ok(Bytes::from(tokio::fs::read(path).await.map_err(io_error)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_from_misp_feed_url() {
        assert_eq!(
            FeedLocation::parse("https://www.circl.lu/doc/misp/feed-osint/").unwrap(),
            FeedLocation::Http("https://www.circl.lu/doc/misp/feed-osint".into())
        );
        assert_eq!(
            FeedLocation::parse("file:///srv/feeds/osint/").unwrap(),
            FeedLocation::Directory("/srv/feeds/osint".into())
        );
        assert_eq!(
            FeedLocation::parse("./sample-feed/").unwrap(),
            FeedLocation::Directory("./sample-feed".into())
        );
        assert!(FeedLocation::parse("ftp://x/y").is_err());
        assert!(FeedLocation::parse("   ").is_err());
        assert!(FeedLocation::parse("http://exa mple").is_err());
        let secret = FeedLocation::parse("https://user:hunter2@feed.example/misp").unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn keys_cannot_escape_the_feed() {
        assert!(is_safe_key("5f1d9c8e-1a2b-4c3d-9e8f-0a1b2c3d4e5f"));
        assert!(is_safe_key("event_1.v2"));
        for bad in [
            "",
            "../etc/passwd",
            "a/b",
            "a\\b",
            ".hidden",
            "a..b",
            "x y",
            "é",
        ] {
            assert!(!is_safe_key(bad), "{bad:?}");
        }
    }
}
