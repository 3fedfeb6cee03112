//! Tests of the create body's mounts (no Docker): volumes, binds and tmpfs by kind and
//! with their options, `volumes_from`, and the secret and config files bind-mounted
//! read-only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::tests::{host, request};
use super::*;

#[test]
fn mounts_map_by_kind_and_creatable_binds_become_bind_strings() {
    let mut svc = ServiceSpec::new("db", "postgres");
    let m = |kind, target: &str, read_only| MountSpec {
        kind,
        target: target.into(),
        read_only,
        options: Default::default(),
    };
    svc.mounts = vec![
        m(
            MountKind::Volume {
                name: "shop_data".into(),
                key: "data".into(),
            },
            "/var/lib/pg",
            false,
        ),
        m(MountKind::Anonymous, "/cache", false),
        m(
            MountKind::Bind {
                source: PathBuf::from("/srv/conf"),
                create_host_path: true,
            },
            "/etc/conf",
            true,
        ),
        m(
            MountKind::Bind {
                source: PathBuf::from("/srv/must-exist"),
                create_host_path: false,
            },
            "/data",
            false,
        ),
        m(
            MountKind::Tmpfs {
                size: Some(1 << 20),
            },
            "/tmp",
            false,
        ),
    ];
    let body = container_body(&request(svc));
    let hc = host(&body);
    assert_eq!(hc.binds, Some(vec!["/srv/conf:/etc/conf:ro".to_owned()]));
    let mounts = hc.mounts.as_ref().unwrap();
    assert_eq!(mounts.len(), 4);
    assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
    assert_eq!(mounts[0].source.as_deref(), Some("shop_data"));
    assert_eq!(mounts[0].target.as_deref(), Some("/var/lib/pg"));
    assert_eq!(mounts[1].typ, Some(MountType::VOLUME));
    assert_eq!(mounts[1].source, None);
    assert_eq!(mounts[2].typ, Some(MountType::BIND));
    assert_eq!(mounts[2].source.as_deref(), Some("/srv/must-exist"));
    assert_eq!(mounts[3].typ, Some(MountType::TMPFS));
    assert_eq!(
        mounts[3].tmpfs_options.as_ref().unwrap().size_bytes,
        Some(1 << 20)
    );
}

#[test]
fn volumes_from_keep_their_mode() {
    use crate::model::refs::{VolumesFrom, VolumesSource};
    let mut svc = ServiceSpec::new("web", "app");
    svc.volumes_from = vec![
        VolumesFrom {
            source: VolumesSource::Container("abc".into()),
            read_only: true,
        },
        VolumesFrom {
            source: VolumesSource::Container("legacy".into()),
            read_only: false,
        },
    ];
    let body = container_body(&request(svc));
    assert_eq!(
        host(&body).volumes_from,
        Some(vec!["abc:ro".to_owned(), "legacy".to_owned()])
    );
}

#[test]
fn secrets_and_configs_are_read_only_bind_mounts_of_the_materialized_files() {
    use crate::model::files::{FileDef, FileKind, FileRef};
    let def = FileDef::new("db", b"pw-value-123".to_vec());
    let mut svc = ServiceSpec::new("web", "app:v1");
    svc.secrets.push(FileRef {
        kind: FileKind::Secret,
        source: "db".into(),
        target: "/run/secrets/db".into(),
        mode: 0o400,
        digest: def.digest.clone(),
        ..FileRef::default()
    });
    let project = crate::model::ProjectSpec {
        name: "shop".into(),
        secrets: BTreeMap::from([("db".into(), def)]),
        ..Default::default()
    };
    let base = tempfile::tempdir().unwrap();
    let state = crate::state::StateDir::new(base.path(), "default");
    let mut req = request(svc);
    crate::executor::files::attach(Some(&state), &project, &mut req).unwrap();
    let body = container_body(&req);
    let host = host(&body);
    assert_eq!(
        host.binds, None,
        "never a bind that creates a missing source"
    );
    let mounts = host.mounts.as_ref().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].typ, Some(MountType::BIND));
    assert_eq!(mounts[0].target.as_deref(), Some("/run/secrets/db"));
    assert_eq!(mounts[0].read_only, Some(true));
    let source = PathBuf::from(mounts[0].source.clone().unwrap());
    assert!(source.starts_with(base.path().join("default/shop/files")));
    assert_eq!(std::fs::read(&source).unwrap(), b"pw-value-123");
    assert!(!format!("{body:?}").contains("pw-value-123"));
}

#[test]
fn mount_options_go_to_the_bind_form_or_the_mount_options() {
    let mut svc = ServiceSpec::new("web", "app:v1");
    let mut bind = MountSpec::new(
        MountKind::Bind {
            source: PathBuf::from("/srv/conf"),
            create_host_path: true,
        },
        "/conf",
        true,
    );
    bind.options.selinux = Some("z".into());
    bind.options.propagation = Some("rshared".into());
    let mut strict = MountSpec::new(
        MountKind::Bind {
            source: PathBuf::from("/srv/strict"),
            create_host_path: false,
        },
        "/strict",
        false,
    );
    strict.options.propagation = Some("rslave".into());
    let mut volume = MountSpec::new(
        MountKind::Volume {
            name: "shop_data".into(),
            key: "data".into(),
        },
        "/data",
        false,
    );
    volume.options.nocopy = true;
    let mut tmpfs = MountSpec::new(
        MountKind::Tmpfs {
            size: Some(1 << 20),
        },
        "/scratch",
        false,
    );
    tmpfs.options.tmpfs_mode = Some(0o1777);
    svc.mounts = vec![bind, strict, volume, tmpfs];
    let body = container_body(&request(svc));
    let h = host(&body);
    assert_eq!(
        h.binds,
        Some(vec!["/srv/conf:/conf:ro,z,rshared".to_owned()])
    );
    let mounts = h.mounts.as_ref().unwrap();
    let strict = &mounts[0];
    assert_eq!(
        strict.bind_options.as_ref().unwrap().propagation,
        Some(MountBindOptionsPropagationEnum::RSLAVE)
    );
    assert_eq!(
        mounts[1].volume_options.as_ref().unwrap().no_copy,
        Some(true)
    );
    let t = mounts[2].tmpfs_options.as_ref().unwrap();
    assert_eq!((t.size_bytes, t.mode), (Some(1 << 20), Some(0o1777)));
}

#[test]
fn short_tmpfs_options_beyond_size_and_mode_go_to_the_tmpfs_map_as_written() {
    use crate::model::spec::{MountKind, MountSpec};
    let mut svc = ServiceSpec::new("web", "app:v1");
    let mut flagged = MountSpec::new(MountKind::Tmpfs { size: Some(65536) }, "/run/opts", false);
    flagged.options.tmpfs_flags = Some("rw,noexec,size=65536".into());
    svc.mounts = vec![
        MountSpec::new(MountKind::Tmpfs { size: None }, "/run/tmp", false),
        flagged,
    ];
    let body = container_body(&request(svc));
    let h = host(&body);
    assert_eq!(
        h.tmpfs,
        Some(HashMap::from([(
            "/run/opts".to_owned(),
            "rw,noexec,size=65536".to_owned()
        )]))
    );
    let mounts = h.mounts.as_ref().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].target.as_deref(), Some("/run/tmp"));
}
