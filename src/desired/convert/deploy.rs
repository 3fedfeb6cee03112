//! How a service runs: `deploy` (replicas, update and rollback configs, the Swarm-only
//! settings; resources in [`super::resources`]), legacy `scale`, `restart`, `depends_on`,
//! `ulimits` and `logging`; `healthcheck` lives in [`super::healthcheck`].

use std::collections::BTreeMap;

use super::Ctx;
use super::fields::{self, check_keys, child, index, quoted_literal};
use crate::desired::limits::MAX_REPLICAS;
use crate::desired::yaml::{Node, Value};
use crate::model::spec::{DependsOn, Logging, RestartPolicy, ServiceSpec, Ulimit, UpdateConfig};

pub use super::healthcheck::healthcheck;

/// `deploy.replicas`, else legacy `scale`, else 1; both set and different is an error, and
/// so is more than [`MAX_REPLICAS`].
pub fn replicas(cx: &mut Ctx, service: &Node, key: &str) -> u32 {
    let scale_node = service.get("scale");
    let scale = scale_node.and_then(|n| replica_count(cx, n, &child(key, "scale")));
    let replicas_node = service.get("deploy").and_then(|d| d.get("replicas"));
    let replicas = replicas_node.and_then(|n| replica_count(cx, n, &child(key, "deploy.replicas")));
    if let (Some(s), Some(r), Some(node)) = (scale, replicas, scale_node)
        && s != r
    {
        cx.error(
            node,
            &child(key, "scale"),
            "`scale` and `deploy.replicas` disagree; keep only `deploy.replicas`",
        );
    }
    replicas.or(scale).unwrap_or(1)
}

/// A replica count of at most [`MAX_REPLICAS`].
fn replica_count(cx: &mut Ctx, node: &Node, key: &str) -> Option<u32> {
    let count = fields::int::<u32>(cx, node, key)?;
    if count > MAX_REPLICAS {
        let message = format!(
            "more than {MAX_REPLICAS} replicas, the most a service may have (each is a container composectl plans and watches); use at most {MAX_REPLICAS}"
        );
        cx.error(node, key, message);
        return None;
    }
    Some(count)
}

const DEPLOY_KEYS: &[&str] = &[
    "replicas",
    "resources",
    "update_config",
    "rollback_config",
    "mode",
    "restart_policy",
    "labels",
    "placement",
    "endpoint_mode",
];

/// Reads `deploy:` (except `replicas`, see [`replicas`], and `restart_policy`, see
/// [`super::late`]). `resources` go to [`super::resources`]; the Swarm-only settings
/// (`labels`, `placement`, `endpoint_mode`, `mode: global` and the job modes) have no
/// effect on one Docker host, as with `docker compose`, and a warning says so.
pub fn deploy(cx: &mut Ctx, s: &mut ServiceSpec, node: &Node, key: &str) {
    fields::map(cx, node, key);
    check_keys(cx, node, key, DEPLOY_KEYS);
    for (name, why) in SWARM_ONLY {
        if let Some(n) = node.get(name) {
            cx.warn(n, &child(key, name), format!("`deploy.{name}` {why}"));
        }
    }
    if let Some(mode_node) = node.get("mode") {
        mode(cx, mode_node, &child(key, "mode"));
    }
    if let Some(resources) = node.get("resources") {
        super::resources::deploy_resources(cx, s, resources, &child(key, "resources"));
    }
    if let Some(n) = node.get("update_config") {
        s.update_config = Some(update_config(cx, n, &child(key, "update_config")));
    }
    if let Some(n) = node.get("rollback_config") {
        s.rollback_config = Some(update_config(cx, n, &child(key, "rollback_config")));
    }
}

/// `deploy` keys that only Swarm reads, with why they have no effect here.
const SWARM_ONLY: [(&str, &str); 3] = [
    (
        "labels",
        "has no effect on one Docker host: it labels the Swarm service, not its containers (docker compose ignores it too); use the service's `labels`",
    ),
    (
        "placement",
        "has no effect on one Docker host: it places Swarm tasks on nodes, and this host is the only node",
    ),
    (
        "endpoint_mode",
        "has no effect on one Docker host: it chooses how Swarm balances a service's address; here every replica answers to the service name on its networks",
    ),
];

/// `deploy.mode`: `replicated` (the default); `global` and the job modes are Swarm's and,
/// as with `docker compose`, run `replicas` plain containers here.
fn mode(cx: &mut Ctx, node: &Node, key: &str) {
    let Some(mode) = fields::text(cx, node, key) else {
        return;
    };
    match mode.as_str() {
        "replicated" => {}
        "global" => cx.warn(
            node,
            key,
            "`mode: global` has no effect on one Docker host: it runs one container per Swarm node, and this host is the only node; the service runs `replicas` containers (1 by default)",
        ),
        "replicated-job" | "global-job" => cx.warn(
            node,
            key,
            format!(
                "`mode: {mode}` has no effect on one Docker host: Swarm jobs are not run by docker compose either; the service runs as plain containers (set `restart: \"no\"` for a one-off)"
            ),
        ),
        _ => cx.error(
            node,
            key,
            format!(
                "{} is not a deploy mode; use replicated or global",
                quoted_literal(node)
            ),
        ),
    }
}

const UPDATE_KEYS: &[&str] = &[
    "parallelism",
    "delay",
    "failure_action",
    "monitor",
    "max_failure_ratio",
    "order",
];

fn update_config(cx: &mut Ctx, node: &Node, key: &str) -> UpdateConfig {
    fields::map(cx, node, key);
    check_keys(cx, node, key, UPDATE_KEYS);
    let path = |name: &str| child(key, name);
    let choice = |cx: &mut Ctx, name: &str, allowed: &[&str]| {
        let n = node.get(name)?;
        let value = fields::text(cx, n, &path(name))?;
        if allowed.contains(&value.as_str()) {
            return Some(value);
        }
        cx.error(
            n,
            &path(name),
            format!(
                "{} is not allowed; use one of {}",
                quoted_literal(n),
                allowed.join(", ")
            ),
        );
        None
    };
    UpdateConfig {
        parallelism: node
            .get("parallelism")
            .and_then(|n| fields::int(cx, n, &path("parallelism"))),
        delay: node
            .get("delay")
            .and_then(|n| fields::duration(cx, n, &path("delay"))),
        failure_action: choice(cx, "failure_action", &["rollback", "pause", "continue"]),
        monitor: node
            .get("monitor")
            .and_then(|n| fields::duration(cx, n, &path("monitor"))),
        max_failure_ratio: node
            .get("max_failure_ratio")
            .and_then(|n| fields::float(cx, n, &path("max_failure_ratio"))),
        order: choice(cx, "order", &["stop-first", "start-first"]),
    }
}

/// Reads `restart:`.
pub fn restart(cx: &mut Ctx, node: &Node, key: &str) -> RestartPolicy {
    let text = match &node.value {
        Value::Bool(false) => "no".to_string(),
        _ => fields::text(cx, node, key).unwrap_or_default(),
    };
    let policy = match text.as_str() {
        "no" | "" => Some(RestartPolicy::No),
        "always" => Some(RestartPolicy::Always),
        "unless-stopped" => Some(RestartPolicy::UnlessStopped),
        "on-failure" => Some(RestartPolicy::OnFailure { max_retries: None }),
        other => other
            .strip_prefix("on-failure:")
            .and_then(|n| n.parse().ok())
            .map(|n| RestartPolicy::OnFailure {
                max_retries: Some(n),
            }),
    };
    policy.unwrap_or_else(|| {
        let message = format!(
            "{} is not a restart policy; use \"no\", always, on-failure[:N] or unless-stopped",
            quoted_literal(node)
        );
        cx.error(node, key, message);
        RestartPolicy::No
    })
}

/// Reads `depends_on:` (a list of services or a mapping with conditions) into `s`: the
/// conditions, the dependencies that are optional (`required: false`: a missing or failing
/// dependency only warns) and those whose replacement replaces this service's containers
/// (`restart: true`; compose restarts them, composectl replaces them).
pub fn depends_on(cx: &mut Ctx, s: &mut ServiceSpec, node: &Node, key: &str) {
    let mut out = BTreeMap::new();
    match &node.value {
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(name) = fields::text(cx, item, &index(key, i)) {
                    out.insert(name, DependsOn::Started);
                }
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                let path = child(key, &k.name);
                check_keys(cx, v, &path, &["condition", "required", "restart"]);
                let condition = v
                    .get("condition")
                    .and_then(|n| condition(cx, n, &child(&path, "condition")));
                let flag = |cx: &mut Ctx, name: &str| {
                    v.get(name)
                        .and_then(|n| fields::boolean(cx, n, &child(&path, name)))
                };
                if flag(cx, "required") == Some(false) {
                    s.optional_dependencies.insert(k.name.clone());
                }
                if flag(cx, "restart") == Some(true) {
                    s.restart_with.insert(k.name.clone());
                }
                out.insert(k.name.clone(), condition.unwrap_or_default());
            }
        }
        _ => cx.error(
            node,
            key,
            format!(
                "expected a list of services or a mapping, found {}",
                node.kind()
            ),
        ),
    }
    s.depends_on = out;
}

fn condition(cx: &mut Ctx, node: &Node, key: &str) -> Option<DependsOn> {
    let text = fields::text(cx, node, key)?;
    match text.as_str() {
        "service_started" => Some(DependsOn::Started),
        "service_healthy" => Some(DependsOn::Healthy),
        "service_completed_successfully" => Some(DependsOn::CompletedSuccessfully),
        _ => {
            let message = format!(
                "{} is not a condition; use service_started, service_healthy or service_completed_successfully",
                quoted_literal(node)
            );
            cx.error(node, key, message);
            None
        }
    }
}

/// Reads `ulimits:` (`nofile: 1024` or `nofile: {soft, hard}`).
pub fn ulimits(cx: &mut Ctx, node: &Node, key: &str) -> BTreeMap<String, Ulimit> {
    let mut out = BTreeMap::new();
    for (k, v) in fields::map(cx, node, key) {
        let path = child(key, &k.name);
        let limit = if v.as_map().is_some() {
            check_keys(cx, v, &path, &["soft", "hard"]);
            let soft = v
                .get("soft")
                .and_then(|n| fields::int(cx, n, &child(&path, "soft")));
            let hard = v
                .get("hard")
                .and_then(|n| fields::int(cx, n, &child(&path, "hard")));
            if soft.is_none() || hard.is_none() {
                cx.error(
                    v,
                    &path,
                    "write both `soft:` and `hard:`, or a single number",
                );
            }
            soft.zip(hard).map(|(soft, hard)| Ulimit { soft, hard })
        } else {
            fields::int(cx, v, &path).map(|n| Ulimit { soft: n, hard: n })
        };
        if let Some(limit) = limit {
            out.insert(k.name.clone(), limit);
        }
    }
    out
}

/// Reads `logging:`.
pub fn logging(cx: &mut Ctx, node: &Node, key: &str) -> Option<Logging> {
    fields::map(cx, node, key);
    check_keys(cx, node, key, &["driver", "options"]);
    Some(Logging {
        driver: node
            .get("driver")
            .and_then(|n| fields::text(cx, n, &child(key, "driver"))),
        options: node
            .get("options")
            .map(|n| fields::labels(cx, n, &child(key, "options")))
            .unwrap_or_default(),
    })
}
