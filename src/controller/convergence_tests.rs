//! The convergence property on the fake engine: for random desired specs and random hosts
//! (missing, drifted, exited, unhealthy, surplus and orphan containers), planning, executing
//! through the real executor, relisting and planning again yields an empty plan, and the
//! engine then runs exactly the desired replicas. The executor runs plans concurrently:
//! the fake's calls take random times (tokio's paused clock), so actions complete in random
//! orders, and random calls fail; once the failures stop, the next plan is empty, and no
//! two calls ever worked on one container at once.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use crate::executor::Executor;
use crate::model::spec::{
    DependsOn, Healthcheck, MountKind, MountSpec, NetworkSpec, ServiceNetwork, VolumeSpec,
};
use crate::model::{ContainerState, Health, ProjectSpec, ServiceSpec};
use crate::observed::{Store, relist};
use crate::plan::{PlanContext, plan};
use crate::runtime::Error as RuntimeError;
use crate::runtime::fake::{FakeRuntime, Op};

/// The write operations a failure can be injected into.
const FAILING: [Op; 5] = [
    Op::CreateContainer,
    Op::StartContainer,
    Op::StopContainer,
    Op::RemoveContainer,
    Op::EnsureNetwork,
];

/// One generated service: replicas, an environment value, a healthcheck, a dependency on
/// an earlier service.
#[derive(Debug, Clone)]
struct Svc {
    replicas: u32,
    env: u8,
    healthcheck: bool,
    depends: Option<(usize, bool)>,
}

/// What the host holds for one replica number before the plan.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Absent,
    Current,
    Drifted,
    Exited(i64),
    Unhealthy,
}

fn svc() -> impl Strategy<Value = Svc> {
    (
        0u32..4,
        any::<u8>(),
        any::<bool>(),
        proptest::option::of((0usize..3, any::<bool>())),
    )
        .prop_map(|(replicas, env, healthcheck, depends)| Svc {
            replicas,
            env,
            healthcheck,
            depends,
        })
}

fn slot() -> impl Strategy<Value = Slot> {
    prop_oneof![
        Just(Slot::Absent),
        Just(Slot::Current),
        Just(Slot::Drifted),
        (0i64..2).prop_map(Slot::Exited),
        Just(Slot::Unhealthy),
    ]
}

fn service(i: usize, s: &Svc, env: u8) -> ServiceSpec {
    let mut spec = ServiceSpec::new(format!("s{i}"), format!("app{}:v1", i % 2));
    spec.replicas = s.replicas;
    spec.environment.insert("MODE".into(), env.to_string());
    spec.networks
        .insert("default".into(), ServiceNetwork::default());
    if s.healthcheck {
        spec.healthcheck = Some(Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
        });
    }
    if i == 0 {
        spec.mounts.push(MountSpec {
            kind: MountKind::Volume {
                name: "shop_data".into(),
                key: "data".into(),
            },
            target: "/data".into(),
            read_only: false,
            options: Default::default(),
        });
    }
    if let Some((j, healthy)) = s.depends.filter(|(j, _)| *j < i) {
        let condition = if healthy {
            DependsOn::Healthy
        } else {
            DependsOn::Started
        };
        spec.depends_on.insert(format!("s{j}"), condition);
    }
    spec
}

fn project(services: &[Svc], shift: u8) -> ProjectSpec {
    let mut spec = ProjectSpec {
        name: "shop".into(),
        ..ProjectSpec::default()
    };
    spec.networks.insert(
        "default".into(),
        NetworkSpec {
            name: "shop_default".into(),
            ..NetworkSpec::default()
        },
    );
    spec.volumes.insert(
        "data".into(),
        VolumeSpec {
            name: "shop_data".into(),
            ..VolumeSpec::default()
        },
    );
    for (i, s) in services.iter().enumerate() {
        let svc = service(i, s, s.env.wrapping_add(shift));
        spec.services.insert(svc.name.clone(), svc);
    }
    spec
}

/// Puts the generated host into the fake engine.
fn seed(fake: &FakeRuntime, desired: &ProjectSpec, drifted: &ProjectSpec, slots: &[Vec<Slot>]) {
    for (i, per_number) in slots.iter().enumerate() {
        let name = format!("s{i}");
        let (Some(current), Some(old)) = (desired.services.get(&name), drifted.services.get(&name))
        else {
            continue;
        };
        for (n, slot) in per_number.iter().enumerate() {
            let number = n as u32 + 1;
            let id = match slot {
                Slot::Absent => continue,
                Slot::Drifted => fake.add_managed(drifted, old, number),
                _ => fake.add_managed(desired, current, number),
            };
            match slot {
                Slot::Exited(code) => fake.kill(&id, *code),
                Slot::Unhealthy => fake.set_health(&id, Health::Unhealthy),
                _ => {}
            }
        }
    }
}

fn converge(
    services: Vec<Svc>,
    slots: Vec<Vec<Slot>>,
    orphan: bool,
    delays: Vec<u16>,
    failures: Vec<usize>,
) -> Result<(), TestCaseError> {
    let desired = project(&services, 0);
    let drifted = project(&services, 1);
    let fake = FakeRuntime::new();
    for image in ["app0:v1", "app1:v1"] {
        fake.add_registry_image(image, &format!("sha256:{image}:latest"));
    }
    seed(&fake, &desired, &drifted, &slots);
    if orphan {
        fake.add_managed(&desired, &ServiceSpec::new("gone", "app0:v1"), 1);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    fake.set_delay(move |_| {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Duration::from_millis(u64::from(delays[i % delays.len()]))
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::new();
        let executor = Executor::new(Arc::new(fake.clone()), store.clone())
            .with_wait_timeout(Duration::from_secs(2));
        relist(&fake, &store).await.unwrap();
        let first = plan(
            "shop",
            Some(&desired),
            &store.snapshot(),
            &PlanContext::default(),
        );
        for op in &failures {
            fake.fail_next(
                FAILING[op % FAILING.len()],
                RuntimeError::Engine {
                    operation: "injected",
                    message: "injected failure".into(),
                },
            );
        }
        // Each failed round uses up at least one injected failure; a round without one
        // must succeed.
        let mut current = first.clone();
        let mut last = Err(String::new());
        for _ in 0..=failures.len() {
            last = executor
                .execute(&desired, &current)
                .await
                .map_err(|e| format!("{current}\n{e}"));
            if last.is_ok() {
                break;
            }
            relist(&fake, &store).await.unwrap();
            current = plan(
                "shop",
                Some(&desired),
                &store.snapshot(),
                &PlanContext::default(),
            );
        }
        last.map_err(TestCaseError::fail)?;
        prop_assert!(
            fake.overlaps().is_empty(),
            "two calls on one container: {:?}",
            fake.overlaps()
        );
        relist(&fake, &store).await.unwrap();
        let second = plan(
            "shop",
            Some(&desired),
            &store.snapshot(),
            &PlanContext::default(),
        );
        prop_assert!(second.is_empty(), "after\n{first}\nstill\n{second}");
        let mut running: Vec<String> = fake
            .containers()
            .into_iter()
            .filter(|c| c.project == "shop" && c.state == ContainerState::Running)
            .map(|c| c.name)
            .collect();
        running.sort();
        let mut wanted: Vec<String> = desired
            .services
            .values()
            .flat_map(|s| (1..=s.replicas).map(move |n| format!("shop-{}-{n}", s.name)))
            .collect();
        wanted.sort();
        prop_assert_eq!(running, wanted);
        prop_assert_eq!(fake.containers().len(), fake_total(&desired));
        Ok(())
    })
}

fn fake_total(desired: &ProjectSpec) -> usize {
    desired.services.values().map(|s| s.replicas as usize).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn executing_a_plan_on_the_fake_engine_converges_and_the_next_plan_is_empty(
        services in proptest::collection::vec(svc(), 1..4),
        slots in proptest::collection::vec(proptest::collection::vec(slot(), 0..5), 3),
        orphan in any::<bool>(),
        delays in proptest::collection::vec(0u16..50, 1..16),
        failures in proptest::collection::vec(0usize..16, 0..3),
    ) {
        let slots: Vec<Vec<Slot>> = slots.into_iter().take(services.len()).collect();
        converge(services, slots, orphan, delays, failures)?;
    }
}
