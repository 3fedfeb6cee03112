//! The service-level resource keys (`cpu_shares`, `cpuset`, `cpu_quota`, `cpu_period`,
//! `cpu_rt_period`, `cpu_rt_runtime`, `mem_reservation`, `memswap_limit`,
//! `mem_swappiness`, `oom_kill_disable`, `oom_score_adj`, `blkio_config`, `gpus`) and
//! `deploy.resources` (`limits` and `reservations`), into [`Resources`] and
//! [`ResourceLimits`](crate::model::spec::ResourceLimits), as compose v2 maps them (`getDeployResources`): reservations give
//! the memory reservation and device requests; a CPU reservation is a Swarm setting that
//! compose does not apply (a warning says so).

use super::Ctx;
use super::fields::{self, check_keys, child, index};
use crate::desired::yaml::{Node, Value};
use crate::model::resources::{Blkio, DeviceRequest, Resources};
use crate::model::spec::ServiceSpec;

/// The service keys this module reads.
pub const KEYS: &[&str] = &[
    "cpu_shares",
    "cpuset",
    "cpu_quota",
    "cpu_period",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "oom_kill_disable",
    "oom_score_adj",
    "blkio_config",
    "gpus",
];

/// Reads the service key `name` (one of [`KEYS`]) into `r`.
pub fn service_key(cx: &mut Ctx, r: &mut Resources, name: &str, node: &Node, key: &str) {
    match name {
        "cpu_shares" => r.cpu_shares = fields::int(cx, node, key),
        "cpuset" => r.cpuset = cpuset(cx, node, key),
        "cpu_quota" => r.cpu_quota = fields::int(cx, node, key),
        "cpu_period" => r.cpu_period = fields::int(cx, node, key),
        "cpu_rt_period" => r.cpu_rt_period = fields::int(cx, node, key),
        "cpu_rt_runtime" => r.cpu_rt_runtime = fields::int(cx, node, key),
        "mem_reservation" => {
            // `deploy.resources.reservations.memory` wins, as in compose.
            r.mem_reservation = r.mem_reservation.or(fields::size(cx, node, key));
        }
        "memswap_limit" => r.memswap_limit = swap(cx, node, key),
        "mem_swappiness" => r.mem_swappiness = ranged(cx, node, key, 0, 100),
        "oom_kill_disable" => r.oom_kill_disable = fields::boolean(cx, node, key),
        "oom_score_adj" => r.oom_score_adj = ranged(cx, node, key, -1000, 1000),
        "blkio_config" => r.blkio = blkio(cx, node, key),
        "gpus" => {
            let gpus = gpus(cx, node, key);
            // GPUs come first, then the reservations' devices (compose's order).
            r.device_requests.splice(0..0, gpus);
        }
        _ => {}
    }
}

fn cpuset(cx: &mut Ctx, node: &Node, key: &str) -> Option<String> {
    let text = match node.value {
        Value::Int(i) => i.to_string(),
        _ => fields::text(cx, node, key)?,
    };
    let valid = !text.is_empty()
        && text
            .split(',')
            .all(|part| part.split('-').all(|n| n.parse::<u32>().is_ok()) && !part.is_empty());
    if !valid {
        cx.error(
            node,
            key,
            format!(
                "{} is not a CPU list; write CPUs as 0-3 or 0,1",
                fields::quoted_literal(node)
            ),
        );
        return None;
    }
    Some(text)
}

/// `memswap_limit`: a size, or `-1` for unlimited swap.
fn swap(cx: &mut Ctx, node: &Node, key: &str) -> Option<i64> {
    let unlimited = matches!(node.value, Value::Int(-1))
        || node.scalar_text().is_some_and(|t| t.trim() == "-1");
    if unlimited {
        return Some(-1);
    }
    fields::size(cx, node, key).map(|b| i64::try_from(b).unwrap_or(i64::MAX))
}

fn ranged(cx: &mut Ctx, node: &Node, key: &str, min: i64, max: i64) -> Option<i64> {
    let n = fields::int::<i64>(cx, node, key)?;
    if (min..=max).contains(&n) {
        return Some(n);
    }
    cx.error(
        node,
        key,
        format!("{n} is out of range; use {min} to {max}"),
    );
    None
}

const BLKIO_KEYS: &[&str] = &[
    "weight",
    "weight_device",
    "device_read_bps",
    "device_write_bps",
    "device_read_iops",
    "device_write_iops",
];

fn blkio(cx: &mut Ctx, node: &Node, key: &str) -> Blkio {
    fields::map(cx, node, key);
    check_keys(cx, node, key, BLKIO_KEYS);
    let mut out = Blkio::default();
    if let Some(n) = node.get("weight") {
        out.weight = ranged(cx, n, &child(key, "weight"), 10, 1000).map(|w| w as u16);
    }
    if let Some(n) = node.get("weight_device") {
        let key = child(key, "weight_device");
        out.weight_device = devices(cx, n, &key, "weight", |cx, n, k| {
            ranged(cx, n, k, 10, 1000).map(|w| w as u64)
        })
        .into_iter()
        .map(|(path, w)| (path, w as u16))
        .collect();
    }
    // (key, where it goes, whether rates are sizes)
    type Rate<'a> = (&'a str, &'a mut Vec<(String, u64)>, bool);
    let rates: [Rate; 4] = [
        ("device_read_bps", &mut out.device_read_bps, true),
        ("device_write_bps", &mut out.device_write_bps, true),
        ("device_read_iops", &mut out.device_read_iops, false),
        ("device_write_iops", &mut out.device_write_iops, false),
    ];
    for (name, slot, bytes) in rates {
        if let Some(n) = node.get(name) {
            let key = child(key, name);
            *slot = devices(cx, n, &key, "rate", |cx, n, k| {
                if bytes {
                    fields::size(cx, n, k)
                } else {
                    fields::int(cx, n, k)
                }
            });
        }
    }
    out
}

/// A list of `{path, <value>}` entries.
fn devices(
    cx: &mut Ctx,
    node: &Node,
    key: &str,
    value: &str,
    read: impl Fn(&mut Ctx, &Node, &str) -> Option<u64>,
) -> Vec<(String, u64)> {
    let Some(items) = node.as_seq() else {
        cx.error(
            node,
            key,
            format!(
                "expected a list of {{path, {value}}} entries, found {}",
                node.kind()
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = index(key, i);
        fields::map(cx, item, &at);
        check_keys(cx, item, &at, &["path", value]);
        let path = item
            .get("path")
            .and_then(|n| fields::text(cx, n, &child(&at, "path")));
        let amount = item
            .get(value)
            .and_then(|n| read(cx, n, &child(&at, value)));
        match (path, amount) {
            (Some(path), Some(amount)) => out.push((path, amount)),
            _ => cx.error(
                item,
                &at,
                format!("an entry needs `path:` (a device such as /dev/sda) and `{value}:`"),
            ),
        }
    }
    out
}

/// `gpus:`: `all` (any string: every GPU, as compose reads it) or a list of device
/// requests; each gets the `gpu` capability.
fn gpus(cx: &mut Ctx, node: &Node, key: &str) -> Vec<DeviceRequest> {
    if node.as_seq().is_none() {
        if fields::text(cx, node, key).is_none() {
            return Vec::new();
        }
        return vec![DeviceRequest {
            count: Some(-1),
            capabilities: vec!["gpu".into()],
            ..DeviceRequest::default()
        }];
    }
    device_requests(cx, node, key, true)
}

const DEVICE_KEYS: &[&str] = &["capabilities", "count", "device_ids", "driver", "options"];

/// A list of device requests; `gpu` adds the `gpu` capability (the `gpus:` key), else
/// `capabilities` is required (`deploy.resources.reservations.devices`).
fn device_requests(cx: &mut Ctx, node: &Node, key: &str, gpu: bool) -> Vec<DeviceRequest> {
    let Some(items) = node.as_seq() else {
        cx.error(
            node,
            key,
            format!("expected a list of devices, found {}", node.kind()),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = index(key, i);
        fields::map(cx, item, &at);
        check_keys(cx, item, &at, DEVICE_KEYS);
        let path = |name: &str| child(&at, name);
        let mut request = DeviceRequest {
            driver: item
                .get("driver")
                .and_then(|n| fields::text(cx, n, &path("driver"))),
            device_ids: item
                .get("device_ids")
                .map(|n| fields::string_list(cx, n, &path("device_ids"), false))
                .unwrap_or_default(),
            capabilities: item
                .get("capabilities")
                .map(|n| fields::string_list(cx, n, &path("capabilities"), false))
                .unwrap_or_default(),
            options: item
                .get("options")
                .map(|n| fields::labels(cx, n, &path("options")))
                .unwrap_or_default(),
            count: item.get("count").and_then(|n| count(cx, n, &path("count"))),
        };
        if item.get("count").is_some() && item.get("device_ids").is_some() {
            cx.error(
                item,
                &at,
                "`count` and `device_ids` exclude each other; keep one",
            );
        }
        if request.count.is_none() && request.device_ids.is_empty() {
            request.count = Some(-1);
        }
        if gpu {
            request.capabilities.push("gpu".into());
        } else if request.capabilities.is_empty() {
            cx.error(
                item,
                &at,
                "a device reservation needs `capabilities:`, such as [gpu]",
            );
        }
        out.push(request);
    }
    out
}

/// `count`: a number or `all` (-1).
fn count(cx: &mut Ctx, node: &Node, key: &str) -> Option<i64> {
    if node
        .scalar_text()
        .is_some_and(|t| t.eq_ignore_ascii_case("all"))
    {
        return Some(-1);
    }
    fields::int(cx, node, key)
}

/// Reads `deploy.resources` (`limits` and `reservations`).
pub fn deploy_resources(cx: &mut Ctx, s: &mut ServiceSpec, node: &Node, key: &str) {
    fields::map(cx, node, key);
    check_keys(cx, node, key, &["limits", "reservations"]);
    if let Some(limits) = node.get("limits") {
        deploy_limits(cx, s, limits, &child(key, "limits"));
    }
    if let Some(reservations) = node.get("reservations") {
        deploy_reservations(cx, s, reservations, &child(key, "reservations"));
    }
}

fn deploy_limits(cx: &mut Ctx, s: &mut ServiceSpec, limits: &Node, key: &str) {
    fields::map(cx, limits, key);
    check_keys(cx, limits, key, &["cpus", "memory", "pids", "devices"]);
    if let Some(n) = limits.get("cpus") {
        s.limits.cpus = fields::float(cx, n, &child(key, "cpus"));
    }
    if let Some(n) = limits.get("memory") {
        s.limits.memory = fields::size(cx, n, &child(key, "memory"));
    }
    if let Some(n) = limits.get("pids") {
        s.limits.pids = fields::int(cx, n, &child(key, "pids"));
    }
    if let Some(n) = limits.get("devices") {
        cx.error(
            n,
            &child(key, "devices"),
            "devices are reserved, not limited: docker compose ignores `limits.devices`; move them to `deploy.resources.reservations.devices`",
        );
    }
}

const RESERVATION_KEYS: &[&str] = &["cpus", "memory", "pids", "devices", "generic_resources"];

fn deploy_reservations(cx: &mut Ctx, s: &mut ServiceSpec, node: &Node, key: &str) {
    fields::map(cx, node, key);
    check_keys(cx, node, key, RESERVATION_KEYS);
    if let Some(n) = node.get("memory") {
        let memory = fields::size(cx, n, &child(key, "memory"));
        s.resources.mem_reservation = memory.or(s.resources.mem_reservation);
    }
    if let Some(n) = node.get("cpus") {
        fields::float(cx, n, &child(key, "cpus"));
        cx.warn(
            n,
            &child(key, "cpus"),
            "`reservations.cpus` has no effect on one Docker host: it is a Swarm scheduling setting that docker compose does not apply either; use `cpu_shares` to weigh CPU time",
        );
    }
    if let Some(n) = node.get("pids") {
        cx.warn(
            n,
            &child(key, "pids"),
            "`reservations.pids` has no effect: a number of processes is only ever limited; use `limits.pids`",
        );
    }
    if let Some(n) = node.get("generic_resources") {
        cx.warn(
            n,
            &child(key, "generic_resources"),
            "`reservations.generic_resources` has no effect on one Docker host: Swarm schedules them onto nodes; use `devices` for devices",
        );
    }
    if let Some(n) = node.get("devices") {
        let devices = device_requests(cx, n, &child(key, "devices"), false);
        s.resources.device_requests.extend(devices);
    }
}
