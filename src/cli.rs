//! The command line: `composectl run | plan | apply --once | validate | healthcheck |
//! rollout ... | policy ...`.
//!
//! Every setting is a flag with an environment-variable twin (`COMPOSECTL_*`), so the
//! systemd unit can set them either way, and may also come from the config file
//! ([`crate::config_file`]). `--help` documents each with its default and its variable's
//! name, never the variable's value (a webhook URL carries a token): parse with
//! [`command`], which hides every environment value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::control::Selector;
use crate::desired::Limits;
use crate::policy::Mode;

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

/// `policy` subcommands.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Each project's privileges, where its files ask for them, what this host allows it,
    /// and which are held.
    Show(PolicyShowArgs),
    /// Approve the privileges PROJECT's files ask for now (pinned policy): they are
    /// recorded in `<state-dir>/<instance>/PROJECT/privileges.json`, and the running
    /// controller is asked to reload at once.
    Approve(PolicyApproveArgs),
}

/// `policy show` settings.
#[derive(Debug, Args)]
pub struct PolicyShowArgs {
    /// One project (default: all of them).
    #[arg(value_name = "PROJECT")]
    pub project: Option<String>,
    /// The desired directory and the policy.
    #[command(flatten)]
    pub desired: DesiredArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `policy approve` settings.
#[derive(Debug, Args)]
pub struct PolicyApproveArgs {
    /// The project whose privileges to approve.
    #[arg(value_name = "PROJECT")]
    pub project: String,
    /// The desired directory and the policy.
    #[command(flatten)]
    pub desired: DesiredArgs,
}

/// `rollout` settings and subcommands.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RolloutCommand,
}

/// The `rollout` subcommands. TARGET is `project/service`, `project/` (every service of
/// the project) or `service` (when one project has it).
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Where the rollouts stand: phase, step, replicas updated, gates and their evidence.
    /// With --watch (at least 3 s, so a change just made to the desired files is seen),
    /// exits 1 if a watched rollout ends rolled back or aborted.
    Status(RolloutStatusArgs),
    /// Hold the rollouts where they are.
    Pause(TargetArgs),
    /// Continue paused rollouts.
    Resume(TargetArgs),
    /// Let the current step advance without waiting for its promotion.
    Promote(TargetArgs),
    /// Stop the rollouts and put every replica back on the previous revision.
    Abort(TargetArgs),
    /// Roll one service back to its previous revision (or to --to-revision).
    Undo(UndoArgs),
    /// The revision history of one service.
    History(HistoryArgs),
}

/// `rollout status` settings.
#[derive(Debug, Args)]
pub struct RolloutStatusArgs {
    /// Which services (default: every service with a rollout config).
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Option<Selector>,
    /// Redraw every second until every selected rollout is over.
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Print the controller's JSON answer.
    #[arg(long)]
    pub json: bool,
}

/// A rollout command's target.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Which services: `project/service`, `project/` or `service`.
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Selector,
}

/// `rollout undo` settings.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// Which service: `project/service` or `service`.
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Selector,
    /// The revision to go back to (see `rollout history`); default: the previous one.
    #[arg(long, value_name = "N")]
    pub to_revision: Option<u64>,
}

/// `rollout history` settings.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Which service: `project/service` or `service`.
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Selector,
    /// Print the controller's JSON answer.
    #[arg(long)]
    pub json: bool,
}

/// Parses a rollout TARGET; an empty one is refused (omit it on `status` instead).
pub fn parse_target(text: &str) -> Result<Selector, String> {
    let selector = Selector::parse(text);
    if selector == Selector::default() {
        Err("name a service: PROJECT/SERVICE, PROJECT/ or SERVICE".into())
    } else {
        Ok(selector)
    }
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
    /// The largest compose (or override) file read, in bytes or with a unit (`512K`,
    /// `4MiB`); a larger file fails its project, which keeps its last good version.
    #[arg(
        long,
        env = "COMPOSECTL_MAX_COMPOSE_FILE_SIZE",
        default_value = "1MiB",
        value_name = "SIZE",
        value_parser = parse_file_size
    )]
    pub max_compose_file_size: u64,
    /// The largest `.env` or `env_file` read, in bytes or with a unit (`512K`, `4MiB`); a
    /// larger file fails its project, which keeps its last good version.
    #[arg(
        long,
        env = "COMPOSECTL_MAX_ENV_FILE_SIZE",
        default_value = "1MiB",
        value_name = "SIZE",
        value_parser = parse_file_size
    )]
    pub max_env_file_size: u64,
    /// What a project may do to the host (privileged mode, the host's namespaces,
    /// capabilities beyond Docker's defaults, the Docker socket, host paths outside the
    /// desired directory). `pinned`: what it had when this host first deployed it, plus
    /// what `composectl policy approve` and the policy file allow; more is held (the
    /// project keeps running as it is). `strict`: only what the policy file allows.
    #[arg(long, env = "COMPOSECTL_POLICY", value_enum, default_value_t = Mode::Pinned)]
    pub policy: Mode,
    /// The policy file: the privileges each project may have (YAML: project name to a list
    /// such as `- cap:NET_ADMIN`, `- bind:/volume1/media:ro`). Refused inside the desired
    /// directory.
    #[arg(long, env = "COMPOSECTL_POLICY_FILE", value_name = "PATH")]
    pub policy_file: Option<PathBuf>,
}

impl DesiredArgs {
    /// The loader's file-size limits these settings ask for.
    pub fn limits(&self) -> Limits {
        Limits {
            compose_file_bytes: self.max_compose_file_size,
            env_file_bytes: self.max_env_file_size,
        }
    }
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
    /// How many actions of a plan run at once (independent pulls, stops, creates); the
    /// plan's dependencies still order the rest.
    #[arg(long, env = "COMPOSECTL_PARALLELISM", default_value_t = crate::executor::DEFAULT_PARALLELISM, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub parallelism: usize,
    /// Prune every project of this instance that the desired directory does not hold, also
    /// those another desired directory deployed (by default only projects loaded from this
    /// directory are ever pruned; the others are left running and reported).
    #[arg(long, env = "COMPOSECTL_ADOPT")]
    pub adopt: bool,
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
    /// How many actions of a plan run at once (independent pulls, stops, creates); the
    /// plan's dependencies still order the rest.
    #[arg(long, env = "COMPOSECTL_PARALLELISM", default_value_t = crate::executor::DEFAULT_PARALLELISM, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub parallelism: usize,
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
    /// A URL (http:// only) that receives a JSON POST when a rollout is promoted, rolled
    /// back or aborted.
    #[arg(long, env = "COMPOSECTL_WEBHOOK")]
    pub webhook: Option<String>,
    /// Prune every project of this instance that the desired directory does not hold, also
    /// those another desired directory deployed (by default only projects loaded from this
    /// directory are ever pruned; the others are left running and reported).
    #[arg(long, env = "COMPOSECTL_ADOPT")]
    pub adopt: bool,
    /// How long a project's directory must stay gone (seen by two loads) before the
    /// project is pruned; a project found again meanwhile keeps running.
    #[arg(long, env = "COMPOSECTL_REMOVAL_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub removal_grace: Duration,
    /// Longest time one project's files may take to load (a hung mount fails that project
    /// only, which keeps its last good state).
    #[arg(long, env = "COMPOSECTL_LOAD_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub load_timeout: Duration,
}

/// Parses a file size: bytes, or a number with `K`, `M`, `G` (`KiB`, `MiB`, `GiB`); not 0.
pub fn parse_file_size(text: &str) -> Result<u64, String> {
    crate::desired::limits::parse_file_size(text)
}

/// Parses `500ms`, `30s`, `1m30s`, `2h` (compose's duration format).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::desired::parse_duration(text).map_err(|err| format!("{text:?} {err}"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn rollout(args: &[&str]) -> RolloutArgs {
        let cli = Cli::try_parse_from(["composectl", "rollout"].iter().chain(args)).unwrap();
        match cli.command {
            Command::Rollout(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn rollout_commands_parse_their_targets_and_flags() {
        let cli = Cli::try_parse_from(["composectl", "rollout", "status", "--state-dir", "/tmp/s"])
            .unwrap();
        assert_eq!(cli.state_dir, PathBuf::from("/tmp/s"));
        let args = rollout(&["status", "shop/web", "--watch"]);
        let RolloutCommand::Status(status) = args.command else {
            panic!("{:?}", args.command);
        };
        assert_eq!(status.target, Some(Selector::parse("shop/web")));
        assert!(status.watch && !status.json);

        let args = rollout(&["undo", "web", "--to-revision", "3"]);
        let RolloutCommand::Undo(undo) = args.command else {
            panic!("{:?}", args.command);
        };
        assert_eq!(undo.target, Selector::parse("web"));
        assert_eq!(undo.to_revision, Some(3));

        let args = rollout(&["history", "shop/web", "--json"]);
        assert!(matches!(
            args.command,
            RolloutCommand::History(HistoryArgs { json: true, .. })
        ));
        let args = rollout(&["status"]);
        assert!(matches!(
            args.command,
            RolloutCommand::Status(RolloutStatusArgs { target: None, .. })
        ));
        let args = rollout(&["pause", "shop/"]);
        assert!(
            matches!(args.command, RolloutCommand::Pause(TargetArgs { target }) if target == Selector::parse("shop/"))
        );
    }

    fn desired_args(args: &[&str]) -> Result<DesiredArgs, clap::Error> {
        let cli = Cli::try_parse_from(["composectl", "validate"].iter().chain(args))?;
        match cli.command {
            Command::Validate(args) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn file_size_limits_default_to_one_mebibyte_and_take_units() {
        let limits = desired_args(&[]).unwrap().limits();
        assert_eq!(limits, Limits::default());
        let args = desired_args(&[
            "--max-compose-file-size",
            "4MiB",
            "--max-env-file-size",
            "512K",
        ])
        .unwrap();
        assert_eq!(args.limits().compose_file_bytes, 4 << 20);
        assert_eq!(args.limits().env_file_bytes, 512 << 10);
        for bad in ["0", "lots", "1.5M"] {
            assert!(
                desired_args(&["--max-compose-file-size", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn file_size_limits_reach_plan_apply_and_run() {
        for args in [
            &["plan", "--max-env-file-size", "2M"][..],
            &["apply", "--once", "--max-env-file-size", "2M"],
            &["run", "--max-env-file-size", "2M"],
        ] {
            let cli = Cli::try_parse_from(["composectl"].iter().chain(args)).unwrap();
            let desired = match &cli.command {
                Command::Plan(d) => d,
                Command::Apply(a) => &a.desired,
                Command::Run(r) => &r.desired,
                other => panic!("parsed as {other:?}"),
            };
            assert_eq!(desired.limits().env_file_bytes, 2 << 20, "{args:?}");
        }
    }

    #[test]
    fn the_policy_flags_reach_every_command_that_loads_and_policy_subcommands_parse() {
        let desired = desired_args(&[]).unwrap();
        assert_eq!((desired.policy, desired.policy_file), (Mode::Pinned, None));
        let args = desired_args(&["--policy", "strict", "--policy-file", "/etc/p.yaml"]).unwrap();
        assert_eq!(args.policy, Mode::Strict);
        assert_eq!(args.policy_file, Some(PathBuf::from("/etc/p.yaml")));
        assert!(desired_args(&["--policy", "lax"]).is_err());
        let cli =
            Cli::try_parse_from(["composectl", "policy", "approve", "shop", "-d", "/d"]).unwrap();
        let Command::Policy(PolicyArgs {
            command: PolicyCommand::Approve(approve),
        }) = cli.command
        else {
            panic!("{:?}", cli.command);
        };
        assert_eq!(approve.project, "shop");
        assert_eq!(approve.desired.desired, PathBuf::from("/d"));
        let cli = Cli::try_parse_from(["composectl", "policy", "show", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Policy(PolicyArgs {
                command: PolicyCommand::Show(PolicyShowArgs {
                    project: None,
                    json: true,
                    ..
                })
            })
        ));
        assert!(Cli::try_parse_from(["composectl", "policy", "approve"]).is_err());
    }

    #[test]
    fn no_argument_of_any_subcommand_shows_its_environment_value_in_help() {
        fn check(command: &clap::Command, path: &str) -> usize {
            let mut with_env = 0;
            for arg in command.get_arguments() {
                if arg.get_env().is_some() {
                    with_env += 1;
                    assert!(arg.is_hide_env_values_set(), "{path} --{}", arg.get_id());
                }
            }
            for sub in command.get_subcommands() {
                with_env += check(sub, &format!("{path} {}", sub.get_name()));
            }
            with_env
        }
        let mut command = command();
        command.build();
        assert!(check(&command, "composectl") > 10);
    }

    #[test]
    fn a_mutating_rollout_command_needs_a_target() {
        for args in [&["pause"][..], &["abort", ""], &["undo", " "], &["history"]] {
            let parsed = Cli::try_parse_from(["composectl", "rollout"].iter().chain(args));
            assert!(parsed.is_err(), "{args:?}");
        }
    }
}
