//! Making the relative paths of a compose document absolute, as compose-go's
//! `paths.ResolveRelativePaths` does: an included file (see [`super::include`]) and the base
//! service of an `extends: {file: ...}` (see [`super::extends`]) carry paths relative to
//! their own directory, which must not change meaning once their definitions are copied
//! into a project whose directory is elsewhere.
//!
//! Rewritten (relative values only; `~/` paths, absolute paths, URLs and named volumes stay
//! as written): `services.*.build` (string) and `build.context`, the values of
//! `build.additional_contexts`, `env_file` (string, list, `path:`), `label_file`,
//! `extends.file`, bind sources of `volumes` (short syntax starting with `.`, long syntax
//! `type: bind`), `secrets.*.file`, `configs.*.file` and the `driver_opts.device` of a
//! top-level `local` volume with `o: bind`.

use std::path::{Component, Path, PathBuf};

use super::yaml::{Node, Value};

/// Rewrites the relative paths of the whole document `doc` against `dir` (absolute).
pub fn resolve_document(doc: &mut Node, dir: &Path) {
    if let Some(services) = get_mut(doc, "services")
        && let Value::Map(entries) = &mut services.value
    {
        for (_, service) in entries {
            resolve_service(service, dir);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(Value::Map(entries)) = get_mut(doc, section).map(|n| &mut n.value) {
            for (_, entry) in entries {
                if let Some(file) = get_mut(entry, "file") {
                    absolute_node(file, dir);
                }
            }
        }
    }
    if let Some(Value::Map(volumes)) = get_mut(doc, "volumes").map(|n| &mut n.value) {
        for (_, volume) in volumes {
            volume_device(volume, dir);
        }
    }
}

/// Rewrites the relative paths of one service definition against `dir` (absolute).
pub fn resolve_service(service: &mut Node, dir: &Path) {
    if let Some(build) = get_mut(service, "build") {
        match &mut build.value {
            Value::Str(_) => context_node(build, dir),
            Value::Map(_) => {
                if let Some(context) = get_mut(build, "context") {
                    context_node(context, dir);
                }
                if let Some(Value::Map(contexts)) =
                    get_mut(build, "additional_contexts").map(|n| &mut n.value)
                {
                    for (_, context) in contexts {
                        context_node(context, dir);
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(env_files) = get_mut(service, "env_file") {
        each_item(env_files, |item| match &item.value {
            Value::Map(_) => {
                if let Some(path) = get_mut(item, "path") {
                    absolute_node(path, dir);
                }
            }
            _ => absolute_node(item, dir),
        });
    }
    if let Some(label_files) = get_mut(service, "label_file") {
        each_item(label_files, |item| absolute_node(item, dir));
    }
    if let Some(extends) = get_mut(service, "extends")
        && let Some(file) = get_mut(extends, "file")
    {
        absolute_node(file, dir);
    }
    if let Some(Value::Seq(volumes)) = get_mut(service, "volumes").map(|n| &mut n.value) {
        for volume in volumes {
            volume_mount(volume, dir);
        }
    }
}

/// Gives every service of `doc` whose `build` mapping has no `context` the context `dir`
/// (compose's default `.`, taken where the service is written, as compose-go sets the
/// defaults of an included application before importing it).
pub fn default_build_context(doc: &mut Node, dir: &Path) {
    let Some(Value::Map(services)) = get_mut(doc, "services").map(|n| &mut n.value) else {
        return;
    };
    for (_, service) in services {
        let Some(build) = get_mut(service, "build") else {
            continue;
        };
        let missing = build
            .as_map()
            .is_some_and(|entries| !entries.iter().any(|(k, _)| k.name == "context"));
        if !missing {
            continue;
        }
        let key = super::yaml::Key {
            name: "context".into(),
            line: build.line,
            column: build.column,
        };
        let value = Node {
            value: Value::Str(dir.display().to_string()),
            line: build.line,
            column: build.column,
            file: build.file.clone(),
            interpolated: None,
        };
        if let Value::Map(entries) = &mut build.value {
            entries.push((key, value));
        }
    }
}

/// `path` joined to `dir` when relative (`~` paths are kept), lexically cleaned.
pub fn join(dir: &Path, path: &str) -> PathBuf {
    if path.starts_with('~') {
        return PathBuf::from(path);
    }
    clean(&dir.join(path))
}

/// `path` with `.` and `..` resolved without touching the file system.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn get_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    match &mut node.value {
        Value::Map(entries) => entries
            .iter_mut()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v),
        _ => None,
    }
}

fn each_item(node: &mut Node, mut f: impl FnMut(&mut Node)) {
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(f),
        _ => f(node),
    }
}

fn is_relative(path: &str) -> bool {
    !path.is_empty() && !path.starts_with('/') && !path.starts_with('~')
}

/// A string node holding a relative path, made absolute.
fn absolute_node(node: &mut Node, dir: &Path) {
    if let Value::Str(path) = &node.value
        && is_relative(path)
    {
        node.value = Value::Str(join(dir, path).display().to_string());
    }
}

/// A build context: URLs, `service:` and builder-specific contexts stay as written.
fn context_node(node: &mut Node, dir: &Path) {
    if let Value::Str(context) = &node.value {
        let remote = context.contains("://")
            || context.starts_with("service:")
            || ["github.com/", "git@"]
                .iter()
                .any(|p| context.starts_with(p));
        if !remote {
            absolute_node(node, dir);
        }
    }
}

fn volume_mount(node: &mut Node, dir: &Path) {
    match &node.value {
        Value::Str(text) => {
            let Some((source, rest)) = text.split_once(':') else {
                return;
            };
            if source.starts_with('.') {
                let source = join(dir, source);
                node.value = Value::Str(format!("{}:{rest}", source.display()));
            }
        }
        Value::Map(_) => {
            let bind = node.get("type").and_then(Node::scalar_text).as_deref() == Some("bind");
            if bind && let Some(source) = get_mut(node, "source") {
                absolute_node(source, dir);
            }
        }
        _ => {}
    }
}

fn volume_device(volume: &mut Node, dir: &Path) {
    let local = volume.get("driver").and_then(Node::scalar_text).as_deref() == Some("local");
    let Some(options) = get_mut(volume, "driver_opts") else {
        return;
    };
    let bind = options.get("o").and_then(Node::scalar_text).as_deref() == Some("bind");
    if local
        && bind
        && let Some(device) = get_mut(options, "device")
    {
        absolute_node(device, dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::yaml::parse;

    fn resolved(text: &str) -> Node {
        let mut doc = parse(text, Path::new("/d/base.yaml")).unwrap().unwrap();
        resolve_document(&mut doc, Path::new("/d/sub"));
        doc
    }

    fn text_at(node: &Node, path: &[&str]) -> String {
        let mut node = node;
        for key in path {
            node = match key.parse::<usize>() {
                Ok(i) => &node.as_seq().unwrap()[i],
                Err(_) => node.get(key).unwrap(),
            };
        }
        node.scalar_text().unwrap()
    }

    #[test]
    fn relative_paths_become_absolute_and_the_rest_stays_as_written() {
        let doc = resolved(
            "services:\n  web:\n    build: ./app\n    env_file: [a.env, {path: ../b.env}, /abs.env]\n    volumes: ['./data:/data:ro', 'named:/n', {type: bind, source: conf, target: /c}, '~/x:/x']\n    extends: {file: base.yaml, service: b}\n  api:\n    build: {context: https://github.com/x/y.git, additional_contexts: {more: ../m}}\nsecrets:\n  s: {file: ./s.txt}\nvolumes:\n  dev: {driver: local, driver_opts: {o: bind, device: ./dev, type: none}}\n",
        );
        let web = ["services", "web"];
        let at = |rest: &[&str]| text_at(&doc, &[&web[..], rest].concat());
        assert_eq!(at(&["build"]), "/d/sub/app");
        assert_eq!(at(&["env_file", "0"]), "/d/sub/a.env");
        assert_eq!(at(&["env_file", "1", "path"]), "/d/b.env");
        assert_eq!(at(&["env_file", "2"]), "/abs.env");
        assert_eq!(at(&["volumes", "0"]), "/d/sub/data:/data:ro");
        assert_eq!(at(&["volumes", "1"]), "named:/n");
        assert_eq!(at(&["volumes", "2", "source"]), "/d/sub/conf");
        assert_eq!(at(&["volumes", "3"]), "~/x:/x");
        assert_eq!(at(&["extends", "file"]), "/d/sub/base.yaml");
        let api =
            |rest: &[&str]| text_at(&doc, &[&["services", "api", "build"][..], rest].concat());
        assert_eq!(api(&["context"]), "https://github.com/x/y.git");
        assert_eq!(api(&["additional_contexts", "more"]), "/d/m");
        assert_eq!(text_at(&doc, &["secrets", "s", "file"]), "/d/sub/s.txt");
        assert_eq!(
            text_at(&doc, &["volumes", "dev", "driver_opts", "device"]),
            "/d/sub/dev"
        );
    }
}
