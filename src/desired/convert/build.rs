//! A service's `build:`, short form (the context) or long form, into [`BuildSpec`].
//!
//! Every key compose defines is either applied or refused naming what to do; none is
//! dropped. The context and a Dockerfile named by path must lie inside the desired
//! directory (symlinks followed): what a build may read of the host is not decided by a
//! commit. Only what the classic builder of the Engine API can do is accepted: keys that
//! need BuildKit (`secrets`, `ssh`, `additional_contexts`, `cache_to`, `entitlements`,
//! `privileged`) and platforms other than the host's are refused.

use std::path::Path;

use super::fields::{self, check_keys, child};
use super::{Ctx, mounts};
use crate::desired::yaml::Node;
use crate::model::spec::BuildSpec;

/// Keys applied.
const APPLIED: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "args",
    "target",
    "labels",
    "network",
    "extra_hosts",
    "shm_size",
    "cache_from",
    "no_cache",
    "pull",
    "tags",
    "platforms",
];

/// Keys compose knows that composectl refuses, and why.
const REFUSED: &[(&str, &str)] = &[
    (
        "secrets",
        "build secrets need BuildKit, which composectl does not drive",
    ),
    (
        "ssh",
        "SSH forwarding needs BuildKit, which composectl does not drive",
    ),
    (
        "additional_contexts",
        "additional contexts need BuildKit, which composectl does not drive",
    ),
    (
        "cache_to",
        "exporting a cache needs BuildKit, which composectl does not drive",
    ),
    (
        "entitlements",
        "entitlements need BuildKit, which composectl does not drive",
    ),
    (
        "privileged",
        "privileged builds need BuildKit, which composectl does not drive",
    ),
    (
        "isolation",
        "build isolation applies to Windows engines only",
    ),
    ("ulimits", "build ulimits are not supported by composectl"),
];

/// The service's `build` at `node` (key path `key`).
pub fn build(cx: &mut Ctx, node: &Node, key: &str) -> Option<BuildSpec> {
    if node.as_map().is_none() {
        let text = fields::text(cx, node, key)?;
        let context = context(cx, node, key, &text)?;
        return Some(BuildSpec {
            context,
            ..BuildSpec::default()
        });
    }
    let known: Vec<&str> = APPLIED
        .iter()
        .copied()
        .chain(REFUSED.iter().map(|(k, _)| *k))
        .collect();
    check_keys(cx, node, key, &known);
    for (name, why) in REFUSED {
        if let Some(value) = node.get(name) {
            let message =
                format!("{why}; remove `{name}` (or build the image yourself and set `image:`)");
            cx.error(value, &child(key, name), message);
        }
    }
    let at = |name: &str| node.get(name).map(|n| (n, child(key, name)));
    let text = |cx: &mut Ctx, name: &str| at(name).and_then(|(n, k)| fields::text(cx, n, &k));
    let list = |cx: &mut Ctx, name: &str| {
        at(name).map_or_else(Vec::new, |(n, k)| fields::string_list(cx, n, &k, false))
    };
    let flag = |cx: &mut Ctx, name: &str| {
        at(name).is_some_and(|(n, k)| fields::boolean(cx, n, &k).unwrap_or(false))
    };
    let context_text = text(cx, "context").unwrap_or_else(|| ".".into());
    let context_node = node.get("context").unwrap_or(node);
    let context = context(cx, context_node, &child(key, "context"), &context_text)?;
    let dockerfile = text(cx, "dockerfile");
    let dockerfile_inline = text(cx, "dockerfile_inline");
    if let (Some(named), Some((inline, inline_key))) = (&dockerfile, at("dockerfile_inline")) {
        let message = format!(
            "both `dockerfile` ({named}) and `dockerfile_inline` are set; keep one of them"
        );
        cx.error(inline, &inline_key, message);
    }
    if let (Some(named), Some((n, k))) = (&dockerfile, at("dockerfile")) {
        dockerfile_inside(cx, n, &k, &context, named);
    }
    let args = at("args")
        .map(|(n, k)| fields::string_map(cx, n, &k, '='))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.or_else(|| (cx.lookup)(&k)).map(|v| (k, v)))
        .collect();
    let extra_hosts =
        at("extra_hosts").map_or_else(Vec::new, |(n, k)| super::service::extra_hosts(cx, n, &k));
    if let (true, Some((n, k))) = (extra_hosts.len() > 1, at("extra_hosts")) {
        let message = "the engine's classic builder takes one build extra host; keep one (or add the others to the image's /etc/hosts at run time with the service's `extra_hosts`)";
        cx.error(n, &k, message);
    }
    let platforms = list(cx, "platforms");
    if let Some((n, k)) = at("platforms") {
        host_platforms_only(cx, n, &k, &platforms);
    }
    Some(BuildSpec {
        context,
        dockerfile,
        dockerfile_inline,
        args,
        target: text(cx, "target"),
        labels: at("labels").map_or_else(Default::default, |(n, k)| fields::labels(cx, n, &k)),
        network: text(cx, "network"),
        extra_hosts,
        shm_size: at("shm_size").and_then(|(n, k)| fields::size(cx, n, &k)),
        cache_from: list(cx, "cache_from"),
        no_cache: flag(cx, "no_cache"),
        pull: flag(cx, "pull"),
        tags: list(cx, "tags"),
        platforms,
        inputs: None,
    })
}

/// Reads the build context of every service of `spec` that builds (after the project
/// validated), recording its hash and entries in the service's [`BuildSpec::inputs`]; a
/// context that cannot be read fails the load at the service's `build` key. Blocking
/// file I/O, bounded by [`crate::build::Limits`].
pub fn read_contexts(cx: &mut Ctx, spec: &mut crate::model::spec::ProjectSpec, doc: &Node) {
    let limits = crate::build::Limits::default();
    for service in spec.services.values_mut() {
        let Some(build) = service.build.as_mut() else {
            continue;
        };
        match crate::build::Context::read(build, &limits) {
            Ok(context) => {
                build.inputs = Some(crate::model::spec::BuildInputs {
                    hash: context.hash,
                    entries: std::sync::Arc::new(context.entries),
                });
            }
            Err(e) => {
                let key = format!("services.{}.build", service.name);
                let node = doc
                    .get("services")
                    .and_then(|s| s.get(&service.name))
                    .and_then(|s| s.get("build"))
                    .unwrap_or(doc);
                cx.error(node, &key, e.to_string());
            }
        }
    }
}

/// The context `text` as an absolute path inside the desired directory, or an error.
fn context(cx: &mut Ctx, node: &Node, key: &str, text: &str) -> Option<std::path::PathBuf> {
    if text.contains("://") || text.starts_with("git@") {
        cx.error(
            node,
            key,
            "a remote build context (a URL or git repository) is not supported; put the sources in the desired directory and name that directory",
        );
        return None;
    }
    let path = mounts::absolute(cx, text);
    inside(cx, node, key, &path, "build context").then_some(path)
}

fn dockerfile_inside(cx: &mut Ctx, node: &Node, key: &str, context: &Path, named: &str) {
    let path = crate::desired::relpaths::clean(&context.join(named));
    inside(cx, node, key, &path, "Dockerfile");
}

/// True when `path` (symlinks followed) lies inside the desired directory; else records
/// an error naming `what`.
fn inside(cx: &mut Ctx, node: &Node, key: &str, path: &Path, what: &str) -> bool {
    let root = cx.origins.root.clone();
    if root.lexical.as_os_str().is_empty() {
        return true;
    }
    let resolved = match root.resolve(path) {
        Ok(resolved) => resolved,
        Err(e) => {
            let message = format!(
                "the {what} {} cannot be resolved ({e}); fix the path",
                path.display()
            );
            cx.error(node, key, message);
            return false;
        }
    };
    if root.contains(&resolved) {
        return true;
    }
    let message = format!(
        "the {what} {} lies outside the desired directory {}; keep what builds inside the desired directory",
        resolved.display(),
        root.lexical.display()
    );
    cx.error(node, key, message);
    false
}

/// This host's platform as the engine names it (`linux/amd64`, `linux/arm64`, ...).
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm/v7",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("linux/{arch}")
}

fn host_platforms_only(cx: &mut Ctx, node: &Node, key: &str, platforms: &[String]) {
    let host = host_platform();
    let same = |p: &str| p == host || (host == "linux/arm64" && p == "linux/arm64/v8");
    for platform in platforms {
        if !same(platform) {
            let message = format!(
                "composectl builds for this host's platform only ({host}), not {platform}; remove it from `platforms`"
            );
            cx.error(node, key, message);
        }
    }
}
