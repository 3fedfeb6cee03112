//! One service: dispatching its keys to the readers, profiles, networks, build and the
//! plain fields. Fields with more structure live in [`super::ports`], [`super::mounts`],
//! [`super::environment`] and [`super::deploy`].

use std::collections::BTreeMap;

use super::fields::{self, child, index};
use super::{Ctx, container, deploy, environment, files, late, mounts, ports, refs, resources};
use crate::desired::keys;
use crate::desired::yaml::{Node, Value};
use crate::model::files::FileKind;
use crate::model::spec::{ServiceNetwork, ServiceSpec};

/// Whether the service is active under `profiles` (no `profiles:` means always).
pub fn is_active(cx: &mut Ctx, node: &Node, path: &str, profiles: &[String]) -> bool {
    let Some(list) = node.get("profiles") else {
        return true;
    };
    let own = fields::string_list(cx, list, &child(path, "profiles"), false);
    own.is_empty() || own.iter().any(|p| profiles.contains(p))
}

/// Converts the service `name` at `node`; `None` when it is not a mapping.
pub fn service(cx: &mut Ctx, name: &str, node: &Node, path: &str) -> Option<ServiceSpec> {
    let Some(entries) = node.as_map() else {
        cx.error(
            node,
            path,
            format!(
                "a service must be a mapping of its settings, found {}",
                node.kind()
            ),
        );
        return None;
    };
    fields::judge_keys(cx, node, path, keys::SERVICE);
    let mut s = ServiceSpec::new(name, "");
    for (key, value) in entries {
        apply(cx, &mut s, &key.name, value, &child(path, &key.name));
    }
    s.environment =
        environment::environment(cx, node.get("env_file"), node.get("environment"), path);
    s.replicas = deploy::replicas(cx, node, path);
    late::apply(cx, &mut s, node, path);
    refs::conflicts(cx, &s, node, path);
    if s.networks.is_empty() && s.network_mode.is_none() {
        s.networks
            .insert("default".into(), ServiceNetwork::default());
    }
    if s.image.is_empty() {
        match s.build {
            Some(_) => s.image = format!("{}-{name}", cx.project),
            None => cx.error(
                node,
                path,
                "the service has neither `image` nor `build`; add `image: name:tag`",
            ),
        }
    }
    Some(s)
}

fn apply(cx: &mut Ctx, s: &mut ServiceSpec, name: &str, value: &Node, key: &str) {
    cx.origins.mark(value, key);
    let text = |cx: &mut Ctx| fields::text(cx, value, key);
    match name {
        "image" => s.image = text(cx).unwrap_or_default(),
        "build" => s.build = super::build::build(cx, value, key),
        "command" => s.command = argv(cx, value, key),
        "entrypoint" => s.entrypoint = argv(cx, value, key),
        "ports" => s.ports = ports::ports(cx, value, key),
        "volumes" => s.mounts.extend(mounts::volumes(cx, &s.name, value, key)),
        "tmpfs" => s.mounts.extend(mounts::tmpfs(cx, value, key)),
        "networks" => s.networks = networks(cx, &s.name, value, key),
        "labels" => s.labels = fields::labels(cx, value, key),
        "restart" => s.restart = deploy::restart(cx, value, key),
        "healthcheck" => s.healthcheck = deploy::healthcheck(cx, value, key),
        "depends_on" => deploy::depends_on(cx, s, value, key),
        "deploy" => deploy::deploy(cx, s, value, key),
        "user" => s.user = text(cx),
        "working_dir" => s.working_dir = text(cx),
        "hostname" => s.hostname = text(cx),
        "extra_hosts" => s.extra_hosts = extra_hosts(cx, value, key),
        "cap_add" => {
            s.cap_add = fields::string_list(cx, value, key, false);
            for (i, item) in value.as_seq().unwrap_or_default().iter().enumerate() {
                cx.origins.mark(item, &index(key, i));
            }
        }
        "cap_drop" => s.cap_drop = fields::string_list(cx, value, key, false),
        "privileged" => s.privileged = fields::boolean(cx, value, key).unwrap_or(false),
        "read_only" => s.read_only = fields::boolean(cx, value, key).unwrap_or(false),
        "ulimits" => s.ulimits = deploy::ulimits(cx, value, key),
        "logging" => s.logging = deploy::logging(cx, value, key),
        "stop_signal" => s.stop_signal = text(cx),
        "stop_grace_period" => s.stop_grace_period = fields::duration(cx, value, key),
        "init" => s.init = fields::boolean(cx, value, key),
        "container_name" => s.container_name = text(cx),
        "mem_limit" => s.limits.memory = s.limits.memory.or(fields::size(cx, value, key)),
        "cpus" => s.limits.cpus = s.limits.cpus.or(fields::float(cx, value, key)),
        "pids_limit" => s.limits.pids = s.limits.pids.or(fields::int(cx, value, key)),
        "expose" => s.expose = container::expose(cx, value, key),
        "devices" => s.devices = container::devices(cx, value, key),
        "device_cgroup_rules" => {
            s.device_cgroup_rules = container::device_cgroup_rules(cx, value, key);
        }
        "sysctls" => s.sysctls = container::sysctls(cx, value, key),
        "security_opt" => s.security_opt = container::security_opt(cx, value, key),
        "dns" => s.dns = container::dns(cx, value, key),
        "dns_search" => s.dns_search = fields::string_list(cx, value, key, true),
        "dns_opt" => s.dns_opt = fields::string_list(cx, value, key, false),
        "shm_size" => s.shm_size = fields::size(cx, value, key),
        "pid" => s.pid = container::namespace(cx, value, key, &["host"], true),
        "ipc" => {
            let modes = ["none", "private", "shareable", "host"];
            s.ipc = container::namespace(cx, value, key, &modes, true);
        }
        "uts" => s.uts = container::namespace(cx, value, key, &["host"], false),
        "userns_mode" => s.userns_mode = container::namespace(cx, value, key, &["host"], false),
        "cgroup" => s.cgroup = container::namespace(cx, value, key, &["host", "private"], false),
        "cgroup_parent" => s.cgroup_parent = text(cx),
        "group_add" => s.group_add = fields::string_list(cx, value, key, false),
        "tty" => s.tty = fields::boolean(cx, value, key).unwrap_or(false),
        "stdin_open" => s.stdin_open = fields::boolean(cx, value, key).unwrap_or(false),
        "runtime" => s.runtime = text(cx),
        "domainname" => s.domainname = text(cx),
        "storage_opt" => s.storage_opt = container::storage_opt(cx, value, key),
        "isolation" => container::isolation(cx, value, key),

        n if resources::KEYS.contains(&n) => {
            resources::service_key(cx, &mut s.resources, n, value, key);
        }
        "platform" => s.platform = platform(cx, value, key),
        // Read by `late::apply` once every key is known.
        "label_file" | "pull_policy" | "pull_refresh_after" => {}

        "network_mode" => s.network_mode = refs::network_mode(cx, value, key),
        "volumes_from" => s.volumes_from = refs::volumes_from(cx, value, key),
        "links" => s.links = refs::links(cx, value, key),
        "external_links" => s.external_links = refs::links(cx, value, key),

        "secrets" => s.secrets = files::references(cx, FileKind::Secret, value, key),
        "configs" => s.configs = files::references(cx, FileKind::Config, value, key),
        n if n.starts_with("x-") => {
            s.extensions.insert(n.to_string(), super::to_json(value));
        }
        _ => {}
    }
}

/// `command` / `entrypoint`: a string is split like a shell would, a list is kept.
fn argv(cx: &mut Ctx, node: &Node, key: &str) -> Option<Vec<String>> {
    match &node.value {
        Value::Null => None,
        Value::Seq(_) => Some(fields::string_list(cx, node, key, false)),
        _ => {
            let text = fields::text(cx, node, key)?;
            match fields::shell_split(&text) {
                Ok(words) => Some(words),
                Err(why) => {
                    cx.error(
                        node,
                        key,
                        format!("{why}; close the quote or write the command as a list"),
                    );
                    None
                }
            }
        }
    }
}

fn networks(
    cx: &mut Ctx,
    service: &str,
    node: &Node,
    key: &str,
) -> BTreeMap<String, ServiceNetwork> {
    let mut out = BTreeMap::new();
    // (name, options, where, key path, the name as messages show it)
    type Entry<'n> = (String, Option<&'n Node>, Node, String, String);
    let entries: Vec<Entry> = match &node.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let path = index(key, i);
                let name = fields::text(cx, item, &path)?;
                let shown = fields::shown_name(item, &name);
                Some((name, None, item.clone(), path, shown))
            })
            .collect(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| {
                let shown = format!("`{}`", k.name);
                (
                    k.name.clone(),
                    Some(v),
                    v.clone(),
                    child(key, &k.name),
                    shown,
                )
            })
            .collect(),
        _ => {
            cx.error(
                node,
                key,
                format!(
                    "expected a list of network names or a mapping, found {}",
                    node.kind()
                ),
            );
            return out;
        }
    };
    for (name, options, at, path, shown) in entries {
        cx.origins.mark_network(service, &name, &at, &path);
        if name != "default" && !cx.networks.contains_key(&name) {
            cx.error(
                &at,
                &path,
                format!("network {shown} is not declared; add it under the top-level `networks:`"),
            );
        }
        let membership = match options {
            Some(options) => super::networks::membership(cx, (&name, &shown), options, &path),
            None => ServiceNetwork::default(),
        };
        out.insert(name, membership);
    }
    out
}

/// `extra_hosts` (list of `HOST=IP` / `HOST:IP`, or a mapping) as `host:ip` entries.
pub fn extra_hosts(cx: &mut Ctx, node: &Node, key: &str) -> Vec<String> {
    let pairs: Vec<(String, Option<String>)> = match &node.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let entry = fields::text(cx, item, &index(key, i))?;
                let split = entry.split_once('=').or_else(|| entry.split_once(':'));
                let pair = split.map(|(h, ip)| (h.to_string(), Some(ip.to_string())));
                if pair.is_none() {
                    cx.error(
                        item,
                        &index(key, i),
                        "an extra host is written HOST=IP or HOST:IP, such as db.local=10.0.0.5",
                    );
                }
                pair
            })
            .collect(),
        _ => fields::string_map(cx, node, key, '='),
    };
    pairs
        .into_iter()
        .map(|(host, ip)| format!("{host}:{}", ip.unwrap_or_default().trim_matches(['[', ']'])))
        .collect()
}

/// `platform`: `os[/arch[/variant]]`, such as `linux/arm64`.
fn platform(cx: &mut Ctx, node: &Node, key: &str) -> Option<String> {
    let text = fields::text(cx, node, key)?;
    let parts: Vec<&str> = text.split('/').collect();
    let valid = (1..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        });
    if !valid {
        let message = format!(
            "{} is not a platform; write os/arch[/variant], such as linux/amd64 or linux/arm64/v8",
            fields::quoted_literal(node)
        );
        cx.error(node, key, message);
        return None;
    }
    Some(text)
}
