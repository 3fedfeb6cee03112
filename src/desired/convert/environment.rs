//! A service's environment: `env_file`s first (in order), then `environment`, which wins.
//!
//! `env_file` is a path, a list of paths, or a list of `{path, required, format}`; paths
//! are relative to the project directory; a missing required file is an error naming it,
//! a missing `required: false` one is skipped. `format: raw` reads values verbatim
//! ([`super::rawenv`]); no `format` is compose's dotenv dialect; any other format is
//! refused (compose has no other without plugins).
//! `environment` is a `KEY=VALUE` list or a mapping; a key without a value takes the
//! variable's value (environment over `.env`) and is left out when that is unset. Numbers
//! and booleans become their text. Values are never put into messages.
//!
//! Each env file is read once per load however many services list it, a service lists at
//! most [`MAX_ENV_FILES_PER_SERVICE`], and the environments of all services of a project
//! add up to at most [`MAX_PROJECT_ENV_BYTES`].

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Ctx;
use super::fields::{self, child, index};
use crate::desired::limits::{MAX_ENV_FILES_PER_SERVICE, MAX_PROJECT_ENV_BYTES};
use crate::desired::origins::{HostPath, HostPathUse, Origin};
use crate::desired::yaml::{Node, Value};
use crate::desired::{envfile, read};

/// One env file as read (each is read once per load, see [`Ctx::env_files`]).
#[derive(Debug, Clone)]
pub enum EnvFile {
    /// Its variables, in file order.
    Vars(Arc<Vec<(String, String)>>),
    /// It does not exist (fine when it is not required).
    Missing(String),
    /// It cannot be used: the message says why (never a value).
    Failed(String),
}

/// The merged environment of a service.
pub fn environment(
    cx: &mut Ctx,
    env_file: Option<&Node>,
    environment: Option<&Node>,
    key: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(node) = env_file {
        let files = env_files(cx, node, &child(key, "env_file"));
        if files.len() > MAX_ENV_FILES_PER_SERVICE {
            let message = format!(
                "{} env files listed, more than the {MAX_ENV_FILES_PER_SERVICE} a service may have; merge some of them",
                files.len()
            );
            cx.error(node, &child(key, "env_file"), message);
            return out;
        }
        for (file, required, raw, at) in files {
            if let Some(vars) = read_env_file(cx, &file, required, raw, &at) {
                out.extend(vars.iter().cloned());
            }
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
    if let Some((name, _)) = out.iter().find(|(_, value)| value.contains('\0')) {
        let message = format!(
            "the value of {name} holds a NUL byte, which no process environment can; remove it"
        );
        if let Some(node) = environment.or(env_file) {
            cx.error(node, key, message);
        }
        return BTreeMap::new();
    }
    let bytes: u64 = out.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
    let before = cx.env_bytes;
    cx.env_bytes = cx.env_bytes.saturating_add(bytes);
    if cx.env_bytes > MAX_PROJECT_ENV_BYTES {
        // Reported once, at the service that crosses the bound.
        let at = environment
            .or(env_file)
            .filter(|_| before <= MAX_PROJECT_ENV_BYTES);
        if let Some(node) = at {
            let message = format!(
                "the services' environments add up to more than {MAX_PROJECT_ENV_BYTES} bytes; use smaller env files or list them in fewer services"
            );
            cx.error(node, key, message);
        }
        return BTreeMap::new();
    }
    out
}

/// One `env_file` entry: path as written, required, `format: raw`, and where it is.
type Entry = (String, bool, bool, (Node, String));

/// Every entry of `env_file`.
fn env_files(cx: &mut Ctx, node: &Node, key: &str) -> Vec<Entry> {
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
            let raw = match item.get("format") {
                None => false,
                Some(n) => match fields::text(cx, n, &child(&path, "format")).as_deref() {
                    Some("raw") => true,
                    Some(".env") => false,
                    Some(_) => {
                        let message = format!(
                            "{} is not an env_file format; use raw (values taken verbatim) or leave `format` out (the dotenv dialect)",
                            fields::quoted_literal(n)
                        );
                        cx.error(n, &child(&path, "format"), message);
                        continue;
                    }
                    None => continue,
                },
            };
            out.push((file, required, raw, (item.clone(), path)));
        } else if let Some(file) = fields::text(cx, item, &path) {
            out.push((file, true, false, (item.clone(), path)));
        }
    }
    out
}

/// The variables of the env file `file` (relative to the project directory; `raw`: values
/// verbatim, else the dotenv dialect), read once per load; `None` when it is missing and
/// not required, or failed (recorded in `cx`).
fn read_env_file(
    cx: &mut Ctx,
    file: &str,
    required: bool,
    raw: bool,
    (node, key): &(Node, String),
) -> Option<Arc<Vec<(String, String)>>> {
    let absolute = (super::mounts::absolute(cx, file), raw);
    if !cx.env_files.contains_key(&absolute) {
        let read = load_env_file(cx, &absolute.0, raw);
        cx.env_files.insert(absolute.clone(), read);
    }
    let problem = match cx.env_files.get(&absolute)? {
        EnvFile::Vars(vars) => {
            // Where the variables really come from, for the host policy (a read file
            // resolves: a loop or an unreadable link failed the read above).
            let vars = vars.clone();
            let path = super::mounts::host_path(cx, node, key, file)?;
            cx.origins.host_paths.push(HostPath {
                path,
                usage: HostPathUse::EnvFile,
                origin: Origin::at(node, key),
            });
            return Some(vars);
        }
        EnvFile::Missing(_) if !required => return None,
        EnvFile::Missing(message) => {
            format!("{message}, or mark the entry `required: false`")
        }
        EnvFile::Failed(message) => message.clone(),
    };
    cx.error(node, key, problem);
    None
}

fn load_env_file(cx: &Ctx, absolute: &std::path::Path, raw: bool) -> EnvFile {
    let text = match read::read_text(absolute, cx.limits.env()) {
        Ok(text) => text,
        Err(e) if e.is_not_found() => return EnvFile::Missing(format!("env file {e}")),
        Err(e) => return EnvFile::Failed(format!("env file {e}")),
    };
    let parsed = if raw {
        super::rawenv::parse(&text, cx.lookup).map_err(|e| e.to_string())
    } else {
        envfile::parse(&text, cx.lookup).map_err(|e| e.to_string())
    };
    match parsed {
        Ok(vars) => EnvFile::Vars(Arc::new(vars)),
        Err(e) => EnvFile::Failed(format!("env file {}: {e}", absolute.display())),
    }
}
