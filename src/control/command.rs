//! `composectl rollout ...`: turns a parsed [`RolloutArgs`] into requests to the running
//! controller and prints the answers ([`super::render`]). Returns the exit code: 0 done,
//! 1 an error (no controller, a refused request) or, for `status --watch`, a watched
//! rollout that ended rolled back or aborted.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::protocol::ServiceStatus;
use super::{Request, Response, Selector, client, render};
use crate::cli::{RolloutArgs, RolloutCommand};

/// Exit code: something failed.
const EXIT_ERROR: u8 = 1;
/// How often `status --watch` asks.
const WATCH_PERIOD: Duration = Duration::from_secs(1);
/// How long `status --watch` watches at least: a change to the desired files made just
/// before reaches the controller after its debounce, and until then the status still
/// shows the rollout before it as over.
const WATCH_AT_LEAST: Duration = Duration::from_secs(3);
/// Clears an ANSI terminal and puts the cursor home.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// Runs `rollout ...` against the controller of `instance`.
pub async fn run(args: RolloutArgs, instance: &str, state_dir: &std::path::Path) -> ExitCode {
    let socket = super::socket_path(state_dir, instance);
    let (request, json) = match args.command {
        RolloutCommand::Status(status) => {
            let selector = status.target.unwrap_or_default();
            if status.watch {
                return watch(&socket, selector, status.json).await;
            }
            (Request::Status { selector }, status.json)
        }
        RolloutCommand::Pause(t) => (Request::Pause { selector: t.target }, false),
        RolloutCommand::Resume(t) => (Request::Resume { selector: t.target }, false),
        RolloutCommand::Promote(t) => (Request::Promote { selector: t.target }, false),
        RolloutCommand::Abort(t) => (Request::Abort { selector: t.target }, false),
        RolloutCommand::Rebuild(t) => (Request::Rebuild { selector: t.target }, false),
        RolloutCommand::Undo(u) => (
            Request::Undo {
                selector: u.target,
                to_revision: u.to_revision,
            },
            false,
        ),
        RolloutCommand::History(h) => (Request::History { selector: h.target }, h.json),
    };
    once(&socket, &request, json).await
}

/// One request, its answer printed.
async fn once(socket: &Path, request: &Request, json: bool) -> ExitCode {
    let response = match client::request(socket, request).await {
        Ok(response) => response,
        Err(err) => return error(&err.to_string()),
    };
    if json {
        let text = serde_json::to_string_pretty(&response).expect("a response serializes");
        crate::outln!("{text}");
    }
    match response {
        Response::Error { message } => error(&message),
        _ if json => ExitCode::SUCCESS,
        Response::Status { services } => {
            if services.is_empty() {
                return nothing_matches(request);
            }
            crate::out!("{}", render::status(&services, false));
            ExitCode::SUCCESS
        }
        Response::History { history } => {
            crate::out!("{}", render::history(&history));
            ExitCode::SUCCESS
        }
        Response::Done { messages } => {
            for message in messages {
                crate::outln!("{message}");
            }
            ExitCode::SUCCESS
        }
    }
}

/// `status --watch`: asks every second; on a terminal redraws in place, otherwise prints a
/// block only when something other than the timers changed. Stops once every selected
/// rollout is over.
async fn watch(socket: &Path, selector: Selector, json: bool) -> ExitCode {
    let redraw = std::io::stdout().is_terminal() && !json;
    let request = Request::Status { selector };
    let mut shown: Option<Vec<ServiceStatus>> = None;
    let mut tick = tokio::time::interval(WATCH_PERIOD);
    let started = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        let services = match client::request(socket, &request).await {
            Ok(Response::Status { services }) => services,
            Ok(Response::Error { message }) => return error(&message),
            Ok(other) => return error(&format!("the controller answered {other:?}")),
            Err(err) => return error(&err.to_string()),
        };
        if services.is_empty() {
            return nothing_matches(&request);
        }
        let mut out = std::io::stdout().lock();
        if redraw {
            let screen = format!("{CLEAR}{}", render::status(&services, true));
            let _ = out.write_all(crate::redact::text(&screen).as_bytes());
        } else if shown
            .as_deref()
            .is_none_or(|before| render::changed(before, &services))
        {
            let text = if json {
                serde_json::to_string(&services).expect("statuses serialize") + "\n"
            } else {
                render::status(&services, true) + "\n"
            };
            let _ = out.write_all(crate::redact::text(&text).as_bytes());
            shown = Some(services.clone());
        }
        let _ = out.flush();
        drop(out);
        if render::all_settled(&services) && started.elapsed() >= WATCH_AT_LEAST {
            return watch_outcome(&services);
        }
    }
}

/// 1 when a watched rollout ended rolled back or aborted (for CI), else 0.
fn watch_outcome(services: &[ServiceStatus]) -> ExitCode {
    let failures = render::failures(services);
    for failure in &failures {
        crate::errln!("{failure}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ERROR)
    }
}

/// An empty status: fine when everything was asked for, a mistake when a target was named.
fn nothing_matches(request: &Request) -> ExitCode {
    let Request::Status { selector } = request else {
        return ExitCode::SUCCESS;
    };
    if *selector == Selector::default() {
        crate::outln!("no service has a rollout config");
        ExitCode::SUCCESS
    } else {
        error(&format!(
            "no service matches {selector}; `composectl rollout status` lists them all"
        ))
    }
}

fn error(message: &str) -> ExitCode {
    crate::errln!("error: {message}");
    ExitCode::from(EXIT_ERROR)
}

#[cfg(test)]
mod tests {
    use crate::sync;
    use std::collections::VecDeque;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::cli::{RolloutStatusArgs, TargetArgs};
    use crate::control::server::Server;
    use crate::control::{Handler, HandlerFuture};
    use crate::rollout::record::PhaseName;

    /// Answers with the queued responses in order, repeating the last one.
    struct Scripted(Mutex<VecDeque<Response>>);

    impl Handler for Scripted {
        fn handle(&self, _: Request) -> HandlerFuture<'_> {
            let mut queue = sync::lock(&self.0);
            let response = if queue.len() > 1 {
                queue.pop_front().unwrap()
            } else {
                queue.front().cloned().unwrap()
            };
            Box::pin(async move { response })
        }
    }

    fn status(phase: Option<PhaseName>) -> Response {
        Response::Status {
            services: vec![ServiceStatus {
                phase,
                reason: Some("gate http failed".into()),
                gates: Vec::new(),
                window_left_ms: None,
                elapsed_ms: None,
                watch: None,
                ..ServiceStatus::example()
            }],
        }
    }

    /// Serves `responses` on `<dir>/default/control.sock`; returns the state dir.
    fn serve(responses: Vec<Response>) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().to_owned();
        let server = Server::bind(&crate::control::socket_path(&state_dir, "default")).unwrap();
        let handler = Arc::new(Scripted(Mutex::new(responses.into())));
        tokio::spawn(server.run(handler, std::future::pending()));
        (dir, state_dir)
    }

    fn args(command: RolloutCommand) -> RolloutArgs {
        RolloutArgs { command }
    }

    fn pause() -> RolloutCommand {
        RolloutCommand::Pause(TargetArgs {
            target: Selector::parse("shop/web"),
        })
    }

    fn watch_status() -> RolloutCommand {
        RolloutCommand::Status(RolloutStatusArgs {
            target: None,
            watch: true,
            json: false,
        })
    }

    #[tokio::test]
    async fn a_done_answer_exits_0_and_an_error_answer_exits_1() {
        let (_dir, state) = serve(vec![Response::Done {
            messages: vec!["shop/web paused".into()],
        }]);
        assert_eq!(
            run(args(pause()), "default", &state).await,
            ExitCode::SUCCESS
        );
        let (_dir, state) = serve(vec![Response::Error {
            message: "shop/web has no rollout".into(),
        }]);
        assert_eq!(
            run(args(pause()), "default", &state).await,
            ExitCode::from(1)
        );
    }

    #[tokio::test]
    async fn no_controller_exits_1() {
        let dir = tempfile::tempdir().unwrap();
        let code = run(args(pause()), "default", dir.path()).await;
        assert_eq!(code, ExitCode::from(1));
    }

    #[tokio::test]
    async fn another_instance_has_another_socket() {
        let (_dir, state) = serve(vec![Response::Done {
            messages: Vec::new(),
        }]);
        assert_eq!(
            run(args(pause()), "nas", &state.clone()).await,
            ExitCode::from(1)
        );
        assert_eq!(
            run(args(pause()), "default", &state).await,
            ExitCode::SUCCESS
        );
    }

    #[tokio::test]
    async fn watch_stops_when_the_rollout_is_over_and_fails_on_a_rollback() {
        let (_dir, state) = serve(vec![status(Some(PhaseName::Complete))]);
        assert_eq!(
            run(args(watch_status()), "default", &state).await,
            ExitCode::SUCCESS
        );
        let (_dir, state) = serve(vec![
            status(Some(PhaseName::Progressing)),
            status(Some(PhaseName::RolledBack)),
        ]);
        let code = tokio::time::timeout(
            Duration::from_secs(10),
            run(args(watch_status()), "default", &state),
        )
        .await
        .expect("watch ends once the rollout is over");
        assert_eq!(code, ExitCode::from(1));
    }
}
