//! The long syntax of a service's `volumes:` entries: `{type, source, target, read_only,
//! consistency, bind: {propagation, create_host_path, selinux}, volume: {nocopy, labels},
//! tmpfs: {size, mode}}`, as compose v2 reads it. What Engine API 1.41 cannot do
//! (`bind.recursive`, `volume.subpath`, `type: image`) is refused with the Docker version
//! it needs; `consistency` (Docker Desktop's file sharing) is a warning; an option section
//! of another mount type is an error, never dropped.

use super::Ctx;
use super::fields::{self, check_keys, child, quoted_literal};
use super::mounts::{PROPAGATIONS, check_options, container_path, host_path, named};
use crate::desired::yaml::{Node, Value};
use crate::model::spec::{MountKind, MountOptions, MountSpec};

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

/// Reads one long-syntax mount.
pub fn long(cx: &mut Ctx, node: &Node, key: &str) -> Option<MountSpec> {
    check_keys(cx, node, key, LONG_KEYS);
    let get_text = |cx: &mut Ctx, name: &str| {
        node.get(name)
            .and_then(|n| fields::text(cx, n, &child(key, name)))
    };
    let type_name = get_text(cx, "type").unwrap_or_else(|| "volume".into());
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
    if let Some(n) = node.get("consistency") {
        cx.warn(
            n,
            &child(key, "consistency"),
            "`consistency` has no effect on Linux, where mounts are always consistent (it tunes Docker Desktop's file sharing)",
        );
    }
    let mut options = MountOptions::default();
    let kind = match (type_name.as_str(), source) {
        ("volume", source) => {
            volume_options(cx, node, key, &mut options);
            match source {
                None => MountKind::Anonymous,
                Some(name) => {
                    let origin = node.get("source").unwrap_or(node);
                    named(cx, node, origin, &child(key, "source"), &name)?
                }
            }
        }
        ("bind", Some(source)) => {
            let create = bind_options(cx, node, key, &mut options);
            MountKind::Bind {
                source: host_path(cx, node, &child(key, "source"), &source)?,
                create_host_path: create,
            }
        }
        ("bind", None) => {
            cx.error(node, key, "a bind mount needs `source:` (the host path)");
            return None;
        }
        ("tmpfs", _) => MountKind::Tmpfs {
            size: tmpfs_options(cx, node, key, &mut options),
        },
        ("image", _) => {
            cx.error(
                node,
                &child(key, "type"),
                "mount type `image` needs Docker 28 (Engine API 1.48); composectl speaks API 1.41 (Docker 20.10); copy the files into a volume instead",
            );
            return None;
        }
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
    for (section, kind_name) in [
        ("bind", "bind"),
        ("volume", "volume"),
        ("tmpfs", "tmpfs"),
        ("image", "image"),
    ] {
        if node.get(section).is_some() && type_name != kind_name {
            cx.error(
                node.get(section).unwrap_or(node),
                &child(key, section),
                format!("`{section}` options apply to a mount of type {kind_name}; remove them or change `type`"),
            );
        }
    }
    let mount = MountSpec {
        kind,
        target,
        read_only,
        options,
    };
    check_options(cx, node, key, &mount)?;
    Some(mount)
}

/// `bind:` options (`propagation`, `create_host_path`, `selinux`); returns
/// `create_host_path` (true unless written false, as compose's default for this form).
fn bind_options(cx: &mut Ctx, node: &Node, key: &str, options: &mut MountOptions) -> bool {
    let Some(bind) = node.get("bind") else {
        return true;
    };
    let key = child(key, "bind");
    fields::map(cx, bind, &key);
    check_keys(
        cx,
        bind,
        &key,
        &["propagation", "create_host_path", "selinux", "recursive"],
    );
    let choice = |cx: &mut Ctx, name: &str, allowed: &[&str]| {
        let n = bind.get(name)?;
        let value = fields::text(cx, n, &child(&key, name))?;
        if allowed.contains(&value.as_str()) {
            return Some(value);
        }
        let message = format!(
            "{} is not allowed; use one of {}",
            quoted_literal(n),
            allowed.join(", ")
        );
        cx.error(n, &child(&key, name), message);
        None
    };
    options.propagation = choice(cx, "propagation", PROPAGATIONS);
    options.selinux = choice(cx, "selinux", &["z", "Z"]);
    if let Some(n) = bind.get("recursive") {
        cx.error(
            n,
            &child(&key, "recursive"),
            "`bind.recursive` needs Docker 25 (Engine API 1.44); composectl speaks API 1.41 (Docker 20.10), where bind mounts are always recursive; remove it",
        );
    }
    bind.get("create_host_path")
        .and_then(|n| fields::boolean(cx, n, &child(&key, "create_host_path")))
        .unwrap_or(true)
}

/// `volume:` options (`nocopy`, `labels`; `subpath` needs a newer engine).
fn volume_options(cx: &mut Ctx, node: &Node, key: &str, options: &mut MountOptions) {
    let Some(volume) = node.get("volume") else {
        return;
    };
    let key = child(key, "volume");
    fields::map(cx, volume, &key);
    check_keys(cx, volume, &key, &["nocopy", "subpath", "labels"]);
    options.nocopy = volume
        .get("nocopy")
        .and_then(|n| fields::boolean(cx, n, &child(&key, "nocopy")))
        .unwrap_or(false);
    if let Some(n) = volume.get("labels") {
        options.volume_labels = fields::labels(cx, n, &child(&key, "labels"));
    }
    if let Some(n) = volume.get("subpath") {
        cx.error(
            n,
            &child(&key, "subpath"),
            "`volume.subpath` needs Docker 26 (Engine API 1.45); composectl speaks API 1.41 (Docker 20.10), which would mount the whole volume; mount the volume and point the service at the subdirectory instead",
        );
    }
}

/// `tmpfs:` options (`size`, `mode`); returns the size.
fn tmpfs_options(cx: &mut Ctx, node: &Node, key: &str, options: &mut MountOptions) -> Option<u64> {
    let tmpfs = node.get("tmpfs")?;
    let key = child(key, "tmpfs");
    fields::map(cx, tmpfs, &key);
    check_keys(cx, tmpfs, &key, &["size", "mode"]);
    options.tmpfs_mode = tmpfs
        .get("mode")
        .and_then(|n| file_mode(cx, n, &child(&key, "mode")));
    let size = tmpfs.get("size")?;
    fields::size(cx, size, &child(&key, "size"))
}

/// A file mode as compose reads it: a YAML number as it is, a string in octal (`"1777"`).
fn file_mode(cx: &mut Ctx, node: &Node, key: &str) -> Option<u32> {
    let mode = match &node.value {
        Value::Int(i) => u32::try_from(*i).ok(),
        _ => node
            .scalar_text()
            .and_then(|t| u32::from_str_radix(t.trim(), 8).ok()),
    };
    let mode = mode.filter(|m| *m <= 0o7777);
    if mode.is_none() {
        let message = format!(
            "{} is not a file mode; write it in octal as a string, such as \"1777\"",
            quoted_literal(node)
        );
        cx.error(node, key, message);
    }
    mode
}
