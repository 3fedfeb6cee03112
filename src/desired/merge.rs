//! Laying one compose definition over another as compose-go's `override.MergeYaml` does:
//! an override file (`compose.override.yaml`) over the base file, and a service over the
//! service it `extends` ([`merge_service`]).
//!
//! - mappings merge key by key, recursively;
//! - scalars (and values whose type changed) are replaced by the override;
//! - sequences append the override's items after the base's, except `command`,
//!   `entrypoint`, `healthcheck.test` and each `ulimits` entry, which are replaced whole;
//! - the list and mapping forms of `environment`, `labels`, `annotations`, `sysctls`,
//!   `build.args`, `build.labels`, `build.additional_contexts`, `deploy.labels`,
//!   `depends_on`, `networks` and `logging.options` are first brought to the mapping form,
//!   so an override changes one key without repeating the others;
//! - `build: DIR` is `build: {context: DIR}`; `logging` is replaced whole when the two
//!   name different drivers; a single string under `dns`, `dns_search`, `dns_opt`,
//!   `env_file`, `label_file` or `tmpfs` is a list of one;
//! - after appending, `cap_add`, `cap_drop`, `dns`, `dns_search`, `dns_opt`, `expose`,
//!   `profiles`, `tmpfs`, `links`, `env_file` (by path) and `extra_hosts` keep each entry
//!   once (a later duplicate takes the first one's place), as compose-go's
//!   `EnforceUnicity` does.
//!
//! Mounts and ports that end up twice are resolved later: a later mount with the same target
//! wins, identical ports are kept once.

use std::collections::HashMap;

use super::yaml::{Key, Node, Value};

/// Service fields whose sequences the override replaces instead of extending.
const REPLACED: [&str; 2] = ["command", "entrypoint"];
/// Service fields whose list form is a mapping in disguise.
const MAPPING_LIKE: [&str; 6] = [
    "environment",
    "labels",
    "depends_on",
    "networks",
    "annotations",
    "sysctls",
];
/// Service fields where a single string stands for a list of one.
const STRING_OR_LIST: [&str; 6] = [
    "dns",
    "dns_search",
    "dns_opt",
    "env_file",
    "label_file",
    "tmpfs",
];
/// Service fields whose merged sequence keeps each entry once.
const UNIQUE: [&str; 10] = [
    "cap_add",
    "cap_drop",
    "dns",
    "dns_search",
    "dns_opt",
    "expose",
    "profiles",
    "tmpfs",
    "links",
    "env_file",
];

/// Merges `over` into `base` (both whole documents).
pub fn merge(base: Node, over: Node) -> Node {
    merge_at(base, over, &[])
}

/// Merges the service `over` into the service `base` it extends.
pub fn merge_service(base: Node, over: Node) -> Node {
    merge_at(base, over, &["services", "*"])
}

fn merge_at(base: Node, over: Node, path: &[&str]) -> Node {
    let (base, over) = if mapping_like(path) {
        (to_mapping(base), to_mapping(over))
    } else if string_or_list(path) {
        (to_list(base), to_list(over))
    } else if matches!(path, ["services", _, "build"]) {
        (build_mapping(base), build_mapping(over))
    } else if matches!(path, ["services", _, "extra_hosts"]) {
        (hosts_list(base), hosts_list(over))
    } else {
        (base, over)
    };
    let replaced_whole = matches!(path, ["services", _, "ulimits", _])
        || (matches!(path, ["services", _, "logging"]) && other_drivers(&base, &over));
    if replaced_whole {
        return over;
    }
    let unique = unique(path);
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => Node {
            value: Value::Map(merge_maps(b, o, path)),
            ..over_position(&base.file, base.line, base.column)
        },
        (Value::Seq(mut b), Value::Seq(o)) if !replaced(path) => {
            b.extend(o);
            if let Some(index) = unique {
                b = keep_once(b, index);
            }
            Node {
                value: Value::Seq(b),
                line: base.line,
                column: base.column,
                file: base.file,
                interpolated: None,
            }
        }
        (_, value) => Node {
            value,
            line: over.line,
            column: over.column,
            file: over.file,
            interpolated: over.interpolated,
        },
    }
}

fn over_position(file: &std::sync::Arc<std::path::Path>, line: usize, column: usize) -> Node {
    Node {
        value: Value::Null,
        line,
        column,
        file: file.clone(),
        interpolated: None,
    }
}

fn merge_maps(
    mut base: Vec<(Key, Node)>,
    over: Vec<(Key, Node)>,
    path: &[&str],
) -> Vec<(Key, Node)> {
    // Keys are unique in each map; the index keeps merging linear in the number of keys.
    let mut index: HashMap<String, usize> = base
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.name.clone(), i))
        .collect();
    for (key, value) in over {
        match index.get(&key.name) {
            Some(&i) => {
                let old = std::mem::replace(&mut base[i].1, placeholder(&value));
                let mut child = path.to_vec();
                child.push(&key.name);
                base[i].1 = merge_at(old, value, &child);
            }
            None => {
                index.insert(key.name.clone(), base.len());
                base.push((key, value));
            }
        }
    }
    base
}

/// `services.<name>.<field>` → `Some(field)`.
/// A null node standing in while a value is moved out to be merged.
fn placeholder(like: &Node) -> Node {
    over_position(&like.file, like.line, like.column)
}

fn service_field<'a>(path: &[&'a str]) -> Option<&'a str> {
    match path {
        ["services", _, field] => Some(field),
        _ => None,
    }
}

fn replaced(path: &[&str]) -> bool {
    service_field(path).is_some_and(|f| REPLACED.contains(&f))
        || matches!(path, ["services", _, "healthcheck", "test"])
}

fn mapping_like(path: &[&str]) -> bool {
    service_field(path).is_some_and(|f| MAPPING_LIKE.contains(&f))
        || matches!(
            path,
            [
                "services",
                _,
                "build",
                "args" | "labels" | "additional_contexts"
            ] | ["services", _, "deploy", "labels"]
                | ["services", _, "logging", "options"]
        )
}

fn string_or_list(path: &[&str]) -> bool {
    service_field(path).is_some_and(|f| STRING_OR_LIST.contains(&f))
}

/// How entries of a merged sequence are told apart, when each must appear once.
type Index = fn(&Node) -> Option<String>;

fn unique(path: &[&str]) -> Option<Index> {
    match path {
        ["services", _, "env_file"] => Some(env_file_path),
        ["services", _, "extra_hosts"] => Some(Node::scalar_text),
        ["services", _, "networks", _, "aliases"] => Some(key_of),
        _ if service_field(path).is_some_and(|f| UNIQUE.contains(&f)) => Some(key_of),
        _ => None,
    }
}

/// `KEY` of `KEY=VALUE` (the whole text otherwise).
fn key_of(node: &Node) -> Option<String> {
    let text = node.scalar_text()?;
    Some(
        text.split_once('=')
            .map_or(text.clone(), |(k, _)| k.to_owned()),
    )
}

fn env_file_path(node: &Node) -> Option<String> {
    match node.get("path") {
        Some(path) => path.scalar_text(),
        None => node.scalar_text(),
    }
}

/// `items` with each entry once: a later entry with the same index replaces the earlier
/// one in its place; entries without an index are all kept.
fn keep_once(items: Vec<Node>, index: Index) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::with_capacity(items.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for item in items {
        match index(&item) {
            Some(key) => match seen.get(&key) {
                Some(&i) => out[i] = item,
                None => {
                    seen.insert(key, out.len());
                    out.push(item);
                }
            },
            None => out.push(item),
        }
    }
    out
}

/// `logging` of both sides names a driver, and not the same one.
fn other_drivers(base: &Node, over: &Node) -> bool {
    let driver = |n: &Node| n.get("driver").and_then(Node::scalar_text);
    matches!((driver(base), driver(over)), (Some(b), Some(o)) if b != o)
}

/// A single string as a list of one; anything else unchanged.
fn to_list(node: Node) -> Node {
    if !matches!(node.value, Value::Str(_)) {
        return node;
    }
    Node {
        value: Value::Seq(vec![node.clone()]),
        interpolated: None,
        ..node
    }
}

/// `build: DIR` as `build: {context: DIR}`; anything else unchanged.
fn build_mapping(node: Node) -> Node {
    if !matches!(node.value, Value::Str(_)) {
        return node;
    }
    let key = Key {
        name: "context".into(),
        line: node.line,
        column: node.column,
    };
    Node {
        value: Value::Map(vec![(key, node.clone())]),
        interpolated: None,
        ..node
    }
}

/// `extra_hosts` in its list form (`HOST=IP` for each entry of the mapping form).
fn hosts_list(node: Node) -> Node {
    let Value::Map(entries) = &node.value else {
        return node;
    };
    let mut items = Vec::new();
    for (key, value) in entries {
        let ips = match &value.value {
            Value::Seq(ips) => ips.iter().filter_map(Node::scalar_text).collect(),
            _ => vec![value.scalar_text().unwrap_or_default()],
        };
        for ip in ips {
            items.push(Node {
                value: Value::Str(format!("{}={ip}", key.name)),
                ..value.clone()
            });
        }
    }
    Node {
        value: Value::Seq(items),
        ..node
    }
}

/// A `[K=V, K]` or `[name, ...]` list as a mapping; anything else unchanged.
fn to_mapping(node: Node) -> Node {
    let Value::Seq(items) = node.value else {
        return node;
    };
    let entries = items
        .into_iter()
        .map(|item| {
            let text = item.scalar_text().unwrap_or_default();
            let (name, value) = match text.split_once('=') {
                Some((k, v)) => (k.to_string(), Value::Str(v.to_string())),
                None => (text, Value::Null),
            };
            let key = Key {
                name,
                line: item.line,
                column: item.column,
            };
            (key, Node { value, ..item })
        })
        .collect();
    Node {
        value: Value::Map(entries),
        ..node
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::yaml::parse;
    use std::path::Path;

    fn merged(base: &str, over: &str) -> Node {
        let b = parse(base, Path::new("base.yaml")).unwrap().unwrap();
        let o = parse(over, Path::new("over.yaml")).unwrap().unwrap();
        merge(b, o)
    }

    fn texts(node: &Node) -> Vec<String> {
        node.as_seq()
            .unwrap()
            .iter()
            .filter_map(Node::scalar_text)
            .collect()
    }

    #[test]
    fn maps_merge_scalars_override_and_lists_append() {
        let m = merged(
            "services:\n  web:\n    image: a\n    ports: ['80']\n    command: [a, b]\n",
            "services:\n  web:\n    image: b\n    ports: ['443']\n    command: [c]\n  db:\n    image: pg\n",
        );
        let web = m.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.get("image").unwrap().scalar_text().unwrap(), "b");
        assert_eq!(texts(web.get("ports").unwrap()), ["80", "443"]);
        assert_eq!(texts(web.get("command").unwrap()), ["c"]);
        assert!(m.get("services").unwrap().get("db").is_some());
    }

    #[test]
    fn environment_lists_and_maps_merge_by_key() {
        let m = merged(
            "services:\n  web:\n    environment: [A=1, B=2]\n",
            "services:\n  web:\n    environment:\n      B: 3\n",
        );
        let env = m
            .get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get("environment")
            .unwrap();
        assert_eq!(env.get("A").unwrap().scalar_text().unwrap(), "1");
        assert_eq!(env.get("B").unwrap().scalar_text().unwrap(), "3");
    }

    #[test]
    fn overridden_values_point_at_the_override_file() {
        let m = merged("a: 1\n", "a: 2\n");
        assert!(m.get("a").unwrap().file.ends_with("over.yaml"));
    }

    #[test]
    fn compose_go_rules_for_build_logging_ulimits_and_unique_lists() {
        let m = merged(
            "services:\n  web:\n    build: ./app\n    logging: {driver: json-file, options: {max-size: 1m}}\n    ulimits: {nofile: {soft: 1, hard: 2}}\n    cap_add: [A, B]\n    dns: 1.1.1.1\n    profiles: [x]\n    extra_hosts: {db: 10.0.0.1}\n",
            "services:\n  web:\n    build: {dockerfile: D}\n    logging: {driver: local}\n    ulimits: {nofile: {soft: 3}}\n    cap_add: [B, C]\n    dns: [8.8.8.8]\n    profiles: [x, y]\n    extra_hosts: ['db=10.0.0.1', 'cache=10.0.0.2']\n",
        );
        let web = m.get("services").unwrap().get("web").unwrap();
        let build = web.get("build").unwrap();
        assert_eq!(
            build.get("context").unwrap().scalar_text().unwrap(),
            "./app"
        );
        assert_eq!(build.get("dockerfile").unwrap().scalar_text().unwrap(), "D");
        assert!(web.get("logging").unwrap().get("options").is_none());
        assert!(
            web.get("ulimits")
                .unwrap()
                .get("nofile")
                .unwrap()
                .get("hard")
                .is_none()
        );
        assert_eq!(texts(web.get("cap_add").unwrap()), ["A", "B", "C"]);
        assert_eq!(texts(web.get("dns").unwrap()), ["1.1.1.1", "8.8.8.8"]);
        assert_eq!(texts(web.get("profiles").unwrap()), ["x", "y"]);
        assert_eq!(
            texts(web.get("extra_hosts").unwrap()),
            ["db=10.0.0.1", "cache=10.0.0.2"]
        );
    }

    #[test]
    fn logging_options_merge_when_the_driver_is_the_same() {
        let m = merged(
            "services:\n  web:\n    logging: {driver: local, options: {a: 1}}\n",
            "services:\n  web:\n    logging: {options: {b: 2}}\n",
        );
        let options = m
            .get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get("logging")
            .unwrap()
            .get("options")
            .unwrap();
        assert!(options.get("a").is_some() && options.get("b").is_some());
    }
}
