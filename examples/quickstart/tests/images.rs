//! The connector images, run for real: `scripts/images.sh` builds them from
//! `docker/Dockerfile` and runs these tests with `OPENCTI_IMAGES_*` set
//! (without them, as in a plain `cargo test`, each test says so and passes).
//!
//! Each image is checked as built (non-root user, OCI labels, no
//! HEALTHCHECK, no shell nor package manager, a stripped binary, its size)
//! and run with `buildah run --isolation chroot` as user 65532 on its own
//! root file system: `--version`, `--check` against `opencti-sim`, then one
//! real run against the simulator and the connector's fake vendor server.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use opencti_sim::{EventInjection, EventKind, Sim, SimConfig, SimHandle, WorkStatus};
use serde_json::{Value, json};

use crate::shipped::repo_root;

/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(90);
/// The target the issue set for an image (uncompressed).
const MAX_RELEASE_IMAGE_BYTES: u64 = 50_000_000;
const BINARY: &str = "/opt/opencti-connector/opencti-connector";
const USER: &str = "65532:65532";

/// The image of `connector` under test, or `None` (and a note) when the
/// run was not asked for.
fn image_under_test(connector: &str) -> Option<Image> {
    let Ok(buildah) = std::env::var("OPENCTI_IMAGES_BUILDAH") else {
        println!("images: not run (scripts/images.sh runs these checks)");
        return None;
    };
    let listed = std::env::var("OPENCTI_IMAGES_CONNECTORS").unwrap_or_default();
    if !listed.split_whitespace().any(|name| name == connector) {
        println!("images: {connector} not built in this run");
        return None;
    }
    let tag = std::env::var("OPENCTI_IMAGES_TAG").expect("OPENCTI_IMAGES_TAG");
    Some(Image {
        buildah: PathBuf::from(buildah),
        name: format!("localhost/opencti-connectors/{connector}:{tag}"),
        connector: connector.to_owned(),
        release: std::env::var("OPENCTI_IMAGES_RELEASE").is_ok_and(|flag| flag == "1"),
    })
}

#[derive(Debug)]
struct Image {
    buildah: PathBuf,
    name: String,
    connector: String,
    release: bool,
}

impl Image {
    fn buildah(&self) -> Command {
        let mut command = Command::new(&self.buildah);
        command.stdin(Stdio::null());
        command
    }

    fn output(&self, args: &[&str]) -> Output {
        let output = self.buildah().args(args).output().expect("buildah runs");
        assert!(
            output.status.success(),
            "buildah {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn container(&self) -> Container<'_> {
        let output = self.output(&["from", "--quiet", &self.name]);
        let name = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        Container { image: self, name }
    }

    /// What the image says about itself, and what its file system holds.
    fn check_as_built(&self) {
        let inspect: Value = serde_json::from_slice(
            &self
                .output(&["inspect", "--type", "image", &self.name])
                .stdout,
        )
        .expect("inspect JSON");
        let config = &inspect["OCIv1"]["config"];
        assert_eq!(config["User"], USER, "{config}");
        assert_eq!(config["Entrypoint"], json!([BINARY]), "{config}");
        let labels = &config["Labels"];
        assert_eq!(
            labels["org.opencontainers.image.version"],
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(
            labels["org.opencontainers.image.source"],
            env!("CARGO_PKG_REPOSITORY")
        );
        assert_eq!(
            labels["org.opencontainers.image.title"],
            format!("opencti-{}", self.connector)
        );
        assert!(
            inspect["Docker"]["config"]["Healthcheck"].is_null(),
            "no HEALTHCHECK: {inspect}"
        );

        let container = self.container();
        let root = container.mount();
        for absent in [
            "bin/sh",
            "usr/bin/sh",
            "bin/bash",
            "usr/bin/dpkg",
            "usr/bin/apt",
        ] {
            assert!(!root.join(absent).exists(), "{} holds {absent}", self.name);
        }
        let binary = std::fs::read(root.join(&BINARY[1..])).expect("the binary");
        assert!(
            !has_symbol_table(&binary),
            "{}: binary not stripped",
            self.name
        );
        let size = tree_size(&root);
        println!(
            "images: {} is {:.1} MB uncompressed",
            self.name,
            size as f64 / 1e6
        );
        if self.release {
            assert!(
                size < MAX_RELEASE_IMAGE_BYTES,
                "{} is {size} bytes",
                self.name
            );
        }
    }
}

/// A working container of an image, removed when dropped.
struct Container<'a> {
    image: &'a Image,
    name: String,
}

impl Container<'_> {
    fn mount(&self) -> PathBuf {
        let output = self.image.output(&["mount", &self.name]);
        PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
    }

    /// `buildah run` of the image's binary as the image's user, on the
    /// image's root file system, with `env` and read-only `volumes`.
    fn run(&self, env: &[(&str, String)], volumes: &[(&Path, &str)], args: &[&str]) -> Command {
        let mut command = self.image.buildah();
        command.args(["run", "--isolation", "chroot", "--user", USER]);
        for (host, inside) in volumes {
            command
                .arg("--volume")
                .arg(format!("{}:{inside}:ro", host.display()));
        }
        for (name, value) in env {
            command.arg("--env").arg(format!("{name}={value}"));
        }
        command.arg(&self.name).arg("--").arg(BINARY).args(args);
        command
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.image.buildah().args(["rm", &self.name]).output();
    }
}

/// Whether an ELF64 file still has a `SHT_SYMTAB` section.
fn has_symbol_table(elf: &[u8]) -> bool {
    let read = |at: usize, width: usize| -> u64 {
        let mut bytes = [0_u8; 8];
        bytes[..width].copy_from_slice(&elf[at..at + width]);
        u64::from_le_bytes(bytes)
    };
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
    let table = read(0x28, 8) as usize;
    let entry = read(0x3a, 2) as usize;
    let count = read(0x3c, 2) as usize;
    (0..count).any(|index| read(table + index * entry + 4, 4) == 2)
}

fn tree_size(root: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("read_dir")
            .map_while(Result::ok)
        {
            let meta = entry.path().symlink_metadata().expect("metadata");
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

async fn start_sim() -> SimHandle {
    let config = SimConfig {
        heartbeat_interval: Duration::from_millis(200),
        ..SimConfig::for_tests()
    };
    tokio::time::timeout(TIMEOUT, Sim::start(config))
        .await
        .expect("the simulator starts in time")
        .expect("the simulator starts")
}

/// The platform settings of a connector talking to `sim`.
fn platform_env(sim: &SimHandle, connector_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OPENCTI_URL", sim.url()),
        ("OPENCTI_TOKEN", "image-test-token".to_owned()),
        ("CONNECTOR_ID", connector_id.to_owned()),
        ("CONNECTOR_NAME", "image test".to_owned()),
        ("CONNECTOR_LOG_LEVEL", "info".to_owned()),
    ]
}

/// `--version` and `--check` (against the simulator) in the image.
fn version_and_check(container: &Container<'_>, env: &[(&str, String)]) {
    let version = output_of(container.run(&[], &[], &["--version"]));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!(
            "opencti-{} {}",
            container.image.connector,
            env!("CARGO_PKG_VERSION")
        )
    );
    output_of(container.run(env, &[], &["--check"]));
}

fn output_of(mut command: Command) -> Output {
    let output = command.output().expect("buildah run");
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// An import connector's run-and-terminate run: it exits 0 and its work
/// completes in the simulator with something imported.
async fn import_run(
    sim: &SimHandle,
    container: &Container<'_>,
    command: Command,
    connector_id: &str,
) {
    let mut command = command;
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("buildah run");
    assert!(
        output.status.success(),
        "{} run: {}",
        container.image.name,
        String::from_utf8_lossy(&output.stderr)
    );
    let work = sim
        .works()
        .into_iter()
        .find(|work| work.connector_id == connector_id)
        .expect("the run made a work");
    let work = sim
        .wait_for_work_complete(&work.id, TIMEOUT)
        .await
        .expect("the work completes");
    assert_eq!(work.status, WorkStatus::Complete);
    assert!(work.processed > 0, "something was imported: {work:?}");
}

/// A stream connector in the image: it handles the injected events (checked
/// by `handled`), then stops cleanly on SIGTERM.
async fn stream_run(mut command: Command, handled: impl Fn() -> bool) {
    let mut child: Child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("buildah run");
    let deadline = Instant::now() + TIMEOUT;
    while !handled() {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!(
                "the connector ended early ({status}): {:?}",
                child.wait_with_output()
            );
        }
        assert!(Instant::now() < deadline, "events not handled in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGTERM to the connector itself, as a container runtime sends it
    // (buildah, on SIGTERM, tears the run down instead of passing it on).
    let connector = descendant_named(child.id(), "opencti-connect").expect("the connector process");
    let status = Command::new("kill")
        .args(["-TERM", &connector.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .expect("the connector ends");
    assert!(
        output.status.success(),
        "stopped with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The first process under `parent` whose name (`comm`, 15 bytes at most)
/// is `name`.
fn descendant_named(parent: u32, name: &str) -> Option<u32> {
    let mut pending = vec![parent];
    while let Some(pid) = pending.pop() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim_end() == name {
            return Some(pid);
        }
        // Each thread lists the children it forked.
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten();
        for task in tasks.map_while(Result::ok) {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            pending.extend(
                children
                    .split_whitespace()
                    .filter_map(|child| child.parse::<u32>().ok()),
            );
        }
    }
    None
}

fn indicator(n: u32, pattern: &str) -> EventInjection {
    EventInjection::new(
        EventKind::Create,
        json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
            "name": format!("image test indicator {n}"),
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": "2025-11-24T10:00:00.000Z",
            "revoked": false,
        }),
    )
}

fn connector_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn misp_feed() {
    let Some(image) = image_under_test("misp-feed") else {
        return;
    };
    image.check_as_built();
    let sim = start_sim().await;
    let id = connector_id();
    let mut env = platform_env(&sim, &id);
    env.extend([
        ("MISP_FEED_URL", "/feed".to_owned()),
        ("MISP_FEED_IMPORT_FROM_DATE", "2000-01-01".to_owned()),
        ("MISP_FEED_CREATE_INDICATORS", "true".to_owned()),
        ("CONNECTOR_RUN_AND_TERMINATE", "true".to_owned()),
    ]);
    let container = image.container();
    version_and_check(&container, &env);
    let feed = repo_root().join("examples/misp-feed/sample-feed");
    let run = container.run(&env, &[(&feed, "/feed")], &[]);
    import_run(&sim, &container, run, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn teamt5() {
    use opencti_teamt5::fake::{FakeSettings, FakeTeamt5};
    let Some(image) = image_under_test("teamt5") else {
        return;
    };
    image.check_as_built();
    let fake = FakeTeamt5::start(FakeSettings::default()).await.unwrap();
    let bundle: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root().join("connectors/teamt5/tests/fixtures/report-bundle.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let alias = "image-test-report";
    fake.add_report(
        json!({
            "alias": alias,
            "title": "Image test report",
            "digest": "A report for the image test",
            "date": 1_763_625_600,
            "type_name": "Flash Report",
            "stix_url": format!("{}api/v2/reports/{alias}.stix", fake.url()),
            "pdf_url": null,
        }),
        &bundle,
    );
    let sim = start_sim().await;
    let id = connector_id();
    let mut env = platform_env(&sim, &id);
    env.extend([
        ("TEAMT5_API_BASE_URL", fake.url()),
        ("TEAMT5_CLIENT_ID", "cid".to_owned()),
        ("TEAMT5_CLIENT_SECRET", "csecret".to_owned()),
        ("TEAMT5_FIRST_RUN_RETRIEVAL_TIMESTAMP", "0".to_owned()),
        ("CONNECTOR_RUN_AND_TERMINATE", "true".to_owned()),
    ]);
    let container = image.container();
    version_and_check(&container, &env);
    let run = container.run(&env, &[], &[]);
    import_run(&sim, &container, run, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nti() {
    use opencti_nti::fake::{self, FakeNti};
    let Some(image) = image_under_test("nti") else {
        return;
    };
    image.check_as_built();
    let records: Vec<Value> = std::fs::read_to_string(
        repo_root().join("connectors/nti/tests/fixtures/url.records.jsonl"),
    )
    .unwrap()
    .lines()
    .filter(|line| !line.trim().is_empty())
    .map(|line| serde_json::from_str(line).unwrap())
    .collect();
    let server = FakeNti::start("image-test-key").await;
    server.set_package(fake::package(&[(
        "data.NTI.API.V2.0.url-basic-updated.20250425.0001.json",
        fake::entry_content(&records),
    )]));
    let sim = start_sim().await;
    let id = connector_id();
    let mut env = platform_env(&sim, &id);
    env.extend([
        ("NTI_BASE_URL", server.base_url()),
        ("NTI_API_KEY", "image-test-key".to_owned()),
        ("NTI_CREATE_URL", "true".to_owned()),
        ("CONNECTOR_RUN_AND_TERMINATE", "true".to_owned()),
    ]);
    let container = image.container();
    version_and_check(&container, &env);
    let run = container.run(&env, &[], &[]);
    import_run(&sim, &container, run, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ptnad() {
    use opencti_ptnad::fake::{FakePtnad, FakeSettings};
    let Some(image) = image_under_test("ptnad") else {
        return;
    };
    image.check_as_built();
    let fake = FakePtnad::start(FakeSettings::default()).await.unwrap();
    let sim = start_sim().await;
    let id = connector_id();
    let mut env = platform_env(&sim, &id);
    env.extend([
        ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
        ("PTNAD_URL", fake.url()),
        ("PTNAD_USERNAME", "opencti".to_owned()),
        ("PTNAD_PASSWORD", "S3cret!".to_owned()),
    ]);
    let container = image.container();
    version_and_check(&container, &env);
    for (n, ip) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .into_iter()
        .enumerate()
    {
        sim.inject_event(indicator(
            n as u32 + 1,
            &format!("[ipv4-addr:value = '{ip}']"),
        ))
        .expect("injection");
    }
    let expected: BTreeSet<String> = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .map(str::to_owned)
        .into();
    stream_run(container.run(&env, &[], &[]), || {
        fake.lists().iter().any(|list| list.values == expected)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sekoia_intel() {
    use opencti_sekoia_intel::fake::{DEFAULT_COLLECTION, FakeSekoia, FakeSettings};
    let Some(image) = image_under_test("sekoia-intel") else {
        return;
    };
    image.check_as_built();
    let fake = FakeSekoia::start(FakeSettings::default()).await.unwrap();
    let sim = start_sim().await;
    let id = connector_id();
    let mut env = platform_env(&sim, &id);
    env.extend([
        ("CONNECTOR_LIVE_STREAM_ID", "live".to_owned()),
        ("SEKOIA_INTEL_URL", fake.url()),
        ("SEKOIA_INTEL_APIKEY", "sk_test".to_owned()),
        (
            "SEKOIA_INTEL_IOC_COLLECTION_UUID",
            DEFAULT_COLLECTION.to_owned(),
        ),
    ]);
    let container = image.container();
    version_and_check(&container, &env);
    let domains = ["one.example.org", "two.example.org", "three.example.org"];
    for (n, domain) in domains.into_iter().enumerate() {
        sim.inject_event(indicator(
            n as u32 + 1,
            &format!("[domain-name:value = '{domain}']"),
        ))
        .expect("injection");
    }
    stream_run(container.run(&env, &[], &[]), || {
        let active = fake.active_values(DEFAULT_COLLECTION);
        domains
            .iter()
            .all(|domain| active.iter().any(|value| value == domain))
    })
    .await;
}

/// The internal connectors' images: as built, `--version`, and `--check`
/// against the simulator (their jobs come from the platform; each
/// connector's own tests run them end to end).
async fn internal_connector_image(connector: &str) {
    let Some(image) = image_under_test(connector) else {
        return;
    };
    image.check_as_built();
    let sim = start_sim().await;
    let env = platform_env(&sim, &connector_id());
    version_and_check(&image.container(), &env);
}

#[tokio::test(flavor = "multi_thread")]
async fn import_file_stix() {
    internal_connector_image("import-file-stix").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn export_file_stix() {
    internal_connector_image("export-file-stix").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn export_file_txt() {
    internal_connector_image("export-file-txt").await;
}
