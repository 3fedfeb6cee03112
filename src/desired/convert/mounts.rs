//! `volumes:` (short and long syntax) and `tmpfs:` of a service, as [`MountSpec`]s.
//!
//! Short: `/path` (anonymous), `name:/path[:ro|rw]` (named volume, must be declared at the
//! top level), `./rel:/path`, `/abs:/path`, `~/x:/path` (bind mounts, made absolute, host
//! path created when missing as compose does). Long: `{type, source, target, read_only,
//! bind.create_host_path, volume.nocopy, tmpfs.size}`. When two mounts share a target (an
//! override file adding one), the later wins.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use super::Ctx;
use super::fields::{self, check_keys, child, index};
use crate::desired::yaml::{Node, Value};
use crate::model::spec::{MountKind, MountSpec};

/// Reads the `volumes:` of service `service`.
pub fn volumes(cx: &mut Ctx, service: &str, node: &Node, key: &str) -> Vec<MountSpec> {
    let Some(items) = node.as_seq() else {
        cx.error(
            node,
            key,
            format!("expected a list of mounts, found {}", node.kind()),
        );
        return Vec::new();
    };
    let mut out: Vec<MountSpec> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = index(key, i);
        let mount = match &item.value {
            Value::Map(_) => long(cx, item, &path),
            Value::Str(text) => short(cx, item, &path, text),
            _ => {
                cx.error(
                    item,
                    &path,
                    format!(
                        "expected \"SOURCE:TARGET\" or a mapping, found {}",
                        item.kind()
                    ),
                );
                None
            }
        };
        if let Some(mount) = &mount {
            cx.origins.mark_mount(service, &mount.target, item, &path);
        }
        out.extend(mount);
    }
    last_per_target(out)
}

/// Keeps the last mount of each target, in the order of those last mounts (a later entry
/// for the same target replaces an earlier one); linear in the number of mounts.
fn last_per_target(mounts: Vec<MountSpec>) -> Vec<MountSpec> {
    let mut seen = HashSet::new();
    let mut kept: Vec<MountSpec> = mounts
        .into_iter()
        .rev()
        .filter(|m| seen.insert(m.target.clone()))
        .collect();
    kept.reverse();
    kept
}

fn short(cx: &mut Ctx, node: &Node, key: &str, text: &str) -> Option<MountSpec> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, ""),
        [source, target] => (Some(*source), *target, ""),
        [source, target, mode] => (Some(*source), *target, *mode),
        _ => {
            cx.error(node, key, "a mount is written SOURCE:TARGET[:ro], such as \"data:/var/lib/data\" or \"./conf:/etc/app:ro\"");
            return None;
        }
    };
    let target = container_path(cx, node, key, target)?;
    let options: Vec<&str> = mode.split(',').filter(|o| !o.is_empty()).collect();
    if let Some(bad) = options.iter().find(|o| {
        !matches!(
            **o,
            "ro" | "rw" | "z" | "Z" | "nocopy" | "cached" | "delegated" | "consistent"
        )
    }) {
        let bad = match &node.interpolated {
            None => format!("`{bad}`"),
            Some(template) => format!("in `{template}`"),
        };
        cx.error(
            node,
            key,
            format!("unknown mount option {bad}; use ro or rw"),
        );
        return None;
    }
    let read_only = options.contains(&"ro");
    let kind = match source {
        None => MountKind::Anonymous,
        Some(source) if is_host_path(source) => MountKind::Bind {
            source: host_path(cx, node, key, source)?,
            create_host_path: true,
        },
        Some(name) => named(cx, node, node, key, name)?,
    };
    Some(MountSpec {
        kind,
        target,
        read_only,
    })
}

fn is_host_path(source: &str) -> bool {
    source.starts_with('/') || source.starts_with('.') || source.starts_with('~')
}

fn container_path(cx: &mut Ctx, node: &Node, key: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return Some(target.to_string());
    }
    cx.error(
        node,
        key,
        "the container path must be absolute (start with /)",
    );
    None
}

/// The named volume `name`, read from `origin` (the short-syntax string or the `source:`
/// node), at `node`.
fn named(cx: &mut Ctx, node: &Node, origin: &Node, key: &str, name: &str) -> Option<MountKind> {
    match cx.volumes.get(name) {
        Some(volume) => Some(MountKind::Volume {
            name: volume.name.clone(),
            key: name.to_string(),
        }),
        None => {
            let message = match &origin.interpolated {
                None => format!(
                    "volume `{name}` is not declared; add `{name}:` under the top-level `volumes:` (or write ./{name} for a directory)"
                ),
                Some(template) => format!(
                    "the volume `{template}` names is not declared; add it under the top-level `volumes:` (or write ./NAME for a directory)"
                ),
            };
            cx.error(node, key, message);
            None
        }
    }
}

const LONG_KEYS: &[&str] = &[
    "type",
    "source",
    "target",
    "read_only",
    "bind",
    "volume",
    "tmpfs",
    "consistency",
    "image",
];

fn long(cx: &mut Ctx, node: &Node, key: &str) -> Option<MountSpec> {
    check_keys(cx, node, key, LONG_KEYS);
    let get_text = |cx: &mut Ctx, name: &str| {
        node.get(name)
            .and_then(|n| fields::text(cx, n, &child(key, name)))
    };
    let kind = get_text(cx, "type").unwrap_or_else(|| "volume".into());
    let source = get_text(cx, "source");
    let Some(target) = get_text(cx, "target") else {
        cx.error(
            node,
            key,
            "a long-syntax mount needs `target:` (the path in the container)",
        );
        return None;
    };
    let target = container_path(cx, node, &child(key, "target"), &target)?;
    let read_only = node
        .get("read_only")
        .and_then(|n| fields::boolean(cx, n, &child(key, "read_only")))
        .unwrap_or(false);
    let kind = match (kind.as_str(), source) {
        ("volume", None) => MountKind::Anonymous,
        ("volume", Some(name)) => {
            let origin = node.get("source").unwrap_or(node);
            named(cx, node, origin, &child(key, "source"), &name)?
        }
        ("bind", Some(source)) => MountKind::Bind {
            source: host_path(cx, node, &child(key, "source"), &source)?,
            create_host_path: create_host_path(cx, node, key),
        },
        ("bind", None) => {
            cx.error(node, key, "a bind mount needs `source:` (the host path)");
            return None;
        }
        ("tmpfs", _) => MountKind::Tmpfs {
            size: tmpfs_size(cx, node, key),
        },
        (other, _) => {
            cx.error(
                node,
                &child(key, "type"),
                format!(
                    "mount type {} is not supported; use volume, bind or tmpfs",
                    fields::shown_name(node.get("type").unwrap_or(node), other)
                ),
            );
            return None;
        }
    };
    Some(MountSpec {
        kind,
        target,
        read_only,
    })
}

fn create_host_path(cx: &mut Ctx, node: &Node, key: &str) -> bool {
    let path = child(key, "bind.create_host_path");
    node.get("bind")
        .and_then(|b| b.get("create_host_path"))
        .and_then(|n| fields::boolean(cx, n, &path))
        .unwrap_or(true)
}

fn tmpfs_size(cx: &mut Ctx, node: &Node, key: &str) -> Option<u64> {
    let size = node.get("tmpfs")?.get("size")?;
    fields::size(cx, size, &child(key, "tmpfs.size"))
}

/// Reads a service's `tmpfs:` (a path or a list of `path[:size=..,mode=..]`).
pub fn tmpfs(cx: &mut Ctx, node: &Node, key: &str) -> Vec<MountSpec> {
    let mut out = Vec::new();
    for (i, entry) in fields::string_list(cx, node, key, true)
        .into_iter()
        .enumerate()
    {
        let at = node.as_seq().and_then(|s| s.get(i)).unwrap_or(node);
        let (target, options) = entry.split_once(':').unwrap_or((&entry, ""));
        let Some(target) = container_path(cx, at, &index(key, i), target) else {
            continue;
        };
        let size = options.split(',').find_map(|o| o.strip_prefix("size="));
        let size = size.and_then(|s| {
            super::units::parse_size(s)
                .map_err(|e| cx.error(at, &index(key, i), format!("the size {e}")))
                .ok()
        });
        out.push(MountSpec {
            kind: MountKind::Tmpfs { size },
            target,
            read_only: false,
        });
    }
    out
}

/// A host path as the spec carries it: made [`absolute`], then resolved by
/// [`crate::desired::hostpath::Root::resolve`] (symlinks inside the desired directory
/// followed, so a committed symlink to `/etc` is `/etc`); `None` with an error recorded
/// when it cannot be resolved.
pub fn host_path(cx: &mut Ctx, node: &Node, key: &str, path: &str) -> Option<PathBuf> {
    let absolute = absolute(cx, path);
    match cx.origins.root.resolve(&absolute) {
        Ok(resolved) => Some(resolved),
        Err(e) => {
            cx.error(
                node,
                key,
                format!(
                    "the host path cannot be resolved ({e}); check its symlinks and permissions"
                ),
            );
            None
        }
    }
}

/// `path` made absolute: `~` is the home directory, relative paths start at the project
/// directory; `.` and `..` are resolved without touching the file system.
pub fn absolute(cx: &Ctx, path: &str) -> PathBuf {
    let joined = match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => cx
            .home
            .clone()
            .unwrap_or_else(|| PathBuf::from("/"))
            .join(rest.trim_start_matches('/')),
        _ => cx.dir.join(path),
    };
    clean(&joined)
}

fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
