//! [`Url`]: a URL whose secret parts (userinfo, query values) never show.

use std::fmt;

use serde::{Serialize, Serializer};

use super::shapes;

/// A URL as configured (a gate's URL template, the webhook URL). Shown (`Display`, `Debug`,
/// `Serialize`) without userinfo and query values: `http://***@host:8080/path?token=***`.
/// Creating one remembers its password, its `Basic` credential and its query values as
/// secrets of the process, so they are scrubbed wherever else they turn up.
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    full: String,
}

/// The parts of an `http://` or `https://` URL the HTTP client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts<'a> {
    /// True for `https://` (the client speaks TLS, and names `host` to the server).
    pub tls: bool,
    /// `user:password` as written (percent-encoded), when the URL has userinfo.
    pub userinfo: Option<&'a str>,
    /// `host[:port]` without userinfo (the `Host` header).
    pub authority: &'a str,
    /// The host, brackets removed.
    pub host: &'a str,
    /// The port (80 by default, 443 for `https://`).
    pub port: u16,
    /// Path and query (`/` by default), without a fragment.
    pub path: String,
}

impl Url {
    /// Wraps `text` and remembers its secret parts (see the type's doc). Any text is
    /// accepted; [`Url::http_parts`] says whether it is a usable `http://` URL.
    pub fn new(text: impl Into<String>) -> Self {
        let url = Self { full: text.into() };
        url.remember_secrets();
        url
    }

    /// A URL made from this one (its template rendered for a target, a query appended):
    /// shown like any [`Url`], but nothing new is remembered, so a target's address or a
    /// PromQL query does not become a secret of the process.
    pub fn derive(&self, text: impl Into<String>) -> Self {
        Self { full: text.into() }
    }

    /// The whole URL, secrets included: for the HTTP client and the rollout history only,
    /// never for output.
    pub fn expose(&self) -> &str {
        &self.full
    }

    /// The URL as shown: userinfo and query values replaced by [`super::MASK`].
    pub fn shown(&self) -> String {
        shapes::urls(&self.full).into_owned()
    }

    /// Host, port, path and userinfo of an `http[s]://HOST[:PORT][/PATH]` URL; `None` for
    /// anything else.
    pub fn http_parts(&self) -> Option<Parts<'_>> {
        let (tls, rest) = match self.full.strip_prefix("https://") {
            Some(rest) => (true, rest),
            None => (false, self.full.strip_prefix("http://")?),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let path = path.split('#').next().unwrap_or_default();
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        let (userinfo, authority) = match authority.rsplit_once('@') {
            Some((info, rest)) => (Some(info), rest),
            None => (None, authority),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, p.parse().ok()?),
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty()).then_some(Parts {
            tls,
            userinfo,
            authority,
            host,
            port,
            path,
        })
    }

    /// The `Authorization` header value for the URL's userinfo (`Basic base64(user:pass)`,
    /// percent-decoded first), when it has userinfo.
    pub fn basic_auth(&self) -> Option<String> {
        let userinfo = self.http_parts()?.userinfo?;
        Some(format!("Basic {}", base64(&credential(userinfo))))
    }

    fn remember_secrets(&self) {
        let redactor = super::global();
        let Some((_, rest)) = self.full.split_once("://") else {
            return;
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some((userinfo, _)) = rest[..authority_end].rsplit_once('@') {
            let (_, password) = userinfo.split_once(':').unwrap_or(("", userinfo));
            redactor.remember(password);
            redactor.remember(&percent_decode(password));
            redactor.remember(&base64(&credential(userinfo)));
        }
        if let Some((_, query)) = rest.split_once('?') {
            let query = query.split('#').next().unwrap_or_default();
            for pair in query.split('&') {
                let value = pair.split_once('=').map_or(pair, |(_, v)| v);
                redactor.remember(value);
                redactor.remember(&percent_decode(value));
            }
        }
    }
}

/// `user:password` decoded from a userinfo as written.
fn credential(userinfo: &str) -> String {
    match userinfo.split_once(':') {
        Some((user, password)) => {
            format!("{}:{}", percent_decode(user), percent_decode(password))
        }
        None => format!("{}:", percent_decode(userinfo)),
    }
}

impl From<&str> for Url {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<String> for Url {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shapes::urls(&self.full))
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({:?})", shapes::urls(&self.full))
    }
}

impl Serialize for Url {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&shapes::urls(&self.full))
    }
}

/// `text` with `%XX` sequences decoded (invalid ones kept as written; `+` is kept).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding.
pub fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
