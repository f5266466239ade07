//! `docker/`: what a newcomer copies and runs works as written.

use crate::shipped::repo_root;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap()
}

#[test]
fn the_dockerfile_names_its_front_end_and_takes_its_bases_as_arguments() {
    let dockerfile = read("docker/Dockerfile");
    // The cache mounts need BuildKit's front end: say so on the first line.
    assert_eq!(
        dockerfile.lines().next(),
        Some("# syntax=docker/dockerfile:1")
    );
    for line in [
        "ARG BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm",
        "ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot",
        "FROM ${BUILDER_IMAGE} AS builder",
        "FROM ${RUNTIME_IMAGE}",
        "USER 65532:65532",
        concat!("ARG VERSION=", env!("CARGO_PKG_VERSION")),
    ] {
        assert!(dockerfile.lines().any(|l| l == line), "no `{line}`");
    }
    assert!(
        !dockerfile
            .lines()
            .any(|line| line.starts_with("HEALTHCHECK"))
    );
}

/// Every `${NAME}` of the compose file, defaults (`${NAME:-x}`) included.
fn compose_references(compose: &str) -> Vec<String> {
    compose
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(inside, _)| inside.split([':', '-']).next().unwrap_or(inside).to_owned())
        .collect()
}

#[test]
fn compose_takes_every_setting_from_the_env_file() {
    let compose = read("docker/docker-compose.yml");
    let sample = read("docker/.env.sample");
    let defined: Vec<&str> = sample
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim()))
        .collect();
    let missing: Vec<String> = compose_references(&compose)
        .into_iter()
        .filter(|name| !defined.contains(&name.as_str()))
        .collect();
    assert!(missing.is_empty(), "not in docker/.env.sample: {missing:?}");
    let hard_coded: Vec<&str> = compose
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter(|line| line.to_ascii_lowercase().contains("changeme"))
        .collect();
    assert!(
        hard_coded.is_empty(),
        "placeholders in the compose file: {hard_coded:?}"
    );
}

#[test]
fn the_env_file_with_its_secrets_is_ignored_by_git() {
    let ignored = read(".gitignore");
    assert!(
        ignored
            .lines()
            .any(|line| line == "/docker/.env" || line == "docker/.env"),
        ".gitignore does not list docker/.env"
    );
}
