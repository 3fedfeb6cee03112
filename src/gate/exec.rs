//! The `exec` gate: a host command (program and arguments templated, no shell) whose exit
//! status decides. Exit 0 passes; anything else fails with the exit code and the last line
//! the command wrote to stderr; a command that outlives `timeout` is killed and fails. A
//! command that cannot be started fails too (a typo in the program must not pass).
//! Stdin is closed; stdout is discarded. The command inherits composectl's environment,
//! which is never logged, and the descriptor limit composectl started with (see
//! [`crate::fdlimit`]).

use std::process::Stdio;

use tokio::process::Command;

use super::config::ExecConfig;
use super::{Evidence, Gate, GateFuture, Probe, Verdict, template};
use crate::fdlimit;

/// The gate; stateless.
#[derive(Debug)]
pub struct ExecGate {
    config: ExecConfig,
}

impl ExecGate {
    /// A gate running `config.command`.
    pub fn new(config: ExecConfig) -> Self {
        Self { config }
    }

    async fn run(&self, target: &Probe) -> Verdict {
        let argv: Result<Vec<String>, _> = self
            .config
            .command
            .iter()
            .map(|arg| template::render(arg, target))
            .collect();
        let argv = match argv {
            Ok(argv) => argv,
            Err(e) => return Verdict::NotYet(Evidence::new(e.to_string())),
        };
        let program = &argv[0];
        let mut command = Command::new(program);
        command
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        fdlimit::restore_in_child(&mut command);
        let child = command.spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => return Verdict::Fail(Evidence::new(format!("cannot run {program}: {e}"))),
        };
        let timeout = self.config.timeout;
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Err(_) => Verdict::Fail(Evidence::new(format!(
                "{program} did not finish within {timeout:?} and was killed"
            ))),
            Ok(Err(e)) => Verdict::Fail(Evidence::new(format!("waiting for {program}: {e}"))),
            Ok(Ok(output)) => judge(program, output.status, &output.stderr),
        }
    }
}

impl Gate for ExecGate {
    fn kind(&self) -> &'static str {
        "exec"
    }

    fn evaluate<'a>(&'a mut self, target: &'a Probe) -> GateFuture<'a> {
        Box::pin(self.run(target))
    }
}

/// The verdict for a finished command.
fn judge(program: &str, status: std::process::ExitStatus, stderr: &[u8]) -> Verdict {
    if status.success() {
        return Verdict::Pass(Evidence::new(format!("{program} exited 0")));
    }
    let stderr = String::from_utf8_lossy(stderr);
    let last = stderr.lines().rev().map(str::trim).find(|l| !l.is_empty());
    let how = match status.code() {
        Some(code) => format!("exited {code}"),
        None => "was killed by a signal".to_owned(),
    };
    let message = match last {
        Some(line) => format!("{program} {how}: {line}"),
        None => format!("{program} {how}"),
    };
    let mut evidence = Evidence::new(message);
    evidence.value = status.code().map(f64::from);
    Verdict::Fail(evidence)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn target() -> Probe {
        Probe {
            project: "shop".into(),
            service: "web".into(),
            number: 3,
            container_name: "shop-web-3".into(),
            ip: Some("127.0.0.1".parse().unwrap()),
            port: None,
        }
    }

    async fn run(command: &[&str], timeout: Duration) -> Verdict {
        let config = ExecConfig {
            command: command.iter().map(|s| s.to_string()).collect(),
            timeout,
        };
        ExecGate::new(config).evaluate(&target()).await
    }

    #[tokio::test]
    async fn the_exit_status_decides_with_the_last_stderr_line() {
        let second = Duration::from_secs(5);
        let cases: [(&[&str], &str); 4] = [
            (
                &[
                    "/bin/sh",
                    "-c",
                    "test {number} = 3 && test {ip} = 127.0.0.1",
                ],
                "pass: /bin/sh exited 0",
            ),
            (
                &[
                    "/bin/sh",
                    "-c",
                    "echo first >&2; echo '{container} is bad' >&2; echo; exit 4",
                ],
                "fail: /bin/sh exited 4: shop-web-3 is bad",
            ),
            (&["/bin/false"], "fail: /bin/false exited 1"),
            (
                &["/nonexistent/check"],
                "fail: cannot run /nonexistent/check: No such file or directory (os error 2)",
            ),
        ];
        for (command, expected) in cases {
            assert_eq!(
                run(command, second).await.to_string(),
                expected,
                "{command:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_command_over_its_timeout_is_killed_and_fails() {
        let verdict = run(&["/bin/sleep", "30"], Duration::from_millis(200)).await;
        assert_eq!(
            verdict.to_string(),
            "fail: /bin/sleep did not finish within 200ms and was killed"
        );
    }

    #[tokio::test]
    async fn a_failed_exit_code_is_the_evidence_value() {
        let verdict = run(&["/bin/sh", "-c", "exit 7"], Duration::from_secs(5)).await;
        assert_eq!(verdict.evidence().value, Some(7.0));
    }
}
