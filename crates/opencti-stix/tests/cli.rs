//! `stix-tool` fed the fixture inputs reproduces the fixture outputs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pycti")
}

fn jsonl(name: &str) -> Vec<Value> {
    std::fs::read_to_string(fixtures().join(name))
        .expect("fixture")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

fn spawn_stix_tool(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_stix-tool"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stix-tool starts")
}

fn stix_tool(args: &[&str], input: &[u8]) -> Output {
    let mut child = spawn_stix_tool(args);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("input written");
    drop(stdin);
    child.wait_with_output().expect("stix-tool ends")
}

fn output_lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stdout.clone())
        .expect("UTF-8 output")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn pattern_reproduces_the_pattern_vectors() {
    let vectors = jsonl("patterns.jsonl");
    // JSON-encoded lines, since some patterns contain newlines.
    let input: String = vectors
        .iter()
        .map(|vector| format!("{}\n", vector["pattern"]))
        .collect();
    let output = stix_tool(&["pattern"], input.as_bytes());
    let all_valid = vectors.iter().all(|vector| vector["valid"] == true);
    assert!(!all_valid, "the vectors hold invalid patterns");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let lines = output_lines(&output);
    assert_eq!(lines.len(), vectors.len());
    for (vector, line) in vectors.iter().zip(&lines) {
        let verdict: Value = serde_json::from_str(line).expect("JSON verdict");
        assert_eq!(verdict["valid"], vector["valid"], "{}", vector["pattern"]);
        assert_eq!(
            verdict["observables"], vector["observables"],
            "{}",
            vector["pattern"]
        );
        assert_eq!(
            verdict["error"].is_null(),
            vector["valid"] == true,
            "{line}"
        );
    }
}

#[test]
fn pattern_takes_raw_lines_too() {
    let output = stix_tool(
        &["pattern"],
        b"[ipv4-addr:value = '198.51.100.7']\r\n[ipv4-addr:value = 'x'\n\xff\n",
    );
    let lines = output_lines(&output);
    assert_eq!(
        serde_json::from_str::<Value>(&lines[0]).expect("JSON"),
        json!({"valid": true, "observables": [{"type": "ipv4-addr", "path": "value", "value": "198.51.100.7"}], "error": null})
    );
    let invalid: Value = serde_json::from_str(&lines[1]).expect("JSON");
    assert_eq!(invalid["valid"], false);
    assert!(
        invalid["error"]
            .as_str()
            .expect("message")
            .contains("column 23"),
        "{invalid}"
    );
    let not_utf8: Value = serde_json::from_str(&lines[2]).expect("JSON");
    assert_eq!(not_utf8["line"], 3);
    assert!(!output.status.success());
}

#[test]
fn id_reproduces_the_id_vectors_and_reports_bad_lines() {
    let mut input = String::new();
    let mut expected = Vec::new();
    for vector in jsonl("ids.jsonl") {
        let Some(id) = vector["id"].as_str() else {
            continue;
        };
        let function = vector["function"].as_str().expect("function");
        let mut object = if vector["kind"] == "sco" {
            vector["args"].clone()
        } else if function.ends_with(".generate_id_from_data")
            && !function.starts_with("ThreatActorGroup.")
            && !function.starts_with("ThreatActorIndividual.")
        {
            vector["args"]["data"].clone()
        } else {
            continue;
        };
        let stix_type = id.split_once("--").expect("typed id").0;
        object["type"] = json!(stix_type);
        input.push_str(&format!("{object}\n"));
        expected.push(Value::String(id.to_owned()));
    }
    assert!(expected.len() > 150, "{}", expected.len());
    // Bad lines in the middle get an error line each; the rest goes on.
    input.push_str("not json\n{\"name\": \"no type\"}\n");
    input.push_str("{\"type\": \"malware\", \"name\": \"Emotet\"}\n");

    let output = stix_tool(&["id"], input.as_bytes());
    assert!(!output.status.success());
    let lines = output_lines(&output);
    assert_eq!(lines.len(), expected.len() + 3);
    for (line, id) in lines.iter().zip(&expected) {
        assert_eq!(Some(line.as_str()), id.as_str());
    }
    let bad: Vec<Value> = lines[expected.len()..expected.len() + 2]
        .iter()
        .map(|line| serde_json::from_str(line).expect("error line"))
        .collect();
    assert_eq!(bad[0]["line"], expected.len() + 1);
    assert_eq!(bad[1]["line"], expected.len() + 2);
    assert!(bad.iter().all(|line| line["error"].is_string()));
    assert_eq!(
        lines.last().map(String::as_str),
        Some("malware--36297121-bf18-56e1-b200-d39c9f9f5cee")
    );
}

#[test]
fn split_reproduces_every_split_case() {
    let directory = fixtures().join("split");
    let mut cases = 0;
    for entry in std::fs::read_dir(&directory).expect("split fixtures") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("UTF-8");
        let Some(case) = name.strip_suffix(".input.json") else {
            continue;
        };
        let input = std::fs::read(directory.join(&name)).expect("input");
        for (args, suffix) in [
            (&["split"][..], "expected"),
            (&["split", "--cleanup"][..], "cleanup.expected"),
        ] {
            let expected_text =
                std::fs::read_to_string(directory.join(format!("{case}.{suffix}.json")))
                    .expect("expected output");
            let mut expected: Value = serde_json::from_str(&expected_text).expect("JSON");
            let volatile = expected
                .as_object_mut()
                .expect("object")
                .remove("volatile")
                .expect("volatile list");
            let output = stix_tool(args, &input);
            assert!(output.status.success(), "{case}: {output:?}");
            let lines = output_lines(&output);
            assert_eq!(lines.len(), 1, "one JSON line");
            let mut actual: Value = serde_json::from_str(&lines[0]).expect("JSON");
            if volatile != json!([]) {
                for document in [&mut actual, &mut expected] {
                    for bundle in document["bundles"].as_array_mut().expect("bundles") {
                        bundle["id"] = json!("volatile");
                    }
                }
            }
            assert_eq!(actual, expected, "{case} {suffix}");
        }
        cases += 1;
    }
    assert_eq!(cases, 16);
}

#[test]
fn pattern_exits_zero_only_when_every_pattern_is_valid() {
    let valid = stix_tool(&["pattern"], b"[ipv4-addr:value = '198.51.100.7']\n");
    assert_eq!(valid.status.code(), Some(0), "{valid:?}");
    let invalid = stix_tool(&["pattern"], b"[ipv4-addr:value = 'x'\n");
    assert_eq!(invalid.status.code(), Some(1), "{invalid:?}");
}

#[test]
fn a_reader_that_stops_early_ends_the_run_quietly() {
    let mut child = spawn_stix_tool(&["id"]);
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let writer = std::thread::spawn(move || {
        let line = b"{\"type\": \"ipv4-addr\", \"value\": \"198.51.100.7\"}\n";
        for _ in 0..200_000 {
            if stdin.write_all(line).is_err() {
                break;
            }
        }
    });
    // Like `head -c 100`: read a little, then close the pipe.
    let mut first = [0_u8; 100];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("first output");
    drop(stdout);
    let output = child.wait_with_output().expect("stix-tool ends");
    writer.join().expect("writer");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn split_refuses_a_document_of_another_type() {
    let output = stix_tool(&["split"], br#"{"type": "notabundle", "objects": []}"#);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        output_lines(&output),
        [
            r#"{"error":"File data is not a valid bundle: `type` is \"notabundle\", not \"bundle\""}"#
        ]
    );
    let bare = stix_tool(&["split"], br#"{"objects": []}"#);
    assert_eq!(
        bare.status.code(),
        Some(0),
        "pycti splits a bundle without type"
    );
}

#[test]
fn split_reports_a_malformed_bundle() {
    let output = stix_tool(&["split"], b"{\"type\": \"bundle\"}");
    assert!(!output.status.success());
    assert_eq!(
        output_lines(&output),
        [r#"{"error":"File data is not a valid bundle: `objects` is missing"}"#]
    );
    let output = stix_tool(&["split"], b"{oops");
    let line: Value = serde_json::from_str(&output_lines(&output)[0]).expect("JSON");
    assert!(
        line["error"]
            .as_str()
            .expect("message")
            .starts_with("File data is not a valid JSON")
    );
}
