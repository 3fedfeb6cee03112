//! Executor tests against the fake engine (paused clock where time matters), by what they
//! test: creates and pulls, replacements, `depends_on` waits, removals and what the executor
//! never touches, networks and volumes. Here: the builders they share, the `shop` project,
//! a plan of given actions, a create action, and a fake with a store listed from it and an
//! executor over both.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::model::spec::{
    Healthcheck, MountKind, MountSpec, NetworkSpec, ServiceNetwork, ServiceSpec, VolumeSpec,
};
use crate::observed::relist;
use crate::plan::Reason;
use crate::runtime::fake::FakeRuntime;

mod creates;
mod networks;
mod removals;
mod replacements;
mod waits;

/// `shop`: `db` (postgres, healthcheck) and `web` (nginx on the default network, a volume).
pub fn shop() -> ProjectSpec {
    let mut db = ServiceSpec::new("db", "postgres:16");
    db.healthcheck = Some(Healthcheck {
        test: vec!["CMD".into(), "pg_isready".into()],
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
    });
    db.stop_grace_period = Some(Duration::from_secs(30));
    let mut web = ServiceSpec::new("web", "nginx:1.27");
    web.networks
        .insert("default".into(), ServiceNetwork::default());
    web.mounts.push(MountSpec {
        kind: MountKind::Volume {
            name: "shop_data".into(),
            key: "data".into(),
        },
        target: "/data".into(),
        read_only: false,
        options: Default::default(),
    });
    let network = NetworkSpec {
        name: "shop_default".into(),
        ..NetworkSpec::default()
    };
    let volume = VolumeSpec {
        name: "shop_data".into(),
        ..VolumeSpec::default()
    };
    ProjectSpec {
        name: "shop".into(),
        services: BTreeMap::from([("db".into(), db), ("web".into(), web)]),
        networks: BTreeMap::from([("default".into(), network)]),
        volumes: BTreeMap::from([("data".into(), volume)]),
        ..ProjectSpec::default()
    }
}

/// A plan for `shop` of `actions`, in that order.
pub fn plan(actions: Vec<Action>) -> Plan {
    Plan {
        project: "shop".into(),
        actions,
        deferred: Vec::new(),
        ..Plan::default()
    }
}

/// Creates replica `number` of `service` (reason: missing).
pub fn create(service: &str, number: u32) -> Action {
    Action::Create {
        service: service.into(),
        number,
        reason: Reason::Missing,
    }
}

/// A fake, a store already listed from it, and an executor over both.
pub async fn setup(fake: &FakeRuntime) -> (Store, Executor<FakeRuntime>) {
    let store = Store::new();
    relist(fake, &store).await.unwrap();
    fake.clear_calls();
    let executor = Executor::new(Arc::new(fake.clone()), store.clone());
    (store, executor)
}
