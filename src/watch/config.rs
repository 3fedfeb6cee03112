//! `x-rollout.watch`: whether and how a service follows its registry.
//!
//! ```yaml
//! x-rollout:
//!   watch: digest            # short form: the mode, every other setting its default
//!   watch:                   # long form
//!     mode: semver           # digest | semver
//!     interval: 5m           # between checks (default 5m; the daemon never checks more
//!                            # often than --watch-min-interval, 10s by default)
//!     pattern: '^1\.\d+\.\d+$'  # semver: the tags considered (default: every tag)
//!     prereleases: false     # semver: consider 1.3.0-rc1 and the like (default false)
//! ```

use std::time::Duration;

use serde_json::{Map, Value};

use crate::desired::convert::units;
use crate::rollout::config::{Error, Result};

/// The default interval between checks.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// What a watched service follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The tag it names now points at another image in the registry.
    Digest,
    /// A newer version tag than the running one, matching a pattern.
    Semver,
}

impl Mode {
    /// The name the compose file spells.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Digest => "digest",
            Self::Semver => "semver",
        }
    }
}

/// One service's `x-rollout.watch`.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// What it follows.
    pub mode: Mode,
    /// Between checks, as written (the daemon applies its minimum).
    pub interval: Duration,
    /// Semver: the tags considered (`None`: every tag).
    pub pattern: Option<regex::Regex>,
    /// Semver: whether pre-release versions are considered.
    pub prereleases: bool,
}

impl PartialEq for WatchConfig {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode
            && self.interval == other.interval
            && self.pattern.as_ref().map(regex::Regex::as_str)
                == other.pattern.as_ref().map(regex::Regex::as_str)
            && self.prereleases == other.prereleases
    }
}

const KEYS: &[&str] = &["mode", "interval", "pattern", "prereleases"];
const MODES: &[&str] = &["digest", "semver"];

/// Reads `x-rollout.watch` (`key` is its full name, for errors).
pub fn parse(value: &Value, key: &str) -> Result<WatchConfig> {
    match value {
        Value::String(mode) => Ok(WatchConfig {
            mode: mode_named(mode, key)?,
            interval: DEFAULT_INTERVAL,
            pattern: None,
            prereleases: false,
        }),
        Value::Object(map) => parse_map(map, key),
        _ => Err(Error::WrongType {
            key: key.to_owned(),
            expected: "digest, semver or a map with mode, interval, pattern, prereleases",
        }),
    }
}

fn parse_map(map: &Map<String, Value>, key: &str) -> Result<WatchConfig> {
    if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(Error::UnknownKey {
            key: format!("{key}.{unknown}"),
        });
    }
    let mode_key = format!("{key}.mode");
    let mode = match map.get("mode") {
        Some(Value::String(mode)) => mode_named(mode, &mode_key)?,
        Some(_) => return Err(wrong(&mode_key, "digest or semver")),
        None => return Err(wrong(&mode_key, "digest or semver (it is required)")),
    };
    let interval_key = format!("{key}.interval");
    let interval = match map.get("interval") {
        None => DEFAULT_INTERVAL,
        Some(Value::String(text)) => {
            let interval = units::parse_duration(text).map_err(|source| Error::Duration {
                key: interval_key.clone(),
                value: text.clone(),
                source,
            })?;
            if interval < Duration::from_secs(1) {
                return Err(wrong(
                    &interval_key,
                    "a duration of at least 1s, such as 5m",
                ));
            }
            interval
        }
        Some(_) => return Err(wrong(&interval_key, "a duration such as 5m")),
    };
    let pattern_key = format!("{key}.pattern");
    let pattern = match map.get("pattern") {
        None => None,
        Some(Value::String(text)) => Some(regex::Regex::new(text).map_err(|e| Error::Pattern {
            key: pattern_key.clone(),
            message: e.to_string(),
        })?),
        Some(_) => return Err(wrong(&pattern_key, "a regular expression")),
    };
    let pre_key = format!("{key}.prereleases");
    let prereleases = match map.get("prereleases") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(wrong(&pre_key, "true or false")),
    };
    if mode == Mode::Digest {
        for only_semver in ["pattern", "prereleases"] {
            if map.contains_key(only_semver) {
                return Err(Error::NeedsMode {
                    key: format!("{key}.{only_semver}"),
                    mode: "semver",
                });
            }
        }
    }
    Ok(WatchConfig {
        mode,
        interval,
        pattern,
        prereleases,
    })
}

fn mode_named(text: &str, key: &str) -> Result<Mode> {
    match text {
        "digest" => Ok(Mode::Digest),
        "semver" => Ok(Mode::Semver),
        other => Err(Error::NotAllowed {
            key: key.to_owned(),
            value: other.to_owned(),
            allowed: MODES.join(", "),
        }),
    }
}

fn wrong(key: &str, expected: &'static str) -> Error {
    Error::WrongType {
        key: key.to_owned(),
        expected,
    }
}
