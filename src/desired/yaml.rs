//! The YAML layer: the only module that talks to saphyr.
//!
//! A compose file is parsed into an own marked tree ([`Node`]) that every later stage reads:
//! each node knows its file, line and column, aliases are already expanded (saphyr does that
//! while loading; `guard` bounds the nesting depth and what aliases may expand to, before
//! the tree is built, against "billion laughs" and stack-exhausting inputs), and YAML merge keys
//! (`<<: *anchor` and `<<: [*a, *b]`, which compose files use with `x-` anchors) are
//! resolved here. Scalars follow the YAML 1.2 core schema; a quoted scalar is always a string.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use saphyr::{MarkedYaml, Scalar, ScalarStyle, Tag, YamlData, YamlLoader};
use saphyr_parser::{Parser, SpannedEventReceiver};

mod guard;

/// A problem found while reading YAML text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct Error {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem.
    pub column: usize,
    /// What is wrong (never contains scalar values of the document).
    pub message: String,
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// One YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The content.
    pub value: Value,
    /// 1-based line where the node starts.
    pub line: usize,
    /// 1-based column where the node starts.
    pub column: usize,
    /// The file the node was read from.
    pub file: Arc<Path>,
    /// The scalar as written, when interpolation changed it (`"${NET}"`): its text may then
    /// hold a secret and is never quoted in messages; messages quote this template instead,
    /// which names the variables and holds only text of the file.
    pub interpolated: Option<Arc<str>>,
}

/// A mapping key with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key as text (`80` and `"80"` are both `80`).
    pub name: String,
    /// 1-based line of the key.
    pub line: usize,
    /// 1-based column of the key.
    pub column: usize,
}

/// The content of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float, with the text as written (`1.10` stays `1.10` when used as a string).
    Float(f64, String),
    /// A string (every quoted scalar is one).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order, keys unique.
    Map(Vec<(Key, Node)>),
}

impl Node {
    /// The entries when this is a mapping.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items when this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The value under `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The text of a scalar (strings, numbers and booleans), `None` for null and collections.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(_, text) => Some(text.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// A short description of the node's type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(..) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses `text` (the content of `file`) into a node tree.
///
/// Returns `Ok(None)` for a document that is empty or only comments.
pub fn parse(text: &str, file: &Path) -> Result<Option<Node>> {
    let file: Arc<Path> = Arc::from(file);
    let docs = load_documents(text)?;
    if docs.len() > 1 {
        let second = &docs[1];
        return Err(Error {
            line: second.span.start.line(),
            column: second.span.start.col() + 1,
            message:
                "more than one YAML document (`---`) in a compose file; keep one document per file"
                    .into(),
        });
    }
    let Some(doc) = docs.into_iter().next() else {
        return Ok(None);
    };
    let node = convert(doc, &file)?;
    Ok((!node.is_null()).then_some(node))
}

fn load_documents(text: &str) -> Result<Vec<MarkedYaml<'_>>> {
    // The events are pulled one by one (`Parser::load` recurses once per nesting level) and
    // each passes the guard before the tree builder sees it.
    let mut parser = Parser::new_from_str(text);
    let mut loader: YamlLoader<'_, MarkedYaml<'_>> = YamlLoader::default();
    loader.early_parse(false);
    let mut guard = guard::Guard::default();
    let scan_error = |e: &saphyr::ScanError| Error {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_string(),
    };
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| scan_error(&e))?;
        guard.check(&event, span)?;
        loader.on_event(event, span);
        if let Some(e) = loader.error() {
            return Err(scan_error(e));
        }
    }
    Ok(loader.into_documents())
}

fn convert(yaml: MarkedYaml<'_>, file: &Arc<Path>) -> Result<Node> {
    let line = yaml.span.start.line();
    let column = yaml.span.start.col() + 1;
    let at = |message: String| Error {
        line,
        column,
        message,
    };
    let value = match yaml.data {
        YamlData::Representation(text, style, tag) => {
            if let Some(tag) = tag.as_ref().filter(|t| !t.is_yaml_core_schema()) {
                return Err(at(unsupported_tag(tag)));
            }
            scalar(text, style, tag.as_ref()).map_err(at)?
        }
        YamlData::Value(s) => from_scalar(s, String::new()),
        YamlData::Tagged(tag, inner) if tag.is_yaml_core_schema() => return convert(*inner, file),
        YamlData::Tagged(tag, _) => return Err(at(unsupported_tag(&tag))),
        YamlData::Sequence(items) => Value::Seq(
            items
                .into_iter()
                .map(|item| convert(item, file))
                .collect::<Result<_>>()?,
        ),
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = convert(k, file)?;
                let value = convert(v, file)?;
                entries.push((key, value));
            }
            Value::Map(mapping(entries)?)
        }
        YamlData::Alias(_) => {
            return Err(at(
                "unresolved alias; define the anchor (`&name`) before using it".into(),
            ));
        }
        YamlData::BadValue => return Err(at("a value that YAML cannot represent".into())),
    };
    Ok(Node {
        value,
        line,
        column,
        file: file.clone(),
        interpolated: None,
    })
}

/// Compose's own tags (`!reset`, `!override`) change how an override file merges; any other
/// application tag means nothing to compose. Neither may be dropped silently.
fn unsupported_tag(tag: &Tag) -> String {
    let name = format!("{}{}", tag.handle, tag.suffix);
    match tag.suffix.as_str() {
        "reset" | "override" if tag.handle == "!" => format!(
            "the YAML tag `{name}` is not supported by composectl; remove it and write in this \
             file the value the merge should give"
        ),
        _ => format!("the YAML tag `{name}` has no meaning in a compose file; remove it"),
    }
}

fn scalar(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Cow<'_, Tag>>,
) -> std::result::Result<Value, String> {
    let raw = text.to_string();
    let tag = tag.filter(|t| t.is_yaml_core_schema());
    if tag.is_none()
        && style == ScalarStyle::Plain
        && let Some(octal) = yaml11_octal(&raw)
    {
        return Ok(Value::Int(octal));
    }
    match Scalar::parse_from_cow_and_metadata(text, style, tag) {
        Some(s) => Ok(from_scalar(s, raw)),
        None => {
            Err("the value does not match its `!!` tag; remove the tag or fix the value".into())
        }
    }
}

/// A plain `0640` is an octal integer to compose's YAML parser (go-yaml v3 keeps YAML
/// 1.1's octals "for compatibility"), so `mode: 0440` means 0o440 there; YAML 1.2 would
/// read 440. composectl reads it as compose does.
fn yaml11_octal(raw: &str) -> Option<i64> {
    let digits = raw.strip_prefix('0')?;
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    i64::from_str_radix(digits, 8).ok()
}

fn from_scalar(scalar: Scalar<'_>, raw: String) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(b),
        Scalar::Integer(i) => Value::Int(i),
        Scalar::FloatingPoint(f) => {
            let text = if raw.is_empty() { f.to_string() } else { raw };
            Value::Float(f.into_inner(), text)
        }
        Scalar::String(s) => Value::Str(s.into_owned()),
    }
}

/// Turns raw key/value pairs into mapping entries, applying merge keys (`<<`).
///
/// Explicit keys win over merged ones; in `<<: [*a, *b]` the earlier map wins, as YAML's
/// merge-key specification says.
fn mapping(raw: Vec<(Node, Node)>) -> Result<Vec<(Key, Node)>> {
    let mut entries: Vec<(Key, Node)> = Vec::with_capacity(raw.len());
    let mut merged: Vec<(Key, Node)> = Vec::new();
    for (key, value) in raw {
        let Some(name) = key.scalar_text() else {
            return Err(Error {
                line: key.line,
                column: key.column,
                message: format!("a mapping key must be a plain word, found {}", key.kind()),
            });
        };
        if name == "<<" && matches!(key.value, Value::Str(_)) {
            merged.extend(merge_sources(value)?);
            continue;
        }
        let key = Key {
            name,
            line: key.line,
            column: key.column,
        };
        entries.push((key, value));
    }
    let mut seen: HashSet<String> = entries.iter().map(|(k, _)| k.name.clone()).collect();
    for (key, value) in merged {
        if seen.insert(key.name.clone()) {
            entries.push((key, value));
        }
    }
    Ok(entries)
}

fn merge_sources(value: Node) -> Result<Vec<(Key, Node)>> {
    let not_a_map = |node: &Node| Error {
        line: node.line,
        column: node.column,
        message: format!(
            "`<<` merges mappings, found {}; write `<<: *anchor` or `<<: [*a, *b]`",
            node.kind()
        ),
    };
    match value.value {
        Value::Map(entries) => Ok(entries),
        Value::Seq(items) => {
            let mut out = Vec::new();
            for item in items {
                let Value::Map(entries) = item.value else {
                    return Err(not_a_map(&item));
                };
                out.extend(entries);
            }
            Ok(out)
        }
        _ => Err(not_a_map(&value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Node {
        parse(text, Path::new("t.yaml")).unwrap().unwrap()
    }

    #[test]
    fn scalars_follow_the_core_schema_and_quotes_make_strings() {
        let n = doc("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.10\nf: \"x\"\ng:\n");
        let v = |k: &str| n.get(k).unwrap().value.clone();
        assert_eq!(v("a"), Value::Int(1));
        assert_eq!(v("b"), Value::Str("1".into()));
        assert_eq!(v("c"), Value::Bool(true));
        assert_eq!(v("d"), Value::Null);
        assert_eq!(v("e"), Value::Float(1.1, "1.10".into()));
        assert_eq!(v("f"), Value::Str("x".into()));
        assert_eq!(v("g"), Value::Null);
    }

    #[test]
    fn leading_zero_integers_are_octal_as_compose_reads_them() {
        let n = doc("a: 0440\nb: 0o440\nc: '0440'\nd: 0\ne: 0089\nf: 440\n");
        let v = |k: &str| n.get(k).unwrap().value.clone();
        assert_eq!(v("a"), Value::Int(0o440));
        assert_eq!(v("b"), Value::Int(0o440));
        assert_eq!(v("c"), Value::Str("0440".into()));
        assert_eq!(v("d"), Value::Int(0));
        assert_eq!(v("f"), Value::Int(440));
        assert_ne!(v("e"), Value::Int(0o11));
    }

    #[test]
    fn nodes_carry_one_based_lines_and_columns() {
        let n = doc("services:\n  web:\n    image: nginx\n");
        let image = n
            .get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get("image")
            .unwrap();
        assert_eq!((image.line, image.column), (3, 12));
        let (key, _) = &n.get("services").unwrap().as_map().unwrap()[0];
        assert_eq!((key.line, key.column), (2, 3));
    }

    #[test]
    fn aliases_are_expanded() {
        let n = doc("a: &x [1, 2]\nb: *x\n");
        assert_eq!(n.get("b").unwrap().as_seq().unwrap().len(), 2);
    }

    #[test]
    fn merge_keys_with_one_anchor_or_a_list_keep_explicit_keys_first() {
        let n = doc(concat!(
            "x-a: &a {image: a, restart: always, user: a}\n",
            "x-b: &b {image: b, hostname: b, user: b}\n",
            "one:\n  <<: *a\n  image: mine\n",
            "two:\n  <<: [*a, *b]\n",
        ));
        let one = n.get("one").unwrap();
        assert_eq!(one.get("image").unwrap().value, Value::Str("mine".into()));
        assert_eq!(
            one.get("restart").unwrap().value,
            Value::Str("always".into())
        );
        let two = n.get("two").unwrap();
        assert_eq!(two.get("user").unwrap().value, Value::Str("a".into()));
        assert_eq!(two.get("hostname").unwrap().value, Value::Str("b".into()));
        assert!(two.get("<<").is_none());
    }

    #[test]
    fn truncated_yaml_is_an_error_with_a_position() {
        let err = parse(
            "services:\n  web:\n    image: \"nginx\n",
            Path::new("t.yaml"),
        )
        .unwrap_err();
        assert!(err.line >= 3, "{err}");
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        assert!(parse("a: 1\na: 2\n", Path::new("t.yaml")).is_err());
    }

    #[test]
    fn empty_and_comment_only_documents_are_none() {
        assert_eq!(parse("", Path::new("t.yaml")).unwrap(), None);
        assert_eq!(parse("# nothing\n", Path::new("t.yaml")).unwrap(), None);
    }
}
