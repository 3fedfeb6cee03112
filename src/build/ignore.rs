//! `.dockerignore`, read and matched as the Docker CLI does (moby's `ignorefile.ReadAll`
//! and `patternmatcher`), so a context composectl sends is the one `docker build` sends.
//!
//! Reading ([`parse`]): a UTF-8 BOM is dropped, lines starting with `#` are comments,
//! whitespace is trimmed, `!` marks an exception, each pattern is cleaned like Go's
//! `filepath.Clean` and a leading `/` is dropped (`/a` and `./a` are `a`).
//!
//! Matching ([`Matcher`]): the last pattern that matches a path decides; a pattern that
//! matches a directory matches what is under it; `*` and `?` stay within one path element,
//! `**` spans any number of them, `[...]` is a character class and `\` escapes. Only
//! patterns that could still change the verdict are tried (an exception only when the path
//! is excluded so far, and the reverse), as the CLI does.

use regex::Regex;

/// A pattern of `.dockerignore` that cannot be compiled.
#[derive(Debug, thiserror::Error)]
#[error("`{pattern}` is not a valid pattern ({why})")]
pub struct BadPattern {
    /// The pattern as cleaned.
    pub pattern: String,
    /// What is wrong with it.
    pub why: String,
}

/// The patterns of an ignore file's text, in order, exceptions prefixed with `!`.
pub fn parse(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    out
}

/// `path` cleaned as Go's `filepath.Clean` cleans a slash path: repeated slashes
/// collapsed, `.` elements dropped, `..` elements resolved where they can be, no trailing
/// slash; the empty path is `.`.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regexp,
}

/// One compiled pattern.
#[derive(Debug, Clone)]
struct Pattern {
    cleaned: String,
    elements: usize,
    exclusion: bool,
    kind: Kind,
    regex: Option<Regex>,
}

impl Pattern {
    fn compile(cleaned: String, exclusion: bool) -> Result<Self, BadPattern> {
        let mut source = String::from("^");
        let mut kind = Kind::Exact;
        let chars: Vec<char> = cleaned.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let first = i == 0;
            let ch = chars[i];
            i += 1;
            match ch {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i == chars.len() {
                        if kind == Kind::Exact {
                            kind = Kind::Prefix;
                        } else {
                            source.push_str(".*");
                            kind = Kind::Regexp;
                        }
                    } else {
                        source.push_str("(.*/)?");
                        kind = Kind::Regexp;
                    }
                    if first {
                        kind = Kind::Suffix;
                    }
                }
                '*' => {
                    source.push_str("[^/]*");
                    kind = Kind::Regexp;
                }
                '?' => {
                    source.push_str("[^/]");
                    kind = Kind::Regexp;
                }
                '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                    source.push('\\');
                    source.push(ch);
                }
                '\\' => match chars.get(i) {
                    Some(&next) => {
                        i += 1;
                        source.push_str(&escaped(next));
                        kind = Kind::Regexp;
                    }
                    None => source.push_str("\\\\"),
                },
                '[' | ']' => {
                    source.push(ch);
                    kind = Kind::Regexp;
                }
                other => source.push(other),
            }
        }
        let regex = match kind {
            Kind::Regexp => {
                source.push('$');
                Some(Regex::new(&source).map_err(|e| BadPattern {
                    pattern: cleaned.clone(),
                    why: first_line(&e.to_string()),
                })?)
            }
            _ => None,
        };
        Ok(Self {
            elements: cleaned.split('/').count(),
            cleaned,
            exclusion,
            kind,
            regex,
        })
    }

    fn matches(&self, path: &str) -> bool {
        match self.kind {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix => path.starts_with(&self.cleaned[..self.cleaned.len() - 2]),
            Kind::Suffix => {
                let suffix = &self.cleaned[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Kind::Regexp => self.regex.as_ref().is_some_and(|r| r.is_match(path)),
        }
    }
}

/// The regex text for a character escaped with `\` in a pattern: the character itself.
fn escaped(ch: char) -> String {
    if ch.is_ascii_alphanumeric() || ch == '<' || ch == '>' {
        regex::escape(&ch.to_string())
    } else {
        format!("\\{ch}")
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_owned()
}

/// The verdict of every pattern on a directory, handed to its entries
/// ([`Matcher::matches_under`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParentMatches(Vec<bool>);

/// Compiled ignore patterns.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl Matcher {
    /// Compiles `patterns` (as [`parse`] gives them). A lone `!` is an error, as is a
    /// pattern that is not valid.
    pub fn new(patterns: &[String]) -> Result<Self, BadPattern> {
        let mut out = Self::default();
        for raw in patterns {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let mut cleaned = clean(raw);
            let exclusion = cleaned.starts_with('!');
            if exclusion {
                if cleaned.len() == 1 {
                    return Err(BadPattern {
                        pattern: cleaned,
                        why: "a `!` must be followed by the pattern it excepts".into(),
                    });
                }
                cleaned.remove(0);
                out.exclusions = true;
            }
            out.patterns.push(Pattern::compile(cleaned, exclusion)?);
        }
        Ok(out)
    }

    /// True when some pattern is an exception (`!`).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `file` (slash-separated, relative to the context) is ignored, judged on its
    /// own: a pattern also matches it when it matches one of its parent directories.
    pub fn matches(&self, file: &str) -> bool {
        let file = clean(file);
        if file == "." {
            return false;
        }
        let parents: Vec<&str> = match file.rfind('/') {
            Some(at) => file[..at].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(&file);
            if !hit && !parents.is_empty() && pattern.elements <= parents.len() {
                hit = pattern.matches(&parents[..pattern.elements].join("/"));
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether `file` is ignored, given the verdicts on its directory (`None` at the top of
    /// the context): what the CLI's context walk uses. Returns the verdicts to hand to the
    /// entries of `file` when it is a directory.
    pub fn matches_under(
        &self,
        file: &str,
        parent: Option<&ParentMatches>,
    ) -> (bool, ParentMatches) {
        let mut matched = false;
        let mut own = vec![false; self.patterns.len()];
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = parent.is_some_and(|p| p.0.get(i).copied().unwrap_or(false));
            if !hit {
                if pattern.exclusion != matched {
                    continue;
                }
                hit = pattern.matches(file);
                if !hit && parent.is_none() {
                    hit = ancestors(file).any(|dir| pattern.matches(dir));
                }
            }
            own[i] = hit;
            if hit {
                matched = !pattern.exclusion;
            }
        }
        (matched, ParentMatches(own))
    }

    /// Whether an ignored directory `dir` must still be walked because an exception could
    /// bring back something under it (the CLI's test: an exception pattern that starts
    /// with the directory's path).
    pub fn may_except_under(&self, dir: &str) -> bool {
        let dir_slash = format!("{dir}/");
        self.patterns
            .iter()
            .any(|p| p.exclusion && format!("{}/", p.cleaned).starts_with(&dir_slash))
    }
}

/// The proper ancestors of `file`, shortest first (`a`, `a/b` for `a/b/c`).
fn ancestors(file: &str) -> impl Iterator<Item = &str> {
    file.match_indices('/').map(move |(at, _)| &file[..at])
}

#[cfg(test)]
#[path = "ignore_tests.rs"]
mod tests;
