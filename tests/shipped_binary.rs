//! The check every shipped connector binary runs in its own package's tests
//! (only a package's own tests can run its binary, so each includes this
//! file with `#[path]`): the binary reports its package's version, on
//! `--version` and when it registers with the platform.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use opencti_sim::{Sim, SimConfig};

/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Platforms register a connector's version from 7.0 on.
const PLATFORM_7X: &str = "7.261026.0";
const CONNECTOR_ID: &str = "3f1e5b0a-6c2d-4e8f-9a7b-1d2c3e4f5a6b";

/// Checks that `binary --version` prints `version`, then runs `binary`
/// against a 7.x `opencti-sim` until it registered, and checks that it
/// registered `version`. `env` holds the connector's own required
/// variables; whatever they point at need not answer.
pub(crate) async fn assert_reports_version(binary: &str, version: &str, env: &[(&str, &str)]) {
    let name = Path::new(binary).file_name().unwrap().to_string_lossy();
    let output = tokio::process::Command::new(binary)
        .arg("--version")
        .env_clear()
        .output()
        .await
        .expect("the binary starts");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{name} {version}\n")
    );

    opencti_connector::tls::install_crypto_provider();
    let sim = Sim::start(SimConfig {
        platform_version: PLATFORM_7X.to_owned(),
        ..SimConfig::for_tests()
    })
    .await
    .expect("the simulator starts");
    let mut process = tokio::process::Command::new(binary)
        .env_clear()
        .env("OPENCTI_URL", sim.url())
        .env("OPENCTI_TOKEN", "version-check")
        .env("CONNECTOR_ID", CONNECTOR_ID)
        .env("CONNECTOR_NAME", "Version check")
        .env("CONNECTOR_DURATION_PERIOD", "PT1H")
        .env("CONNECTOR_LIVE_STREAM_ID", "live")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let registered = sim
        .wait_until("the connector to register", TIMEOUT, |sim| {
            sim.connector(CONNECTOR_ID).is_some()
        })
        .await;
    process.start_kill().expect("the binary can be stopped");
    let output = process.wait_with_output().await.expect("the binary stops");
    assert!(
        registered.is_ok(),
        "{name} did not register: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let record = sim.connector(CONNECTOR_ID).expect("registered");
    assert_eq!(record.version.as_deref(), Some(version), "{record:?}");
    sim.shutdown().await.expect("the simulator stops");
}
