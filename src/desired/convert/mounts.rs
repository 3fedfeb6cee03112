//! `volumes:` (short and long syntax) and `tmpfs:` of a service, as [`MountSpec`]s.
//!
//! Short: `/path` (anonymous), `name:/path[:ro|rw]` (named volume, must be declared at the
//! top level), `./rel:/path`, `/abs:/path`, `~/x:/path` (bind mounts, made absolute, host
//! path created when missing as compose does), with options `ro`, `rw`, `z`, `Z`,
//! `nocopy` and a bind propagation. Long: see [`super::mount_long`]. When two mounts share
//! a target (an override file adding one), the later wins.

use std::collections::HashSet;
use std::path::PathBuf;

use super::Ctx;
use super::fields::{self, index};
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
            Value::Map(_) => super::mount_long::long(cx, item, &path),
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
        ) && !PROPAGATIONS.contains(*o)
    }) {
        let bad = match &node.interpolated {
            None => format!("`{bad}`"),
            Some(template) => format!("in `{template}`"),
        };
        cx.error(
            node,
            key,
            format!("unknown mount option {bad}; use ro, rw, z, Z, nocopy or a propagation such as rshared"),
        );
        return None;
    }
    // Compose reads the last of ro and rw.
    let read_only = options.iter().rev().find(|o| matches!(**o, "ro" | "rw")) == Some(&"ro");
    let kind = match source {
        None => MountKind::Anonymous,
        Some(source) if is_host_path(source) => MountKind::Bind {
            source: host_path(cx, node, key, source)?,
            create_host_path: true,
        },
        Some(name) => named(cx, node, node, key, name)?,
    };
    let mut mount = MountSpec::new(kind, target, read_only);
    for option in options {
        match option {
            "z" | "Z" => mount.options.selinux = Some(option.to_string()),
            "nocopy" => mount.options.nocopy = true,
            "cached" | "delegated" | "consistent" => cx.warn(
                node,
                key,
                format!("the consistency `{option}` has no effect on Linux, where mounts are always consistent"),
            ),
            p if PROPAGATIONS.contains(&p) => mount.options.propagation = Some(p.to_string()),
            _ => {}
        }
    }
    check_options(cx, node, key, &mount)?;
    Some(mount)
}

/// Bind propagation modes.
pub(super) const PROPAGATIONS: &[&str] = &[
    "rprivate", "private", "rshared", "shared", "rslave", "slave",
];

/// Refuses options that do not fit the mount's kind, or that the engine cannot apply.
pub(super) fn check_options(cx: &mut Ctx, node: &Node, key: &str, mount: &MountSpec) -> Option<()> {
    let is_bind = matches!(mount.kind, MountKind::Bind { .. });
    let is_volume = matches!(mount.kind, MountKind::Volume { .. } | MountKind::Anonymous);
    let o = &mount.options;
    let problem = if !is_bind && (o.propagation.is_some() || o.selinux.is_some()) {
        Some("propagation and SELinux relabeling (z, Z) apply to bind mounts only; remove them")
    } else if !is_volume && (o.nocopy || !o.volume_labels.is_empty()) {
        Some("`nocopy` and volume labels apply to volumes only; remove them")
    } else if matches!(
        mount.kind,
        MountKind::Bind {
            create_host_path: false,
            ..
        }
    ) && o.selinux.is_some()
    {
        Some(
            "SELinux relabeling (`bind.selinux`) works through the engine's bind form, which creates a missing host path; remove `create_host_path: false` or the relabeling",
        )
    } else {
        None
    };
    match problem {
        Some(message) => {
            cx.error(node, key, message);
            None
        }
        None => Some(()),
    }
}

fn is_host_path(source: &str) -> bool {
    source.starts_with('/') || source.starts_with('.') || source.starts_with('~')
}

pub(super) fn container_path(cx: &mut Ctx, node: &Node, key: &str, target: &str) -> Option<String> {
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
pub(super) fn named(
    cx: &mut Ctx,
    node: &Node,
    origin: &Node,
    key: &str,
    name: &str,
) -> Option<MountKind> {
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

/// Reads a service's `tmpfs:` (a path or a list of `path[:size=..,mode=..]`).
pub fn tmpfs(cx: &mut Ctx, node: &Node, key: &str) -> Vec<MountSpec> {
    let mut out = Vec::new();
    for (i, entry) in fields::string_list(cx, node, key, true)
        .into_iter()
        .enumerate()
    {
        let at = at_node(node, i);
        let (target, options) = entry.split_once(':').unwrap_or((&entry, ""));
        let Some(target) = container_path(cx, at, &index(key, i), target) else {
            continue;
        };
        let mut mount = MountSpec::new(MountKind::Tmpfs { size: None }, target, false);
        for option in options.split(',').filter(|o| !o.is_empty()) {
            let path = index(key, i);
            match option.split_once('=') {
                Some(("size", size)) => match super::units::parse_size(size) {
                    Ok(bytes) => mount.kind = MountKind::Tmpfs { size: Some(bytes) },
                    Err(e) => cx.error(at, &path, format!("the size {e}")),
                },
                Some(("mode", mode)) => match u32::from_str_radix(mode, 8) {
                    Ok(m) if m <= 0o7777 => mount.options.tmpfs_mode = Some(m),
                    _ => cx.error(at, &path, "the mode is written in octal, such as mode=1777"),
                },
                Some(("", _)) => cx.error(
                    at,
                    &path,
                    "a tmpfs option is written NAME or NAME=VALUE, such as noexec or size=64m",
                ),
                // The engine hands the others to the kernel's tmpfs (and refuses what the
                // kernel does not know, naming it).
                _ => mount.options.tmpfs_flags = Some(options.to_owned()),
            }
        }
        out.push(mount);
    }
    out
}

fn at_node(node: &Node, i: usize) -> &Node {
    node.as_seq().and_then(|s| s.get(i)).unwrap_or(node)
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
    crate::desired::relpaths::clean(&joined)
}
