//! Event report markdown: MISP mention syntax rewritten into OpenCTI links.

use serde_json::Value;

/// Rewrites `@[object](uuid)` / `@[attribute](uuid)` into
/// `[kind:label](/dashboard/search/id)` and `@[tag](name)` into `tag:name`.
///
/// `lookup(uuid)` returns the bundle object whose id ends with `--uuid`; the
/// label is its pattern (indicators) or value, else the uuid itself.
pub(crate) fn rewrite(content: &str, lookup: impl Fn(&str) -> Option<Value>) -> String {
    let content = rewrite_mentions(content, lookup);
    rewrite_tags(&content)
}

fn is_uuid_like(candidate: &str) -> bool {
    let groups: Vec<&str> = candidate.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length
                && group
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn rewrite_mentions(content: &str, lookup: impl Fn(&str) -> Option<Value>) -> String {
    let mut output = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(at) = rest.find("@[") {
        output.push_str(&rest[..at]);
        let candidate = &rest[at..];
        let mention = ["object", "attribute"].into_iter().find_map(|kind| {
            let opening = format!("@[{kind}](");
            let uuid = candidate.strip_prefix(opening.as_str())?.get(..36)?;
            let closing = candidate.get(opening.len() + 36..)?.starts_with(')');
            (closing && is_uuid_like(uuid)).then(|| (kind, uuid, opening.len() + 37))
        });
        match mention {
            Some((kind, uuid, length)) => {
                let (label, target) = match lookup(uuid) {
                    Some(object) => {
                        let id = object["id"].as_str().unwrap_or(uuid).to_owned();
                        let field = if id.starts_with("indicator--") {
                            "pattern"
                        } else {
                            "value"
                        };
                        let label = object[field].as_str().unwrap_or(uuid).to_owned();
                        (label, id)
                    }
                    None => (uuid.to_owned(), uuid.to_owned()),
                };
                output.push_str(&format!("[{kind}:{label}](/dashboard/search/{target})"));
                rest = &candidate[length..];
            }
            None => {
                output.push_str("@[");
                rest = &candidate[2..];
            }
        }
    }
    output.push_str(rest);
    output
}

/// Characters allowed in a mentioned tag name.
fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '"' | '\'' | '-' | '=')
}

fn rewrite_tags(content: &str) -> String {
    const OPENING: &str = "@[tag](";
    let mut output = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(at) = rest.find(OPENING) {
        output.push_str(&rest[..at]);
        let after = &rest[at + OPENING.len()..];
        let name_length = after.find(|c: char| !is_tag_char(c)).unwrap_or(after.len());
        if name_length > 0 && after[name_length..].starts_with(')') {
            output.push_str("tag:");
            output.push_str(&after[..name_length]);
            rest = &after[name_length + 1..];
        } else {
            output.push_str(OPENING);
            rest = after;
        }
    }
    output.push_str(rest);
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UUID: &str = "a1b2c3d4-0000-4000-8000-000000000001";

    #[test]
    fn unknown_mentions_link_to_the_uuid() {
        let text = rewrite(&format!("See @[attribute]({UUID})"), |_| None);
        assert_eq!(
            text,
            format!("See [attribute:{UUID}](/dashboard/search/{UUID})")
        );
    }

    #[test]
    fn known_mentions_use_the_pattern_or_value() {
        let indicator = json!({"id": format!("indicator--{UUID}"), "pattern": "[x:value = 'y']"});
        let text = rewrite(
            &format!("@[object]({UUID}) and @[tag](tlp:green)"),
            |uuid| (uuid == UUID).then(|| indicator.clone()),
        );
        assert_eq!(
            text,
            format!(
                "[object:[x:value = 'y']](/dashboard/search/indicator--{UUID}) and tag:tlp:green"
            )
        );
        let observable = json!({"id": format!("url--{UUID}"), "value": "http://x"});
        let text = rewrite(&format!("@[attribute]({UUID})"), |_| {
            Some(observable.clone())
        });
        assert_eq!(
            text,
            format!("[attribute:http://x](/dashboard/search/url--{UUID})")
        );
    }

    #[test]
    fn malformed_mentions_are_left_alone() {
        for text in [
            "@[attribute](not-a-uuid)",
            "@[attribute](A1B2C3D4-0000-4000-8000-000000000001)",
            "@[tag]()",
            "@[tag](a b)",
            "@[",
            "mail@[x]",
        ] {
            assert_eq!(rewrite(text, |_| None), text);
        }
        assert_eq!(
            rewrite("@[tag](misp-galaxy:x=\"y\")!", |_| None),
            "tag:misp-galaxy:x=\"y\"!"
        );
    }
}
