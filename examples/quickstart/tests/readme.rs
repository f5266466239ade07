//! The README's generated parts and commands match the code: the variable
//! tables are rendered from the connectors' own declarations, and the
//! quick start runs the demo then the tests.
//!
//! After changing a variable, regenerate the tables with
//! `UPDATE_README=1 cargo test -p opencti-quickstart --test tests readme`.

use opencti_connector::config::render::markdown_table;
use opencti_connector::config::runtime::RUNTIME_TABLES;

use crate::shipped::{repo_root, shipped};

/// A generated block: the text between `<!-- BEGIN {key} -->` and
/// `<!-- END {key} -->`.
struct Block {
    key: String,
    rendered: String,
}

fn blocks() -> Vec<Block> {
    let mut blocks = vec![Block {
        key: "vars:runtime".to_owned(),
        rendered: markdown_table(RUNTIME_TABLES),
    }];
    for connector in shipped() {
        blocks.push(Block {
            key: format!("vars:{}", connector.dir),
            rendered: markdown_table(&[connector.spec.vars]),
        });
    }
    blocks
}

/// `text` with the block replaced by `rendered`; `Err` if its markers are
/// missing.
fn replace_block(text: &str, key: &str, rendered: &str) -> Result<(String, String), String> {
    let begin = format!("<!-- BEGIN {key} -->\n");
    let end = format!("<!-- END {key} -->");
    let start = text
        .find(&begin)
        .ok_or_else(|| format!("README.md has no `{}` marker", begin.trim_end()))?
        + begin.len();
    let stop = text[start..]
        .find(&end)
        .ok_or_else(|| format!("README.md has no `{end}` marker"))?
        + start;
    let current = text[start..stop].to_owned();
    let updated = format!("{}{rendered}{}", &text[..start], &text[stop..]);
    Ok((current, updated))
}

/// A line diff (`-` in the README, `+` generated) over the longest common
/// subsequence of lines.
fn line_diff(old: &str, new: &str) -> String {
    let (old, new): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut common = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            (i, j) = (i + 1, j + 1);
        } else if i < old.len() && (j == new.len() || common[i + 1][j] >= common[i][j + 1]) {
            out.push_str(&format!("-{}\n", old[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", new[j]));
            j += 1;
        }
    }
    out
}

#[test]
fn the_variable_tables_are_generated_from_the_code() {
    let path = repo_root().join("README.md");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let mut problems = Vec::new();
    for block in blocks() {
        match replace_block(&text, &block.key, &block.rendered) {
            Ok((current, updated)) => {
                if current != block.rendered {
                    problems.push(format!(
                        "{} differs from the code:\n{}",
                        block.key,
                        line_diff(&current, &block.rendered)
                    ));
                }
                text = updated;
            }
            Err(missing) => problems.push(missing),
        }
    }
    if problems.is_empty() {
        return;
    }
    if std::env::var_os("UPDATE_README").is_some_and(|value| value == "1") {
        std::fs::write(&path, text).unwrap();
        return;
    }
    panic!(
        "{}\nRegenerate with: UPDATE_README=1 cargo test -p opencti-quickstart --test tests readme",
        problems.join("\n")
    );
}

#[test]
fn the_diff_shows_what_changed() {
    assert_eq!(line_diff("a\nb\nc\n", "a\nB\nc\nd\n"), "-b\n+B\n+d\n");
    assert_eq!(line_diff("same\n", "same\n"), "");
}

/// The commands of the first code block after `## Quick start`.
fn quick_start_commands(readme: &str) -> Vec<String> {
    let section = readme
        .split_once("\n## Quick start\n")
        .expect("a `## Quick start` section")
        .1;
    let block = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a ```sh code block")
        .0;
    block
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_quick_start_runs_the_demo_then_every_test_and_ci_does_the_same() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let commands = quick_start_commands(&readme);
    assert_eq!(
        commands,
        ["cargo run -p opencti-quickstart", "scripts/test.sh"]
    );
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let ci_commands: Vec<&str> = ci.lines().map(str::trim).collect();
    let tests = ci_commands
        .iter()
        .position(|line| *line == "scripts/test.sh");
    let demo = ci_commands
        .iter()
        .position(|line| line.starts_with("cargo run -p opencti-quickstart"));
    assert!(
        matches!((tests, demo), (Some(tests), Some(demo)) if tests < demo),
        ".ci/run must run scripts/test.sh, then the demo"
    );
}
