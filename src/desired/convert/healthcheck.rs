//! `healthcheck:`, as compose v2 builds the engine's `HealthConfig`: `test` as a string is
//! `["CMD-SHELL", text]`, as a list starts with `CMD`, `CMD-SHELL` or `NONE`;
//! `disable: true` is `["NONE"]` (whatever `test` says), `disable: false` changes nothing;
//! a healthcheck without `test` keeps the image's test and overrides its timings (the
//! engine merges them). `start_interval` needs Engine API 1.44, newer than the 1.41
//! composectl speaks, which would drop it silently: it is refused with that reason.

use super::Ctx;
use super::fields::{self, check_keys, child};
use crate::desired::yaml::Node;
use crate::model::spec::Healthcheck;

const KEYS: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];

/// Reads `healthcheck:`.
pub fn healthcheck(cx: &mut Ctx, node: &Node, key: &str) -> Option<Healthcheck> {
    fields::map(cx, node, key);
    check_keys(cx, node, key, KEYS);
    let path = |name: &str| child(key, name);
    let disabled = node
        .get("disable")
        .and_then(|n| fields::boolean(cx, n, &path("disable")))
        .unwrap_or(false);
    let test = node
        .get("test")
        .map(|n| test(cx, n, &path("test")))
        .unwrap_or_default();
    if let Some(n) = node.get("start_interval") {
        fields::duration(cx, n, &path("start_interval"));
        cx.error(
            n,
            &path("start_interval"),
            "`start_interval` needs Docker 25 (Engine API 1.44); composectl speaks API 1.41 (Docker 20.10), which would ignore it; remove it and tune `interval` and `start_period` instead",
        );
    }
    let duration = |cx: &mut Ctx, name: &str| {
        node.get(name)
            .and_then(|n| fields::duration(cx, n, &path(name)))
    };
    Some(Healthcheck {
        test: if disabled { vec!["NONE".into()] } else { test },
        interval: duration(cx, "interval"),
        timeout: duration(cx, "timeout"),
        retries: node
            .get("retries")
            .and_then(|n| fields::int(cx, n, &path("retries"))),
        start_period: duration(cx, "start_period"),
    })
}

/// `test`: a string runs in the container's shell; a list starts with `CMD`,
/// `CMD-SHELL` or `NONE`, as compose validates it.
fn test(cx: &mut Ctx, node: &Node, key: &str) -> Vec<String> {
    if node.as_seq().is_none() {
        return fields::text(cx, node, key)
            .map(|t| vec!["CMD-SHELL".to_string(), t])
            .unwrap_or_default();
    }
    let test = fields::string_list(cx, node, key, false);
    match test.first().map(String::as_str) {
        Some("CMD" | "CMD-SHELL" | "NONE") | None => test,
        Some(_) => {
            cx.error(
                node,
                key,
                "a test list starts with \"CMD\", \"CMD-SHELL\" or \"NONE\", such as [\"CMD\", \"curl\", \"-f\", \"http://localhost/\"]",
            );
            Vec::new()
        }
    }
}
