//! The container keys of a service that shape the container's kernel-level setup:
//! `expose`, `devices`, `device_cgroup_rules`, `sysctls`, `security_opt`, `dns*`, the
//! namespace keys (`pid`, `ipc`, `uts`, `userns_mode`, `cgroup`), `storage_opt` and the
//! Windows-only `isolation`. Each is read as `docker compose` reads it and checked where
//! the engine would refuse it later, so the error names the file, line and key.
//!
//! The device keys are read in `device_access`, `security_opt` (and the seccomp profile it
//! may name) in `security`; both are re-exported here.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::Ctx;
use super::fields::{self, child, index, quoted_literal};
use crate::desired::limits::MAX_PORTS_PER_SERVICE;
use crate::desired::yaml::{Node, Value};

mod device_access;
mod security;
#[cfg(test)]
mod tests;

pub use device_access::{device, device_cgroup_rules, devices, is_cgroup_rule};
pub use security::{security_opt, security_option};

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
