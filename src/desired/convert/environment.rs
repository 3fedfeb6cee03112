//! A service's environment: `env_file`s first (in order), then `environment`, which wins.
//!
//! `env_file` is a path, a list of paths, or a list of `{path, required}`; paths are
//! relative to the project directory; a missing required file is an error naming it.
//! `environment` is a `KEY=VALUE` list or a mapping; a key without a value takes the
//! variable's value (environment over `.env`) and is left out when that is unset. Numbers
//! and booleans become their text. Values are never put into messages.

use std::collections::BTreeMap;

use super::Ctx;
use super::fields::{self, child, index};
use crate::desired::envfile;
use crate::desired::yaml::{Node, Value};

/// The merged environment of a service.
pub fn environment(
    cx: &mut Ctx,
    env_file: Option<&Node>,
    environment: Option<&Node>,
    key: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(node) = env_file {
        for (file, required, at) in env_files(cx, node, &child(key, "env_file")) {
            out.extend(read_env_file(cx, &file, required, &at));
        }
    }
    if let Some(node) = environment {
        for (name, value) in fields::string_map(cx, node, &child(key, "environment"), '=') {
            match value.or_else(|| (cx.lookup)(&name)) {
                Some(value) => {
                    out.insert(name, value);
                }
                None => {
                    out.remove(&name);
                }
            }
        }
    }
    out
}

/// (path as written, required, node) for every entry.
fn env_files(cx: &mut Ctx, node: &Node, key: &str) -> Vec<(String, bool, (Node, String))> {
    let items: Vec<(usize, &Node)> = match &node.value {
        Value::Seq(items) => items.iter().enumerate().collect(),
        _ => vec![(0, node)],
    };
    let mut out = Vec::new();
    for (i, item) in items {
        let path = if node.as_seq().is_some() {
            index(key, i)
        } else {
            key.to_string()
        };
        if item.as_map().is_some() {
            fields::check_keys(cx, item, &path, &["path", "required", "format"]);
            let Some(file) = item
                .get("path")
                .and_then(|n| fields::text(cx, n, &child(&path, "path")))
            else {
                cx.error(item, &path, "an env_file entry needs `path:`");
                continue;
            };
            let required = item
                .get("required")
                .and_then(|n| fields::boolean(cx, n, &child(&path, "required")))
                .unwrap_or(true);
            out.push((file, required, (item.clone(), path)));
        } else if let Some(file) = fields::text(cx, item, &path) {
            out.push((file, true, (item.clone(), path)));
        }
    }
    out
}

fn read_env_file(
    cx: &mut Ctx,
    file: &str,
    required: bool,
    (node, key): &(Node, String),
) -> Vec<(String, String)> {
    let absolute = super::mounts::absolute(cx, file);
    let text = match std::fs::read_to_string(&absolute) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Vec::new(),
        Err(e) => {
            let message = format!(
                "env file {} cannot be read ({e}); create it, fix the path, or mark it `required: false`",
                absolute.display()
            );
            cx.error(node, key, message);
            return Vec::new();
        }
    };
    match envfile::parse(&text, cx.lookup) {
        Ok(vars) => vars,
        Err(e) => {
            cx.error(node, key, format!("env file {}: {e}", absolute.display()));
            Vec::new()
        }
    }
}
