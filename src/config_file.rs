//! The optional config file: `--config PATH` (env `COMPOSECTL_CONFIG`, default
//! [`DEFAULT_PATH`] when it exists).
//!
//! It is an env file with the same names as the environment variables (`COMPOSECTL_*`,
//! `DOCKER_HOST`), read with the loader's env-file parser ([`crate::desired::envfile`]), so
//! the systemd unit's `EnvironmentFile=` can point at the same file. Precedence is
//! flag > environment > config file > default: a value from the file only fills in a name
//! the environment lacks, and clap then reads the environment as usual.
//!
//! Names that are not composectl's (the variables compose files interpolate, such as a
//! database password kept out of git) are exported the same way, as `EnvironmentFile=`
//! would; an unknown `COMPOSECTL_*` name is a typo and only warned about.
//!
//! This module decides what to fill in ([`load`]); the binary sets the variables at the
//! start of `main`, before any thread exists. The file is read like the loader's files
//! ([`crate::desired::read`]): a regular file of at most [`CONFIG_FILE_BYTES`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;

use crate::desired::limits::CONFIG_FILE_BYTES;
use crate::desired::{envfile, read};

/// The config file read when neither `--config` nor `COMPOSECTL_CONFIG` names one, and only
/// if it exists.
pub const DEFAULT_PATH: &str = "/etc/composectl/composectl.env";

/// The environment variable naming the config file (the twin of `--config`).
pub const ENV: &str = "COMPOSECTL_CONFIG";

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file named by `--config` or `COMPOSECTL_CONFIG` does not exist.
    #[error("config file {}: not found (named by --config or {ENV})", path.display())]
    NotFound {
        /// The named path.
        path: PathBuf,
    },
    /// The file exists but cannot be read: not a regular file, larger than
    /// [`CONFIG_FILE_BYTES`], not UTF-8, or an I/O error (the message names the file).
    #[error("config file {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        source: read::Error,
    },
    /// A line is not `KEY=VALUE`, or a value's interpolation failed (names the line).
    #[error("config file {}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The env-file error, with its line.
        source: envfile::Error,
    },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Where the config file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Named by `--config` or `COMPOSECTL_CONFIG`: it must exist.
    Explicit(PathBuf),
    /// The default path: read only if it exists.
    Default(PathBuf),
}

/// What the config file contributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlay {
    /// The file read, if any.
    pub path: Option<PathBuf>,
    /// The variables to set (names the environment lacks), in file order.
    pub set: Vec<(String, String)>,
    /// One warning per line the file sets to no effect (unknown names); never a value.
    pub warnings: Vec<String>,
    /// The values of the variables the file exports for compose files (every name that is
    /// not a composectl setting), whether set now or already in the environment: secrets
    /// for output purposes ([`crate::redact`]).
    pub secrets: Vec<String>,
}

/// The config file's source according to the parsed command line (`config` is the id of
/// the `--config` argument).
pub fn source(matches: &ArgMatches) -> Source {
    let path = matches
        .get_one::<PathBuf>("config")
        .cloned()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    match matches.value_source("config") {
        Some(ValueSource::CommandLine | ValueSource::EnvVariable) => Source::Explicit(path),
        _ => Source::Default(path),
    }
}

/// Reads the config file of `source` and decides which of its variables to set: those
/// `is_set` says the environment lacks, except unknown `COMPOSECTL_*` names (not in `known`). `lookup` serves `${VAR}`
/// interpolation in values.
pub fn load(
    source: &Source,
    known: &BTreeSet<String>,
    is_set: &dyn Fn(&str) -> bool,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Overlay> {
    let Some((path, text)) = read(source)? else {
        return Ok(Overlay::default());
    };
    let entries = envfile::parse_entries(&text, lookup).map_err(|source| Error::Parse {
        path: path.clone(),
        source,
    })?;
    Ok(overlay(&path, entries, known, is_set))
}

/// The file's text; `None` when the default file does not exist.
fn read(source: &Source) -> Result<Option<(PathBuf, String)>> {
    let (path, explicit) = match source {
        Source::Explicit(path) => (path, true),
        Source::Default(path) => (path, false),
    };
    let max = read::Max {
        bytes: CONFIG_FILE_BYTES,
        what: "config file",
        raise_with: None,
    };
    match read::read_text(path, max) {
        Ok(text) => Ok(Some((path.clone(), text))),
        Err(err) if err.is_not_found() => {
            if explicit {
                Err(Error::NotFound { path: path.clone() })
            } else {
                Ok(None)
            }
        }
        Err(source) => Err(Error::Read {
            path: path.clone(),
            source,
        }),
    }
}

/// Splits `entries` into variables to set and warnings; pure.
pub fn overlay(
    path: &Path,
    entries: Vec<envfile::Entry>,
    known: &BTreeSet<String>,
    is_set: &dyn Fn(&str) -> bool,
) -> Overlay {
    let mut result = Overlay {
        path: Some(path.to_path_buf()),
        ..Overlay::default()
    };
    for entry in entries {
        let at = format!("config file {} line {}", path.display(), entry.line);
        if entry.key == ENV {
            result
                .warnings
                .push(format!("{at}: {ENV} has no effect in a config file"));
        } else if entry.key.starts_with("COMPOSECTL_") && !known.contains(&entry.key) {
            result.warnings.push(format!(
                "{at}: unknown setting {}, ignored (see `composectl --help` for the names)",
                entry.key
            ));
        } else {
            if !known.contains(&entry.key) {
                result.secrets.push(entry.value.clone());
            }
            if !is_set(&entry.key) {
                result.set.push((entry.key, entry.value));
            }
        }
    }
    result
}

/// The environment names of every setting of `command` and its subcommands.
pub fn known_settings(command: &clap::Command) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    for sub in command.get_subcommands() {
        names.extend(known_settings(sub));
    }
    names
}

#[cfg(test)]
mod tests;
