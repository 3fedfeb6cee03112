//! Wiring: turns a parsed [`Cli`] into a running command and an exit code.
//!
//! `validate`, `healthcheck` and `rollout ...` (which talks to a running controller over its
//! control socket, see [`crate::control::command`]) need no engine. `plan` and `apply --once` load, list the engine once and
//! plan (and execute); `run` raises the descriptor limit ([`crate::fdlimit`]), starts the
//! controller and stops it on SIGTERM or SIGINT, letting in-flight reconciles finish.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use crate::cli::{ApplyArgs, Cli, Command, DesiredArgs, HealthcheckArgs, LogFormat, RunArgs};
use crate::control;
use crate::controller::backoff::CrashPolicy;
use crate::controller::{Config, Controller};
use crate::desired::{self, HostEnv};
use crate::fdlimit;
use crate::healthcheck;
use crate::http;
use crate::plan;
use crate::policy;
use crate::redact;
use crate::runtime::docker::DockerRuntime;
use crate::state::StateDir;
use crate::systemd::Notifier;
use crate::webhook::Webhook;
use crate::{errln, out, outln};

/// Exit code: something failed.
const EXIT_ERROR: u8 = 1;
/// Exit code of `plan` when changes are pending.
const EXIT_CHANGES: u8 = 2;

/// Runs the command line and returns the process exit code; `config_warnings` (from the
/// config file, read before logging starts) are logged first.
pub fn run(cli: Cli, config_warnings: &[String]) -> ExitCode {
    init_tracing(&cli);
    for warning in config_warnings {
        warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    runtime.block_on(dispatch(cli))
}

fn init_tracing(cli: &Cli) {
    // The daemon and `apply` report what they do; `plan` and `validate` print their answer
    // on stdout and log only problems, unless asked otherwise.
    let default = match cli.command {
        Command::Run(_) | Command::Apply(_) => "info",
        Command::Plan(_)
        | Command::Validate(_)
        | Command::Healthcheck(_)
        | Command::Rollout(_)
        | Command::Policy(_) => "warn",
    };
    let wanted = log_directives(cli.log.as_deref().unwrap_or(default));
    let filter = EnvFilter::try_new(&wanted).unwrap_or_else(|_| EnvFilter::new(default));
    // Every log line goes through the redactor on its way to stderr.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(redact::LogWriter);
    match cli.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The `--log` filter as the subscriber gets it: a bare level more verbose than `info`
/// (`debug`, `trace`) applies to composectl only, the dependencies (bollard, hyper) staying
/// at `info`, because their debug output holds the engine's decoded answers, environment
/// values included. A dependency's debug output is still there when asked for by name
/// (`--log debug,bollard=debug`), scrubbed like every log line.
pub fn log_directives(wanted: &str) -> String {
    use std::str::FromStr;
    use tracing_subscriber::filter::LevelFilter;
    let mut out: Vec<String> = Vec::new();
    for directive in wanted.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match LevelFilter::from_str(directive) {
            Ok(level) if level > LevelFilter::INFO => {
                out.push("info".to_owned());
                out.push(format!("{}={directive}", env!("CARGO_CRATE_NAME")));
            }
            _ => out.push(directive.to_owned()),
        }
    }
    out.join(",")
}

async fn dispatch(cli: Cli) -> ExitCode {
    let engine = Engine {
        host: cli.docker_host,
        instance: cli.instance,
        state_dir: cli.state_dir,
    };
    match cli.command {
        Command::Rollout(args) => {
            control::command::run(args, &engine.instance, &engine.state_dir).await
        }
        Command::Policy(args) => {
            policy::command::run(args, &engine.instance, &engine.state_dir).await
        }
        Command::Validate(args) => validate(&args, &engine),
        Command::Healthcheck(args) => healthcheck(&args).await,
        Command::Plan(args) => {
            let Some(policy) = engine.policy(&args, false) else {
                return ExitCode::from(EXIT_ERROR);
            };
            let state = engine.state();
            engine.with(|rt| plan(rt, args, state, policy)).await
        }
        Command::Apply(args) => {
            let Some(policy) = engine.policy(&args.desired, true) else {
                return ExitCode::from(EXIT_ERROR);
            };
            let state = engine.state();
            engine.with(|rt| apply(rt, args, state, policy)).await
        }
        Command::Run(args) => {
            let Some(policy) = engine.policy(&args.desired, true) else {
                return ExitCode::from(EXIT_ERROR);
            };
            let state = engine.state();
            engine.with(|rt| run_daemon(rt, args, state, policy)).await
        }
    }
}

/// How to reach the engine, as which instance, and where that instance keeps its state.
struct Engine {
    host: Option<String>,
    instance: String,
    state_dir: std::path::PathBuf,
}

impl Engine {
    /// This instance's state directory.
    fn state(&self) -> StateDir {
        StateDir::new(&self.state_dir, &self.instance)
    }

    /// The host policy of a command over `desired` (pinning first deployments when
    /// `pin`); `None`, with the error logged, when the policy file cannot be used.
    fn policy(&self, desired: &DesiredArgs, pin: bool) -> Option<policy::Settings> {
        if let Err(err) = policy::command::check_file(desired) {
            error!("{err}");
            return None;
        }
        Some(policy::command::settings(
            desired,
            &self.instance,
            &self.state_dir,
            pin,
        ))
    }

    /// Connects, then runs `f` with the runtime; a connection failure is exit code 1.
    async fn with<F, Fut>(self, f: F) -> ExitCode
    where
        F: FnOnce(Arc<DockerRuntime>) -> Fut,
        Fut: Future<Output = ExitCode>,
    {
        let connected = match &self.host {
            Some(host) => DockerRuntime::connect_with(host).await,
            None => DockerRuntime::connect().await,
        };
        match connected {
            Ok(runtime) => f(Arc::new(runtime.with_instance(&self.instance))).await,
            Err(err) => {
                error!("{err}");
                ExitCode::from(EXIT_ERROR)
            }
        }
    }
}

fn validate(args: &DesiredArgs, engine: &Engine) -> ExitCode {
    if let Err(err) = policy::command::check_file(args) {
        errln!("error: {err}");
        return ExitCode::from(EXIT_ERROR);
    }
    let mut report = match desired::load_dir_with(&args.desired, &HostEnv, &args.limits()) {
        Ok(report) => report,
        Err(err) => {
            errln!("error: {err}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let assessed =
        policy::command::assess_report(&mut report, args, &engine.instance, &engine.state_dir);
    let mut failed = 0;
    for (project, load) in &report.projects {
        let assessment = assessed.get(project);
        match load {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    errln!("warning: {warning}");
                }
                outln!(
                    "ok      {project} ({} services)",
                    loaded.spec.services.len()
                );
            }
            Err(err) => {
                failed += 1;
                let held = assessment.is_some_and(policy::Assessment::is_held);
                outln!("{} {project}", if held { "held   " } else { "invalid" });
                errln!("error: {err}");
            }
        }
        if let Some(a) = assessment.filter(|a| !a.privileges.is_empty()) {
            out!(
                "{}",
                indent(&policy::command::render(project, a, args.policy))
            );
        }
    }
    if report.projects.is_empty() {
        errln!("warning: {} holds no project", args.desired.display());
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ERROR)
    }
}

async fn healthcheck(args: &HealthcheckArgs) -> ExitCode {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| healthcheck::default_url(&args.listen));
    match healthcheck::check(&url, args.timeout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            errln!("unhealthy: {err}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// `text` with every line indented by 8 spaces (under a project's status line).
fn indent(text: &str) -> String {
    text.lines().map(|l| format!("        {l}\n")).collect()
}

async fn plan(
    runtime: Arc<DockerRuntime>,
    args: DesiredArgs,
    state: StateDir,
    policy: policy::Settings,
) -> ExitCode {
    let mut config = Config::new(&args.desired);
    config.state = state;
    config.limits = args.limits();
    config.policy = policy;
    let controller = Controller::new(runtime, config);
    // The engine first: the host policy trusts a project without a record that already runs.
    if let Err(err) = controller.relist().await {
        error!("{err}");
        return ExitCode::from(EXIT_ERROR);
    }
    controller.reload().await;
    let plans = controller.plan_all();
    out!("{}", plan::render_many(&plans));
    for (service, strategy) in controller.rollout_strategies() {
        let (project, name) = service.split_once('/').unwrap_or(("", &service));
        let replaced = plans.iter().filter(|p| p.project == project).any(|p| {
            p.actions.iter().any(|a| {
                matches!(a, plan::Action::Replace { service, reason, .. }
                    if service == name && matches!(reason, plan::Reason::ConfigDrift { .. } | plan::Reason::ImageChanged { .. }))
            })
        });
        if replaced {
            outln!(
                "note: {service} rolls out by its {strategy} strategy: `composectl run` replaces these replicas step by step, watched by its gates, and rolls back on a failure"
            );
        }
    }
    for (service, found) in controller.pending_updates().await {
        match found {
            Ok(update) => outln!(
                "pending update: {service}: the registry has {update}; `composectl run` pulls it and rolls it out by the service's strategy"
            ),
            Err(error) => outln!("note: {service}: registry check failed: {error}"),
        }
    }
    for (project, assessment) in controller.privileges() {
        if !assessment.privileges.is_empty() {
            out!(
                "{}",
                policy::command::render(&project, &assessment, args.policy)
            );
        }
        if assessment.is_held() {
            outln!(
                "note: project {project} is held: it asks for privileges this host does not allow it, so nothing of it changes (see the errors)"
            );
        }
    }
    for project in controller.foreign_projects() {
        outln!(
            "note: project {project} runs under this instance but was not loaded from {}: left alone, never pruned (`run --adopt` prunes it)",
            args.desired.display()
        );
    }
    if let Err(err) = controller.load_errors() {
        errln!("error: {err}");
        return ExitCode::from(EXIT_ERROR);
    }
    if plans.iter().any(|p| !p.is_empty()) {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    }
}

async fn apply(
    runtime: Arc<DockerRuntime>,
    args: ApplyArgs,
    state: StateDir,
    policy: policy::Settings,
) -> ExitCode {
    let mut config = Config::new(&args.desired.desired);
    config.state = state;
    config.policy = policy;
    config.limits = args.desired.limits();
    config.wait_timeout = args.wait_timeout;
    config.parallelism = args.parallelism;
    config.builds = args.builds.settings();
    config.adopt = args.adopt;
    let controller = Controller::new(runtime, config);
    controller.reload().await;
    match controller.apply_once().await {
        Ok(plans) => {
            out!("{}", plan::render_many(&plans));
            ExitCode::SUCCESS
        }
        Err(err) => {
            errln!("error: {err}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn run_daemon(
    runtime: Arc<DockerRuntime>,
    args: RunArgs,
    state: StateDir,
    policy: policy::Settings,
) -> ExitCode {
    raise_fd_limit();
    let mut config = Config::new(&args.desired.desired);
    config.state = state;
    config.policy = policy;
    config.limits = args.desired.limits();
    if let Some(url) = &args.webhook.webhook {
        match Webhook::with_settings(
            url,
            Some(&args.webhook.webhook_format),
            args.webhook.webhook_ca_file.as_deref(),
        ) {
            Ok(webhook) => config.webhook = Some(webhook),
            Err(err) => {
                error!("--webhook: {err}");
                return ExitCode::from(EXIT_ERROR);
            }
        }
    }
    let socket = config.state.root().join(control::SOCKET_NAME);
    let control_server = match control::server::Server::bind(&socket) {
        Ok(server) => server,
        Err(err) => {
            error!("{err}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    config.resync = args.resync;
    config.debounce = args.debounce;
    config.adopt = args.adopt;
    config.removal_grace = args.removal_grace;
    config.load_timeout = args.load_timeout;
    config.watch_min_interval = args.watch_min_interval;
    config.wait_timeout = args.wait_timeout;
    config.parallelism = args.parallelism;
    config.builds = args.builds.settings();
    config.crash = CrashPolicy {
        initial: args.crash_backoff,
        max: args.crash_backoff_max,
        reset_after: args.crash_reset,
    };
    let config_webhook = config.webhook.clone();
    let controller = Controller::new(runtime.clone(), config).with_notifier(Notifier::from_env());
    let telemetry = controller.telemetry().clone();
    telemetry.attach_api_stats(move || runtime.stats());
    if let Some(webhook) = config_webhook.clone() {
        crate::webhook::conditions::spawn(
            webhook,
            &telemetry,
            args.crash_backoff,
            args.crash_backoff_max,
        );
    }
    let server = match http::Server::bind(args.listen, telemetry).await {
        Ok(server) => server,
        Err(err) => {
            error!("{err}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    info!(addr = %server.local_addr(), "serving /metrics, /healthz, /readyz and /status");
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(server.run(http_stopped));
    info!(socket = %control_server.path().display(), "serving the control socket (`composectl rollout ...`)");
    let (stop_control, control_stopped) = tokio::sync::oneshot::channel::<()>();
    let control_task = tokio::spawn(control_server.run(controller.control_handler(), async {
        let _ = control_stopped.await;
    }));
    let result = controller.run(shutdown_signal()).await;
    let _ = stop_http.send(());
    let _ = stop_control.send(());
    let _ = http.await;
    let _ = control_task.await;
    if let Some(webhook) = &config_webhook {
        webhook.flush(crate::webhook::TIMEOUT).await;
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!("{err}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Raises the descriptor limit for the daemon and says where it ends; a failure is a warning,
/// never the end of the start.
fn raise_fd_limit() {
    match fdlimit::raise() {
        Ok((before, after)) if before.soft != after.soft => info!(
            limit = after.soft,
            "raised the file descriptor limit (RLIMIT_NOFILE) from {} to the hard limit {}",
            before.soft,
            after.soft
        ),
        Ok((_, after)) => info!(
            limit = after.soft,
            "the file descriptor limit (RLIMIT_NOFILE) is {}", after.soft
        ),
        Err(err) => warn!("{err}"),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::log_directives;

    #[test]
    fn a_bare_debug_or_trace_level_applies_to_composectl_only() {
        assert_eq!(log_directives("debug"), "info,composectl=debug");
        assert_eq!(log_directives("trace"), "info,composectl=trace");
        assert_eq!(
            log_directives("debug,bollard=debug"),
            "info,composectl=debug,bollard=debug"
        );
    }

    #[test]
    fn quieter_levels_and_named_targets_are_kept_as_written() {
        for kept in [
            "info",
            "warn",
            "error",
            "off",
            "composectl=debug,warn",
            "bollard=trace",
        ] {
            assert_eq!(log_directives(kept), kept);
        }
    }
}
