//! The `docker_health` gate: the container's own `HEALTHCHECK` (from the image or compose),
//! read through [`ContainerRuntime::inspect_container`].
//!
//! Healthy passes, unhealthy fails, starting is not yet. Without a healthcheck a running
//! container passes. A container that is not running, or gone, fails (it crashed or was
//! removed under the rollout); one only created is not yet. An engine error is not yet:
//! the rollout's window decides how long that may last.

use std::sync::Arc;

use super::{Evidence, Gate, GateFuture, Probe, Verdict};
use crate::model::{ContainerState, Health, ObservedContainer};
use crate::runtime::ContainerRuntime;

/// The gate; stateless apart from the runtime handle.
#[derive(Debug)]
pub struct DockerHealthGate<R> {
    runtime: Arc<R>,
}

impl<R: ContainerRuntime> DockerHealthGate<R> {
    /// A gate asking `runtime`.
    pub fn new(runtime: Arc<R>) -> Self {
        Self { runtime }
    }

    async fn check(&self, target: &Probe) -> Verdict {
        let name = &target.container_name;
        match self.runtime.inspect_container(name).await {
            Err(e) => Verdict::NotYet(Evidence::new(format!("cannot inspect {name}: {e}"))),
            Ok(None) => Verdict::Fail(Evidence::new(format!("container {name} does not exist"))),
            Ok(Some(container)) => verdict(&container),
        }
    }
}

impl<R: ContainerRuntime> Gate for DockerHealthGate<R> {
    fn kind(&self) -> &'static str {
        "docker_health"
    }

    fn evaluate<'a>(&'a mut self, target: &'a Probe) -> GateFuture<'a> {
        Box::pin(self.check(target))
    }
}

/// The verdict for one inspected container.
pub fn verdict(container: &ObservedContainer) -> Verdict {
    let name = &container.name;
    let state = container.state;
    match (state, container.health) {
        (ContainerState::Running, Some(Health::Healthy)) => {
            Verdict::Pass(Evidence::new(format!("{name} is healthy")))
        }
        (ContainerState::Running, None) => Verdict::Pass(Evidence::new(format!(
            "{name} is running (it has no healthcheck)"
        ))),
        (ContainerState::Running, Some(Health::Starting)) => {
            Verdict::NotYet(Evidence::new(format!("{name}'s health is starting")))
        }
        (_, Some(Health::Unhealthy)) => {
            Verdict::Fail(Evidence::new(format!("{name} is unhealthy")))
        }
        (ContainerState::Created, _) => {
            Verdict::NotYet(Evidence::new(format!("{name} is created, not started yet")))
        }
        (state, _) => {
            let exit = container
                .exit_code
                .map(|c| format!(" (exit code {c})"))
                .unwrap_or_default();
            Verdict::Fail(Evidence::new(format!("{name} is {}{exit}", state.as_str())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(state: ContainerState, health: Option<Health>) -> ObservedContainer {
        ObservedContainer {
            name: "shop-web-1".into(),
            state,
            health,
            exit_code: (state == ContainerState::Exited).then_some(137),
            ..ObservedContainer::default()
        }
    }

    #[test]
    fn health_and_state_decide_the_verdict() {
        use ContainerState::*;
        let cases = [
            (
                Running,
                Some(Health::Healthy),
                "pass: shop-web-1 is healthy",
            ),
            (
                Running,
                None,
                "pass: shop-web-1 is running (it has no healthcheck)",
            ),
            (
                Running,
                Some(Health::Starting),
                "not yet: shop-web-1's health is starting",
            ),
            (
                Running,
                Some(Health::Unhealthy),
                "fail: shop-web-1 is unhealthy",
            ),
            (
                Created,
                None,
                "not yet: shop-web-1 is created, not started yet",
            ),
            (Exited, None, "fail: shop-web-1 is exited (exit code 137)"),
            (
                Restarting,
                Some(Health::Starting),
                "fail: shop-web-1 is restarting",
            ),
            (Paused, Some(Health::Healthy), "fail: shop-web-1 is paused"),
        ];
        for (state, health, expected) in cases {
            assert_eq!(verdict(&container(state, health)).to_string(), expected);
        }
    }

    #[tokio::test]
    async fn the_gate_follows_the_engine_through_the_runtime() {
        use crate::model::{ProjectSpec, ServiceSpec};
        use crate::runtime::Error;
        use crate::runtime::fake::{FakeRuntime, Op};

        let runtime = Arc::new(FakeRuntime::new());
        let project = ProjectSpec {
            name: "shop".into(),
            ..ProjectSpec::default()
        };
        let service = ServiceSpec {
            name: "web".into(),
            image: "demo:v1".into(),
            ..ServiceSpec::default()
        };
        let id = runtime.add_managed(&project, &service, 1);
        let name = runtime.container(&id).expect("added").name;
        let target = Probe {
            project: "shop".into(),
            service: "web".into(),
            number: 1,
            container_name: name.clone(),
            ip: None,
            port: None,
        };
        let mut gate = DockerHealthGate::new(runtime.clone());
        assert!(gate.evaluate(&target).await.is_pass());
        runtime.set_health(&id, Health::Unhealthy);
        assert!(gate.evaluate(&target).await.is_fail());
        runtime.fail_next(
            Op::InspectContainer,
            Error::Unavailable {
                operation: "inspect_container",
                message: "socket gone".into(),
            },
        );
        assert_eq!(gate.evaluate(&target).await.label(), "not yet");
        runtime.remove_by_hand(&id);
        let verdict = gate.evaluate(&target).await;
        assert_eq!(
            verdict.to_string(),
            format!("fail: container {name} does not exist")
        );
    }
}
