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
        let mut description = markdown_text(var.help);
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

/// Help text made safe for a Markdown table cell: `|` escaped, and `<`/`>`
/// outside code spans written as entities so `<url>` is shown, not read as
/// an HTML tag (inside backticks entities would show literally).
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (index, part) in text.split('`').enumerate() {
        if index > 0 {
            out.push('`');
        }
        let part = part.replace('|', "\\|");
        if index % 2 == 0 {
            out.push_str(&part.replace('<', "&lt;").replace('>', "&gt;"));
        } else {
            out.push_str(&part);
        }
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

#[cfg(test)]
mod tests {
    use super::markdown_text;

    #[test]
    fn markdown_cells_escape_tags_outside_code_spans_only() {
        assert_eq!(
            markdown_text("served at <url>/graphql, e.g. `Bearer <key>` | x"),
            "served at &lt;url&gt;/graphql, e.g. `Bearer <key>` \\| x"
        );
    }
}
