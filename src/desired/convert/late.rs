//! Service keys read after all the others, because their meaning depends on another key
//! of the same service whatever the order they are written in:
//!
//! - `label_file`: `KEY=VALUE` files (the env-file dialect, bounded like env files),
//!   under `labels`, which wins; a later file wins over an earlier one (compose's
//!   `WithServicesLabelsResolved`).
//! - `deploy.restart_policy`: the container's restart policy, over `restart` when both
//!   are set, as compose v2's `getRestartPolicy` does (a warning says `restart` is
//!   overridden); `delay` and `window` are Swarm's and have no effect here.
//! - `pull_policy` with `pull_refresh_after`: see [`PullPolicy`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::Ctx;
use super::fields::{self, check_keys, child, index, quoted_literal};
use crate::desired::origins::{HostPath, HostPathUse, Origin};
use crate::desired::yaml::{Node, Value};
use crate::desired::{envfile, read};
use crate::model::resources::PullPolicy;
use crate::model::spec::{RestartPolicy, ServiceSpec};

/// Applies the keys of the service at `node` (key path `key`) that depend on others.
pub fn apply(cx: &mut Ctx, s: &mut ServiceSpec, node: &Node, key: &str) {
    if let Some(files) = node.get("label_file") {
        let labels = label_files(cx, files, &child(key, "label_file"));
        for (name, value) in labels {
            s.labels.entry(name).or_insert(value);
        }
    }
    let policy = node.get("deploy").and_then(|d| d.get("restart_policy"));
    if let Some(policy) = policy
        && let Some(restart) = restart_policy(cx, policy, &child(key, "deploy.restart_policy"))
    {
        if let Some(written) = node.get("restart") {
            cx.warn(
                written,
                &child(key, "restart"),
                "`restart` is overridden by `deploy.restart_policy`, as docker compose does; keep only one",
            );
        }
        s.restart = restart;
    }
    s.pull_policy = pull_policy(cx, node, key);
    if s.build.is_some() {
        s.pull_policy = built_pull_policy(cx, node, key, s.pull_policy);
    }
}

/// The pull policy of a service with `build:`: unset means `build` (the image comes from
/// the build, rebuilt when its inputs change); `missing` builds only when the host lacks
/// the image and `never` never builds; a policy that pulls would fight the build and is
/// refused.
fn built_pull_policy(cx: &mut Ctx, service: &Node, key: &str, policy: PullPolicy) -> PullPolicy {
    let Some(node) = service.get("pull_policy") else {
        return PullPolicy::Build;
    };
    match policy {
        PullPolicy::Missing | PullPolicy::Never | PullPolicy::Build => policy,
        PullPolicy::Always | PullPolicy::Refresh(_) => {
            cx.error(
                node,
                &child(key, "pull_policy"),
                "this policy pulls the image while `build:` builds it; use build (rebuild when the context changes), missing (build only when the image is absent) or never, or remove `build:`",
            );
            policy
        }
    }
}

/// The labels of the `label_file` entries (a path or a list of paths), in order.
fn label_files(cx: &mut Ctx, node: &Node, key: &str) -> BTreeMap<String, String> {
    let items: Vec<(String, &Node)> = match &node.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (index(key, i), n))
            .collect(),
        _ => vec![(key.to_string(), node)],
    };
    if items.len() > crate::desired::limits::MAX_ENV_FILES_PER_SERVICE {
        let message = format!(
            "{} label files listed, more than the {} a service may have; merge some of them",
            items.len(),
            crate::desired::limits::MAX_ENV_FILES_PER_SERVICE
        );
        cx.error(node, key, message);
        return BTreeMap::new();
    }
    let mut labels = BTreeMap::new();
    for (path, item) in items {
        let Some(file) = fields::text(cx, item, &path) else {
            continue;
        };
        if let Some(read) = label_file(cx, &file, item, &path, &labels) {
            labels.extend(read);
        }
    }
    labels
}

/// One label file, its variables interpolated from the labels read before it.
fn label_file(
    cx: &mut Ctx,
    file: &str,
    node: &Node,
    key: &str,
    before: &BTreeMap<String, String>,
) -> Option<Vec<(String, String)>> {
    let absolute = super::mounts::absolute(cx, file);
    let text = match read::read_text(&absolute, cx.limits.env()) {
        Ok(text) => text,
        Err(e) => {
            cx.error(node, key, format!("label file {e}"));
            return None;
        }
    };
    let lookup = |name: &str| before.get(name).cloned();
    let labels = match envfile::parse(&text, &lookup) {
        Ok(labels) => labels,
        Err(e) => {
            let message = format!("label file {}: {e}", absolute.display());
            cx.error(node, key, message);
            return None;
        }
    };
    // Where the labels come from, for the host policy (read like an env file).
    let path = super::mounts::host_path(cx, node, key, file)?;
    cx.origins.host_paths.push(HostPath {
        path,
        usage: HostPathUse::EnvFile,
        origin: Origin::at(node, key),
    });
    Some(labels)
}

const RESTART_POLICY_KEYS: &[&str] = &["condition", "delay", "max_attempts", "window"];

/// `deploy.restart_policy`, mapped as compose v2's `mapRestartPolicyCondition`: `none`
/// is `"no"`, `any` is `always`, no condition is the engine's default, `"no"`.
fn restart_policy(cx: &mut Ctx, node: &Node, key: &str) -> Option<RestartPolicy> {
    fields::map(cx, node, key);
    check_keys(cx, node, key, RESTART_POLICY_KEYS);
    for name in ["delay", "window"] {
        if let Some(n) = node.get(name) {
            fields::duration(cx, n, &child(key, name));
            cx.warn(
                n,
                &child(key, name),
                format!(
                    "`restart_policy.{name}` has no effect on one Docker host: it is a Swarm setting; the engine restarts with its own growing delay"
                ),
            );
        }
    }
    let attempts = node
        .get("max_attempts")
        .and_then(|n| fields::int::<u32>(cx, n, &child(key, "max_attempts")));
    let condition = match node.get("condition") {
        Some(n) => fields::text(cx, n, &child(key, "condition"))?,
        None => String::new(),
    };
    let policy = match condition.as_str() {
        "" | "none" | "no" => RestartPolicy::No,
        "any" | "always" => RestartPolicy::Always,
        "unless-stopped" => RestartPolicy::UnlessStopped,
        "on-failure" => RestartPolicy::OnFailure {
            max_retries: attempts.filter(|n| *n > 0),
        },
        _ => {
            let at = node.get("condition").unwrap_or(node);
            let message = format!(
                "{} is not a restart condition; use none, on-failure or any",
                quoted_literal(at)
            );
            cx.error(at, &child(key, "condition"), message);
            return None;
        }
    };
    if let (Some(n), false) = (
        node.get("max_attempts"),
        matches!(policy, RestartPolicy::OnFailure { .. }),
    ) && attempts.is_some_and(|a| a > 0)
    {
        cx.error(
            n,
            &child(key, "max_attempts"),
            "`max_attempts` only counts with `condition: on-failure` (the engine refuses it otherwise); set that condition or remove it",
        );
    }
    Some(policy)
}

/// `pull_policy` and `pull_refresh_after`.
fn pull_policy(cx: &mut Ctx, service: &Node, key: &str) -> PullPolicy {
    let after = service.get("pull_refresh_after").and_then(|n| {
        let at = child(key, "pull_refresh_after");
        fields::duration(cx, n, &at).map(|d| (n, at, d))
    });
    let Some(node) = service.get("pull_policy") else {
        if let Some((n, at, _)) = after {
            cx.error(
                n,
                &at,
                "`pull_refresh_after` only counts with `pull_policy: refresh`; add that or remove it",
            );
        }
        return PullPolicy::default();
    };
    let key = child(key, "pull_policy");
    let Some(text) = fields::text(cx, node, &key) else {
        return PullPolicy::default();
    };
    let policy = match text.as_str() {
        "missing" | "if_not_present" => Some(PullPolicy::Missing),
        "always" => Some(PullPolicy::Always),
        "never" => Some(PullPolicy::Never),
        "build" => Some(PullPolicy::Build),
        "daily" => Some(PullPolicy::Refresh(Duration::from_secs(24 * 3600))),
        "weekly" => Some(PullPolicy::Refresh(Duration::from_secs(7 * 24 * 3600))),
        "refresh" => match &after {
            Some((_, _, d)) => Some(PullPolicy::Refresh(*d)),
            None => {
                cx.error(
                    node,
                    &key,
                    "`pull_policy: refresh` needs `pull_refresh_after:` (such as 12h); or write daily, weekly or every_12h",
                );
                return PullPolicy::default();
            }
        },
        other => other
            .strip_prefix("every_")
            .and_then(every)
            .map(PullPolicy::Refresh),
    };
    if let (Some((n, at, _)), false) = (&after, text == "refresh") {
        cx.error(
            n,
            at,
            "`pull_refresh_after` only counts with `pull_policy: refresh`; remove one",
        );
    }
    policy.unwrap_or_else(|| {
        let message = format!(
            "{} is not a pull policy; use missing, always, never, build, daily, weekly, every_<duration> (every_12h) or refresh",
            quoted_literal(node)
        );
        cx.error(node, &key, message);
        PullPolicy::default()
    })
}

/// An `every_` duration: `w`, `d`, `h`, `m`, `s` units, combined (`1w2d`, `12h30m`);
/// not zero.
fn every(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'w' => 7 * 24 * 3600,
            'd' => 24 * 3600,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        number.clear();
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    (number.is_empty() && total > 0).then(|| Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::every;
    use std::time::Duration;

    #[test]
    fn every_durations_combine_weeks_to_seconds() {
        assert_eq!(every("12h"), Some(Duration::from_secs(12 * 3600)));
        assert_eq!(every("1w1d"), Some(Duration::from_secs(8 * 24 * 3600)));
        assert_eq!(every("1h30m15s"), Some(Duration::from_secs(5415)));
        assert_eq!(every("0s"), None);
        assert_eq!(every("12"), None);
        assert_eq!(every("3y"), None);
        assert_eq!(every(""), None);
    }
}
