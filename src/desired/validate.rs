//! Cross-reference checks over a converted project: service references name active
//! services and imply their dependencies ([`super::convert::refs::resolve`]); `depends_on`
//! names services that exist (a dependency on a service switched off by profiles is an
//! error, or, with `required: false`, dropped with a warning, as compose does), has no
//! cycle, and `container_name` is only used with one replica.
//!
//! Undeclared networks and volumes are caught during conversion, where the declared ones
//! are known; everything here needs the whole project.

use std::collections::{BTreeMap, BTreeSet};

use super::Diagnostic;
use super::convert::Ctx;
use super::yaml::Node;
use crate::model::spec::ProjectSpec;

/// Checks `spec` (converted from `doc`), recording problems in `cx`.
pub fn validate(cx: &mut Ctx, spec: &mut ProjectSpec, doc: &Node) {
    super::convert::refs::resolve(cx, spec, doc);
    let services = doc.get("services");
    let at = |service: &str, field: &str| -> Option<&Node> {
        let node = services?.get(service)?;
        Some(node.get(field).unwrap_or(node))
    };
    let names: BTreeSet<String> = spec.services.keys().cloned().collect();
    for name in &names {
        let service = spec
            .services
            .get_mut(name)
            .expect("name comes from the map");
        let key = format!("services.{name}");
        let depends = std::mem::take(&mut service.depends_on);
        let node = at(name, "depends_on");
        let interpolated = interpolated_items(node);
        for (dependency, condition) in depends {
            if names.contains(&dependency) {
                service.depends_on.insert(dependency, condition);
                continue;
            }
            let shown = match interpolated.get(dependency.as_str()) {
                Some(item) => super::convert::fields::shown_name(item, &dependency),
                None => format!("`{dependency}`"),
            };
            let optional = service.optional_dependencies.contains(&dependency);
            if cx.inactive.contains(&dependency) && optional {
                let message = format!(
                    "{shown} is not active under the selected profiles; the optional dependency (`required: false`) is ignored"
                );
                push(
                    &mut cx.warnings,
                    node,
                    &cx.dir,
                    format!("{key}.depends_on"),
                    message,
                );
            } else if cx.inactive.contains(&dependency) {
                let message = format!(
                    "{shown} is not active under the selected profiles, and the service requires it (compose refuses this too); activate one of its profiles (COMPOSE_PROFILES) or write `required: false` under the dependency"
                );
                push(
                    &mut cx.errors,
                    node,
                    &cx.dir,
                    format!("{key}.depends_on"),
                    message,
                );
            } else {
                let message =
                    format!("{shown} is not a service of this project; fix the name or remove it");
                push(
                    &mut cx.errors,
                    node,
                    &cx.dir,
                    format!("{key}.depends_on"),
                    message,
                );
            }
        }
        if crate::rollout::config::has_rollout(service)
            && let Err(problem) = crate::rollout::config::check(service)
        {
            let (field, message) = problem.split_once(": ").unwrap_or(("x-rollout", &problem));
            let node = if field.starts_with("deploy") {
                at(name, "deploy")
            } else {
                at(name, crate::rollout::config::KEY)
            };
            let message = node.map_or_else(|| message.to_owned(), |n| as_written(message, n));
            push(
                &mut cx.errors,
                node,
                &cx.dir,
                format!("{key}.{field}"),
                format!(
                    "{message}; the service keeps running its current revision until this is fixed"
                ),
            );
        }
        if service.container_name.is_some() && service.replicas > 1 {
            let message = format!(
                "`container_name` cannot be used with {} replicas (names must be unique); remove it or set replicas to 1",
                service.replicas
            );
            push(
                &mut cx.errors,
                at(name, "container_name"),
                &cx.dir,
                format!("{key}.container_name"),
                message,
            );
        }
    }
    if let Some(cycle) = find_cycle(spec) {
        let first = cycle[0].clone();
        let message = format!(
            "depends_on forms a cycle: {} (counting the dependencies `network_mode: service:`, `volumes_from` and `links` make); remove one of these dependencies",
            cycle.join(" -> ")
        );
        push(
            &mut cx.errors,
            at(&first, "depends_on"),
            &cx.dir,
            format!("services.{first}.depends_on"),
            message,
        );
    }
}

/// `message` (which quotes values as `"value"`) with every quoted value that interpolation
/// made somewhere in `node` replaced by its template as written (`"${GATE_TYPE}"`): the
/// rollout and gate configuration is read from JSON, which no longer knows what was
/// interpolated.
fn as_written(message: &str, node: &Node) -> String {
    let mut message = message.to_owned();
    let mut pending = vec![node];
    while let Some(node) = pending.pop() {
        match (&node.value, &node.interpolated) {
            (super::yaml::Value::Str(text), Some(template)) => {
                message = message.replace(&format!("{text:?}"), &format!("{:?}", &**template));
            }
            (super::yaml::Value::Seq(items), _) => pending.extend(items),
            (super::yaml::Value::Map(entries), _) => pending.extend(entries.iter().map(|(_, v)| v)),
            _ => {}
        }
    }
    message
}

/// The entries of a `depends_on` list that interpolation made, by their value: messages
/// show those as written (the value may be a secret).
fn interpolated_items(depends_on: Option<&Node>) -> BTreeMap<String, &Node> {
    depends_on
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
        .filter(|item| item.interpolated.is_some())
        .filter_map(|item| Some((item.scalar_text()?, item)))
        .collect()
}

fn push(
    list: &mut Vec<Diagnostic>,
    node: Option<&Node>,
    dir: &std::path::Path,
    key: String,
    message: String,
) {
    list.push(match node {
        Some(node) => Diagnostic::at(node, key, message),
        None => Diagnostic {
            key,
            ..Diagnostic::file(dir, message)
        },
    });
}

/// A dependency cycle, as the services along it with the first repeated at the end.
pub fn find_cycle(spec: &ProjectSpec) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        spec: &ProjectSpec,
        name: &str,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(name) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|s| s == name).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(name.to_string(), Mark::Visiting);
        stack.push(name.to_string());
        for dependency in spec
            .services
            .get(name)
            .map(|s| s.depends_on.keys())
            .into_iter()
            .flatten()
        {
            if let Some(cycle) = visit(spec, dependency, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(name.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    spec.services
        .keys()
        .find_map(|name| visit(spec, name, &mut marks, &mut Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::{DependsOn, ServiceSpec};

    fn project(edges: &[(&str, &[&str])]) -> ProjectSpec {
        let mut spec = ProjectSpec::default();
        for (name, deps) in edges {
            let mut s = ServiceSpec::new(*name, "img");
            s.depends_on = deps
                .iter()
                .map(|d| (d.to_string(), DependsOn::Started))
                .collect();
            spec.services.insert(name.to_string(), s);
        }
        spec
    }

    #[test]
    fn cycles_are_found_and_named_in_order() {
        let spec = project(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        assert_eq!(find_cycle(&spec).unwrap(), ["a", "b", "c", "a"]);
        let self_loop = project(&[("a", &["a"])]);
        assert_eq!(find_cycle(&self_loop).unwrap(), ["a", "a"]);
    }

    #[test]
    fn a_diamond_is_not_a_cycle() {
        let spec = project(&[("a", &["b", "c"]), ("b", &["d"]), ("c", &["d"]), ("d", &[])]);
        assert_eq!(find_cycle(&spec), None);
    }
}
