//! S3 mode: a bucket (optionally a prefix) holding one MISP event JSON file
//! per object.

use std::fmt;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use bytes::{Bytes, BytesMut};
use opencti_connector::http::redact_urls;

use super::error::FetchError;
use opencti_connector::http::s3::ReqwestHttpClient;

/// Static credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`). Only the key id is shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where the bucket is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: String,
    /// Only keys starting with this are listed (`None`: the whole bucket).
    pub prefix: Option<String>,
    /// Signing region.
    pub region: String,
    /// S3-compatible endpoint (MinIO, Ceph, ...); `None` for AWS.
    pub endpoint_url: Option<String>,
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`.
    pub force_path_style: bool,
    /// `None`: anonymous (unsigned) requests, for public buckets.
    pub credentials: Option<S3Credentials>,
    /// Longest silence while connecting or reading.
    pub timeout: Duration,
    /// Attempts per call, the first included (the SDK's standard retry mode).
    pub max_attempts: u32,
    /// Largest accepted object, in bytes.
    pub max_file_size: u64,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    /// Full key.
    pub key: String,
    /// Size in bytes, as listed.
    pub size: u64,
}

/// One page of a listing; `next` continues it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct S3Page {
    /// Objects in key order.
    pub objects: Vec<S3Object>,
    /// Continuation token of the next page, if any.
    pub next: Option<String>,
}

/// Lists, reads and deletes the feed's objects.
#[derive(Debug, Clone)]
pub struct S3Source {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: Option<String>,
    max_file_size: u64,
}

impl S3Source {
    /// Builds the SDK client by hand (no aws-config, no credential chain)
    /// on top of `http`, the connector's reqwest client.
    pub fn new(settings: &S3Settings, http: reqwest::Client) -> Self {
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .http_client(ReqwestHttpClient::new(http))
            .force_path_style(settings.force_path_style)
            .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(settings.timeout)
                    .read_timeout(settings.timeout)
                    .build(),
            );
        if let Some(endpoint) = &settings.endpoint_url {
            config = config.endpoint_url(endpoint.trim_end_matches('/'));
        }
        config = match &settings.credentials {
            Some(credentials) => config.credentials_provider(Credentials::new(
                credentials.access_key_id.clone(),
                credentials.secret_access_key.clone(),
                credentials.session_token.clone(),
                None,
                "misp-feed-config",
            )),
            None => config.allow_no_auth(),
        };
        Self {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: settings.bucket.clone(),
            prefix: settings.prefix.clone(),
            max_file_size: settings.max_file_size,
        }
    }

    /// `s3://bucket/key`, for logs and errors.
    pub fn describe(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// One page of keys after `start_after` (exclusive), or the page that
    /// `continuation` designates.
    pub async fn list_page(
        &self,
        start_after: Option<&str>,
        continuation: Option<&str>,
    ) -> Result<S3Page, FetchError> {
        let mut request = self.client.list_objects_v2().bucket(&self.bucket);
        if let Some(prefix) = &self.prefix {
            request = request.prefix(prefix);
        }
        if let Some(start_after) = start_after {
            request = request.start_after(start_after);
        }
        if let Some(token) = continuation {
            request = request.continuation_token(token);
        }
        let output = request.send().await.map_err(|error| FetchError::S3 {
            operation: "ListObjectsV2",
            location: self.describe(self.prefix.as_deref().unwrap_or("")),
            message: redact_urls(&DisplayErrorContext(&error).to_string()),
        })?;
        let objects = output
            .contents()
            .iter()
            .filter_map(|object| {
                Some(S3Object {
                    key: object.key()?.to_owned(),
                    size: object
                        .size()
                        .and_then(|size| u64::try_from(size).ok())
                        .unwrap_or(0),
                })
            })
            .collect();
        let next = if output.is_truncated() == Some(true) {
            output.next_continuation_token().map(str::to_owned)
        } else {
            None
        };
        Ok(S3Page { objects, next })
    }

    /// Reads a whole object, refusing objects over the size limit.
    pub async fn get(&self, key: &str) -> Result<Bytes, FetchError> {
        let location = self.describe(key);
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| match error {
                SdkError::ServiceError(ref service)
                    if matches!(service.err(), GetObjectError::NoSuchKey(_)) =>
                {
                    FetchError::NotFound {
                        location: location.clone(),
                    }
                }
                other => FetchError::S3 {
                    operation: "GetObject",
                    location: location.clone(),
                    message: redact_urls(&DisplayErrorContext(&other).to_string()),
                },
            })?;
        let too_large = || FetchError::TooLarge {
            location: location.clone(),
            limit: self.max_file_size,
        };
        let announced = output
            .content_length()
            .and_then(|length| u64::try_from(length).ok());
        if announced.is_some_and(|length| length > self.max_file_size) {
            return Err(too_large());
        }
        let capacity = announced.unwrap_or(0).min(self.max_file_size);
        let mut body = output.body;
        let mut bytes = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
        loop {
            let chunk = body
                .try_next()
                .await
                .map_err(|error| FetchError::Transport {
                    location: location.clone(),
                    message: redact_urls(&DisplayErrorContext(&error).to_string()),
                })?;
            let Some(chunk) = chunk else { break };
            if (bytes.len() + chunk.len()) as u64 > self.max_file_size {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes.freeze())
    }

    /// Deletes a processed object.
    pub async fn delete(&self, key: &str) -> Result<(), FetchError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| FetchError::S3 {
                operation: "DeleteObject",
                location: self.describe(key),
                message: redact_urls(&DisplayErrorContext(&error).to_string()),
            })?;
        Ok(())
    }
}
