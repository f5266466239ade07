//! `CONNECTOR_SEND_TO_S3` (pycti 7.x): a copy of each bundle uploaded to S3
//! (the platform's own storage unless `S3_*` say otherwise), in the
//! directory copy's document with `bundle_type` `S3_BUNDLE`, and this
//! connector's uploads older than the retention deleted after each upload.
//! The queue is fed as usual: the upload is a side output, not a
//! replacement.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use tokio::sync::OnceCell;

use crate::api::S3Connection;
use crate::config::{S3Output, Secret};
use crate::error::SendError;
use crate::http::s3::ReqwestHttpClient;
use crate::http::{ClientOptions, Network, Verification, redact_urls};

/// Region signed with when neither `S3_BUCKET_REGION` nor the platform
/// gives one (boto3's default).
const DEFAULT_REGION: &str = "us-east-1";
/// Most listing pages read by one retention pass (1,000 keys a page).
const MAX_RETENTION_PAGES: usize = 100;

/// The S3 side output of one connector; the client is built at the first
/// upload, as pycti does, so missing settings fail that send.
#[derive(Debug)]
pub(super) struct S3Copy {
    output: S3Output,
    platform: Option<S3Connection>,
    network: Network,
    connector_name: String,
    client: OnceCell<aws_sdk_s3::Client>,
}

impl S3Copy {
    pub(super) fn new(
        output: S3Output,
        platform: Option<S3Connection>,
        network: Network,
        connector_name: &str,
    ) -> Self {
        Self {
            output,
            platform,
            network,
            connector_name: connector_name.to_owned(),
            client: OnceCell::new(),
        }
    }

    /// The bucket: `CONNECTOR_SEND_TO_S3_BUCKET`, else the platform's.
    fn bucket(&self) -> Result<&str, SendError> {
        self.output
            .bucket
            .as_deref()
            .or_else(|| self.platform.as_ref()?.bucket_name.as_deref())
            .filter(|bucket| !bucket.is_empty())
            .ok_or_else(|| missing("CONNECTOR_SEND_TO_S3_BUCKET (the platform gave no bucket)"))
    }

    /// `<folder>/<file>`, or `<file>` when the folder is empty or `.`.
    fn key(&self, file_name: &str) -> String {
        match self.output.folder.trim_end_matches('/') {
            "" | "." => file_name.to_owned(),
            folder => format!("{folder}/{file_name}"),
        }
    }

    /// Uploads `text` as a new object, then prunes expired uploads (a
    /// failed prune is logged, not fatal).
    pub(super) async fn upload(&self, text: Vec<u8>) -> Result<(), SendError> {
        let bucket = self.bucket()?;
        let client = self
            .client
            .get_or_try_init(|| async { self.build() })
            .await?;
        let key = self.key(&super::directory::file_name(&self.connector_name));
        client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(text))
            .send()
            .await
            .map_err(|error| SendError::S3 {
                location: format!("s3://{bucket}/{key}"),
                reason: redact_urls(&DisplayErrorContext(&error).to_string()),
            })?;
        tracing::info!(attributes.bucket = bucket, attributes.key = %key, "Bundle uploaded to S3");
        if self.output.retention_days > 0
            && let Err(error) = self.prune(client, bucket).await
        {
            tracing::warn!("Failed to cleanup old S3 bundles: {error}");
        }
        Ok(())
    }

    /// Deletes this connector's uploads (keys starting with
    /// `<folder>/<connector name>-`) last modified before the retention.
    async fn prune(&self, client: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
        let prefix = self.key(&format!(
            "{}-",
            self.connector_name.to_lowercase().replace(' ', "_")
        ));
        let horizon = Duration::from_secs(u64::from(self.output.retention_days) * 86_400);
        let cutoff = SystemTime::now()
            .checked_sub(horizon)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut continuation = None;
        for _ in 0..MAX_RETENTION_PAGES {
            let page = client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&prefix)
                .set_continuation_token(continuation.take())
                .send()
                .await
                .map_err(|error| redact_urls(&DisplayErrorContext(&error).to_string()))?;
            for object in page.contents() {
                let expired = object
                    .last_modified()
                    .and_then(|modified| SystemTime::try_from(*modified).ok())
                    .is_some_and(|modified| modified < cutoff);
                if let (true, Some(key)) = (expired, object.key()) {
                    client
                        .delete_object()
                        .bucket(bucket)
                        .key(key)
                        .send()
                        .await
                        .map_err(|error| redact_urls(&DisplayErrorContext(&error).to_string()))?;
                    tracing::debug!(attributes.key = key, "Deleted expired S3 bundle");
                }
            }
            match page.next_continuation_token() {
                Some(token) if page.is_truncated() == Some(true) => {
                    continuation = Some(token.to_owned());
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// The SDK client over the `S3_*` settings, each defaulting to the
    /// platform's: `http(s)://<endpoint>:<port>`, path-style addressing
    /// (MinIO, the platform's usual storage), the container's proxies and
    /// extra CAs.
    fn build(&self) -> Result<aws_sdk_s3::Client, SendError> {
        let local = &self.output.overrides;
        let platform = self.platform.clone().unwrap_or_default();
        let endpoint = local.endpoint.clone().or(platform.endpoint);
        let port = local.port.or(platform.port);
        let access_key = local.access_key.clone().or(platform.access_key);
        let secret_key: Option<Secret> = local.secret_key.clone().or(platform.secret_key);
        let use_ssl = local.use_ssl.or(platform.use_ssl).unwrap_or(false);
        let region = local
            .bucket_region
            .clone()
            .or(platform.bucket_region)
            .filter(|region| !region.is_empty())
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let mut absent = Vec::new();
        if endpoint.as_deref().is_none_or(str::is_empty) {
            absent.push("S3_ENDPOINT");
        }
        if port.is_none_or(|port| port == 0) {
            absent.push("S3_PORT");
        }
        if access_key.as_deref().is_none_or(str::is_empty) {
            absent.push("S3_ACCESS_KEY");
        }
        if secret_key.as_ref().is_none_or(Secret::is_empty) {
            absent.push("S3_SECRET_KEY");
        }
        let (Some(endpoint), Some(port), Some(access_key), Some(secret_key), true) =
            (endpoint, port, access_key, secret_key, absent.is_empty())
        else {
            return Err(missing(&format!(
                "{} (neither set nor given by the platform)",
                absent.join(", ")
            )));
        };
        let http = ClientOptions::new("opencti-connector-rs", env!("CARGO_PKG_VERSION"))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(60))
            .verification(Verification::System)
            .network(self.network.clone())
            .build()
            .map_err(|error| SendError::S3 {
                location: "client".to_owned(),
                reason: error.to_string(),
            })?;
        let scheme = if use_ssl { "https" } else { "http" };
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .endpoint_url(format!("{scheme}://{endpoint}:{port}"))
            .force_path_style(true)
            .http_client(ReqwestHttpClient::new(http))
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(300))
                    .build(),
            )
            .credentials_provider(Credentials::new(
                access_key,
                secret_key.expose(),
                None,
                None,
                "connector-s3-output",
            ))
            .build();
        Ok(aws_sdk_s3::Client::from_conf(config))
    }
}

fn missing(what: &str) -> SendError {
    SendError::S3 {
        location: "configuration".to_owned(),
        reason: format!("CONNECTOR_SEND_TO_S3 is on but no value for {what}"),
    }
}
