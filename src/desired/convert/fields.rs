//! Typed readers over [`Node`]s that record a located error instead of failing, so one pass
//! collects every problem of a project. Values read from interpolated strings are accepted
//! where compose accepts them (`replicas: "${N}"` is a number once interpolated).

use std::collections::BTreeMap;
use std::time::Duration;

use super::Ctx;
use super::units;
use crate::desired::keys;
use crate::desired::yaml::{Node, Value};

/// Joins a key path and a child key.
pub fn child(key: &str, name: &str) -> String {
    if key.is_empty() {
        name.to_string()
    } else {
        format!("{key}.{name}")
    }
}

/// Joins a key path and a sequence index.
pub fn index(key: &str, i: usize) -> String {
    format!("{key}[{i}]")
}

/// Refuses keys of `node` not in `known` (and not `x-*`): compose refuses them too, and a
/// misspelt key must not be dropped silently.
pub fn check_keys(cx: &mut Ctx, node: &Node, key: &str, known: &[&str]) {
    let Some(entries) = node.as_map() else { return };
    for (k, _) in entries {
        if known.contains(&k.name.as_str()) || k.name.starts_with("x-") {
            continue;
        }
        cx.error(
            &key_node(node, k),
            &child(key, &k.name),
            format!(
                "unknown key `{}`; check its spelling and indentation",
                k.name
            ),
        );
    }
}

/// Checks every key of `node` against the definition `table` ([`keys`]): an unknown key
/// and a rejected key are errors (with the reason), a key without effect on one host is a
/// warning that says so; applied keys are left to the caller.
pub fn judge_keys(cx: &mut Ctx, node: &Node, key: &str, table: &[keys::Key]) {
    let Some(entries) = node.as_map() else { return };
    for (k, _) in entries {
        if k.name.starts_with("x-") {
            continue;
        }
        let at = key_node(node, k);
        let path = child(key, &k.name);
        match keys::support(table, &k.name) {
            Some(keys::Support::Applied) => {}
            Some(keys::Support::Rejected(why)) => {
                cx.error(&at, &path, format!("`{}` {why}", k.name));
            }
            Some(keys::Support::NoEffect(why)) => {
                cx.warn(&at, &path, format!("`{}` {why}", k.name));
            }
            None => cx.error(
                &at,
                &path,
                format!(
                    "unknown key `{}`; check its spelling and indentation",
                    k.name
                ),
            ),
        }
    }
}

/// A node standing for the key `k` of `node` itself (its line and column), for messages
/// about the key rather than its value.
fn key_node(node: &Node, k: &crate::desired::yaml::Key) -> Node {
    Node {
        value: Value::Null,
        line: k.line,
        column: k.column,
        file: node.file.clone(),
        interpolated: None,
    }
}

/// The entries of a mapping, or an error.
pub fn map<'n>(cx: &mut Ctx, node: &'n Node, key: &str) -> &'n [(crate::desired::yaml::Key, Node)] {
    match &node.value {
        Value::Map(entries) => entries,
        Value::Null => &[],
        _ => {
            cx.error(
                node,
                key,
                format!(
                    "expected a mapping (`name: value` lines), found {}",
                    node.kind()
                ),
            );
            &[]
        }
    }
}

/// A scalar as text.
pub fn text(cx: &mut Ctx, node: &Node, key: &str) -> Option<String> {
    let text = node.scalar_text();
    if text.is_none() {
        cx.error(
            node,
            key,
            format!("expected a single value (a string), found {}", node.kind()),
        );
    }
    text
}

/// A boolean (`true`/`false`, also as an interpolated string).
pub fn boolean(cx: &mut Ctx, node: &Node, key: &str) -> Option<bool> {
    if let Value::Bool(b) = node.value {
        return Some(b);
    }
    let parsed = node
        .scalar_text()
        .and_then(|t| match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Some(true),
            "false" | "no" | "n" | "off" => Some(false),
            _ => None,
        });
    if parsed.is_none() {
        cx.error(node, key, "expected true or false");
    }
    parsed
}

/// A whole number that fits `T`.
pub fn int<T: TryFrom<i64>>(cx: &mut Ctx, node: &Node, key: &str) -> Option<T> {
    let value = match &node.value {
        Value::Int(i) => Some(*i),
        Value::Str(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let fitted = value.and_then(|v| T::try_from(v).ok());
    if fitted.is_none() {
        cx.error(
            node,
            key,
            format!("expected a whole number in range, found {}", describe(node)),
        );
    }
    fitted
}

/// A number (integer or fractional).
pub fn float(cx: &mut Ctx, node: &Node, key: &str) -> Option<f64> {
    let value = match &node.value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f, _) => Some(*f),
        Value::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    };
    if value.is_none() {
        cx.error(
            node,
            key,
            format!("expected a number, found {}", describe(node)),
        );
    }
    value
}

/// A duration (`10s`, `1m30s`).
pub fn duration(cx: &mut Ctx, node: &Node, key: &str) -> Option<Duration> {
    let text = text(cx, node, key)?;
    match units::parse_duration(&text) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.error(node, key, format!("{} {e}", quoted_literal(node)));
            None
        }
    }
}

/// A size in bytes (`768m`, `1g`, or a byte count).
pub fn size(cx: &mut Ctx, node: &Node, key: &str) -> Option<u64> {
    if let Value::Int(i) = node.value {
        return u64::try_from(i).ok().or_else(|| {
            cx.error(node, key, "a size cannot be negative");
            None
        });
    }
    let text = text(cx, node, key)?;
    match units::parse_size(&text) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            cx.error(node, key, format!("{} {e}", quoted_literal(node)));
            None
        }
    }
}

/// A list of strings; with `allow_single`, a lone string is a list of one.
pub fn string_list(cx: &mut Ctx, node: &Node, key: &str, allow_single: bool) -> Vec<String> {
    match &node.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| text(cx, item, &index(key, i)))
            .collect(),
        Value::Null => Vec::new(),
        _ if allow_single && node.scalar_text().is_some() => {
            node.scalar_text().into_iter().collect()
        }
        _ => {
            cx.error(node, key, format!("expected a list, found {}", node.kind()));
            Vec::new()
        }
    }
}

/// A `KEY=VALUE` list or a mapping; a bare `KEY` or a null value gives `None`.
pub fn string_map(
    cx: &mut Ctx,
    node: &Node,
    key: &str,
    separator: char,
) -> Vec<(String, Option<String>)> {
    match &node.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let entry = text(cx, item, &index(key, i))?;
                Some(match entry.split_once(separator) {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (entry, None),
                })
            })
            .collect(),
        Value::Map(entries) => entries
            .iter()
            .filter_map(|(k, v)| {
                if v.is_null() {
                    return Some((k.name.clone(), None));
                }
                let value = text(cx, v, &child(key, &k.name))?;
                Some((k.name.clone(), Some(value)))
            })
            .collect(),
        Value::Null => Vec::new(),
        _ => {
            cx.error(
                node,
                key,
                format!(
                    "expected a list of KEY{separator}VALUE or a mapping, found {}",
                    node.kind()
                ),
            );
            Vec::new()
        }
    }
}

/// A `KEY=VALUE` list or a mapping, where a missing value is an empty string.
pub fn labels(cx: &mut Ctx, node: &Node, key: &str) -> BTreeMap<String, String> {
    string_map(cx, node, key, '=')
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect()
}

/// How a node is shown in a message: its type.
fn describe(node: &Node) -> &'static str {
    node.kind()
}

/// A scalar for messages: quoted as written when it came straight from the file; when
/// interpolation made it (maybe a secret), the template as written instead
/// (`the value of "${PORT}"`), which names the variables only.
pub fn quoted_literal(node: &Node) -> String {
    match (&node.interpolated, node.scalar_text()) {
        (Some(template), _) => format!("the value of {:?}", &**template),
        (None, Some(text)) => format!("{text:?}"),
        (None, None) => "the value".to_string(),
    }
}

/// A name read from `node` for messages: `` `name` `` when it came straight from the file;
/// when interpolation made it, `` the name `${NET}` gives`` (the template as written,
/// never the value, which may be a secret).
pub fn shown_name(node: &Node, name: &str) -> String {
    match &node.interpolated {
        Some(template) => format!("the name `{template}` gives"),
        None => format!("`{name}`"),
    }
}

/// Splits a command string as a POSIX shell would, without expansions.
pub fn shell_split(text: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("a single quote is never closed"),
                    }
                }
            }
            '"' => double_quoted(&mut chars, word.get_or_insert_with(String::new))?,
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.next());
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

fn double_quoted(chars: &mut std::str::Chars<'_>, word: &mut String) -> Result<(), &'static str> {
    loop {
        match chars.next() {
            Some('"') => return Ok(()),
            Some('\\') => match chars.next() {
                Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                Some(c) => {
                    word.push('\\');
                    word.push(c);
                }
                None => return Err("a double quote is never closed"),
            },
            Some(c) => word.push(c),
            None => return Err("a double quote is never closed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell_without_expansion() {
        let cases: &[(&str, &[&str])] = &[
            ("nginx -g 'daemon off;'", &["nginx", "-g", "daemon off;"]),
            (
                "sh -c \"echo \\\"hi\\\" $HOME\"",
                &["sh", "-c", "echo \"hi\" $HOME"],
            ),
            ("  a   b  ", &["a", "b"]),
            ("a\\ b c", &["a b", "c"]),
            ("''", &[""]),
            ("x=\"1 2\"y", &["x=1 2y"]),
        ];
        for (text, want) in cases {
            assert_eq!(shell_split(text).unwrap(), *want, "{text}");
        }
        assert!(shell_split("echo 'open").is_err());
        assert!(shell_split("echo \"open").is_err());
    }
}
