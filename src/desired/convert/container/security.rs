//! `security_opt`: each option as the engine takes it; a seccomp profile named by
//! `seccomp=FILE` is read relative to the project directory (bounded like an env file) and
//! inlined as compact JSON, as compose sends it; its content is never quoted in a message.

use super::{Error, texts};
use crate::desired::convert::fields::quoted_literal;
use crate::desired::convert::{Ctx, mounts};
use crate::desired::read;
use crate::desired::yaml::Node;

/// `security_opt`: each option as the engine takes it. `seccomp=FILE` (other than
/// `unconfined` and `builtin`) is read relative to the project directory and inlined as
/// compact JSON, as compose does.
pub fn security_opt(cx: &mut Ctx, node: &Node, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (item, at, text) in texts(cx, node, key) {
        let Some((name, value)) = security_option(&text) else {
            cx.error(
                item,
                &at,
                format!("{} {}", quoted_literal(item), Error::SecurityOpt),
            );
            continue;
        };
        if name == "seccomp" && value != "unconfined" && value != "builtin" {
            if let Some(profile) = seccomp_profile(cx, item, &at, value) {
                out.push(format!("seccomp={profile}"));
            }
        } else {
            out.push(text);
        }
    }
    out
}

/// The name and value of a security option (`NAME=VALUE`, `NAME:VALUE`, or the lone
/// `no-new-privileges`, whose value is empty).
pub fn security_option(text: &str) -> Option<(&str, &str)> {
    if text == "no-new-privileges" {
        return Some((text, ""));
    }
    let (name, value) = text.split_once('=').or_else(|| text.split_once(':'))?;
    (!name.is_empty() && !value.is_empty()).then_some((name, value))
}

fn seccomp_profile(cx: &mut Ctx, node: &Node, key: &str, file: &str) -> Option<String> {
    let path = mounts::absolute(cx, file);
    let max = read::Max {
        what: "seccomp profile",
        ..cx.limits.env()
    };
    let text = match read::read_text(&path, max) {
        Ok(text) => text,
        Err(e) => {
            cx.error(
                node,
                key,
                format!("{e}; fix the path of the seccomp profile"),
            );
            return None;
        }
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(json) => Some(json.to_string()),
        Err(e) => {
            cx.error(
                node,
                key,
                format!(
                    "the seccomp profile {} is not JSON (line {}); fix the file",
                    path.display(),
                    e.line()
                ),
            );
            None
        }
    }
}
