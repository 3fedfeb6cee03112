//! The container keys of a service that shape the container's kernel-level setup:
//! `expose`, `devices`, `device_cgroup_rules`, `sysctls`, `security_opt`, `dns*`, the
//! namespace keys (`pid`, `ipc`, `uts`, `userns_mode`, `cgroup`), `storage_opt` and the
//! Windows-only `isolation`. Each is read as `docker compose` reads it and checked where
//! the engine would refuse it later, so the error names the file, line and key.
//!
//! A seccomp profile named by `security_opt: [seccomp=FILE]` is read here (relative to the
//! project directory, bounded like an env file) and inlined as compact JSON, as compose
//! sends it; its content is never quoted in a message.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::Ctx;
use super::fields::{self, child, index, quoted_literal};
use super::mounts;
use crate::desired::limits::MAX_PORTS_PER_SERVICE;
use crate::desired::read;
use crate::desired::yaml::{Node, Value};
use crate::model::spec::DeviceMapping;

/// A malformed entry of one of these keys; the text follows the entry as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An `expose` entry that is not `PORT[/PROTOCOL]` or `LOW-HIGH[/PROTOCOL]`.
    #[error(
        "is not a port to expose; write PORT, PORT/PROTOCOL or a range LOW-HIGH such as \"8000-8010/udp\""
    )]
    Expose,
    /// An `expose` range longer than a service may map.
    #[error(
        "exposes more than {MAX_PORTS_PER_SERVICE} ports, the most a service may map; expose a shorter range"
    )]
    TooManyPorts,
    /// A device that is not `HOST[:CONTAINER[:PERMISSIONS]]` with absolute paths.
    #[error(
        "is not a device mapping; write HOST[:CONTAINER[:PERMISSIONS]] with absolute paths, such as \"/dev/ttyUSB0:/dev/ttyUSB0:rw\""
    )]
    Device,
    /// A device named through the Container Device Interface.
    #[error(
        "names a CDI device, which needs Docker 25 or later with CDI enabled (Engine API 1.44); this host's engine is older; map the device node instead (\"/dev/...\")"
    )]
    CdiDevice,
    /// Cgroup permissions that are not a combination of `r`, `w` and `m`.
    #[error("has permissions other than a combination of r, w and m (such as rwm or rw)")]
    Permissions,
    /// A device cgroup rule not in the kernel's format.
    #[error(
        "is not a device cgroup rule; write TYPE MAJOR:MINOR ACCESS, such as \"c 1:3 mr\" or \"a 7:* rwm\""
    )]
    CgroupRule,
    /// A security option that is neither `NAME=VALUE`, `NAME:VALUE` nor `no-new-privileges`.
    #[error(
        "is not a security option; write NAME=VALUE (or NAME:VALUE), such as \"no-new-privileges:true\" or \"seccomp=./profile.json\""
    )]
    SecurityOpt,
    /// A DNS server that is not an IP address.
    #[error("is not an IP address; a DNS server is written as one, such as 9.9.9.9")]
    DnsServer,
}

/// `expose`: `PORT[/PROTOCOL]` or `LOW-HIGH[/PROTOCOL]`, numbers or strings, as
/// `PORT/PROTOCOL` in order of first appearance.
pub fn expose(cx: &mut Ctx, node: &Node, key: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (item, at, text) in texts(cx, node, key) {
        match expose_entry(&text) {
            Ok(ports) => {
                for port in ports {
                    if out.len() >= MAX_PORTS_PER_SERVICE {
                        cx.error(
                            item,
                            &at,
                            format!("{} {}", quoted_literal(item), Error::TooManyPorts),
                        );
                        return out;
                    }
                    if !out.contains(&port) {
                        out.push(port);
                    }
                }
            }
            Err(e) => cx.error(item, &at, format!("{} {e}", quoted_literal(item))),
        }
    }
    out
}

/// The ports of one `expose` entry.
pub fn expose_entry(text: &str) -> Result<Vec<String>, Error> {
    let (ports, protocol) = text.trim().split_once('/').unwrap_or((text.trim(), "tcp"));
    if !matches!(protocol, "tcp" | "udp" | "sctp") {
        return Err(Error::Expose);
    }
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or(Error::Expose)
    };
    let (low, high) = match ports.split_once('-') {
        Some((low, high)) => (port(low)?, port(high)?),
        None => (port(ports)?, port(ports)?),
    };
    if low > high {
        return Err(Error::Expose);
    }
    if usize::from(high - low) >= MAX_PORTS_PER_SERVICE {
        return Err(Error::TooManyPorts);
    }
    Ok((low..=high).map(|p| format!("{p}/{protocol}")).collect())
}

/// `devices`: the short syntax `HOST[:CONTAINER[:PERMISSIONS]]` and the long syntax
/// `{source, target, permissions}`.
pub fn devices(cx: &mut Ctx, node: &Node, key: &str) -> Vec<DeviceMapping> {
    let mut out = Vec::new();
    for (i, item) in seq(cx, node, key).iter().enumerate() {
        let at = index(key, i);
        cx.origins.mark(item, &at);
        let parsed = if item.as_map().is_some() {
            long_device(cx, item, &at)
        } else {
            let Some(text) = fields::text(cx, item, &at) else {
                continue;
            };
            device(&text).map_err(|e| (item.clone(), e))
        };
        match parsed {
            Ok(device) => out.push(device),
            Err((at_node, e)) => {
                cx.error(&at_node, &at, format!("{} {e}", quoted_literal(&at_node)))
            }
        }
    }
    out
}

fn long_device(cx: &mut Ctx, node: &Node, key: &str) -> Result<DeviceMapping, (Node, Error)> {
    fields::check_keys(cx, node, key, &["source", "target", "permissions"]);
    let get = |cx: &mut Ctx, name: &str| {
        node.get(name)
            .and_then(|n| fields::text(cx, n, &child(key, name)))
    };
    let Some(source) = get(cx, "source") else {
        return Err((node.clone(), Error::Device));
    };
    let target = get(cx, "target").unwrap_or_else(|| source.clone());
    let permissions = get(cx, "permissions").unwrap_or_else(|| "rwm".into());
    let short = format!("{source}:{target}:{permissions}");
    device(&short).map_err(|e| (node.clone(), e))
}

/// One short device mapping. As the docker CLI reads it, a second field that is a valid
/// permission set is the permissions (`/dev/sda:rw`), else the container path.
pub fn device(text: &str) -> Result<DeviceMapping, Error> {
    if is_cdi_name(text) {
        return Err(Error::CdiDevice);
    }
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, permissions) = match parts.as_slice() {
        [source] => (*source, *source, "rwm"),
        [source, perms] if is_permissions(perms) => (*source, *source, *perms),
        [source, target] => (*source, *target, "rwm"),
        [source, target, perms] => (*source, *target, *perms),
        _ => return Err(Error::Device),
    };
    if !source.starts_with('/') || !target.starts_with('/') {
        return Err(Error::Device);
    }
    if !is_permissions(permissions) {
        return Err(Error::Permissions);
    }
    Ok(DeviceMapping {
        source: source.into(),
        target: target.into(),
        permissions: permissions.into(),
    })
}

/// `vendor.com/class=name`: a fully qualified CDI device name.
fn is_cdi_name(text: &str) -> bool {
    let Some((kind, name)) = text.split_once('=') else {
        return false;
    };
    let Some((vendor, class)) = kind.split_once('/') else {
        return false;
    };
    !vendor.is_empty() && !vendor.starts_with('/') && !class.is_empty() && !name.is_empty()
}

fn is_permissions(text: &str) -> bool {
    !text.is_empty() && text.len() <= 3 && text.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

/// `device_cgroup_rules`: `TYPE MAJOR:MINOR ACCESS` as the kernel's device controller
/// reads them (`a`, `b` or `c`; numbers or `*`; a combination of `r`, `w`, `m`).
pub fn device_cgroup_rules(cx: &mut Ctx, node: &Node, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (item, at, text) in texts(cx, node, key) {
        if is_cgroup_rule(&text) {
            out.push(text.trim().to_owned());
        } else {
            cx.error(
                item,
                &at,
                format!("{} {}", quoted_literal(item), Error::CgroupRule),
            );
        }
    }
    out
}

/// True for a rule such as `c 1:3 mr` or `a *:* rwm`.
pub fn is_cgroup_rule(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    let number = |n: &str| n == "*" || (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    match words.as_slice() {
        [kind, numbers, access] => {
            matches!(*kind, "a" | "b" | "c")
                && numbers
                    .split_once(':')
                    .is_some_and(|(major, minor)| number(major) && number(minor))
                && is_permissions(access)
        }
        _ => false,
    }
}

/// `sysctls`: a mapping or a `NAME=VALUE` list; a value is required, and the name must be
/// one of the container's own namespaces (runc refuses the others when the container
/// starts: `sysctl "kernel.panic" is not in a separate kernel namespace`).
pub fn sysctls(cx: &mut Ctx, node: &Node, key: &str) -> BTreeMap<String, String> {
    let sysctls = required_map(cx, node, key, "a sysctl", "net.core.somaxconn=1024");
    for name in sysctls.keys().filter(|name| !is_namespaced_sysctl(name)) {
        let at = node.get(name).unwrap_or(node);
        cx.error(
            at,
            &child(key, name),
            format!(
                "`{name}` is not a sysctl of the container's own namespaces (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.hostname, kernel.domainname): the engine would refuse to start the container; set it on the host instead"
            ),
        );
    }
    sysctls
}

/// True for the sysctls runc lets a container set: those of its own IPC, network and UTS
/// namespaces.
pub fn is_namespaced_sysctl(name: &str) -> bool {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    IPC.contains(&name)
        || name.starts_with("net.")
        || name.starts_with("fs.mqueue.")
        || name == "kernel.hostname"
        || name == "kernel.domainname"
}

/// `storage_opt`: a mapping of driver options; a value is required.
pub fn storage_opt(cx: &mut Ctx, node: &Node, key: &str) -> BTreeMap<String, String> {
    required_map(cx, node, key, "a storage option", "size=20G")
}

fn required_map(
    cx: &mut Ctx,
    node: &Node,
    key: &str,
    what: &str,
    example: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in fields::string_map(cx, node, key, '=') {
        match value {
            Some(value) => {
                out.insert(name, value);
            }
            None => cx.error(
                node,
                &child(key, &name),
                format!("{what} needs a value; write it as NAME=VALUE, such as {example}"),
            ),
        }
    }
    out
}

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

/// `dns`: one server or a list of them, each an IP address.
pub fn dns(cx: &mut Ctx, node: &Node, key: &str) -> Vec<String> {
    let servers = fields::string_list(cx, node, key, true);
    let items = node.as_seq().unwrap_or_default();
    servers
        .into_iter()
        .enumerate()
        .filter(|(i, server)| {
            let ok = server.trim().parse::<IpAddr>().is_ok();
            if !ok {
                let at = items.get(*i).unwrap_or(node);
                let path = if items.is_empty() {
                    key.to_owned()
                } else {
                    index(key, *i)
                };
                cx.error(
                    at,
                    &path,
                    format!("{} {}", quoted_literal(at), Error::DnsServer),
                );
            }
            ok
        })
        .map(|(_, s)| s.trim().to_owned())
        .collect()
}

/// A namespace key (`pid`, `ipc`, `uts`, `userns_mode`, `cgroup`): one of `modes`, or
/// `container:NAME` and `service:NAME` when `shared` is true. A `service:NAME` is kept as
/// written: [`super::refs::resolve`] checks that NAME is an active service of the project
/// and implies the dependency on it, and the executor resolves it to `container:<id>` at
/// create time, as compose does.
pub fn namespace(
    cx: &mut Ctx,
    node: &Node,
    key: &str,
    modes: &[&str],
    shared: bool,
) -> Option<String> {
    let text = fields::text(cx, node, key)?;
    if modes.contains(&text.as_str()) {
        return Some(text);
    }
    if shared
        && ["container:", crate::model::refs::SERVICE_PREFIX]
            .iter()
            .any(|prefix| text.strip_prefix(prefix).is_some_and(|n| !n.is_empty()))
    {
        return Some(text);
    }
    let mut allowed: Vec<String> = modes.iter().map(|m| format!("`{m}`")).collect();
    if shared {
        allowed.push("`container:NAME`".into());
        allowed.push("`service:NAME`".into());
    }
    cx.error(
        node,
        key,
        format!(
            "{} is not a mode the engine knows here; write {}",
            quoted_literal(node),
            allowed.join(" or ")
        ),
    );
    None
}

/// `isolation`: only `default` is valid on a Linux engine, which refuses the other
/// (Windows) technologies; the key itself has no effect (its warning says so).
pub fn isolation(cx: &mut Ctx, node: &Node, key: &str) {
    if let Some(text) = fields::text(cx, node, key)
        && text != "default"
    {
        cx.error(
                node,
                key,
                format!(
                    "{} is a Windows isolation technology; a Linux engine refuses every isolation but `default`; remove the key",
                    quoted_literal(node)
                ),
            );
    }
}

/// The items of a list, or an error (a `null` is an empty list).
/// The items of the list `node` that are text, each with its key path (marked in the
/// origins, for the policy) and its text; the others are errors recorded in `cx`.
fn texts<'n>(cx: &mut Ctx, node: &'n Node, key: &str) -> Vec<(&'n Node, String, String)> {
    let mut out = Vec::new();
    for (i, item) in seq(cx, node, key).iter().enumerate() {
        let at = index(key, i);
        cx.origins.mark(item, &at);
        if let Some(text) = fields::text(cx, item, &at) {
            out.push((item, at, text));
        }
    }
    out
}

fn seq<'n>(cx: &mut Ctx, node: &'n Node, key: &str) -> &'n [Node] {
    match &node.value {
        Value::Seq(items) => items,
        Value::Null => &[],
        _ => {
            cx.error(node, key, format!("expected a list, found {}", node.kind()));
            &[]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_entries_expand_ranges_with_their_protocol() {
        assert_eq!(expose_entry("80").unwrap(), ["80/tcp"]);
        assert_eq!(expose_entry("53/udp").unwrap(), ["53/udp"]);
        assert_eq!(
            expose_entry("8000-8002").unwrap(),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        for bad in ["", "0", "x", "80/icmp", "90-80", "1-65535", "80:80"] {
            assert!(expose_entry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn devices_read_like_the_docker_cli() {
        let d = |s| device(s).unwrap();
        assert_eq!(d("/dev/null").target, "/dev/null");
        assert_eq!(d("/dev/null").permissions, "rwm");
        assert_eq!(d("/dev/null:rw").target, "/dev/null");
        assert_eq!(d("/dev/null:rw").permissions, "rw");
        assert_eq!(d("/dev/zero:/dev/z").target, "/dev/z");
        assert_eq!(d("/dev/zero:/dev/z:r").permissions, "r");
        assert_eq!(device("nvidia.com/gpu=all"), Err(Error::CdiDevice));
        assert_eq!(device("/dev/zero:/dev/z:rx"), Err(Error::Permissions));
        assert_eq!(device("dev/zero"), Err(Error::Device));
        assert_eq!(device("/a:/b:r:x"), Err(Error::Device));
    }

    #[test]
    fn cgroup_rules_follow_the_kernel_format() {
        assert!(is_cgroup_rule("c 1:3 mr"));
        assert!(is_cgroup_rule("a *:* rwm"));
        assert!(is_cgroup_rule("b 8:* r"));
        for bad in ["c 1:3", "x 1:3 r", "c 1-3 r", "c a:3 r", "c 1:3 rx"] {
            assert!(!is_cgroup_rule(bad), "{bad}");
        }
    }

    #[test]
    fn security_options_take_either_separator() {
        assert_eq!(security_option("label:disable"), Some(("label", "disable")));
        assert_eq!(
            security_option("seccomp=unconfined"),
            Some(("seccomp", "unconfined"))
        );
        assert_eq!(
            security_option("no-new-privileges"),
            Some(("no-new-privileges", ""))
        );
        assert_eq!(security_option("bogus"), None);
    }
}
