//! The settings of the commands that load the desired directory: where it lives, its
//! file-size limits and the policy ([`DesiredArgs`], shared by `plan`, `validate` and
//! `policy`), and those of `apply --once` and `run`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{parse_duration, parse_file_size};
use crate::desired::Limits;
use crate::policy::Mode;

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

/// How image builds run (`build:`).
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// How many images are built at once.
    #[arg(long, env = "COMPOSECTL_BUILD_PARALLELISM", default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub build_parallelism: usize,
    /// Longest image build; a build that takes longer fails (and is not tried again until
    /// its inputs change).
    #[arg(long, env = "COMPOSECTL_BUILD_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    pub build_timeout: Duration,
}

impl BuildArgs {
    /// The executor's build settings.
    pub fn settings(&self) -> crate::executor::BuildSettings {
        crate::executor::BuildSettings {
            parallelism: self.build_parallelism,
            timeout: self.build_timeout,
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
    /// How image builds run.
    #[command(flatten)]
    pub builds: BuildArgs,
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
    /// How image builds run.
    #[command(flatten)]
    pub builds: BuildArgs,
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
    /// The webhook's settings (boxed: they are seldom set and keep the command small).
    #[command(flatten)]
    pub webhook: Box<WebhookArgs>,
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
    /// The shortest interval between two registry checks of one watched service
    /// (`x-rollout.watch`); a shorter `interval` in a compose file is raised to it. Lower it
    /// only for tests against a local registry.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub watch_min_interval: Duration,
}

/// The webhook's settings of `run`.
#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// A URL (http:// or https://) told of rollouts (started, promoted, rolled back,
    /// aborted, held), crash loops, and projects failing to load or reconcile, and of their
    /// recovery. `slack+https://...` (also discord, ntfy, gotify, json) names the format.
    #[arg(long, env = "COMPOSECTL_WEBHOOK")]
    pub webhook: Option<String>,
    /// The webhook's payload format: auto (from the URL: hooks.slack.com is slack,
    /// discord.com/api/webhooks is discord, ntfy.sh is ntfy, else json), json, slack,
    /// discord, ntfy or gotify.
    #[arg(long, env = "COMPOSECTL_WEBHOOK_FORMAT", default_value = "auto")]
    pub webhook_format: String,
    /// A PEM file of CA certificates the webhook's https:// receiver may be signed by, on
    /// top of the system's roots.
    #[arg(long, env = "COMPOSECTL_WEBHOOK_CA_FILE")]
    pub webhook_ca_file: Option<PathBuf>,
}
