//! Networks: the top-level `networks:` definitions (with `ipam`, `enable_ipv6` and
//! `enable_ipv4`) and a service's options on one network (`aliases`, fixed addresses,
//! `priority`, endpoint `driver_opts`). Options the Engine API 1.41 composectl speaks would
//! ignore are refused with the version they need, never sent and lost.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::fields::{self, check_keys, child, index};
use super::{Ctx, Resource, resources};
use crate::desired::keys;
use crate::desired::yaml::{Node, Value};
use crate::model::spec::{Ipam, IpamPool, NetworkSpec, ServiceNetwork};

/// Reads the top-level `networks:` mapping.
pub(super) fn networks(cx: &mut Ctx, node: &Node) -> BTreeMap<String, NetworkSpec> {
    let mut out = BTreeMap::new();
    for r in resources(cx, node, "networks", keys::NETWORK) {
        refuse_settings_of_external(cx, &r, "network");
        let mut flag = |name: &str| {
            r.node
                .get(name)
                .and_then(|n| fields::boolean(cx, n, &child(&r.path, name)))
        };
        let internal = flag("internal").unwrap_or(false);
        let attachable = flag("attachable").unwrap_or(false);
        let enable_ipv6 = flag("enable_ipv6");
        if flag("enable_ipv4") == Some(false) {
            let at = r.node.get("enable_ipv4").unwrap_or(r.node);
            cx.error(
                at,
                &child(&r.path, "enable_ipv4"),
                "`enable_ipv4: false` (an IPv6-only network) needs Docker 28 (Engine API 1.47); \
                 composectl speaks Engine API 1.41 (Docker 20.10): remove it to keep IPv4",
            );
        }
        let ipam = r
            .node
            .get("ipam")
            .and_then(|n| ipam(cx, n, &child(&r.path, "ipam")));
        cx.origins.mark(r.node, &r.path);
        let spec = NetworkSpec {
            name: r.name,
            external: r.external,
            driver: r.driver,
            driver_opts: r.driver_opts,
            internal,
            attachable,
            labels: r.labels,
            ipam,
            enable_ipv6,
        };
        out.insert(r.key, spec);
    }
    out
}

/// An external network or volume is made outside composectl: settings that only apply to
/// its creation would be dropped silently, so they are refused (as compose refuses them).
pub(super) fn refuse_settings_of_external(cx: &mut Ctx, r: &Resource, kind: &str) {
    if !r.external {
        return;
    }
    let Some(entries) = r.node.as_map() else {
        return;
    };
    for (k, value) in entries {
        if matches!(k.name.as_str(), "name" | "external") || k.name.starts_with("x-") {
            continue;
        }
        cx.error(
            value,
            &child(&r.path, &k.name),
            format!(
                "`{}` has no effect on an external {kind}: composectl neither creates nor \
                 changes it; remove the key, or remove `external: true` to let composectl \
                 create the {kind}",
                k.name
            ),
        );
    }
}

const IPAM_KEYS: &[&str] = &["driver", "config", "options"];
const POOL_KEYS: &[&str] = &["subnet", "ip_range", "gateway", "aux_addresses"];

fn ipam(cx: &mut Ctx, node: &Node, key: &str) -> Option<Ipam> {
    if node.is_null() {
        return None;
    }
    if node.as_map().is_none() {
        cx.error(
            node,
            key,
            format!("expected a mapping, found {}", node.kind()),
        );
        return None;
    }
    check_keys(cx, node, key, IPAM_KEYS);
    let driver = node
        .get("driver")
        .and_then(|n| fields::text(cx, n, &child(key, "driver")));
    let options = node
        .get("options")
        .map(|n| fields::labels(cx, n, &child(key, "options")))
        .unwrap_or_default();
    let mut config = Vec::new();
    if let Some(list) = node.get("config") {
        let path = child(key, "config");
        match &list.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    config.extend(pool(cx, item, &index(&path, i)));
                }
            }
            Value::Null => {}
            _ => cx.error(
                list,
                &path,
                format!(
                    "expected a list of address pools (`- subnet: ...`), found {}",
                    list.kind()
                ),
            ),
        }
    }
    Some(Ipam {
        driver,
        config,
        options,
    })
}

fn pool(cx: &mut Ctx, node: &Node, key: &str) -> Option<IpamPool> {
    if node.as_map().is_none() {
        cx.error(
            node,
            key,
            format!("expected a mapping (`subnet: ...`), found {}", node.kind()),
        );
        return None;
    }
    check_keys(cx, node, key, POOL_KEYS);
    let mut cidr = |name: &str| {
        let at = node.get(name)?;
        let path = child(key, name);
        let text = fields::text(cx, at, &path)?;
        if parse_cidr(&text).is_none() {
            cx.error(
                at,
                &path,
                format!(
                    "{} is not a subnet in CIDR form, such as 10.20.0.0/24 or fd00:20::/64",
                    fields::quoted_literal(at)
                ),
            );
        }
        Some(text)
    };
    let subnet = cidr("subnet");
    let ip_range = cidr("ip_range");
    let gateway = node.get("gateway").and_then(|at| {
        let path = child(key, "gateway");
        address(cx, at, &path, None)
    });
    let aux_addresses = node
        .get("aux_addresses")
        .map(|n| fields::labels(cx, n, &child(key, "aux_addresses")))
        .unwrap_or_default();
    Some(IpamPool {
        subnet,
        ip_range,
        gateway,
        aux_addresses,
    })
}

/// `ADDRESS/PREFIX` with a prefix that fits the address family.
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, prefix) = text.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((ip, prefix))
}

/// An IP address read at `at`; with `v4`, of that family only.
fn address(cx: &mut Ctx, at: &Node, path: &str, v4: Option<bool>) -> Option<String> {
    let text = fields::text(cx, at, path)?;
    let family_ok = match text.parse::<IpAddr>() {
        Ok(ip) => v4.is_none_or(|v4| ip.is_ipv4() == v4),
        Err(_) => false,
    };
    if !family_ok {
        let what = match v4 {
            Some(true) => "an IPv4 address, such as 10.20.0.5",
            Some(false) => "an IPv6 address, such as fd00:20::5",
            None => "an IP address, such as 10.20.0.1",
        };
        cx.error(
            at,
            path,
            format!("{} is not {what}", fields::quoted_literal(at)),
        );
        return None;
    }
    Some(text)
}

/// The keys of a service's options on one network.
pub(super) const SERVICE_NETWORK_KEYS: &[&str] = &[
    "aliases",
    "ipv4_address",
    "ipv6_address",
    "priority",
    "link_local_ips",
    "mac_address",
    "driver_opts",
    "gw_priority",
    "interface_name",
];

/// Options a newer engine understands and Engine API 1.41 would silently ignore.
const NEWER_API: &[(&str, &str)] = &[
    (
        "mac_address",
        "a MAC address per network needs Docker 25 (Engine API 1.44); composectl speaks \
         Engine API 1.41 (Docker 20.10): set the service's own `mac_address` instead, which \
         applies on its first network",
    ),
    (
        "gw_priority",
        "needs Docker 28 (Engine API 1.48); composectl speaks Engine API 1.41 (Docker 20.10): \
         remove it (the engine picks the default gateway itself)",
    ),
    (
        "interface_name",
        "needs Docker 28.1 (Engine API 1.49); composectl speaks Engine API 1.41 (Docker 20.10): \
         remove it (the engine names the interface eth0, eth1, ...)",
    ),
];

/// A service's options on network `network` (`options` is the value under the network's
/// name), checked against the network's definition where it is known.
pub(super) fn membership(
    cx: &mut Ctx,
    (network, shown): (&str, &str),
    options: &Node,
    path: &str,
) -> ServiceNetwork {
    let mut m = ServiceNetwork::default();
    if options.is_null() {
        return m;
    }
    if options.as_map().is_none() {
        cx.error(
            options,
            path,
            format!(
                "expected the options on this network (a mapping), found {}",
                options.kind()
            ),
        );
        return m;
    }
    check_keys(cx, options, path, SERVICE_NETWORK_KEYS);
    for (name, why) in NEWER_API {
        if let Some(at) = options.get(name) {
            cx.error(at, &child(path, name), format!("`{name}`: {why}"));
        }
    }
    if let Some(aliases) = options.get("aliases") {
        m.aliases = fields::string_list(cx, aliases, &child(path, "aliases"), false);
    }
    for (name, v4) in [("ipv4_address", true), ("ipv6_address", false)] {
        let Some(at) = options.get(name) else {
            continue;
        };
        let key = child(path, name);
        let Some(ip) = address(cx, at, &key, Some(v4)) else {
            continue;
        };
        fixed_address_needs_subnet(cx, (network, shown), at, &key, v4);
        if v4 {
            m.ipv4_address = Some(ip);
        } else {
            m.ipv6_address = Some(ip);
        }
    }
    if let Some(list) = options.get("link_local_ips") {
        let key = child(path, "link_local_ips");
        if let Some(items) = list.as_seq() {
            for (i, item) in items.iter().enumerate() {
                m.link_local_ips
                    .extend(address(cx, item, &index(&key, i), None));
            }
        } else {
            fields::string_list(cx, list, &key, false);
        }
    }
    if let Some(at) = options.get("priority") {
        m.priority = fields::int(cx, at, &child(path, "priority")).unwrap_or(0);
    }
    if let Some(at) = options.get("driver_opts") {
        m.driver_opts = fields::labels(cx, at, &child(path, "driver_opts"));
    }
    m
}

/// The engine hands out fixed addresses only on networks with a subnet of that family
/// configured by the user; say so at load time rather than at the container's creation.
fn fixed_address_needs_subnet(
    cx: &mut Ctx,
    (network, shown): (&str, &str),
    at: &Node,
    key: &str,
    v4: bool,
) {
    let declared = cx.networks.get(network);
    if declared.is_some_and(|n| n.external) || (declared.is_none() && network != "default") {
        // Configured outside composectl (the engine judges), or undeclared (an error of
        // its own already).
        return;
    }
    let has_subnet = declared.and_then(|n| n.ipam.as_ref()).is_some_and(|ipam| {
        ipam.config.iter().any(|p| {
            p.subnet
                .as_deref()
                .and_then(parse_cidr)
                .is_some_and(|(ip, _)| ip.is_ipv4() == v4)
        })
    });
    if !has_subnet {
        let family = if v4 { "IPv4" } else { "IPv6" };
        cx.error(
            at,
            key,
            format!(
                "a fixed address needs an {family} subnet of the network's own; add \
                 `ipam: {{config: [{{subnet: ...}}]}}` to network {shown} (the engine \
                 refuses fixed addresses on networks without one)"
            ),
        );
    }
}
