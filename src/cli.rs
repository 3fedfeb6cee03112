//! The command line: `composectl run | plan | apply --once | validate | healthcheck`.
//!
//! Every setting is a flag with an environment-variable twin (`COMPOSECTL_*`), so the
//! systemd unit can set them either way, and may also come from the config file
//! ([`crate::config_file`]). `--help` documents each with its default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keeps this Docker host equal to a directory of compose files.
#[derive(Debug, Parser)]
#[command(name = "composectl", version, about, long_about = None)]
pub struct Cli {
    /// The config file: `KEY=VALUE` lines with the environment variables' names
    /// (`COMPOSECTL_*`, `DOCKER_HOST`). Precedence: flag > environment > config file >
    /// default. The default path is read only if it exists; a named file must exist.
    #[arg(
        long,
        env = "COMPOSECTL_CONFIG",
        default_value = crate::config_file::DEFAULT_PATH,
        global = true
    )]
    pub config: PathBuf,
    /// The Docker engine to talk to (`unix:///var/run/docker.sock`, `tcp://host:2375`);
    /// default: the local socket `unix:///var/run/docker.sock`.
    #[arg(long, env = "DOCKER_HOST", global = true)]
    pub docker_host: Option<String>,
    /// This composectl's name: it manages only containers, networks and volumes labelled
    /// `io.composectl.instance=<name>`, so instances with different desired directories on
    /// one host never touch each other's projects.
    #[arg(
        long,
        env = "COMPOSECTL_INSTANCE",
        default_value = "default",
        global = true
    )]
    pub instance: String,
    /// Log filter (`info`, `debug`, `composectl=debug,warn`); default `info` for `run` and
    /// `apply`, `warn` for the other commands.
    #[arg(long, env = "COMPOSECTL_LOG", global = true)]
    pub log: Option<String>,
    /// Log format.
    #[arg(long, env = "COMPOSECTL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller: converge now, then keep converging.
    Run(RunArgs),
    /// Show what would change and why, changing nothing. Exit 0: nothing to do; 2: changes
    /// pending; 1: errors.
    Plan(DesiredArgs),
    /// Converge once and exit. Exit 0: converged; 1: errors.
    Apply(ApplyArgs),
    /// Check the desired directory. Exit 0: every project is valid; 1: errors.
    Validate(DesiredArgs),
    /// GET a URL of a running composectl (for a container `HEALTHCHECK`). Exit 0: it
    /// answered 200; 1: otherwise.
    Healthcheck(HealthcheckArgs),
}

/// `healthcheck` settings.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to GET (`http://HOST:PORT/PATH`); default `http://<listen>/healthz`.
    pub url: Option<String>,
    /// The address `composectl run` listens on, used when no URL is given (an unspecified
    /// address, `0.0.0.0` or `[::]`, is reached on loopback).
    #[arg(long, env = "COMPOSECTL_LISTEN", default_value = "127.0.0.1:9631")]
    pub listen: String,
    /// Longest wait for the answer.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Where the desired state lives.
#[derive(Debug, Args)]
pub struct DesiredArgs {
    /// The desired directory: one project per subdirectory with a compose file, or per
    /// top-level `NAME.yaml`.
    #[arg(
        long,
        short = 'd',
        env = "COMPOSECTL_DESIRED",
        default_value = "/srv/desired"
    )]
    pub desired: PathBuf,
}

/// `apply` settings.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Converge once and exit (required: the continuous mode is `composectl run`).
    #[arg(long, required = true)]
    pub once: bool,
    /// The desired directory.
    #[command(flatten)]
    pub desired: DesiredArgs,
    /// Longest wait for a `depends_on` condition.
    #[arg(long, env = "COMPOSECTL_WAIT_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub wait_timeout: Duration,
}

/// `run` settings.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The desired directory.
    #[command(flatten)]
    pub desired: DesiredArgs,
    /// Period of the full resync (relist the engine, reload the directory).
    #[arg(long, env = "COMPOSECTL_RESYNC", default_value = "30s", value_parser = parse_duration)]
    pub resync: Duration,
    /// Quiet time after file changes before reloading.
    #[arg(long, env = "COMPOSECTL_DEBOUNCE", default_value = "500ms", value_parser = parse_duration)]
    pub debounce: Duration,
    /// Longest wait for a `depends_on` condition.
    #[arg(long, env = "COMPOSECTL_WAIT_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub wait_timeout: Duration,
    /// First delay of the crash backoff (doubles per crash).
    #[arg(long, env = "COMPOSECTL_CRASH_BACKOFF", default_value = "10s", value_parser = parse_duration)]
    pub crash_backoff: Duration,
    /// Longest crash backoff.
    #[arg(long, env = "COMPOSECTL_CRASH_BACKOFF_MAX", default_value = "5m", value_parser = parse_duration)]
    pub crash_backoff_max: Duration,
    /// Running this long without a crash resets a replica's crash backoff.
    #[arg(long, env = "COMPOSECTL_CRASH_RESET", default_value = "10m", value_parser = parse_duration)]
    pub crash_reset: Duration,
    /// Address of the HTTP endpoints (`/metrics`, `/healthz`, `/readyz`, `/status`); keep
    /// it on localhost unless a firewall or reverse proxy guards it (`/status` shows the
    /// whole host).
    #[arg(long, env = "COMPOSECTL_LISTEN", default_value = "127.0.0.1:9631")]
    pub listen: SocketAddr,
}

/// Parses `500ms`, `30s`, `1m30s`, `2h` (compose's duration format).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::desired::parse_duration(text).map_err(|err| format!("{text:?} {err}"))
}
