//! Service references: `network_mode`, `volumes_from`, `links` and `external_links`, and
//! the `service:NAME` modes of `ipc` and `pid` (read by [`super::container::namespace`]).
//!
//! The readers turn the keys into [`crate::model::refs`] types. [`conflicts`] refuses the
//! keys compose or the engine (Engine API 1.41) refuse beside a network mode, and the ones
//! the engine would accept and silently ignore there. [`resolve`] runs once every service
//! is converted: a referenced service must exist and be active, and each reference becomes
//! the dependency compose implies for it (compose-go's normalization): `links` and the
//! `service:NAME` of `network_mode`, `ipc` and `pid` depend on the service with `restart:
//! true`, `volumes_from` without, so the service is created after what it references and, for `restart: true`,
//! replaced when that is.

use super::Ctx;
use super::fields::{self, child, index, quoted_literal};
use crate::desired::yaml::{Node, Value};
use crate::model::refs::{Link, NetworkMode, VolumesFrom, VolumesSource, namespace_service};
use crate::model::spec::{DependsOn, ProjectSpec, ServiceSpec};

/// Reads `network_mode`.
pub fn network_mode(cx: &mut Ctx, node: &Node, key: &str) -> Option<NetworkMode> {
    let text = fields::text(cx, node, key)?;
    let named = |prefix: &str| text.strip_prefix(prefix).map(str::to_owned);
    let mode = match text.as_str() {
        "host" => Some(NetworkMode::Host),
        "none" => Some(NetworkMode::None),
        "bridge" => Some(NetworkMode::Bridge),
        _ => named("service:")
            .filter(|n| !n.is_empty())
            .map(NetworkMode::Service)
            .or_else(|| {
                named("container:")
                    .filter(|n| !n.is_empty())
                    .map(NetworkMode::Container)
            }),
    };
    if mode.is_none() {
        let message = format!(
            "{} is not a network mode composectl applies; write host, none, bridge, service:NAME or container:NAME, or join a network with `networks:` instead",
            quoted_literal(node)
        );
        cx.error(node, key, message);
    }
    mode
}

/// Reads `volumes_from`: `NAME`, `service:NAME` or `container:NAME`, each with an optional
/// `:ro` or `:rw`.
pub fn volumes_from(cx: &mut Ctx, node: &Node, key: &str) -> Vec<VolumesFrom> {
    let entries = entries(cx, node, key, "a list of services or `container:NAME`s");
    let mut out = Vec::new();
    for (i, item, text) in entries {
        let (rest, read_only) = match text.rsplit_once(':') {
            Some((rest, "ro")) => (rest, true),
            Some((rest, "rw")) => (rest, false),
            _ => (text.as_str(), false),
        };
        let source = match rest.split_once(':') {
            None => Some(VolumesSource::Service(rest.to_owned())),
            Some(("service", name)) => Some(VolumesSource::Service(name.to_owned())),
            Some(("container", name)) => Some(VolumesSource::Container(name.to_owned())),
            Some(_) => None,
        };
        let valid = source.filter(|s| match s {
            VolumesSource::Service(n) | VolumesSource::Container(n) => {
                !n.is_empty() && !n.contains(':')
            }
        });
        match valid {
            Some(source) => out.push(VolumesFrom { source, read_only }),
            None => cx.error(
                item,
                &index(key, i),
                format!(
                    "{} is not a volumes_from entry; write SERVICE, service:SERVICE or container:NAME, optionally ending in :ro or :rw",
                    quoted_literal(item)
                ),
            ),
        }
    }
    out
}

/// Reads `links` (`SERVICE[:ALIAS]`) or `external_links` (`CONTAINER[:ALIAS]`).
pub fn links(cx: &mut Ctx, node: &Node, key: &str) -> Vec<Link> {
    let mut out = Vec::new();
    for (i, item, text) in entries(cx, node, key, "a list of NAME[:ALIAS] entries") {
        let (target, alias) = text.split_once(':').unwrap_or((&text, &text));
        if target.is_empty() || alias.is_empty() || alias.contains(':') {
            let message = format!(
                "{} is not a link; write NAME or NAME:ALIAS",
                quoted_literal(item)
            );
            cx.error(item, &index(key, i), message);
            continue;
        }
        out.push(Link {
            target: target.to_owned(),
            alias: alias.to_owned(),
        });
    }
    out
}

/// The text entries of a list, with their index and node.
fn entries<'n>(
    cx: &mut Ctx,
    node: &'n Node,
    key: &str,
    what: &str,
) -> Vec<(usize, &'n Node, String)> {
    let Value::Seq(items) = &node.value else {
        cx.error(node, key, format!("expected {what}, found {}", node.kind()));
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| Some((i, item, fields::text(cx, item, &index(key, i))?)))
        .collect()
}

/// Keys that cannot go with `network_mode`, and why, by the kind of mode.
fn refused_with(mode: &NetworkMode) -> &'static [(&'static str, &'static str)] {
    const SHARED: &str = "the container runs in another container's network namespace, whose hostname, /etc/hosts, DNS settings and ports it shares (the engine refuses or ignores the key there); set it on that container instead";
    match mode {
        NetworkMode::Service(_) | NetworkMode::Container(_) => &[
            ("ports", SHARED),
            ("expose", SHARED),
            ("hostname", SHARED),
            ("domainname", SHARED),
            ("dns", SHARED),
            ("dns_search", SHARED),
            ("dns_opt", SHARED),
            ("extra_hosts", SHARED),
            ("mac_address", SHARED),
            ("links", SHARED),
            ("external_links", SHARED),
        ],
        NetworkMode::Host => &[
            (
                "ports",
                "the container listens on the host's interfaces directly, so the engine discards published ports; remove `ports`",
            ),
            (
                "mac_address",
                "the container uses the host's interfaces (the engine refuses it); remove `mac_address`",
            ),
            (
                "links",
                "the engine refuses links with host networking; reach the other container through the host's addresses",
            ),
            (
                "external_links",
                "the engine refuses links with host networking; reach the other container through the host's addresses",
            ),
        ],
        NetworkMode::None => &[
            (
                "ports",
                "the container has no network to publish a port from (the engine discards it); remove `ports`",
            ),
            (
                "links",
                "the container has no network to reach the linked container on; remove the link",
            ),
            (
                "external_links",
                "the container has no network to reach the linked container on; remove the link",
            ),
        ],
        NetworkMode::Bridge => &[],
    }
}

/// Refuses a network named `container:NAME` (the engine would read it as a network mode:
/// `network_mode` is the one way to join another container's namespace), and the keys of
/// service `node` that cannot go with its `network_mode`: `networks` (compose refuses
/// both), and what `refused_with` lists for the mode.
pub fn conflicts(cx: &mut Ctx, s: &ServiceSpec, node: &Node, path: &str) {
    for key in s.networks.keys() {
        let is_mode = cx
            .networks
            .get(key)
            .is_some_and(|n| n.name.starts_with("container:"));
        if let (true, Some(at)) = (is_mode, node.get("networks")) {
            let message = format!(
                "network `{key}` is named container:NAME, which the engine reads as a network mode; write `network_mode: container:NAME` instead"
            );
            cx.error(at, &child(path, "networks"), message);
        }
    }
    let Some(mode) = &s.network_mode else {
        return;
    };
    let shown = node
        .get("network_mode")
        .map_or_else(String::new, quoted_literal);
    if let Some(networks) = node.get("networks") {
        cx.error(
            networks,
            &child(path, "networks"),
            format!("`networks` cannot be used with `network_mode` {shown} (compose refuses both: the network mode decides the container's networking); remove one of them"),
        );
    }
    for (name, why) in refused_with(mode) {
        if let Some(at) = node.get(name).filter(|n| !is_empty(n)) {
            let message = format!("`{name}` cannot be used with `network_mode` {shown}: {why}");
            cx.error(at, &child(path, name), message);
        }
    }
}

fn is_empty(node: &Node) -> bool {
    match &node.value {
        Value::Null => true,
        Value::Seq(items) => items.is_empty(),
        Value::Map(entries) => entries.is_empty(),
        _ => false,
    }
}

/// Checks that every service a reference names exists and is active, and adds the
/// dependencies the references imply (see the module doc). `doc` is the compose document,
/// for the places of errors.
pub fn resolve(cx: &mut Ctx, spec: &mut ProjectSpec, doc: &Node) {
    let names: Vec<String> = spec.services.keys().cloned().collect();
    for name in names {
        let service = &spec.services[&name];
        let node = doc.get("services").and_then(|s| s.get(&name));
        let path = child("services", &name);
        // (referenced service, its key, restart: true)
        // In compose-go's order: the first reference to a service decides its `restart`.
        let mut wanted: Vec<(String, &'static str, bool)> = Vec::new();
        for link in &service.links {
            wanted.push((link.target.clone(), "links", true));
        }
        if let Some(target) = service.network_mode.as_ref().and_then(NetworkMode::service) {
            wanted.push((target.to_owned(), "network_mode", true));
        }
        for (key, mode) in [("ipc", &service.ipc), ("pid", &service.pid)] {
            if let Some(target) = namespace_service(mode.as_deref()) {
                wanted.push((target.to_owned(), key, true));
            }
        }
        for from in &service.volumes_from {
            if let VolumesSource::Service(target) = &from.source {
                wanted.push((target.clone(), "volumes_from", false));
            }
        }
        let mut implied = Vec::new();
        for (target, key, restart) in wanted {
            let shown = shown(node.and_then(|n| n.get(key)), &target);
            let problem = if target == name {
                Some(format!(
                    "service {shown} refers to itself; name another service"
                ))
            } else if cx.inactive.contains(&target) {
                Some(format!(
                    "service {shown} is not active under the selected profiles; activate one of its profiles (COMPOSE_PROFILES) or remove the reference"
                ))
            } else if !spec.services.contains_key(&target) {
                Some(format!(
                    "service {shown} is not a service of this project; fix the name, or write container:NAME for a container outside the project"
                ))
            } else {
                None
            };
            match problem {
                Some(message) => {
                    let at = node.and_then(|n| n.get(key)).or(node);
                    match at {
                        Some(at) => cx.error(at, &child(&path, key), message),
                        None => cx.errors.push(crate::desired::Diagnostic {
                            key: child(&path, key),
                            ..crate::desired::Diagnostic::file(&cx.dir, message)
                        }),
                    }
                }
                None => {
                    let donor = spec.services[&target].ipc.as_deref();
                    if key == "ipc" && !matches!(donor, Some("shareable" | "host")) {
                        // The engine lets a container join another's IPC namespace only
                        // when that one's is shareable (its default, `private`, is not).
                        if let Some(at) = node.and_then(|n| n.get(key)) {
                            cx.warn(
                                at,
                                &child(&path, key),
                                format!(
                                    "service {shown} keeps a private IPC namespace, which the engine refuses to share (unless its default-ipc-mode is shareable); give {shown} `ipc: shareable`"
                                ),
                            );
                        }
                    }
                    implied.push((target, restart));
                }
            }
        }
        let service = spec.services.get_mut(&name).expect("name is a key");
        for (target, restart) in implied {
            if service.depends_on.contains_key(&target) {
                continue;
            }
            service
                .depends_on
                .insert(target.clone(), DependsOn::Started);
            if restart {
                service.restart_with.insert(target);
            }
        }
    }
}

/// `target` for messages: as [`fields::shown_name`] shows it when interpolation made the
/// entry of `at` (a scalar, or a list item) that names it.
fn shown(at: Option<&Node>, target: &str) -> String {
    let names = |n: &&Node| {
        n.scalar_text().is_some_and(|t| {
            let t = t.strip_prefix("service:").unwrap_or(&t);
            t == target || t.starts_with(&format!("{target}:"))
        })
    };
    let item = match at.map(|n| &n.value) {
        Some(Value::Seq(items)) => items.iter().find(names),
        _ => at.filter(names),
    };
    match item {
        Some(item) => fields::shown_name(item, target),
        None => format!("`{target}`"),
    }
}
