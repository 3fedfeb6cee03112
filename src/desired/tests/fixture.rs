//! The reference deployment (`tests/fixtures/desired/nas`) loads as expected.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::model::spec::{DependsOn, MountKind, RestartPolicy};

fn load_fixture() -> LoadReport {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/desired");
    let env: BTreeMap<String, String> =
        [("DB_PASSWORD".to_string(), "from-host".to_string())].into();
    load_dir(&root, &env).expect("fixture root is readable")
}

#[test]
fn the_reference_nas_stack_loads_with_healthchecks_and_ordered_dependencies() {
    let report = load_fixture();
    let loaded = ok(&report, "nas");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let spec = &loaded.spec;
    assert_eq!(
        spec.services.keys().collect::<Vec<_>>(),
        ["app", "nginx", "postgres", "redis"]
    );

    let app = &spec.services["app"];
    assert_eq!(app.image, "registry.local:5000/shop/app:1.4.2");
    assert_eq!(app.replicas, 3);
    assert_eq!(app.limits.memory, Some(768 << 20));
    assert_eq!(app.limits.cpus, Some(1.0));
    assert_eq!(app.environment["SPRING_DATASOURCE_PASSWORD"], "from-host");
    assert_eq!(app.depends_on["postgres"], DependsOn::Healthy);
    assert_eq!(app.depends_on["redis"], DependsOn::Healthy);
    let health = app.healthcheck.as_ref().unwrap();
    assert_eq!(health.test[0], "CMD");
    assert_eq!(
        (health.interval, health.retries),
        (Some(Duration::from_secs(10)), Some(5))
    );
    assert_eq!(health.start_period, Some(Duration::from_secs(30)));
    let update = app.update_config.as_ref().unwrap();
    assert_eq!(
        (update.parallelism, update.monitor),
        (Some(1), Some(Duration::from_secs(60)))
    );
    assert_eq!(app.extensions["x-rollout"]["strategy"], "canary");
    assert_eq!(app.logging.as_ref().unwrap().options["max-file"], "3");

    let nginx = &spec.services["nginx"];
    assert_eq!(nginx.depends_on["app"], DependsOn::Healthy);
    assert_eq!(
        nginx
            .ports
            .iter()
            .map(|p| (p.published, p.target))
            .collect::<Vec<_>>(),
        [(Some(80), 80), (Some(443), 443)]
    );
    assert_eq!(nginx.restart, RestartPolicy::UnlessStopped);
    assert!(
        matches!(&nginx.mounts[0].kind, MountKind::Bind { source, .. } if source.ends_with("nas/nginx/nginx.conf"))
    );
    assert_eq!(
        nginx.mounts[1].kind,
        MountKind::Volume {
            name: "nas_certs".into(),
            key: "certs".into()
        }
    );

    let postgres = &spec.services["postgres"];
    assert_eq!(
        postgres.healthcheck.as_ref().unwrap().test,
        ["CMD-SHELL", "pg_isready -U postgres -d shop"]
    );
    assert_eq!(postgres.stop_grace_period, Some(Duration::from_secs(90)));
    assert_eq!(
        postgres.mounts[0].kind,
        MountKind::Volume {
            name: "nas_pgdata".into(),
            key: "pgdata".into()
        }
    );
    assert_eq!(spec.services["redis"].command.as_ref().unwrap().len(), 5);

    assert_eq!(spec.networks.keys().collect::<Vec<_>>(), ["back", "front"]);
    assert!(spec.networks["back"].internal);
    assert_eq!(spec.networks["front"].name, "nas_front");
    assert!(spec.volumes["certs"].external);
    assert_eq!(spec.config_files.len(), 1);
}
