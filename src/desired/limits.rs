//! Every bound the loader puts on its input, in one place.
//!
//! No input may stall or exhaust the controller (DESIGN: "files are read ... bounded in
//! size and time, and only if they are regular files; every count is bounded"). File sizes
//! are [`Limits`], set from the command line; the rest are constants, far above what a
//! real compose project uses and far below what would hurt a small host:
//!
//! | bound | value | what it stops |
//! |---|---|---|
//! | [`Limits::compose_file_bytes`] | 1 MiB | a 50 MB compose file costing GBs on every reload |
//! | [`Limits::env_file_bytes`] | 1 MiB | `env_file: /dev/zero`-like files (those are refused as non-regular anyway) |
//! | [`CONFIG_FILE_BYTES`] | 1 MiB | the same for the config file |
//! | [`MAX_YAML_DEPTH`] | 64 levels | a deep `- - - - ...` overflowing the stack |
//! | [`MAX_ALIAS_NODES`] | 100,000 nodes | "billion laughs": nested anchors and aliases |
//! | [`MAX_ALIAS_BYTES`] | 16 MiB | one large anchored string aliased many times |
//! | [`MAX_SERVICES`] | 1,000 per project | |
//! | [`MAX_REPLICAS`] | 100 per service | `replicas: 1000000000` allocating per replica |
//! | [`MAX_PORTS_PER_SERVICE`] | 1,024 mappings | `"1-65535"` ranges expanded per port |
//! | [`MAX_ENV_FILES_PER_SERVICE`] | 32 | the same file listed a million times |
//! | [`MAX_PROJECT_ENV_BYTES`] | 16 MiB | one large env file copied into every service |
//! | [`MAX_FILE_SOURCE_BYTES`] | 1 MiB per secret or config | a `file:` secret copied into memory, the history and the state directory |
//! | [`MAX_PROJECT_FILE_BYTES`] | 16 MiB | many large secrets and configs in one project |
//! | [`MAX_INTERPOLATION_DEPTH`] | 16 | `${A:-${A:-${A:-...}}}` recursing |
//! | [`MAX_INTERPOLATED_BYTES`] | 16 MiB per file | `B=${A}${A}`, `C=${B}${B}`, ... doubling |
//! | [`MAX_INCLUDE_DEPTH`] | 16 levels | `include` nested without end (cycles are refused anyway) |
//! | [`MAX_EXTENDS_DEPTH`] | 16 levels | a chain of `extends` without end |
//! | [`MAX_COMPOSE_FILES`] | 256 reads per project | included and extended files read over and over (each is also bounded by the compose file size) |
//! | [`MAX_DURATION`] | 365 days | `monitor: 99999999999h` overflowing a deadline (a panic) |
//!
//! A project over a bound fails to load with a message naming the file, the line, the key
//! and the bound; its last good version keeps running.

use std::time::Duration;

/// The default of both file-size limits: 1 MiB.
pub const DEFAULT_FILE_BYTES: u64 = 1024 * 1024;

/// The largest config file (`--config`) read: 1 MiB (it is read before the command line is
/// parsed, so no flag raises it).
pub const CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// Deepest nesting of collections in a YAML document (also after alias expansion). Compose
/// files nest about 6 levels; the bound keeps every recursive walk of the tree shallow.
pub const MAX_YAML_DEPTH: usize = 64;

/// Most nodes that alias expansion (`*name`) may produce in one file, keys included.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// Most bytes of scalar text that alias expansion may produce in one file.
pub const MAX_ALIAS_BYTES: u64 = 16 * 1024 * 1024;

/// Most services in one project (active or not).
pub const MAX_SERVICES: usize = 1_000;

/// Most replicas of one service (`deploy.replicas` or `scale`): each is a container the
/// planner reasons about.
pub const MAX_REPLICAS: u32 = 100;

/// Most port mappings of one service once ranges are expanded (`"8000-8099:80-179"` is 100).
pub const MAX_PORTS_PER_SERVICE: usize = 1_024;

/// Most `env_file` entries of one service.
pub const MAX_ENV_FILES_PER_SERVICE: usize = 32;

/// Most bytes of environment (names and values) over all services of one project.
pub const MAX_PROJECT_ENV_BYTES: u64 = 16 * 1024 * 1024;

/// The largest content of one secret or config (`file:`, `environment:` or `content:`):
/// it is held in memory, stored in the revision history and written under the state
/// directory. Docker Swarm bounds secrets at 500 KiB; 1 MiB leaves room for configs.
pub const MAX_FILE_SOURCE_BYTES: u64 = 1024 * 1024;

/// Most bytes of secret and config content one project may use, all sources together.
pub const MAX_PROJECT_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Deepest nesting of `${...}` inside a default or alternative value (`${A:-${B}}` is 2).
pub const MAX_INTERPOLATION_DEPTH: usize = 16;

/// Most bytes that variables may substitute into one file (a compose file, `.env` or an
/// `env_file`), counting every substitution.
pub const MAX_INTERPOLATED_BYTES: u64 = 16 * 1024 * 1024;

/// Deepest nesting of `include` (a project including a file that includes a file is 2).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Longest chain of `extends` (a service extending a service that extends one is 2).
pub const MAX_EXTENDS_DEPTH: usize = 16;

/// Most compose files read to load one project: its own, every included file and every
/// file an `extends` names, counted each time one is read.
pub const MAX_COMPOSE_FILES: usize = 256;

/// The longest duration accepted anywhere (compose durations, `x-rollout`, the command
/// line): a year. Deadlines are computed by adding durations to the current time; far
/// beyond this they overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// File-size limits of the loader, set by `--max-compose-file-size` and
/// `--max-env-file-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest compose or override file read, in bytes (default 1 MiB,
    /// `--max-compose-file-size`, `COMPOSECTL_MAX_COMPOSE_FILE_SIZE`).
    pub compose_file_bytes: u64,
    /// The largest `.env` or `env_file` read, in bytes (default 1 MiB,
    /// `--max-env-file-size`, `COMPOSECTL_MAX_ENV_FILE_SIZE`).
    pub env_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            compose_file_bytes: DEFAULT_FILE_BYTES,
            env_file_bytes: DEFAULT_FILE_BYTES,
        }
    }
}

impl Limits {
    /// The bound of a compose or override file, for [`super::read`].
    pub fn compose(&self) -> super::read::Max {
        super::read::Max {
            bytes: self.compose_file_bytes,
            what: "compose file",
            raise_with: Some(
                "--max-compose-file-size (or COMPOSECTL_MAX_COMPOSE_FILE_SIZE), such as 4MiB",
            ),
        }
    }

    /// The bound of `.env` and of an `env_file`, for [`super::read`].
    pub fn env(&self) -> super::read::Max {
        super::read::Max {
            bytes: self.env_file_bytes,
            what: "env file",
            raise_with: Some("--max-env-file-size (or COMPOSECTL_MAX_ENV_FILE_SIZE), such as 4MiB"),
        }
    }
}

/// Parses a size for the limit flags: bytes, or a number with `K`, `M`, `G` (or `KiB`,
/// `MiB`, `GiB`; all binary multiples, any case, an optional `B`). Zero is refused.
pub fn parse_file_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| {
        format!(
            "{text:?} is not a size; write bytes or a number with K, M or G such as 512K or 4MiB"
        )
    })?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "ki" | "kib" => 1 << 10,
        "m" | "mb" | "mi" | "mib" => 1 << 20,
        "g" | "gb" | "gi" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit; use K, M or G (KiB, MiB, GiB), such as 4MiB"
            ));
        }
    };
    let bytes = number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes == 0 {
        return Err("the size must be at least 1 byte".into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sizes_parse_in_bytes_and_binary_units() {
        let cases = [
            ("1", 1),
            ("2048", 2048),
            ("512K", 512 << 10),
            ("512k", 512 << 10),
            ("4M", 4 << 20),
            ("4MiB", 4 << 20),
            ("4mb", 4 << 20),
            ("1KiB", 1024),
            ("1G", 1 << 30),
            (" 3 MiB ", 3 << 20),
        ];
        for (text, want) in cases {
            assert_eq!(parse_file_size(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn zero_negative_fractional_and_unknown_sizes_are_refused() {
        for text in [
            "0",
            "0K",
            "",
            "-1",
            "1.5M",
            "4T",
            "M",
            "4 parsecs",
            "99999999999G",
        ] {
            assert!(parse_file_size(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_default_limits_are_one_mebibyte() {
        let limits = Limits::default();
        assert_eq!(limits.compose_file_bytes, 1 << 20);
        assert_eq!(limits.env_file_bytes, 1 << 20);
    }
}
