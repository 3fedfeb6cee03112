//! The known leaky shapes, hidden whatever their values are:
//!
//! - a URL's userinfo (`scheme://user:pass@host` -> `scheme://***@host`) and its query
//!   values (`?token=abc&x` -> `?token=***&***`), whatever the scheme;
//! - an HTTP credential (`Basic dXNlcjpwYXNz`, `Bearer eyJ...`) -> `Basic ***`;
//! - a quoted environment entry (`"DB_PASSWORD=hunter2"`, also with `\"` quotes as in JSON
//!   text) -> `"DB_PASSWORD=***"`: the shape in which the engine and runc echo an
//!   environment they refuse (a NUL byte in a value makes runc quote the whole block).

use std::borrow::Cow;

use super::MASK;

/// `text` with every known leaky shape hidden.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let urls = urls(text);
    let credentials = match credentials(&urls) {
        Cow::Borrowed(_) => urls,
        Cow::Owned(owned) => Cow::Owned(owned),
    };
    match environment_entries(&credentials) {
        Cow::Borrowed(_) => credentials,
        Cow::Owned(owned) => Cow::Owned(owned),
    }
}

/// Characters that end a URL in running text.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\')
}

/// `text` with the userinfo and query values of every `scheme://` URL replaced by [`MASK`].
pub fn urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        let tail = &rest[i + 3..];
        let authority_end = tail
            .find(|c| ends_url(c) || matches!(c, '/' | '?' | '#'))
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(MASK);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        let tail = &tail[authority_end..];
        let path_end = tail
            .find(|c| ends_url(c) || matches!(c, '?' | '#'))
            .unwrap_or(tail.len());
        out.push_str(&tail[..path_end]);
        let tail = &tail[path_end..];
        rest = match tail.strip_prefix('?') {
            Some(query_and_more) => {
                let query_end = query_and_more
                    .find(|c| ends_url(c) || c == '#')
                    .unwrap_or(query_and_more.len());
                out.push('?');
                out.push_str(&query(&query_and_more[..query_end]));
                &query_and_more[query_end..]
            }
            None => tail,
        };
    }
    out.push_str(rest);
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

/// A query string with every value (and every bare parameter) replaced by [`MASK`].
fn query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, "")) => format!("{key}="),
            Some((key, _)) => format!("{key}={MASK}"),
            None if pair.is_empty() => String::new(),
            None => MASK.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `text` with the token after `Basic ` or `Bearer ` (any case) replaced by [`MASK`].
fn credentials(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("basic ") && !lower.contains("bearer ") {
        return Cow::Borrowed(text);
    }
    let is_token = |c: char| c.is_ascii_alphanumeric() || "+/=._~-".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = ["basic ", "bearer "]
        .iter()
        .filter_map(|word| lower[search..].find(word).map(|i| (search + i, word.len())))
        .min()
    {
        let (start, len) = found;
        let token_start = start + len;
        let token_len = text[token_start..]
            .find(|c| !is_token(c))
            .unwrap_or(text.len() - token_start);
        // A word boundary before the scheme, and a token long enough to be a credential.
        let boundary = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if boundary && token_len >= 8 {
            out.push_str(&text[copied..token_start]);
            out.push_str(MASK);
            copied = token_start + token_len;
        }
        search = token_start;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// `text` with the value of every quoted `"NAME=value"` replaced by [`MASK`]. The quotes
/// are `"` or, inside JSON text, `\"`.
fn environment_entries(text: &str) -> Cow<'_, str> {
    if !text.contains('"') || !text.contains('=') {
        return Cow::Borrowed(text);
    }
    let plain = quoted(text, "\"", closing_quote);
    let escaped = match quoted(&plain, "\\\"", |body| body.find("\\\"")) {
        Cow::Owned(owned) => Some(owned),
        Cow::Borrowed(_) => None,
    };
    match escaped {
        Some(owned) => Cow::Owned(owned),
        None => plain,
    }
}

/// `text` with the value of every `NAME=value` between two `quote`s masked; `close` finds
/// the closing quote in the text after an opening one.
fn quoted<'a>(text: &'a str, quote: &str, close: fn(&str) -> Option<usize>) -> Cow<'a, str> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(open) = rest.find(quote) {
        let body = &rest[open + quote.len()..];
        let Some(end) = close(body) else {
            break;
        };
        out.push_str(&rest[..open + quote.len()]);
        let inner = &body[..end];
        match env_name_len(inner) {
            Some(name_len) if inner.len() > name_len + 1 => {
                out.push_str(&inner[..=name_len]);
                out.push_str(MASK);
                changed = true;
            }
            _ => out.push_str(inner),
        }
        out.push_str(quote);
        rest = &body[end + quote.len()..];
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The index of the first `"` in `body` not escaped by a backslash.
fn closing_quote(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The length of the environment variable name `text` starts with when an `=` follows it.
fn env_name_len(text: &str) -> Option<usize> {
    let name_len = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let starts_well = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    (starts_well && text[name_len..].starts_with('=')).then_some(name_len)
}

/// `text` percent-encoded (everything but unreserved characters).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
