//! `.env` and `env_file` parsing, in the dotenv dialect compose reads.
//!
//! One `KEY=VALUE` per line, optionally prefixed by `export `; `#` starts a comment line, or
//! an inline comment after whitespace in an unquoted value. Single quotes are literal;
//! double quotes understand `\n`, `\t`, `\"`, `\\` and may span lines; unquoted and
//! double-quoted values are interpolated (earlier keys of the same file first, then the
//! given lookup). A bare `KEY` takes the lookup's value and is left out when that is unset.
//!
//! A file holding a NUL byte is refused (a value with one cannot reach a process; it is
//! what `/proc/<pid>/environ`, a whole environment block, looks like), naming the line only.

use std::collections::HashMap;

use super::interpolate;

/// A problem in an env file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A line that is not `KEY=VALUE`.
    #[error("line {line}: {reason}; write KEY=VALUE")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A value's interpolation failed.
    #[error("line {line}: {source}")]
    Interpolation {
        /// 1-based line.
        line: usize,
        /// The interpolation error (names variables, never values).
        source: interpolate::Error,
    },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// One variable of an env file, with the line that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The variable's name.
    pub key: String,
    /// Its value, unquoted and interpolated.
    pub value: String,
    /// The 1-based line of its (last) definition.
    pub line: usize,
}

/// Parses env-file `text`; returns the variables in file order (a later duplicate wins).
pub fn parse(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>> {
    Ok(parse_entries(text, lookup)?
        .into_iter()
        .map(|entry| (entry.key, entry.value))
        .collect())
}

/// Like [`parse`], and says on which line each variable is set.
pub fn parse_entries(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Entry>> {
    if let Some(at) = text.find('\0') {
        return Err(Error::Syntax {
            line: text[..at].matches('\n').count() + 1,
            reason: "the line holds a NUL byte: an env file is text with one variable per line \
                     (a /proc/*/environ file is not one)",
        });
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut vars = Vars::default();
    let mut budget = interpolate::Budget::default();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, raw)) = line.split_once('=') else {
            let key = line.trim_end();
            check_key(key, line_no)?;
            if let Some(value) = vars.lookup(lookup, key) {
                vars.set(key, value, line_no);
            }
            continue;
        };
        let key = key.trim_end();
        check_key(key, line_no)?;
        let scope = Scope {
            vars: &vars,
            lookup,
        };
        let (value, used) = value_of(raw.trim_start(), &lines[i..], line_no, &scope, &mut budget)?;
        i += used;
        vars.set(key, value, line_no);
    }
    Ok(vars.into_entries())
}

fn check_key(key: &str, line: usize) -> Result<()> {
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(Error::Syntax {
            line,
            reason: "the key must be letters, digits, `_`, `.` or `-`",
        })
    }
}

/// The variables set so far, in the order of their last definition; setting and looking
/// up are O(1), so a file of many lines costs linear time.
#[derive(Default)]
struct Vars {
    /// Entries in definition order; a redefined variable leaves `None` behind.
    entries: Vec<Option<Entry>>,
    /// Where each variable's current entry is.
    index: HashMap<String, usize>,
}

impl Vars {
    fn set(&mut self, key: &str, value: String, line: usize) {
        if let Some(old) = self.index.insert(key.to_string(), self.entries.len()) {
            self.entries[old] = None;
        }
        self.entries.push(Some(Entry {
            key: key.to_string(),
            value,
            line,
        }));
    }

    /// The variable's value in this file, else the lookup's.
    fn lookup(&self, outer: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
        self.index
            .get(name)
            .and_then(|i| self.entries[*i].as_ref())
            .map(|entry| entry.value.clone())
            .or_else(|| outer(name))
    }

    fn into_entries(self) -> Vec<Entry> {
        self.entries.into_iter().flatten().collect()
    }
}

/// What a value's `${VAR}`s see: the file's earlier variables, then the lookup.
struct Scope<'a> {
    vars: &'a Vars,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

/// The value starting at `raw`; `rest` are the following lines (for multi-line quotes).
/// Returns the value and how many of `rest` it consumed.
fn value_of(
    raw: &str,
    rest: &[&str],
    line: usize,
    scope: &Scope<'_>,
    budget: &mut interpolate::Budget,
) -> Result<(String, usize)> {
    let mut expand = |text: &str| {
        let scoped = |name: &str| scope.vars.lookup(scope.lookup, name);
        interpolate::interpolate_within(text, &scoped, budget)
            .map(|done| done.value)
            .map_err(|source| Error::Interpolation { line, source })
    };
    let Some(quote) = raw.chars().next().filter(|c| *c == '\'' || *c == '"') else {
        let unquoted = strip_inline_comment(raw).trim_end();
        return Ok((expand(unquoted)?, 0));
    };
    let (body, used) = quoted_body(&raw[1..], rest, quote).ok_or(Error::Syntax {
        line,
        reason: "the quote is never closed",
    })?;
    if quote == '\'' {
        return Ok((body, used));
    }
    Ok((expand(&unescape(&body))?, used))
}

fn strip_inline_comment(raw: &str) -> &str {
    let bytes = raw.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return &raw[..i];
        }
    }
    raw
}

/// The text up to the closing `quote` (which may be on a later line).
fn quoted_body(first: &str, rest: &[&str], quote: char) -> Option<(String, usize)> {
    let mut body = String::new();
    let mut segments = std::iter::once(first).chain(rest.iter().copied());
    for (used, segment) in segments.by_ref().enumerate() {
        if used > 0 {
            body.push('\n');
        }
        if let Some(end) = closing_quote(segment, quote) {
            body.push_str(&segment[..end]);
            return Some((body, used));
        }
        body.push_str(segment);
    }
    None
}

fn closing_quote(segment: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in segment.char_indices() {
        if c == quote && !escaped {
            return Some(i);
        }
        escaped = quote == '"' && c == '\\' && !escaped;
    }
    None
}

fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other @ ('"' | '\\')) => out.push(other),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outer(name: &str) -> Option<String> {
        (name == "OUTER").then(|| "out".to_string())
    }

    fn parsed(text: &str) -> Vec<(String, String)> {
        parse(text, &outer).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn dotenv_lines_parse_like_compose() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("A=1", &[("A", "1")]),
            ("export A=1", &[("A", "1")]),
            ("# c\n\nA=1\n", &[("A", "1")]),
            ("A = spaced ", &[("A", "spaced")]),
            ("A=x # comment", &[("A", "x")]),
            ("A=x#not-comment", &[("A", "x#not-comment")]),
            ("A='lit $OUTER # x'", &[("A", "lit $OUTER # x")]),
            ("A=\"dq $OUTER\\n\"", &[("A", "dq out\n")]),
            ("A=\"two\nlines\"\nB=2", &[("A", "two\nlines"), ("B", "2")]),
            ("A=1\nB=${A}-$OUTER", &[("A", "1"), ("B", "1-out")]),
            ("A=", &[("A", "")]),
            ("OUTER", &[("OUTER", "out")]),
            ("NOT_SET", &[]),
            ("A=1\nA=2", &[("A", "2")]),
        ];
        for (text, want) in cases {
            assert_eq!(parsed(text), pairs(want), "{text:?}");
        }
    }

    #[test]
    fn entries_carry_the_line_of_their_last_definition() {
        let entries = parse_entries("# c\nA=1\nB=\"two\nlines\"\nA=3\n", &outer).unwrap();
        let lines: Vec<(&str, usize)> = entries.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(lines, [("B", 3), ("A", 5)]);
    }

    #[test]
    fn a_nul_byte_is_refused_naming_its_line_and_no_value() {
        let environ = "A=1\nPATH=/usr/bin\0DB_PASSWORD=nul-secret-value\0HOME=/root\0";
        let err = parse(environ, &|_| None).unwrap_err();
        assert!(matches!(err, Error::Syntax { line: 2, .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("line 2: the line holds a NUL byte"),
            "{text}"
        );
        assert!(
            !text.contains("nul-secret-value") && !text.contains("PATH"),
            "{text}"
        );
    }

    #[test]
    fn broken_lines_name_their_line() {
        assert_eq!(
            parse("A=1\nB='open", &outer)
                .unwrap_err()
                .to_string()
                .split(':')
                .next(),
            Some("line 2")
        );
        assert!(matches!(
            parse("bad key=1", &outer),
            Err(Error::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            parse("A=${X:?need}", &outer),
            Err(Error::Interpolation { line: 1, .. })
        ));
    }
}
