//! No test support in a shipped binary: the normal (non-dev) dependency
//! graph of every package with a binary leaves the runtime's `test-util`
//! feature, the connectors' `fake` features and this kit out.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The quick-start demo runs fake vendors on purpose; it is not shipped.
const DEMOS: &[&str] = &["opencti-quickstart"];

fn cargo() -> Option<Command> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let found = Command::new(&cargo).arg("--version").output();
    if !found.is_ok_and(|output| output.status.success()) {
        return None;
    }
    let mut command = Command::new(cargo);
    command.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    Some(command)
}

/// The workspace's packages that build a binary.
fn binary_packages(mut cargo: Command) -> Vec<String> {
    let output = cargo
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut packages: Vec<String> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|package| {
            package["targets"].as_array().unwrap().iter().any(|target| {
                target["kind"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|kind| kind == "bin")
            })
        })
        .map(|package| package["name"].as_str().unwrap().to_owned())
        .filter(|name| !DEMOS.contains(&name.as_str()))
        .collect();
    packages.sort();
    packages
}

/// The lines of `cargo tree` that name test support, for a tree printed
/// with `-e normal,features --prefix none`.
fn test_support(tree: &str) -> Vec<&str> {
    tree.lines()
        .filter(|line| {
            let line = line.trim();
            line.starts_with("opencti-testkit ")
                || (line.starts_with("opencti-")
                    && (line.contains(r#"feature "test-util""#)
                        || line.contains(r#"feature "fake""#)))
        })
        .collect()
}

#[test]
fn the_filter_spots_test_support() {
    let tree = "opencti-ptnad v0.1.0 (/w/connectors/ptnad)\n\
                opencti-connector feature \"default\"\n\
                opencti-connector feature \"test-util\"\n\
                opencti-ptnad feature \"fake\"\n\
                tokio feature \"test-util\"\n\
                opencti-testkit v0.1.0 (/w/crates/opencti-testkit)\n";
    assert_eq!(
        test_support(tree),
        [
            "opencti-connector feature \"test-util\"",
            "opencti-ptnad feature \"fake\"",
            "opencti-testkit v0.1.0 (/w/crates/opencti-testkit)"
        ]
    );
}

#[test]
fn shipped_binaries_build_without_test_support() {
    let Some(metadata) = cargo() else {
        println!("skipped: cargo is not available to inspect the dependency graph");
        return;
    };
    let packages = binary_packages(metadata);
    assert!(
        packages
            .iter()
            .any(|name| name == "opencti-template-connector"),
        "{packages:?}"
    );
    let mut found = Vec::new();
    for package in &packages {
        let mut tree = cargo().unwrap();
        let output = tree
            .args([
                "tree",
                "--offline",
                "-e",
                "normal,features",
                "--prefix",
                "none",
                "-p",
            ])
            .arg(package)
            .output()
            .unwrap();
        assert!(output.status.success(), "{package}: {output:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        found.extend(
            test_support(&text)
                .into_iter()
                .map(|line| format!("{package}: {line}")),
        );
    }
    assert!(
        found.is_empty(),
        "test support reaches shipped binaries:\n{}",
        found.join("\n")
    );
}
