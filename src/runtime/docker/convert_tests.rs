//! Tests of the conversions from engine answers to model types.

use std::collections::HashMap;

use bollard::models::{
    ContainerConfig, ContainerInspectResponse, ContainerState as EngineState,
    ContainerStateStatusEnum, ContainerSummary, ContainerSummaryNetworkSettings,
    ContainerSummaryStateEnum, EndpointSettings, Health as EngineHealth, HealthStatusEnum,
    ImageSummary, MountPoint, NetworkSettings,
};

use super::*;

#[test]
fn health_is_read_from_the_status_text() {
    let cases = [
        ("Up 3 minutes (healthy)", Some(Health::Healthy)),
        ("Up 10 seconds (unhealthy)", Some(Health::Unhealthy)),
        ("Up 2 seconds (health: starting)", Some(Health::Starting)),
        ("Up 3 minutes", None),
        ("Exited (0) 2 hours ago", None),
        ("Created", None),
        ("", None),
    ];
    for (status, expected) in cases {
        assert_eq!(health_from_status(status), expected, "{status}");
    }
}

#[test]
fn exit_code_is_read_from_exited_and_restarting_texts_only() {
    let cases = [
        ("Exited (137) 5 seconds ago", Some(137)),
        ("Exited (0) 2 hours ago", Some(0)),
        ("Restarting (1) 2 seconds ago", Some(1)),
        ("Exited (-1) 1 second ago", Some(-1)),
        ("Up 3 minutes (healthy)", None),
        ("Exited (oops) now", None),
        ("Created", None),
    ];
    for (status, expected) in cases {
        assert_eq!(exit_code_from_status(status), expected, "{status}");
    }
}

#[test]
fn finish_times_become_epoch_milliseconds_and_the_zero_time_is_none() {
    let cases = [
        ("2024-05-01T12:34:56.123456789Z", Some(1_714_566_896_123)),
        ("2024-05-01T12:34:56.5Z", Some(1_714_566_896_500)),
        ("2024-05-01T12:34:56Z", Some(1_714_566_896_000)),
        ("2024-05-01T14:34:56.042+02:00", Some(1_714_566_896_042)),
        ("0001-01-01T00:00:00Z", None),
        ("garbage", None),
    ];
    for (text, expected) in cases {
        assert_eq!(epoch_millis(text), expected, "{text}");
    }
}

#[test]
fn rfc3339_times_become_epoch_seconds() {
    let cases = [
        ("1970-01-01T00:00:00Z", 0),
        ("2024-05-01T12:34:56.123456789Z", 1_714_566_896),
        ("2024-05-01T14:34:56+02:00", 1_714_566_896),
        ("2000-02-29T00:00:00Z", 951_782_400),
        ("0001-01-01T00:00:00Z", -62_135_596_800),
        ("garbage", 0),
    ];
    for (text, expected) in cases {
        assert_eq!(epoch_seconds(text), expected, "{text}");
    }
}

fn managed_labels() -> HashMap<String, String> {
    [
        (labels::MANAGED, "true"),
        (labels::INSTANCE, "default"),
        (labels::PROJECT, "shop"),
        (labels::SERVICE, "web"),
        (labels::NUMBER, "2"),
        (labels::CONFIG_HASH, "abc123"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn volume_mount(name: &str) -> MountPoint {
    MountPoint {
        typ: Some("volume".into()),
        name: Some(name.into()),
        ..MountPoint::default()
    }
}

#[test]
fn a_summary_becomes_an_observed_container() {
    let anonymous = "a".repeat(64);
    let summary = ContainerSummary {
        id: Some("c1".into()),
        names: Some(vec!["/shop-web-2".into()]),
        image_id: Some("sha256:img".into()),
        labels: Some(managed_labels()),
        state: Some(ContainerSummaryStateEnum::EXITED),
        status: Some("Exited (137) 5 seconds ago".into()),
        created: Some(1_700_000_000),
        network_settings: Some(ContainerSummaryNetworkSettings {
            networks: Some(HashMap::from([
                ("shop_default".into(), EndpointSettings::default()),
                ("shop_back".into(), EndpointSettings::default()),
            ])),
        }),
        mounts: Some(vec![
            volume_mount("shop_data"),
            volume_mount(&anonymous),
            MountPoint {
                typ: Some("bind".into()),
                source: Some("/srv".into()),
                ..MountPoint::default()
            },
        ]),
        ..ContainerSummary::default()
    };
    let c = from_summary(summary);
    assert_eq!(c.id, "c1");
    assert_eq!(c.name, "shop-web-2");
    assert_eq!(
        (c.project.as_str(), c.service.as_str(), c.number),
        ("shop", "web", 2)
    );
    assert_eq!(c.config_hash, "abc123");
    assert_eq!(c.image_id, "sha256:img");
    assert_eq!(c.state, ContainerState::Exited);
    assert_eq!(c.exit_code, Some(137));
    assert_eq!(c.health, None);
    assert_eq!(c.created, 1_700_000_000);
    assert_eq!(c.networks, vec!["shop_back", "shop_default"]);
    assert_eq!(c.volumes, vec!["shop_data"]);
    assert!(!c.oom_killed);
    assert_eq!(c.labels[labels::MANAGED], "true");
}

#[test]
fn a_summary_with_a_malformed_number_label_gets_number_zero() {
    let mut labels = managed_labels();
    labels.insert(labels::NUMBER.into(), "two".into());
    let summary = ContainerSummary {
        labels: Some(labels),
        ..ContainerSummary::default()
    };
    assert_eq!(from_summary(summary).number, 0);
}

#[test]
fn an_inspection_gives_exact_state_health_exit_code_and_oom() {
    // `Created` goes through serde: bollard's date type depends on enabled features.
    let dated: ContainerInspectResponse =
        serde_json::from_value(serde_json::json!({"Created": "2024-05-01T12:34:56.5Z"}))
            .expect("a date bollard parses");
    let inspect = ContainerInspectResponse {
        id: Some("c1".into()),
        name: Some("/shop-web-2".into()),
        image: Some("sha256:img".into()),
        created: dated.created,
        config: Some(ContainerConfig {
            labels: Some(managed_labels()),
            ..ContainerConfig::default()
        }),
        state: Some(EngineState {
            status: Some(ContainerStateStatusEnum::EXITED),
            exit_code: Some(137),
            oom_killed: Some(true),
            finished_at: Some("2024-05-01T12:35:00.250999Z".into()),
            health: Some(EngineHealth {
                status: Some(HealthStatusEnum::UNHEALTHY),
                ..EngineHealth::default()
            }),
            ..EngineState::default()
        }),
        network_settings: Some(NetworkSettings {
            networks: Some(HashMap::from([(
                "shop_default".into(),
                EndpointSettings::default(),
            )])),
            ..NetworkSettings::default()
        }),
        mounts: Some(vec![volume_mount("shop_data")]),
        ..ContainerInspectResponse::default()
    };
    let c = from_inspect(inspect);
    assert_eq!(c.name, "shop-web-2");
    assert_eq!(c.state, ContainerState::Exited);
    assert_eq!(c.health, Some(Health::Unhealthy));
    assert_eq!(c.exit_code, Some(137));
    assert!(c.oom_killed);
    assert_eq!(c.finished_at, Some(1_714_566_900_250));
    assert_eq!(c.created, 1_714_566_896);
    assert_eq!(c.networks, vec!["shop_default"]);
    assert_eq!(c.volumes, vec!["shop_data"]);
}

#[test]
fn a_running_inspection_has_no_exit_code_and_none_health_is_none() {
    let inspect = ContainerInspectResponse {
        state: Some(EngineState {
            status: Some(ContainerStateStatusEnum::RUNNING),
            exit_code: Some(0),
            health: Some(EngineHealth {
                status: Some(HealthStatusEnum::NONE),
                ..EngineHealth::default()
            }),
            ..EngineState::default()
        }),
        ..ContainerInspectResponse::default()
    };
    let c = from_inspect(inspect);
    assert_eq!(c.state, ContainerState::Running);
    assert_eq!(c.exit_code, None);
    assert_eq!(c.health, None);
}

#[test]
fn managed_means_the_label_is_exactly_true() {
    let yes = managed_labels();
    let mut no = managed_labels();
    no.insert(labels::MANAGED.into(), "false".into());
    assert!(is_managed(yes.iter(), "default"));
    assert!(
        !is_managed(yes.iter(), "staging"),
        "another instance's container"
    );
    assert!(!is_managed(no.iter(), "default"));
    assert!(!is_managed(HashMap::new().iter(), "default"));
}

#[test]
fn image_tags_are_normalized_untagged_images_skipped_and_build_hashes_kept() {
    let image = |id: &str, tags: &[&str], hash: Option<&str>| ImageSummary {
        id: id.into(),
        repo_tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        labels: hash
            .map(|h| (crate::model::labels::BUILD_HASH.to_owned(), h.to_owned()))
            .into_iter()
            .collect(),
        ..ImageSummary::default()
    };
    let list = image_list(vec![
        image("sha256:a", &["nginx:1.27", "127.0.0.1:5000/app:v2"], None),
        image("sha256:b", &["<none>:<none>"], Some("h1")),
        image("sha256:c", &[], None),
        image("sha256:d", &["shop-web"], Some("h2")),
    ]);
    assert_eq!(list.tags.len(), 3);
    assert_eq!(list.tags["nginx:1.27"], "sha256:a");
    assert_eq!(list.tags["127.0.0.1:5000/app:v2"], "sha256:a");
    assert_eq!(list.tags["shop-web:latest"], "sha256:d");
    assert_eq!(list.built.len(), 2);
    assert_eq!(list.built["h1"], "sha256:b");
    assert_eq!(list.built["h2"], "sha256:d");
}
