//! `stix-tool`: pycti's deterministic ids, pattern validation and bundle
//! splitting from the command line.
//!
//! Install with `cargo install --path crates/opencti-stix`.
//!
//! * `stix-tool id`: one STIX object (JSON) per input line → one id per line.
//! * `stix-tool pattern`: one pattern per input line → one JSON line
//!   `{"valid", "observables", "error"}`. A line holding a JSON string
//!   (`"[a:b = 'x']\n..."`) is decoded first, so patterns spanning several
//!   lines can be given.
//! * `stix-tool split [--cleanup]`: one bundle on the whole input → one JSON
//!   line `{"expectations", "bundles", "incompatible_items"}`.
//!
//! A bad input line produces `{"line": n, "error": "..."}` in its place and
//! processing goes on (a bad bundle produces `{"error": "..."}`); the exit
//! status is then 1, as it is when a pattern is invalid, and 2 when the
//! output cannot be written. A reader that stops early (`| head`) ends the
//! run quietly.

use std::io::{self, BufRead, BufWriter, Read, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use opencti_stix::id::generate_id_from_data;
use opencti_stix::pattern::Pattern;
use opencti_stix::split::{SplitError, SplitOptions, split_bundle};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "stix-tool",
    version,
    about = "pycti-compatible STIX ids, patterns and bundle splitting",
    after_help = "A bad input line is answered by {\"line\": n, \"error\": \"...\"} and processing \
                  goes on (a bad bundle by {\"error\": \"...\"}); the exit status is then 1, as \
                  it is when a pattern is invalid, and 2 when the output cannot be written."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the id OpenCTI gives each STIX object (one JSON object per line).
    Id,
    /// Validate each pattern (one per line) and list its plain equalities.
    Pattern,
    /// Split the bundle read from the input as pycti does before publishing.
    Split {
        /// Also drop references to objects missing from the bundle.
        #[arg(long)]
        cleanup: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdin = io::stdin().lock();
    let mut stdout = BufWriter::new(io::stdout().lock());
    let outcome = match cli.command {
        Command::Id => each_line(stdin, &mut stdout, id_line),
        Command::Pattern => each_line(stdin, &mut stdout, pattern_line),
        Command::Split { cleanup } => split(stdin, &mut stdout, cleanup),
    };
    match outcome.and_then(|clean| stdout.flush().map(|()| clean)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // The reader has all it wanted (`stix-tool id | head`).
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            // Output is gone (closed pipe, full disk): nothing left to tell.
            let _ignored = writeln!(io::stderr(), "stix-tool: {error}");
            ExitCode::from(2)
        }
    }
}

/// The answer to one input line: its output line, and whether the line was
/// acceptable (an invalid pattern is answered, yet fails the run).
struct Answer {
    text: String,
    accepted: bool,
}

impl From<String> for Answer {
    fn from(text: String) -> Self {
        Self {
            text,
            accepted: true,
        }
    }
}

/// Runs `handle` on every input line, writing its answer or an error line.
/// Returns whether every line was accepted.
fn each_line(
    mut input: impl BufRead,
    output: &mut impl Write,
    handle: fn(&str) -> Result<Answer, String>,
) -> io::Result<bool> {
    let mut clean = true;
    let mut buffer = Vec::new();
    let mut number = 0_usize;
    loop {
        buffer.clear();
        if input.read_until(b'\n', &mut buffer)? == 0 {
            return Ok(clean);
        }
        number += 1;
        let line = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let result = std::str::from_utf8(line)
            .map_err(|error| format!("not UTF-8: {error}"))
            .and_then(handle);
        match result {
            Ok(answer) => {
                clean &= answer.accepted;
                writeln!(output, "{}", answer.text)?;
            }
            Err(error) => {
                clean = false;
                writeln!(output, "{}", json!({"line": number, "error": error}))?;
            }
        }
    }
}

fn id_line(line: &str) -> Result<Answer, String> {
    let object: Value =
        serde_json::from_str(line).map_err(|error| format!("not a JSON object: {error}"))?;
    generate_id_from_data(&object)
        .map(Answer::from)
        .map_err(|error| error.to_string())
}

fn pattern_line(line: &str) -> Result<Answer, String> {
    let pattern = match serde_json::from_str::<Value>(line) {
        Ok(Value::String(decoded)) => decoded,
        _ => line.to_owned(),
    };
    let (verdict, accepted) = match Pattern::parse(&pattern) {
        Ok(parsed) => (
            json!({"valid": true, "observables": parsed.equalities(), "error": null}),
            true,
        ),
        Err(error) => (
            json!({"valid": false, "observables": [], "error": error.to_string()}),
            false,
        ),
    };
    Ok(Answer {
        text: verdict.to_string(),
        accepted,
    })
}

fn split(mut input: impl Read, output: &mut impl Write, cleanup: bool) -> io::Result<bool> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let options = SplitOptions {
        cleanup_inconsistent_bundle: cleanup,
        event_version: None,
    };
    let result = String::from_utf8(bytes)
        .map_err(|error| format!("File data is not a valid JSON: not UTF-8: {error}"))
        .and_then(|text| {
            let document = serde_json::from_str::<Value>(&text).map_err(|error| {
                SplitError::InvalidJson {
                    message: error.to_string(),
                }
                .to_string()
            })?;
            not_another_type(&document)?;
            split_bundle(document, &options).map_err(|error| error.to_string())
        });
    match result {
        Ok(split) => {
            let document = json!({
                "expectations": split.expectations(),
                "bundles": split.bundles,
                "incompatible_items": split.incompatible_items,
            });
            serde_json::to_writer(&mut *output, &document)?;
            writeln!(output)?;
            Ok(true)
        }
        Err(error) => {
            writeln!(output, "{}", json!({"error": error}))?;
            Ok(false)
        }
    }
}

/// pycti splits any object with `objects`; a document that says it is
/// something else than a bundle is refused rather than split.
fn not_another_type(document: &Value) -> Result<(), String> {
    match document.get("type") {
        None => Ok(()),
        Some(Value::String(kind)) if kind == "bundle" => Ok(()),
        Some(other) => Err(SplitError::InvalidBundle {
            reason: format!("`type` is {other}, not \"bundle\""),
        }
        .to_string()),
    }
}
