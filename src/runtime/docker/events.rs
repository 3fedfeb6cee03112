//! Engine events to [`RuntimeEvent`]s: managed-container events are kept (except the noisy
//! ones that never change observed state), image events that change the tag map and
//! network and volume creations and removals are kept, everything else is dropped. Pure, so the mapping is table-tested.

use std::collections::HashMap;

use bollard::models::{EventMessage, EventMessageTypeEnum};

use super::convert::is_managed;
use crate::model::labels;
use crate::runtime::{Exit, RuntimeEvent};

/// Image actions that change which tags point where.
const IMAGE_ACTIONS: [&str; 6] = ["pull", "tag", "untag", "delete", "load", "import"];

/// Network and volume actions that change which exist (connects and disconnects, the
/// frequent ones, do not).
const RESOURCE_ACTIONS: [&str; 2] = ["create", "destroy"];

/// Container actions that never change what the observed store holds. `exec_*` matters
/// most: every health check runs an exec, so keeping them would wake the controller at
/// every interval of every container. `kill` only sends a signal: the exit it may cause
/// comes as its own `die` (an inspect on `kill` would queue the `die` behind it while the
/// engine tears the container down).
const IGNORED_CONTAINER_ACTIONS: [&str; 9] = [
    "exec_create",
    "exec_start",
    "exec_die",
    "exec_detach",
    "attach",
    "detach",
    "resize",
    "top",
    "kill",
];

/// The filters the event stream is opened with.
pub(crate) fn filters() -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "type".to_owned(),
        ["container", "image", "network", "volume"]
            .map(str::to_owned)
            .to_vec(),
    )])
}

/// The engine's `since` parameter for "from `margin` ago": Unix seconds with nanoseconds.
pub(crate) fn since_now(margin: std::time::Duration) -> String {
    let now = crate::clock::since_epoch().saturating_sub(margin);
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// The runtime event for `message`, or `None` when composectl does not care.
pub(crate) fn map_event(message: EventMessage, instance: &str) -> Option<RuntimeEvent> {
    let action = message.action?;
    let time_nano = message.time_nano;
    let actor = message.actor.unwrap_or_default();
    match message.typ? {
        EventMessageTypeEnum::CONTAINER => {
            let attributes = actor.attributes.unwrap_or_default();
            let base_action = action.split(':').next().unwrap_or_default();
            if !is_managed(attributes.iter(), instance)
                || IGNORED_CONTAINER_ACTIONS.contains(&base_action)
            {
                return None;
            }
            let exit = (base_action == "die")
                .then(|| exit(&attributes, time_nano))
                .flatten();
            Some(RuntimeEvent::Container {
                id: actor.id.unwrap_or_default(),
                action,
                project: attributes.get(labels::PROJECT).cloned(),
                exit,
            })
        }
        EventMessageTypeEnum::IMAGE if IMAGE_ACTIONS.contains(&action.as_str()) => {
            Some(RuntimeEvent::Image { action })
        }
        EventMessageTypeEnum::NETWORK if RESOURCE_ACTIONS.contains(&action.as_str()) => {
            Some(RuntimeEvent::Resource {
                kind: "network",
                action,
            })
        }
        EventMessageTypeEnum::VOLUME if RESOURCE_ACTIONS.contains(&action.as_str()) => {
            Some(RuntimeEvent::Resource {
                kind: "volume",
                action,
            })
        }
        _ => None,
    }
}

/// The exit a `die` event reports: its `exitCode` attribute and its time.
fn exit(attributes: &HashMap<String, String>, time_nano: Option<i64>) -> Option<Exit> {
    Some(Exit {
        code: attributes.get("exitCode")?.parse().ok()?,
        at_ms: time_nano? / 1_000_000,
    })
}

#[cfg(test)]
mod tests {
    use bollard::models::EventActor;

    use super::*;

    fn event(typ: EventMessageTypeEnum, action: &str, attrs: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: Some(typ),
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some("c1".into()),
                attributes: Some(
                    attrs
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
            }),
            ..EventMessage::default()
        }
    }

    const MANAGED: [(&str, &str); 3] = [
        (labels::MANAGED, "true"),
        (labels::INSTANCE, "default"),
        (labels::PROJECT, "shop"),
    ];
    const OTHER_INSTANCE: [(&str, &str); 3] = [
        (labels::MANAGED, "true"),
        (labels::INSTANCE, "staging"),
        (labels::PROJECT, "shop"),
    ];

    #[test]
    fn managed_container_events_are_kept_with_their_project() {
        for action in [
            "create",
            "start",
            "die",
            "destroy",
            "health_status: unhealthy",
            "oom",
        ] {
            let got = map_event(
                event(EventMessageTypeEnum::CONTAINER, action, &MANAGED),
                "default",
            );
            assert_eq!(
                got,
                Some(RuntimeEvent::Container {
                    id: "c1".into(),
                    action: action.into(),
                    project: Some("shop".into()),
                    exit: None,
                }),
                "{action}"
            );
        }
    }

    #[test]
    fn a_die_event_carries_its_exit_code_and_time() {
        let mut attrs = MANAGED.to_vec();
        attrs.push(("exitCode", "137"));
        let mut message = event(EventMessageTypeEnum::CONTAINER, "die", &attrs);
        message.time_nano = Some(1_700_000_000_123_456_789);
        let Some(RuntimeEvent::Container { exit, .. }) = map_event(message.clone(), "default")
        else {
            panic!("a managed die is kept");
        };
        assert_eq!(
            exit,
            Some(Exit {
                code: 137,
                at_ms: 1_700_000_000_123
            })
        );
        // Only a die reports an exit; a die without a code or a time reports none.
        message.action = Some("stop".into());
        let Some(RuntimeEvent::Container { exit, .. }) = map_event(message, "default") else {
            panic!("a managed stop is kept");
        };
        assert_eq!(exit, None);
        let untimed = event(EventMessageTypeEnum::CONTAINER, "die", &attrs);
        let Some(RuntimeEvent::Container { exit, .. }) = map_event(untimed, "default") else {
            panic!("a managed die is kept");
        };
        assert_eq!(exit, None);
    }

    #[test]
    fn unmanaged_and_noisy_container_events_are_dropped() {
        let cases: [(&str, &[(&str, &str)]); 7] = [
            ("start", &[]),
            ("start", &OTHER_INSTANCE),
            ("die", &[(labels::MANAGED, "false")]),
            ("start", &[(labels::PROJECT, "shop")]),
            ("exec_start: /app healthcheck", &MANAGED),
            ("exec_die", &MANAGED),
            ("kill", &MANAGED),
        ];
        for (action, attrs) in cases {
            let got = map_event(
                event(EventMessageTypeEnum::CONTAINER, action, attrs),
                "default",
            );
            assert_eq!(got, None, "{action} {attrs:?}");
        }
    }

    #[test]
    fn tag_changing_image_events_are_kept_and_others_dropped() {
        let cases = [
            ("pull", true),
            ("tag", true),
            ("untag", true),
            ("delete", true),
            ("load", true),
            ("import", true),
            ("push", false),
            ("save", false),
        ];
        for (action, kept) in cases {
            let got = map_event(event(EventMessageTypeEnum::IMAGE, action, &[]), "default");
            let want = kept.then(|| RuntimeEvent::Image {
                action: action.into(),
            });
            assert_eq!(got, want, "{action}");
        }
    }

    #[test]
    fn other_event_types_are_dropped() {
        let got = map_event(
            event(EventMessageTypeEnum::NETWORK, "connect", &MANAGED),
            "default",
        );
        assert_eq!(got, None);
    }

    #[test]
    fn network_and_volume_creations_and_removals_are_kept_and_connects_dropped() {
        let cases = [
            (EventMessageTypeEnum::NETWORK, "create", Some("network")),
            (EventMessageTypeEnum::NETWORK, "destroy", Some("network")),
            (EventMessageTypeEnum::NETWORK, "connect", None),
            (EventMessageTypeEnum::NETWORK, "disconnect", None),
            (EventMessageTypeEnum::VOLUME, "create", Some("volume")),
            (EventMessageTypeEnum::VOLUME, "destroy", Some("volume")),
            (EventMessageTypeEnum::VOLUME, "mount", None),
        ];
        for (typ, action, kind) in cases {
            let got = map_event(event(typ, action, &[]), "default");
            let expected = kind.map(|kind| RuntimeEvent::Resource {
                kind,
                action: action.into(),
            });
            assert_eq!(got, expected, "{typ:?} {action}");
        }
    }
}
