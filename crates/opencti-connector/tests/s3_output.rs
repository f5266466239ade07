//! `CONNECTOR_SEND_TO_S3`: each bundle is uploaded to S3 (s3s-fs on
//! 127.0.0.1, a real S3 API whose `LastModified` is the file's mtime, so
//! expired uploads can be made) next to its import through `opencti-sim`.

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::error_handling::HandleError;
use axum::http::StatusCode;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{NoConfig, RuntimeConfig, Settings};
use opencti_connector::context::RunContext;
use opencti_connector::import::{ImportRunner, ImportSource};
use opencti_connector::{Connector, SendError};
use opencti_sim::{Sim, SimConfig};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(30);
const ACCESS_KEY: &str = "s3-test-access";
const SECRET_KEY: &str = "s3-test-secret";
/// The bucket the simulator hands out at registration (`config.s3`).
const PLATFORM_BUCKET: &str = "opencti-bucket";
const INDICATOR: &str = "indicator--5a4c7e0e-2b3d-4e5f-8a9b-0c1d2e3f4a5b";

/// Sends one indicator.
struct OneIndicator;

impl Connector for OneIndicator {
    type Config = NoConfig;
    type Error = SendError;
    const NAME: &'static str = "opencti-one-indicator";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Sends one indicator";

    fn from_config(_: NoConfig) -> Result<Self, SendError> {
        Ok(Self)
    }
}

impl ImportSource for OneIndicator {
    async fn run(&mut self, ctx: &RunContext) -> Result<String, SendError> {
        let bundle = json!({"type": "bundle", "id": "bundle--0d3c2b1a-0000-4000-8000-000000000001",
            "objects": [{"type": "indicator", "spec_version": "2.1", "id": INDICATOR,
                "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
                "name": "203.0.113.7", "pattern": "[ipv4-addr:value = '203.0.113.7']",
                "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00.000Z"}]});
        ctx.send_bundle(bundle).await?;
        Ok("sent".to_owned())
    }
}

/// s3s-fs behind axum on a loopback port; stops when dropped.
struct S3Server {
    port: u16,
    root: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Server {
    async fn start(bucket: &str) -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(bucket)).unwrap();
        let mut builder = S3ServiceBuilder::new(s3s_fs::FileSystem::new(root.path()).unwrap());
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = HandleError::new(builder.build(), |error: s3s::HttpError| async move {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:?}"))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new().fallback_service(service);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { port, root, task }
    }

    /// Stores an object last modified `age` ago.
    fn put_aged(&self, key: &str, age: Duration) {
        let path = self.root.path().join(PLATFORM_BUCKET).join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{}").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    /// Every key of the bucket, sorted.
    fn keys(&self) -> Vec<String> {
        let bucket = self.root.path().join(PLATFORM_BUCKET);
        let mut keys = Vec::new();
        let mut pending = vec![bucket.clone()];
        while let Some(directory) = pending.pop() {
            for entry in std::fs::read_dir(directory).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if !path.to_string_lossy().contains(".s3s") {
                    let key = path.strip_prefix(&bucket).unwrap();
                    keys.push(key.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        keys.sort();
        keys
    }

    fn read(&self, key: &str) -> Value {
        let path = self.root.path().join(PLATFORM_BUCKET).join(key);
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }
}

/// A 7.x platform: registration hands out `config.s3` (its bucket, an
/// endpoint, empty keys).
fn platform_7x() -> SimConfig {
    SimConfig {
        platform_version: "7.261026.0".to_owned(),
        ..SimConfig::for_tests()
    }
}

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bundle_goes_to_the_platform_bucket_and_expired_uploads_are_pruned() {
    opencti_connector::tls::install_crypto_provider();
    let s3 = S3Server::start(PLATFORM_BUCKET).await;
    s3.put_aged(
        "connectors/s3_feed-20240101-000000-1704067200.0.json",
        10 * DAY,
    );
    s3.put_aged("connectors/s3_feed-20240108-000000-1704672000.0.json", DAY);
    // Another connector's upload in the same folder is not ours to prune.
    s3.put_aged(
        "connectors/other-20240101-000000-1704067200.0.json",
        10 * DAY,
    );
    let sim = Sim::start(platform_7x()).await.unwrap();
    let connector_id = uuid::Uuid::new_v4().to_string();
    let port = s3.port.to_string();
    let env = [
        ("OPENCTI_URL", sim.url()),
        ("OPENCTI_TOKEN", "s3-test".to_owned()),
        ("CONNECTOR_ID", connector_id.clone()),
        ("CONNECTOR_NAME", "S3 Feed".to_owned()),
        ("CONNECTOR_RUN_AND_TERMINATE", "true".to_owned()),
        ("CONNECTOR_SEND_TO_S3", "true".to_owned()),
        ("CONNECTOR_SEND_TO_S3_RETENTION", "5".to_owned()),
        // The simulator hands out 127.0.0.1:9000 and empty keys: override.
        ("S3_PORT", port),
        ("S3_ACCESS_KEY", ACCESS_KEY.to_owned()),
        ("S3_SECRET_KEY", SECRET_KEY.to_owned()),
    ];
    let runtime = RuntimeConfig::try_from(&Settings::from_env_pairs(RUNTIME_TABLES, env)).unwrap();
    assert!(
        !format!("{runtime:?}").contains(SECRET_KEY),
        "secret in Debug"
    );
    tokio::time::timeout(
        TIMEOUT,
        ImportRunner::new(OneIndicator, runtime).run(CancellationToken::new()),
    )
    .await
    .expect("the run ends")
    .unwrap();

    // Still imported through the queue: the S3 copy is a side output.
    let work = sim.works().last().cloned().expect("a work");
    sim.wait_for_work_complete(&work.id, TIMEOUT).await.unwrap();
    assert!(sim.object(INDICATOR).is_some());

    let keys = s3.keys();
    let uploads: Vec<&String> = keys
        .iter()
        .filter(|key| key.starts_with("connectors/s3_feed-") && !key.contains("-2024010"))
        .collect();
    assert_eq!(uploads.len(), 1, "one upload: {keys:?}");
    assert!(uploads[0].ends_with(".json"));
    assert!(
        !keys.contains(&"connectors/s3_feed-20240101-000000-1704067200.0.json".to_owned()),
        "the expired upload is pruned: {keys:?}"
    );
    for kept in [
        "connectors/s3_feed-20240108-000000-1704672000.0.json",
        "connectors/other-20240101-000000-1704067200.0.json",
    ] {
        assert!(keys.contains(&kept.to_owned()), "{kept} kept: {keys:?}");
    }
    let document = s3.read(uploads[0]);
    assert_eq!(document["bundle_type"], "S3_BUNDLE");
    assert_eq!(document["connector"]["id"], connector_id.as_str());
    assert_eq!(document["connector"]["name"], "S3 Feed");
    assert_eq!(document["bundle"]["objects"][0]["id"], INDICATOR);
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_s3_credentials_fail_the_send_naming_the_variable() {
    opencti_connector::tls::install_crypto_provider();
    let sim = Sim::start(platform_7x()).await.unwrap();
    let env = [
        ("OPENCTI_URL", sim.url()),
        ("OPENCTI_TOKEN", "s3-test".to_owned()),
        ("CONNECTOR_ID", uuid::Uuid::new_v4().to_string()),
        ("CONNECTOR_NAME", "S3 Feed".to_owned()),
        ("CONNECTOR_RUN_AND_TERMINATE", "true".to_owned()),
        ("CONNECTOR_SEND_TO_S3", "true".to_owned()),
    ];
    let runtime = RuntimeConfig::try_from(&Settings::from_env_pairs(RUNTIME_TABLES, env)).unwrap();
    let error = tokio::time::timeout(
        TIMEOUT,
        ImportRunner::new(OneIndicator, runtime).run(CancellationToken::new()),
    )
    .await
    .expect("the run ends")
    .unwrap_err();
    let shown = format!("{error} {:?}", sim.works());
    assert!(
        shown.contains("S3_ACCESS_KEY") && shown.contains("S3_SECRET_KEY"),
        "{shown}"
    );
    sim.shutdown().await.unwrap();
}
