//! Engine answers to model types: container summaries and inspections become
//! [`ObservedContainer`]s, image summaries become the tag map. Pure functions, tested with
//! hand-built bollard structs and the status strings Docker 20.10 prints.

use std::collections::BTreeMap;

use bollard::models::{ContainerInspectResponse, ContainerSummary, ImageSummary, MountPoint};

use crate::model::labels;
use crate::model::observed::normalize_image_ref;
use crate::model::{ContainerState, Health, ObservedContainer};

/// True when the labels carry `io.composectl.managed=true` and `io.composectl.instance` is
/// `instance`: the object is this instance's to manage.
pub(crate) fn is_managed<'a>(
    labels: impl Iterator<Item = (&'a String, &'a String)>,
    instance: &str,
) -> bool {
    let (mut managed, mut owned) = (false, false);
    for (k, v) in labels {
        managed |= k == labels::MANAGED && v == "true";
        owned |= k == labels::INSTANCE && v == instance;
    }
    managed && owned
}

/// Health from a list `Status` text: `Up 3 minutes (healthy)`, `(unhealthy)`,
/// `(health: starting)`; `None` when the text carries no health.
pub(crate) fn health_from_status(status: &str) -> Option<Health> {
    if status.ends_with("(healthy)") {
        Some(Health::Healthy)
    } else if status.ends_with("(unhealthy)") {
        Some(Health::Unhealthy)
    } else if status.ends_with("(health: starting)") {
        Some(Health::Starting)
    } else {
        None
    }
}

/// Exit code from a list `Status` text: `Exited (137) 5 seconds ago` or
/// `Restarting (1) 2 seconds ago`; `None` for any other text.
pub(crate) fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status
        .strip_prefix("Exited (")
        .or_else(|| status.strip_prefix("Restarting ("))?;
    let (code, _) = rest.split_once(')')?;
    code.parse().ok()
}

/// Seconds since the epoch of an RFC 3339 time (`2024-05-01T12:34:56.123456789Z`, or with
/// an offset); `0` when the text is malformed.
pub(crate) fn epoch_seconds(rfc3339: &str) -> i64 {
    parse_rfc3339(rfc3339).unwrap_or(0)
}

/// Milliseconds since the epoch of an RFC 3339 time with its fraction; `None` when the text
/// is malformed or is Docker's zero time (`0001-01-01T00:00:00Z`, "never").
pub(crate) fn epoch_millis(rfc3339: &str) -> Option<i64> {
    let seconds = parse_rfc3339(rfc3339)?;
    if seconds <= 0 {
        return None;
    }
    let fraction = rfc3339.get(19..).and_then(|rest| rest.strip_prefix('.'));
    let digits: String = fraction
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .chain(std::iter::repeat('0'))
        .take(3)
        .collect();
    let millis: i64 = digits.parse().unwrap_or(0);
    Some(seconds * 1000 + millis)
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let num = |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let zone = text
        .get(19..)?
        .trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let hours: i64 = zone.get(1..3)?.parse().ok()?;
            let minutes: i64 = zone.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Names of the named volumes among `mounts` (anonymous volumes, whose names are 64 hex
/// digits, are left out).
fn volume_names(mounts: &[MountPoint]) -> Vec<String> {
    let mut names: Vec<String> = mounts
        .iter()
        .filter(|m| m.typ.as_deref() == Some("volume"))
        .filter_map(|m| m.name.clone())
        .filter(|n| !is_anonymous_volume_name(n))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn is_anonymous_volume_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container with identity and labels filled from `labels`, the rest defaulted.
fn from_labels(id: String, name: &str, labels: BTreeMap<String, String>) -> ObservedContainer {
    let get = |key: &str| labels.get(key).cloned().unwrap_or_default();
    ObservedContainer {
        id,
        name: name.trim_start_matches('/').to_owned(),
        project: get(labels::PROJECT),
        service: get(labels::SERVICE),
        number: get(labels::NUMBER).parse().unwrap_or(0),
        config_hash: get(labels::CONFIG_HASH),
        labels,
        ..ObservedContainer::default()
    }
}

/// A list entry as an [`ObservedContainer`] (`oom_killed` is unknown from a list: false).
pub(crate) fn from_summary(summary: ContainerSummary) -> ObservedContainer {
    let labels: BTreeMap<String, String> = summary.labels.unwrap_or_default().into_iter().collect();
    let name = summary
        .names
        .as_ref()
        .and_then(|n| n.first().cloned())
        .unwrap_or_default();
    let mut container = from_labels(summary.id.unwrap_or_default(), &name, labels);
    let status = summary.status.unwrap_or_default();
    container.image_id = summary.image_id.unwrap_or_default();
    container.state =
        ContainerState::parse(&summary.state.map(|s| s.to_string()).unwrap_or_default());
    container.health = health_from_status(&status);
    container.exit_code = exit_code_from_status(&status);
    container.created = summary.created.unwrap_or(0);
    let networks = summary
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default();
    container.ip = first_ip(&networks);
    container.networks = sorted_keys(networks.into_keys());
    container.volumes = volume_names(&summary.mounts.unwrap_or_default());
    container
}

/// An inspection as an [`ObservedContainer`], with the exact state, health, exit code and
/// OOM flag.
pub(crate) fn from_inspect(inspect: ContainerInspectResponse) -> ObservedContainer {
    let labels: BTreeMap<String, String> = inspect
        .config
        .and_then(|c| c.labels)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let name = inspect.name.unwrap_or_default();
    let mut container = from_labels(inspect.id.unwrap_or_default(), &name, labels);
    container.image_id = inspect.image.unwrap_or_default();
    let state = inspect.state.unwrap_or_default();
    let status = state.status.map(|s| s.to_string()).unwrap_or_default();
    container.state = ContainerState::parse(&status);
    container.health = state
        .health
        .and_then(|h| h.status)
        .and_then(|s| Health::parse(s.as_ref()));
    container.exit_code = match container.state {
        ContainerState::Exited | ContainerState::Restarting => state.exit_code,
        _ => None,
    };
    container.oom_killed = state.oom_killed.unwrap_or(false);
    container.finished_at = match container.state {
        ContainerState::Exited | ContainerState::Dead => {
            state.finished_at.as_deref().and_then(epoch_millis)
        }
        _ => None,
    };
    container.created = created_text(inspect.created)
        .as_deref()
        .map(epoch_seconds)
        .unwrap_or(0);
    let networks = inspect
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default();
    container.ip = first_ip(&networks);
    container.networks = sorted_keys(networks.into_keys());
    container.volumes = volume_names(&inspect.mounts.unwrap_or_default());
    container
}

/// The address on the first network (by name) that gives one.
fn first_ip(
    networks: &std::collections::HashMap<String, bollard::models::EndpointSettings>,
) -> Option<std::net::IpAddr> {
    let mut names: Vec<&String> = networks.keys().collect();
    names.sort();
    names.into_iter().find_map(|name| {
        let ip = networks[name].ip_address.as_deref()?;
        ip.parse().ok()
    })
}

/// The RFC 3339 text of an inspection's `Created`. bollard's date type is a `String` or a
/// `time::OffsetDateTime` depending on features other crates enable, but its serializer
/// writes RFC 3339 text either way, so the field is read back through it.
fn created_text(created: Option<bollard::models::BollardDate>) -> Option<String> {
    let probe = ContainerInspectResponse {
        created,
        ..ContainerInspectResponse::default()
    };
    let value = serde_json::to_value(&probe).ok()?;
    value.get("Created")?.as_str().map(str::to_owned)
}

fn sorted_keys(keys: impl Iterator<Item = String>) -> Vec<String> {
    let mut keys: Vec<String> = keys.collect();
    keys.sort();
    keys
}

/// Local tags, normalized, to image IDs; untagged images (`<none>:<none>`) are skipped.
pub(crate) fn image_list(images: Vec<ImageSummary>) -> crate::runtime::ImageList {
    let mut list = crate::runtime::ImageList::default();
    for image in images {
        if let Some(hash) = image.labels.get(crate::model::labels::BUILD_HASH) {
            list.built.insert(hash.clone(), image.id.clone());
        }
        for tag in image.repo_tags.iter().filter(|tag| *tag != "<none>:<none>") {
            list.tags.insert(normalize_image_ref(tag), image.id.clone());
        }
    }
    list
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
