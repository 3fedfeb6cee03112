//! The top-level `include`: other compose applications whose resources join the project,
//! as compose-go's `ApplyInclude` does.
//!
//! Each entry is a path (short syntax) or a mapping with `path` (one file, or a list merged
//! as an override chain), `project_directory` and `env_file`. Each entry is loaded as its
//! own application ([`super::files`]): its project directory is its first file's directory
//! (or `project_directory`, relative to the including project's), its variables are the
//! including project's over its `env_file`s (default: its project directory's `.env`),
//! its own includes and extends are resolved, and its relative paths are made absolute
//! against its project directory ([`super::relpaths`]). Then its `services`, `networks`,
//! `volumes`, `secrets`, `configs` and `models` are copied into the including file; a
//! resource that the including file (or an earlier include) already defines differently
//! is an error naming both places (compose: "conflicts with imported resource"), an
//! identical one is kept once.
//!
//! Every file and env file must lie inside the desired directory; includes nest at most
//! [`MAX_INCLUDE_DEPTH`] deep and an include cycle is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::files::{App, Loading, take};
use super::keys::{self, Support};
use super::limits::MAX_INCLUDE_DEPTH;
use super::origins::{HostPath, HostPathUse, Origin};
use super::yaml::{Key, Node, Value};
use super::{Diagnostic, envfile, merge, read, relpaths};

/// The sections whose entries an included application adds to the project.
const RESOURCES: [&str; 6] = [
    "services", "networks", "volumes", "secrets", "configs", "models",
];

/// The keys of an entry's long syntax.
const ENTRY_KEYS: [&str; 3] = ["path", "project_directory", "env_file"];

/// One entry of `include`, as written.
struct Entry<'n> {
    /// The compose files, with the node naming each.
    paths: Vec<(String, &'n Node)>,
    project_directory: Option<String>,
    /// `None` when not given (the project directory's `.env` then).
    env_files: Option<Vec<(String, &'n Node)>>,
}

/// Imports the applications `doc`'s `include` names into `doc`, and removes the key.
pub fn apply(ld: &mut Loading, doc: &mut Node, app: &App) {
    let Some(include) = take(doc, "include") else {
        return;
    };
    let items = match &include.value {
        Value::Null => return,
        Value::Seq(items) => items,
        _ => {
            let message = format!(
                "`include` is a list of compose files (or of mappings with `path:`), found {}",
                include.kind()
            );
            ld.error(&include, "include", message);
            return;
        }
    };
    for (i, item) in items.iter().enumerate() {
        let key = format!("include[{i}]");
        if let Some(entry) = entry(ld, item, &key)
            && let Some(imported) = load(ld, &entry, item, &key, app)
        {
            import(ld, doc, imported);
        }
    }
}

/// Reads one entry of `include`; `None` (with errors recorded) when it is malformed.
fn entry<'n>(ld: &mut Loading, item: &'n Node, key: &str) -> Option<Entry<'n>> {
    if let Some(path) = item.scalar_text() {
        return Some(Entry {
            paths: vec![(path, item)],
            project_directory: None,
            env_files: None,
        });
    }
    let Some(entries) = item.as_map() else {
        let message = format!(
            "an include is a compose file's path or a mapping with `path:`, found {}",
            item.kind()
        );
        ld.error(item, key, message);
        return None;
    };
    let mut ok = true;
    for (k, _) in entries {
        if !ENTRY_KEYS.contains(&k.name.as_str()) {
            let message = format!(
                "`{}` is not a key of an include; use {}",
                k.name,
                ENTRY_KEYS.join(", ")
            );
            ld.error(item, &format!("{key}.{}", k.name), message);
            ok = false;
        }
    }
    let paths = match item.get("path") {
        Some(node) => strings(ld, node, &format!("{key}.path"))?,
        None => {
            ld.error(
                item,
                key,
                "an include needs `path:` (the compose file to include)",
            );
            return None;
        }
    };
    if paths.is_empty() {
        ld.error(item, &format!("{key}.path"), "`path` names no file");
        return None;
    }
    let project_directory = match item.get("project_directory") {
        Some(node) => match (&node.value, node.scalar_text()) {
            (Value::Str(_), Some(dir)) if !dir.is_empty() => Some(dir),
            _ => {
                let message = format!("expected a directory's path, found {}", node.kind());
                ld.error(node, &format!("{key}.project_directory"), message);
                return None;
            }
        },
        None => None,
    };
    let env_files = match item.get("env_file") {
        Some(node) => Some(strings(ld, node, &format!("{key}.env_file"))?),
        None => None,
    };
    ok.then_some(Entry {
        paths,
        project_directory,
        env_files,
    })
}

/// A string, or a list of strings, with the node of each.
fn strings<'n>(ld: &mut Loading, node: &'n Node, key: &str) -> Option<Vec<(String, &'n Node)>> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        match (&item.value, item.scalar_text()) {
            (Value::Str(_), Some(text)) if !text.is_empty() => out.push((text, item)),
            _ => {
                let message = format!("expected a path (a string), found {}", item.kind());
                ld.error(item, key, message);
                return None;
            }
        }
    }
    Some(out)
}

/// Loads the application of `entry` into one document, its paths made absolute.
fn load(ld: &mut Loading, entry: &Entry, item: &Node, key: &str, app: &App) -> Option<Node> {
    if app.chain.len() > MAX_INCLUDE_DEPTH {
        let message = format!(
            "includes nest more than {MAX_INCLUDE_DEPTH} levels deep; include fewer levels"
        );
        ld.error(item, key, message);
        return None;
    }
    let mut files = Vec::new();
    for (path, node) in &entry.paths {
        let file = relpaths::join(&app.dir, path);
        if app.chain.contains(&file) {
            let chain: Vec<String> = app
                .chain
                .iter()
                .chain([&file])
                .map(|f| f.display().to_string())
                .collect();
            let message = format!(
                "include cycle: {}; remove one of these includes",
                chain.join(" includes ")
            );
            ld.error(node, key, message);
            return None;
        }
        files.push((file, *node));
    }
    let dir = match &entry.project_directory {
        Some(dir) => relpaths::join(&app.dir, dir),
        None => files[0]
            .0
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let vars = env_vars(ld, entry, item, key, &dir, app)?;
    let lookup = |name: &str| (app.lookup)(name).or_else(|| vars.get(name).cloned());
    let mut chain = app.chain.clone();
    chain.extend(files.iter().map(|(f, _)| f.clone()));
    let child = App {
        dir: dir.clone(),
        lookup: &lookup,
        chain,
    };
    let mut doc: Option<Node> = None;
    for (file, node) in &files {
        let mut read = ld.read_compose(file, node, key)?;
        ld.prepare(&mut read, &child);
        doc = Some(match doc {
            None => read,
            Some(base) => merge::merge(base, read),
        });
    }
    let mut doc = doc?;
    relpaths::resolve_document(&mut doc, &dir);
    relpaths::default_build_context(&mut doc, &dir);
    judge_rest(ld, &doc);
    Some(doc)
}

/// The variables of an included application's env files (later files win); `None` when
/// one cannot be read (recorded).
fn env_vars(
    ld: &mut Loading,
    entry: &Entry,
    item: &Node,
    key: &str,
    dir: &Path,
    app: &App,
) -> Option<BTreeMap<String, String>> {
    let files: Vec<(PathBuf, &Node, bool)> = match &entry.env_files {
        None => vec![(dir.join(".env"), item, false)],
        Some(list) => list
            .iter()
            .filter(|(f, _)| f != "/dev/null")
            .map(|(f, node)| (relpaths::join(&app.dir, f), *node, true))
            .collect(),
    };
    let mut vars = BTreeMap::new();
    let env_key = format!("{key}.env_file");
    for (file, node, required) in files {
        let path = ld.inside(&file, node, &env_key, "the env file")?;
        let text = match read::read_text(&path, ld.limits.env()) {
            Ok(text) => text,
            Err(e) if e.is_not_found() && !required => continue,
            Err(e) => {
                ld.error(node, &env_key, e.to_string());
                return None;
            }
        };
        match envfile::parse(&text, app.lookup) {
            Ok(parsed) => {
                ld.env_values.extend(parsed.iter().map(|(_, v)| v.clone()));
                vars.extend(parsed);
            }
            Err(e) => {
                let line = match &e {
                    envfile::Error::Syntax { line, .. }
                    | envfile::Error::Interpolation { line, .. } => *line,
                };
                ld.errors.push(Diagnostic {
                    line: Some(line),
                    ..Diagnostic::file(&path, e.to_string())
                });
                return None;
            }
        }
        ld.host_paths.push(HostPath {
            path: path.clone(),
            usage: HostPathUse::DotEnv,
            origin: Origin::at(node, &env_key),
        });
    }
    Some(vars)
}

/// The top-level keys of an included document that are not imported: unknown ones are
/// errors, keys without effect warned about, as for the project's own file.
fn judge_rest(ld: &mut Loading, doc: &Node) {
    for (key, value) in doc.as_map().unwrap_or_default() {
        let name = key.name.as_str();
        if RESOURCES.contains(&name) || name.starts_with("x-") {
            continue;
        }
        match keys::support(keys::TOP_LEVEL, name) {
            Some(Support::Applied) => {}
            Some(Support::NoEffect(why)) => {
                ld.warnings
                    .push(Diagnostic::at(value, name, format!("`{name}` {why}")))
            }
            Some(Support::Rejected(why)) => ld.error(value, name, format!("`{name}` {why}")),
            None => ld.error(
                value,
                name,
                format!("`{name}` is not a top-level key of a compose file; fix or remove it"),
            ),
        }
    }
}

/// Adds the resources of `imported` to `doc`.
fn import(ld: &mut Loading, doc: &mut Node, mut imported: Node) {
    for section in RESOURCES {
        let Some(from) = take(&mut imported, section) else {
            continue;
        };
        let like = Node {
            value: Value::Null,
            line: from.line,
            column: from.column,
            file: from.file.clone(),
            interpolated: None,
        };
        let entries = match from.value {
            Value::Map(entries) => entries,
            Value::Null => continue,
            _ => {
                let message = format!("`{section}` is a mapping, found {}", from.kind());
                ld.error(&like, section, message);
                continue;
            }
        };
        let target = section_mut(doc, section, &like);
        let Value::Map(existing) = &mut target.value else {
            continue;
        };
        for (key, value) in entries {
            match existing.iter().find(|(k, _)| k.name == key.name) {
                Some((_, first)) if same(first, &value) => {}
                Some((first_key, first)) => {
                    let message = format!(
                        "`{}` is also defined at {}:{}; compose refuses a resource defined twice by a project and the files it includes (\"conflicts with imported resource\"): rename one, or change it in an override file (compose.override.yaml) instead",
                        key.name,
                        first.file.display(),
                        first_key.line
                    );
                    ld.errors.push(Diagnostic {
                        line: Some(key.line),
                        column: Some(key.column),
                        ..Diagnostic::at(&value, format!("{section}.{}", key.name), message)
                    });
                }
                None => existing.push((key, value)),
            }
        }
    }
}

/// The mapping `doc[section]`, created (empty) when absent or null.
fn section_mut<'d>(doc: &'d mut Node, section: &str, like: &Node) -> &'d mut Node {
    let Value::Map(entries) = &mut doc.value else {
        unreachable!("a compose document is a mapping");
    };
    let i = match entries.iter().position(|(k, _)| k.name == section) {
        Some(i) => i,
        None => {
            let key = Key {
                name: section.to_owned(),
                line: like.line,
                column: like.column,
            };
            entries.push((
                key,
                Node {
                    value: Value::Null,
                    ..like.clone()
                },
            ));
            entries.len() - 1
        }
    };
    let node = &mut entries[i].1;
    if node.is_null() {
        node.value = Value::Map(Vec::new());
    }
    node
}

/// Whether two definitions are the same, wherever they are written.
fn same(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .find(|(l, _)| l.name == k.name)
                        .is_some_and(|(_, w)| same(v, w))
                })
        }
        (Value::Float(x, _), Value::Float(y, _)) => x == y,
        (x, y) => x == y,
    }
}
