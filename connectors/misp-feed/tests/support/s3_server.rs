//! A real S3 API on 127.0.0.1: s3s-fs (objects are plain files in a temp
//! directory) served by the test kit's `FakeVendor`, with SigV4
//! authentication switched on.

use std::path::PathBuf;

use opencti_testkit::axum::Router;
use opencti_testkit::axum::error_handling::HandleError;
use opencti_testkit::axum::http::StatusCode;
use opencti_testkit::vendor::FakeVendor;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

use opencti_misp_feed::source::{S3Credentials, S3Settings};

pub(crate) const ACCESS_KEY: &str = "test-access-key";
pub(crate) const SECRET_KEY: &str = "test-secret-key";

/// The server; stops when dropped.
pub(crate) struct S3Server {
    endpoint: String,
    root: tempfile::TempDir,
    _vendor: FakeVendor,
}

impl S3Server {
    /// Starts a server holding one empty bucket.
    pub(crate) async fn start(bucket: &str) -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(bucket)).unwrap();
        let file_system = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(file_system);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = HandleError::new(builder.build(), |error: s3s::HttpError| async move {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:?}"))
        });
        let vendor = FakeVendor::start(Router::new().fallback_service(service))
            .await
            .unwrap();
        Self {
            endpoint: vendor.url(),
            root,
            _vendor: vendor,
        }
    }

    /// Settings reaching this server's `bucket` with the right credentials.
    pub(crate) fn settings(&self, bucket: &str, prefix: Option<&str>) -> S3Settings {
        S3Settings {
            bucket: bucket.to_owned(),
            prefix: prefix.map(str::to_owned),
            region: "us-east-1".to_owned(),
            endpoint_url: Some(self.endpoint.clone()),
            force_path_style: true,
            credentials: Some(S3Credentials {
                access_key_id: ACCESS_KEY.to_owned(),
                secret_access_key: SECRET_KEY.to_owned(),
                session_token: None,
            }),
            timeout: std::time::Duration::from_secs(10),
            max_attempts: 2,
            max_file_size: 1 << 20,
        }
    }

    fn path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.path().join(bucket).join(key)
    }

    /// Stores an object.
    pub(crate) fn put(&self, bucket: &str, key: &str, content: &[u8]) {
        let path = self.path(bucket, key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Whether the object still exists.
    pub(crate) fn contains(&self, bucket: &str, key: &str) -> bool {
        self.path(bucket, key).is_file()
    }
}
