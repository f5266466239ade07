//! Human renderings of variable tables: `--help` text, Markdown tables for
//! READMEs, and the effective configuration for `--print-config`.

use std::fmt::Write as _;

use super::settings::Settings;
use super::value::Origin;
use super::var::Var;

/// Plain-text help for `tables`, one block per variable.
pub fn help_text(tables: &[&[Var]]) -> String {
    let mut out = String::new();
    for var in merged(tables) {
        let _ = write!(
            out,
            "  {}  (config.yml: {}, {})",
            var.env,
            var.yaml_path(),
            var.kind.name()
        );
        if var.required {
            out.push_str(" [required]");
        }
        if let Some(default) = var.default.filter(|default| !default.is_empty()) {
            let _ = write!(out, " [default: {default}]");
        }
        out.push('\n');
        if !var.help.is_empty() {
            let _ = writeln!(out, "      {}", var.help);
        }
        if !var.aliases.is_empty() {
            let _ = writeln!(out, "      also read from: {}", var.aliases.join(", "));
        }
    }
    out
}

/// A Markdown table of `tables` (environment name, YAML path, type,
/// default, required, description).
pub fn markdown_table(tables: &[&[Var]]) -> String {
    let mut out = String::from(
        "| Environment variable | config.yml | Type | Default | Required | Description |\n|---|---|---|---|---|---|\n",
    );
    for var in merged(tables) {
        let default = match var.default {
            Some("") | None => String::new(),
            Some(default) => format!("`{default}`"),
        };
        // Escaped so help such as `<url>` is shown, not read as an HTML tag.
        let mut description = var
            .help
            .replace('|', "\\|")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        if !var.aliases.is_empty() {
            let _ = write!(description, " (legacy: `{}`)", var.aliases.join("`, `"));
        }
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} | {} | {} |",
            var.env,
            var.yaml_path(),
            var.kind.name(),
            default,
            if var.required { "yes" } else { "no" },
            description
        );
    }
    out
}

/// The effective configuration as YAML-like text, secrets masked, each
/// value annotated with its origin.
pub fn effective_config(settings: &Settings) -> String {
    let mut out = String::new();
    let mut section = "";
    for entry in settings.entries() {
        if entry.var.section != section {
            section = entry.var.section;
            let _ = writeln!(out, "{section}:");
        }
        let shown = match (&entry.value, &entry.raw) {
            (Some(value), _) => format!("{:?}", entry.var.display_value(&value.to_string())),
            (None, Some(raw)) => format!("{:?} (invalid)", entry.var.display_value(raw)),
            (None, None) => "~".to_owned(),
        };
        let origin = match &entry.origin {
            Origin::Unset => String::new(),
            origin => format!("  # {origin}"),
        };
        let _ = writeln!(out, "  {}: {shown}{origin}", entry.var.key);
    }
    out
}

fn merged<'a>(tables: &'a [&'a [Var]]) -> Vec<&'a Var> {
    let mut out: Vec<&Var> = Vec::new();
    for var in tables.iter().flat_map(|table| table.iter()) {
        match out.iter().position(|known| known.env == var.env) {
            Some(position) => out[position] = var,
            None => out.push(var),
        }
    }
    out
}
