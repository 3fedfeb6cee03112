//! Secrets and configs: the top-level `secrets:` / `configs:` definitions and a service's
//! references to them (short syntax `- NAME`, long syntax `source`, `target`, `uid`, `gid`,
//! `mode`).
//!
//! A definition has exactly one source: `file:` (relative to the project directory, read
//! through [`crate::desired::read`] with [`MAX_FILE_SOURCE_BYTES`]), `environment:` (the
//! variable from the loader's environment over `.env`, like interpolation) or, for configs,
//! `content:` (already interpolated). A definition is read when an active service first
//! uses it, once per load; the contents of a project add up to at most
//! [`MAX_PROJECT_FILE_BYTES`]. `external: true` (a Swarm object) is refused. A reference
//! to an undeclared name is an error. Targets are resolved as compose resolves them: none
//! is `/run/secrets/NAME` (configs: `/NAME`), a relative one is placed under that
//! directory; of two entries with one target the later wins (an override's). Messages
//! never quote a content or a variable's value.

use std::collections::BTreeMap;

use super::Ctx;
use super::fields::{self, check_keys, child, index};
use crate::desired::limits::{MAX_FILE_SOURCE_BYTES, MAX_PROJECT_FILE_BYTES};
use crate::desired::origins::{HostPath, HostPathUse, Origin};
use crate::desired::read;
use crate::desired::yaml::{Node, Value};
use crate::model::files::{DEFAULT_MODE, FileDef, FileKind, FileRef};

/// Where a definition's content comes from.
#[derive(Debug, Clone)]
enum Source {
    /// `file:`, as written.
    File(String),
    /// `environment:`, the variable's name.
    Environment(String),
    /// `content:`, interpolated.
    Content(String),
}

/// One top-level definition: its source and where it is written.
#[derive(Debug, Clone)]
struct Definition {
    source: Option<Source>,
    node: Node,
    path: String,
}

/// The definitions of a project and what has been read of them so far.
#[derive(Debug, Default)]
pub struct Files {
    defined: BTreeMap<(FileKind, String), Definition>,
    /// Read contents; `None` when reading failed (reported once, at the definition).
    loaded: BTreeMap<(FileKind, String), Option<FileDef>>,
    /// Bytes of content read so far.
    bytes: u64,
}

impl Files {
    /// The definitions of `kind` that services use, with their contents.
    pub fn used(&self, kind: FileKind) -> BTreeMap<String, FileDef> {
        self.loaded
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .filter_map(|((_, name), def)| Some((name.clone(), def.clone()?)))
            .collect()
    }
}

fn section(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Secret => "secrets",
        FileKind::Config => "configs",
    }
}

/// Reads the top-level `secrets:` and `configs:` of `doc` into `cx.files` (no content is
/// read yet).
pub fn definitions(cx: &mut Ctx, doc: &Node) {
    for kind in [FileKind::Secret, FileKind::Config] {
        let Some(node) = doc.get(section(kind)) else {
            continue;
        };
        let table = match kind {
            FileKind::Secret => crate::desired::keys::SECRET,
            FileKind::Config => crate::desired::keys::CONFIG,
        };
        for (key, value) in fields::map(cx, node, section(kind)) {
            let path = child(section(kind), &key.name);
            if !is_valid_name(&key.name) {
                cx.error(
                    value,
                    &path,
                    format!(
                        "`{}` is not a valid {kind} name; use letters, digits, `.`, `_` and `-`",
                        key.name
                    ),
                );
                continue;
            }
            if value.as_map().is_none() {
                cx.error(
                    value,
                    &path,
                    format!(
                        "a {kind} is a mapping with `file:`{} found {}",
                        sources_text(kind),
                        value.kind()
                    ),
                );
                continue;
            }
            fields::judge_keys(cx, value, &path, table);
            let source = definition_source(cx, kind, value, &path);
            let definition = Definition {
                source,
                node: value.clone(),
                path,
            };
            cx.files
                .defined
                .insert((kind, key.name.clone()), definition);
        }
    }
}

/// Compose's pattern for secret and config names (`^[a-zA-Z0-9._-]+$`).
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn sources_text(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Secret => " or `environment:`,",
        FileKind::Config => ", `environment:` or `content:`,",
    }
}

/// The one source of a definition; `None` (with the error recorded) when it has none,
/// several, or is external.
fn definition_source(cx: &mut Ctx, kind: FileKind, node: &Node, path: &str) -> Option<Source> {
    if let Some(external) = node.get("external")
        && fields::boolean(cx, external, &child(path, "external")) == Some(true)
    {
        cx.error(
            external,
            &child(path, "external"),
            format!(
                "an external {kind} lives in a Docker Swarm's store, which a single Docker host does not have; define it here with `file:`{}",
                sources_text(kind).trim_end_matches(',')
            ),
        );
        return None;
    }
    let mut sources = Vec::new();
    let text = |cx: &mut Ctx, name: &str| {
        node.get(name)
            .and_then(|n| fields::text(cx, n, &child(path, name)))
    };
    if let Some(file) = text(cx, "file") {
        sources.push(Source::File(file));
    }
    if let Some(var) = text(cx, "environment") {
        sources.push(Source::Environment(var));
    }
    if kind == FileKind::Config
        && let Some(content) = text(cx, "content")
    {
        sources.push(Source::Content(content));
    }
    if sources.len() != 1 {
        let what = if sources.is_empty() {
            "no"
        } else {
            "more than one"
        };
        cx.error(
            node,
            path,
            format!(
                "the {kind} has {what} source; give exactly one of `file:`{}",
                sources_text(kind).trim_end_matches(',')
            ),
        );
        return None;
    }
    sources.pop()
}

/// A service's `secrets:` or `configs:` at `node` (`key`).
pub fn references(cx: &mut Ctx, kind: FileKind, node: &Node, key: &str) -> Vec<FileRef> {
    let Some(items) = node.as_seq() else {
        if !node.is_null() {
            cx.error(
                node,
                key,
                format!(
                    "expected a list of {} names or mappings, found {}",
                    kind,
                    node.kind()
                ),
            );
        }
        return Vec::new();
    };
    let mut out: Vec<FileRef> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = index(key, i);
        if let Some(reference) = reference(cx, kind, item, &path) {
            // A later entry for the same target wins (an override file's entries come
            // after the base file's), as for mounts.
            out.retain(|r| r.target != reference.target);
            out.push(reference);
        }
    }
    out
}

fn reference(cx: &mut Ctx, kind: FileKind, item: &Node, path: &str) -> Option<FileRef> {
    let mut reference = FileRef {
        kind,
        ..FileRef::default()
    };
    let mut mode = None;
    let mut target = None;
    if item.as_map().is_some() {
        check_keys(cx, item, path, &["source", "target", "uid", "gid", "mode"]);
        let get = |name: &str| item.get(name).filter(|n| !n.is_null());
        let Some(source) = get("source") else {
            cx.error(
                item,
                path,
                format!("a {kind} entry needs `source:` (the top-level name)"),
            );
            return None;
        };
        reference.source = fields::text(cx, source, &child(path, "source"))?;
        target = get("target").and_then(|n| fields::text(cx, n, &child(path, "target")));
        reference.uid = get("uid").and_then(|n| id(cx, n, &child(path, "uid")));
        reference.gid = get("gid").and_then(|n| id(cx, n, &child(path, "gid")));
        if let Some(node) = get("mode") {
            mode = Some(file_mode(cx, node, &child(path, "mode"))?);
        }
    } else {
        reference.source = fields::text(cx, item, path)?;
    }
    let def = content(cx, kind, &reference.source, item, path)?;
    reference.mode = mode.or(def.source_mode).unwrap_or(DEFAULT_MODE);
    reference.digest = def.digest;
    let target = target.unwrap_or_else(|| reference.source.clone());
    if target.is_empty() || target.split('/').any(|part| part == "..") {
        cx.error(
            item,
            &child(path, "target"),
            "a target is a path inside the container without `..`; write an absolute path or a file name",
        );
        return None;
    }
    reference.target = if target.starts_with('/') {
        target
    } else {
        format!("{}{target}", kind.base_dir())
    };
    Some(reference)
}

/// A user or group ID: a whole number or its text (compose writes them as strings).
fn id(cx: &mut Ctx, node: &Node, key: &str) -> Option<u32> {
    let parsed = node
        .scalar_text()
        .and_then(|t| t.trim().parse::<u32>().ok());
    if parsed.is_none() {
        cx.error(
            node,
            key,
            format!(
                "expected a numeric ID, found {}",
                fields::quoted_literal(node)
            ),
        );
    }
    parsed
}

/// `mode`: an integer as YAML reads it (`0440` is octal, as compose reads it) or a string
/// of octal digits (compose parses strings in base 8).
fn file_mode(cx: &mut Ctx, node: &Node, key: &str) -> Option<u32> {
    let parsed = match &node.value {
        Value::Int(i) => u32::try_from(*i).ok(),
        Value::Str(s) => {
            let digits = s.trim();
            let digits = digits.strip_prefix("0o").unwrap_or(digits);
            u32::from_str_radix(digits, 8).ok()
        }
        _ => None,
    };
    match parsed {
        Some(mode) if mode <= 0o777 => Some(mode),
        _ => {
            cx.error(
                node,
                key,
                format!(
                    "{} is not a file mode; write permission bits in octal, such as 0440",
                    fields::quoted_literal(node)
                ),
            );
            None
        }
    }
}

/// The content of definition `name`, read on first use; `None` (error recorded) when it is
/// not declared or cannot be read.
fn content(cx: &mut Ctx, kind: FileKind, name: &str, at: &Node, path: &str) -> Option<FileDef> {
    let id = (kind, name.to_owned());
    if let Some(loaded) = cx.files.loaded.get(&id) {
        return loaded.clone();
    }
    let Some(definition) = cx.files.defined.get(&id).cloned() else {
        cx.error(
            at,
            path,
            format!(
                "{kind} {} is not declared; add it under the top-level `{}:`",
                fields::shown_name(at, name),
                section(kind)
            ),
        );
        return None;
    };
    let loaded = definition
        .source
        .as_ref()
        .and_then(|source| read_source(cx, kind, &definition, source))
        .and_then(|bytes| within_bounds(cx, kind, &definition, bytes))
        .map(|bytes| FileDef {
            source_mode: source_mode(cx, &definition),
            ..FileDef::new(name, bytes)
        });
    cx.files.loaded.insert(id, loaded.clone());
    loaded
}

/// The permission bits of a `file:` source (compose bind-mounts the file itself, so a
/// reference without `mode:` shows them).
fn source_mode(cx: &Ctx, def: &Definition) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let Some(Source::File(file)) = &def.source else {
        return None;
    };
    let absolute = super::mounts::absolute(cx, file);
    let meta = std::fs::metadata(absolute).ok()?;
    Some(meta.permissions().mode() & 0o777)
}

fn read_source(cx: &mut Ctx, kind: FileKind, def: &Definition, source: &Source) -> Option<Vec<u8>> {
    match source {
        Source::Content(text) => Some(text.clone().into_bytes()),
        Source::Environment(var) => {
            let value = (cx.lookup)(var);
            if value.is_none() {
                cx.error(
                    &def.node,
                    &child(&def.path, "environment"),
                    format!(
                        "the variable {var} this {kind} reads is not set; set it in composectl's environment or in the project's .env"
                    ),
                );
            }
            value.map(String::into_bytes)
        }
        Source::File(file) => {
            let at = def.node.get("file").unwrap_or(&def.node).clone();
            let key = child(&def.path, "file");
            let absolute = super::mounts::absolute(cx, file);
            let max = read::Max {
                bytes: MAX_FILE_SOURCE_BYTES,
                what: match kind {
                    FileKind::Secret => "secret",
                    FileKind::Config => "config",
                },
                raise_with: None,
            };
            match read::read_bytes(&absolute, max) {
                Ok(bytes) => {
                    let resolved = super::mounts::host_path(cx, &at, &key, file)?;
                    cx.origins.host_paths.push(HostPath {
                        path: resolved,
                        usage: HostPathUse::FileSource,
                        origin: Origin::at(&at, &key),
                    });
                    Some(bytes)
                }
                Err(e) => {
                    cx.error(&at, &key, format!("{kind} file {e}"));
                    None
                }
            }
        }
    }
}

fn within_bounds(
    cx: &mut Ctx,
    kind: FileKind,
    def: &Definition,
    bytes: Vec<u8>,
) -> Option<Vec<u8>> {
    let size = bytes.len() as u64;
    if size > MAX_FILE_SOURCE_BYTES {
        cx.error(
            &def.node,
            &def.path,
            format!("the {kind} is {size} bytes, over the limit of {MAX_FILE_SOURCE_BYTES} bytes; make it smaller"),
        );
        return None;
    }
    let before = cx.files.bytes;
    cx.files.bytes = before.saturating_add(size);
    if cx.files.bytes > MAX_PROJECT_FILE_BYTES {
        if before <= MAX_PROJECT_FILE_BYTES {
            cx.error(
                &def.node,
                &def.path,
                format!("the project's secrets and configs add up to more than {MAX_PROJECT_FILE_BYTES} bytes; make them smaller or use fewer"),
            );
        }
        return None;
    }
    Some(bytes)
}
