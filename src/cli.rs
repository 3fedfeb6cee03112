//! The command line: `composectl run | plan | apply --once | validate | healthcheck |
//! rollout ... | policy ...`.
//!
//! Every setting is a flag with an environment-variable twin (`COMPOSECTL_*`), so the
//! systemd unit can set them either way, and may also come from the config file
//! ([`crate::config_file`]). `--help` documents each with its default and its variable's
//! name, never the variable's value (a webhook URL carries a token): parse with
//! [`command`], which hides every environment value.
//!
//! The top level and the small commands are here; the settings of the commands that load
//! the desired directory are in `converge`, the `rollout` and `policy` subcommands in
//! their own modules, all re-exported here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

mod converge;
mod policy;
mod rollout;
#[cfg(test)]
mod tests;

pub use converge::{ApplyArgs, DesiredArgs, RunArgs};
pub use policy::{PolicyApproveArgs, PolicyArgs, PolicyCommand, PolicyShowArgs};
pub use rollout::{
    HistoryArgs, RolloutArgs, RolloutCommand, RolloutStatusArgs, TargetArgs, UndoArgs, parse_target,
};

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
    /// The state directory: rollout records, revision histories, approved privileges and
    /// the control socket live in `<state-dir>/<instance>/`.
    #[arg(
        long,
        env = "COMPOSECTL_STATE_DIR",
        default_value = crate::control::DEFAULT_STATE_DIR,
        global = true
    )]
    pub state_dir: PathBuf,
    /// Log filter (`info`, `debug`, `composectl=debug,warn`); default `info` for `run` and
    /// `apply`, `warn` for the other commands. A bare `debug` or `trace` applies to
    /// composectl only (the engine client stays at `info`); name a dependency to see its
    /// debug output (`debug,bollard=debug`). Every line is scrubbed of secrets.
    #[arg(long, env = "COMPOSECTL_LOG", global = true)]
    pub log: Option<String>,
    /// Log format.
    #[arg(long, env = "COMPOSECTL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The command line as the binary parses it: [`Cli`]'s, with every argument's environment
/// value hidden from `--help` (clap shows `[env: NAME=value]` otherwise), in every
/// subcommand, so an argument added later cannot forget it.
pub fn command() -> clap::Command {
    hide_env_values(Cli::command())
}

fn hide_env_values(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| arg.hide_env_values(true))
        .mut_subcommands(hide_env_values)
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
    /// Watch and steer rollouts through the running controller (its control socket,
    /// `<state-dir>/<instance>/control.sock`, root only). Exit 0: done; 1: errors.
    Rollout(RolloutArgs),
    /// Show and approve what projects may do to this host (see --policy). Exit 0: done;
    /// 1: errors (for `show`: a project is held).
    Policy(PolicyArgs),
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

/// Parses a file size: bytes, or a number with `K`, `M`, `G` (`KiB`, `MiB`, `GiB`); not 0.
pub fn parse_file_size(text: &str) -> Result<u64, String> {
    crate::desired::limits::parse_file_size(text)
}

/// Parses `500ms`, `30s`, `1m30s`, `2h` (compose's duration format).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::desired::parse_duration(text).map_err(|err| format!("{text:?} {err}"))
}
