//! Laying an override file (`compose.override.yaml`) over the base file, as compose does,
//! kept simple:
//!
//! - mappings merge key by key, recursively;
//! - scalars (and values whose type changed) are replaced by the override;
//! - sequences append the override's items after the base's, except `command`,
//!   `entrypoint`, `healthcheck.test` and `profiles`, which are replaced whole;
//! - the list and mapping forms of `environment`, `labels`, `build.args`, `depends_on`,
//!   `networks` and `logging.options` are first brought to the mapping form, so an override
//!   changes one key without repeating the others.
//!
//! Mounts and ports that end up twice are resolved later: a later mount with the same target
//! wins, identical ports are kept once.

use std::collections::HashMap;

use super::yaml::{Key, Node, Value};

/// Service fields whose sequences the override replaces instead of extending.
const REPLACED: [&str; 3] = ["command", "entrypoint", "profiles"];
/// Service fields whose list form is a mapping in disguise.
const MAPPING_LIKE: [&str; 4] = ["environment", "labels", "depends_on", "networks"];

/// Merges `over` into `base` (both whole documents).
pub fn merge(base: Node, over: Node) -> Node {
    merge_at(base, over, &[])
}

fn merge_at(base: Node, over: Node, path: &[&str]) -> Node {
    let (base, over) = if mapping_like(path) {
        (to_mapping(base), to_mapping(over))
    } else {
        (base, over)
    };
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => Node {
            value: Value::Map(merge_maps(b, o, path)),
            ..over_position(&base.file, base.line, base.column)
        },
        (Value::Seq(mut b), Value::Seq(o)) if !replaced(path) => {
            b.extend(o);
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
            ["services", _, "build", "args"] | ["services", _, "logging", "options"]
        )
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
}
