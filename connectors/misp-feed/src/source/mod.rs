//! Where feed files come from: a MISP feed over HTTP(S) or on disk (URL
//! mode), or an S3 bucket of event files (S3 mode).

mod error;
mod feed;
mod http;
mod manifest;
mod s3;

pub use error::FetchError;
pub use feed::{FeedLocation, FeedReader, LocationError, ManifestFetchError};
pub use http::{HttpFetcher, HttpSettings, HttpSetupError};
pub(crate) use manifest::epoch_seconds;
pub use manifest::{Manifest, ManifestEntry, ManifestError, RejectedEntry};
pub use s3::{S3Credentials, S3Object, S3Page, S3Settings, S3Source};
