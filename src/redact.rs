//! THE place where secrets are kept out of output. Nothing else in the crate decides what a
//! secret is or how it is hidden; everything that leaves the process for a reader goes
//! through here.
//!
//! Two halves:
//!
//! - **What is secret.** A [`Redactor`] remembers the secret values currently in play, as
//!   their sources hand them over with [`remember`]: the environment values of loaded specs,
//!   `.env` values (except compose's own `COMPOSE_*` settings), `env_file` values, the
//!   variables the config file exports, registry credentials, and the userinfo and query
//!   values of every [`Url`] (the loader keeps back a value that is a name the project
//!   shows anyway, see [`crate::desired::project`]). A value shorter than [`MIN_SECRET_LEN`] characters is not
//!   remembered: scrubbing `1`, `true` or `8080` from every line would make output useless,
//!   and such values are caught by shape where their shape is known (URL userinfo and query
//!   values of any length). It also remembers the forms a value takes in output: JSON- and
//!   debug-escaped, percent-encoded, and each line of a multi-line value. Of a value longer
//!   than [`MAX_VALUE_BYTES`] only that many first bytes are remembered (its lines too, up
//!   to there). At most [`MAX_SECRETS`] values of [`MAX_SECRET_BYTES`] in all are kept (the
//!   oldest are forgotten first); a value stays remembered after its source is gone, which
//!   only hides more. The matcher over them is rebuilt once [`REBUILD_AFTER`] new values
//!   have come (those are searched one by one until then), so a load remembering many
//!   values does not rebuild it per value; it is an NFA, cheap to build even at the bounds.
//! - **Where output goes.** Every sink scrubs what it emits with [`text`] (or [`json`] for
//!   documents): the log writer ([`LogWriter`], all of tracing's output), the CLI's stdout
//!   and stderr ([`outln!`](crate::outln), [`errln!`](crate::errln)), the HTTP endpoints'
//!   bodies ([`crate::http`]), the control socket's answers ([`crate::control::server`]),
//!   the webhook's body ([`crate::webhook`]), systemd's status line ([`crate::systemd`]) and
//!   the free text of the rollout records ([`crate::state`]). A document is scrubbed string
//!   by string, so it stays valid JSON (its keys come out sorted). Scrubbing replaces every remembered value with [`MASK`], then
//!   hides the known leaky shapes ([`shapes`]): URL userinfo and query values, `Basic` and
//!   `Bearer` credentials, and quoted `NAME=value` environment entries (how the engine
//!   echoes an environment it refuses).
//!
//! A URL that composectl uses (gates, webhook) is a [`Url`]: its `Display`, `Debug` and
//! `Serialize` show it without userinfo and query values, and only the one HTTP client
//! ([`crate::gate::client`]) reads the whole text ([`Url::expose`]).
//!
//! The redactor of the process is one instance ([`global`]), like the tracing subscriber it
//! serves: loaders, sinks and log lines of every task share what is secret. [`Redactor`]
//! itself is a plain value, so its behaviour is tested on instances of its own.
//!
//! Not scrubbed: the revision history on disk (`history.json` keeps each revision's whole
//! spec, values included, because a rollback recreates it; [`crate::state`] keeps it 0600
//! in 0700 directories), and what the engine stores (`docker inspect` shows a container's
//! environment to whoever may use the Docker socket).

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::sync::{Arc, OnceLock, RwLock};

use crate::sync;
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

pub mod shapes;
mod url;

pub use url::{Url, base64, percent_decode};

#[cfg(test)]
mod tests;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Values shorter than this many characters are not remembered (see the module doc).
pub const MIN_SECRET_LEN: usize = 8;

/// At most this many values (forms included) are remembered; the oldest go first.
pub const MAX_SECRETS: usize = 8192;

/// At most this many bytes of values (forms included) are remembered; the oldest go first.
pub const MAX_SECRET_BYTES: usize = 1 << 20;

/// Of a longer value only this many first bytes are remembered.
pub const MAX_VALUE_BYTES: usize = 4096;

/// New values searched one by one before the matcher is rebuilt with them.
pub const REBUILD_AFTER: usize = 64;

/// The secret values in play and the matcher that finds them in text.
#[derive(Debug, Default)]
pub struct Redactor {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Values in the order they were remembered, oldest first.
    order: VecDeque<Arc<str>>,
    /// The same values, for deduplication.
    known: HashSet<Arc<str>>,
    /// Their bytes in all.
    bytes: usize,
    /// A matcher over the values remembered before `pending` (maybe some forgotten since);
    /// `None` before the first build.
    matcher: Option<Arc<AhoCorasick>>,
    /// Values remembered since the matcher was built, longest first.
    pending: Vec<Arc<str>>,
}

impl Redactor {
    /// A redactor that knows no secret yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers `value` (and the forms it takes in output) as a secret, unless it is
    /// shorter than [`MIN_SECRET_LEN`].
    pub fn remember(&self, value: &str) {
        let forms = forms(value);
        if forms.is_empty() {
            return;
        }
        let mut inner = sync::write(&self.inner);
        for form in forms {
            if inner.known.contains(form.as_str()) {
                continue;
            }
            let form: Arc<str> = form.into();
            inner.bytes += form.len();
            inner.known.insert(form.clone());
            inner.order.push_back(form.clone());
            inner.pending.push(form);
        }
        inner.pending.sort_by_key(|v| std::cmp::Reverse(v.len()));
        while inner.order.len() > MAX_SECRETS || inner.bytes > MAX_SECRET_BYTES {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            inner.bytes -= old.len();
            inner.known.remove(&old);
        }
    }

    /// Remembers every value of `values`.
    pub fn remember_all<'a>(&self, values: impl IntoIterator<Item = &'a str>) {
        for value in values {
            self.remember(value);
        }
    }

    /// How many values (forms included) are remembered.
    pub fn len(&self) -> usize {
        sync::read(&self.inner).order.len()
    }

    /// True when no value is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `text` with every remembered value replaced by [`MASK`] and the leaky shapes hidden.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let values = self.scrub_values(text);
        match shapes::scrub(&values) {
            Cow::Borrowed(_) => values,
            Cow::Owned(owned) => Cow::Owned(owned),
        }
    }

    /// Scrubs every string (keys too) of a JSON document in place.
    pub fn scrub_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                if let Cow::Owned(clean) = self.scrub(s) {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.scrub_json(&mut v);
                    map.insert(self.scrub(&key).into_owned(), v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn scrub_values<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let (matcher, pending) = self.matcher();
        let mut out = Cow::Borrowed(text);
        if let Some(matcher) = matcher.filter(|m| m.is_match(text)) {
            let mut replaced = String::with_capacity(text.len());
            matcher.replace_all_with(text, &mut replaced, |_, _, dst| {
                dst.push_str(MASK);
                true
            });
            out = Cow::Owned(replaced);
        }
        for value in &pending {
            if out.contains(&**value) {
                out = Cow::Owned(out.replace(&**value, MASK));
            }
        }
        out
    }

    /// The matcher and the values remembered since it was built; the matcher is rebuilt
    /// first when [`REBUILD_AFTER`] values are pending.
    fn matcher(&self) -> (Option<Arc<AhoCorasick>>, Vec<Arc<str>>) {
        {
            let inner = sync::read(&self.inner);
            if inner.pending.len() < REBUILD_AFTER {
                return (inner.matcher.clone(), inner.pending.clone());
            }
        }
        let mut inner = sync::write(&self.inner);
        if inner.pending.len() >= REBUILD_AFTER {
            // A contiguous NFA, not the DFA aho-corasick picks for up to 100 patterns: with
            // one 4 KiB run of a single character (a padded value) among them the DFA took
            // 660 ms to build in release (26 s in a debug build; the NFA 1.5 ms), under the
            // lock every log line waits on, and it searches short lines barely faster.
            let built = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(inner.order.iter().map(|v| v.as_bytes()));
            match built {
                Ok(built) => {
                    inner.matcher = Some(Arc::new(built));
                    inner.pending.clear();
                }
                // Cannot happen within the bounds; keep the longest values searched.
                Err(_) => inner.pending.truncate(MAX_SECRETS),
            }
        }
        (inner.matcher.clone(), inner.pending.clone())
    }
}

/// The forms of `value` worth remembering: the value, each line (or NUL-separated piece)
/// of it, and of each of those its escaped and percent-encoded spellings; only those of at
/// least [`MIN_SECRET_LEN`] characters.
fn forms(value: &str) -> Vec<String> {
    let mut end = value.len().min(MAX_VALUE_BYTES);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let value = &value[..end];
    let mut pieces: Vec<&str> = vec![value];
    if value.contains(['\n', '\r', '\0']) {
        pieces.extend(value.split(['\n', '\r', '\0']).map(str::trim));
    }
    let mut out: Vec<String> = Vec::new();
    for piece in pieces {
        if piece.chars().count() < MIN_SECRET_LEN {
            continue;
        }
        let json = serde_json::to_string(piece).unwrap_or_default();
        let json = json
            .strip_prefix('"')
            .and_then(|j| j.strip_suffix('"'))
            .unwrap_or_default();
        let debug = format!("{piece:?}");
        let debug = debug
            .strip_prefix('"')
            .and_then(|d| d.strip_suffix('"'))
            .unwrap_or_default();
        for form in [piece, json, debug, &shapes::percent_encode(piece)] {
            if form.chars().count() >= MIN_SECRET_LEN && !out.iter().any(|o| o == form) {
                out.push(form.to_owned());
            }
        }
    }
    out
}

/// The process's redactor (see the module doc for why there is one).
pub fn global() -> &'static Redactor {
    static GLOBAL: OnceLock<Redactor> = OnceLock::new();
    GLOBAL.get_or_init(Redactor::new)
}

/// Remembers `value` as a secret of the process ([`Redactor::remember`]).
pub fn remember(value: &str) {
    global().remember(value);
}

/// `text` scrubbed by the process's redactor ([`Redactor::scrub`]).
pub fn text(text: &str) -> Cow<'_, str> {
    global().scrub(text)
}

/// Scrubs a JSON document in place with the process's redactor.
pub fn json(value: &mut serde_json::Value) {
    global().scrub_json(value);
}

/// `value` as a scrubbed JSON document (every string scrubbed).
pub fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    let mut document = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    json(&mut document);
    document
}

/// Writes `text` scrubbed to stdout (used by [`outln!`](crate::outln)); a closed stdout is
/// ignored.
pub fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(self::text(text).as_bytes());
    let _ = out.flush();
}

/// Writes `text` scrubbed to stderr (used by [`errln!`](crate::errln)).
pub fn print_err(text: &str) {
    let _ = std::io::stderr()
        .lock()
        .write_all(self::text(text).as_bytes());
}

/// `println!` through the redactor: the CLI's stdout.
#[macro_export]
macro_rules! outln {
    () => { $crate::redact::print_out("\n") };
    ($($arg:tt)*) => { $crate::redact::print_out(&(format!($($arg)*) + "\n")) };
}

/// `print!` through the redactor.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::redact::print_out(&format!($($arg)*)) };
}

/// `eprintln!` through the redactor: the CLI's stderr.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::redact::print_err(&(format!($($arg)*) + "\n")) };
}

/// The log sink: tracing's `MakeWriter` whose writers collect one event and write it to
/// stderr scrubbed, in one piece, when dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = EventBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        EventBuffer::default()
    }
}

/// One log event on its way to stderr (see [`LogWriter`]).
#[derive(Debug, Default)]
pub struct EventBuffer {
    bytes: Vec<u8>,
}

impl Write for EventBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        if self.bytes.is_empty() {
            return;
        }
        let event = String::from_utf8_lossy(&self.bytes);
        let _ = std::io::stderr().lock().write_all(text(&event).as_bytes());
    }
}
