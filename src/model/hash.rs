//! Config identity: a hash per field of a service's container-level configuration, and
//! the config hash over all of them.
//!
//! Only what shapes a container counts: `replicas`, `depends_on`, `build`, the deploy update
//! and rollback configs and `x-*` extensions change how composectl acts, not what a
//! container is, so changing them recreates nothing. Network names are resolved through
//! the project, so renaming a network recreates the services on it. Values are hashed, never
//! stored, so the labels carry no secret.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::files::FileRef;
use super::spec::{ProjectSpec, ServiceSpec};

/// Hex digits kept of each field hash.
const FIELD_HASH_LEN: usize = 8;

/// The SHA-256 of `bytes`, lowercase hex.
pub fn digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`, the crate's one hex encoder (the planner hashes every field of
/// every service at each pass, a context read every file: a table, not a `format!` per
/// byte).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// [`field`] of `value`, `None` when it is unset (null, `false`, empty, or a structure of
/// nothing but those): for the keys added after the first labelled containers.
fn set<T: Serialize>(value: &T) -> Option<String> {
    let json = serde_json::to_value(value).expect("spec types serialize to JSON");
    (!is_unset(&json)).then(|| field(value))
}

fn is_unset(json: &serde_json::Value) -> bool {
    match json {
        serde_json::Value::Null | serde_json::Value::Bool(false) => true,
        serde_json::Value::Array(items) => items.is_empty(),
        serde_json::Value::Object(entries) => entries.values().all(is_unset),
        _ => false,
    }
}

pub(super) fn field<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("spec types serialize to JSON");
    hex(&Sha256::digest(&json)[..FIELD_HASH_LEN / 2])
}

/// A short hash of each container-level field of `service`, by field name.
pub fn field_hashes(project: &ProjectSpec, service: &ServiceSpec) -> BTreeMap<String, String> {
    let networks: BTreeMap<&str, _> = service
        .networks
        .iter()
        .map(|(key, attachment)| {
            let name = project
                .networks
                .get(key)
                .map_or(key.as_str(), |n| n.name.as_str());
            (name, attachment)
        })
        .collect();
    let s = service;
    let fixed = BTreeMap::from([
        ("image", field(&s.image)),
        ("container_name", field(&s.container_name)),
        ("command", field(&s.command)),
        ("entrypoint", field(&s.entrypoint)),
        ("environment", field(&s.environment)),
        ("ports", field(&s.ports)),
        ("mounts", field(&s.mounts)),
        ("networks", field(&networks)),
        ("labels", field(&s.labels)),
        ("restart", field(&s.restart)),
        ("healthcheck", field(&s.healthcheck)),
        ("limits", field(&s.limits)),
        ("user", field(&s.user)),
        ("working_dir", field(&s.working_dir)),
        ("hostname", field(&s.hostname)),
        ("extra_hosts", field(&s.extra_hosts)),
        ("cap_add", field(&s.cap_add)),
        ("cap_drop", field(&s.cap_drop)),
        ("privileged", field(&s.privileged)),
        ("read_only", field(&s.read_only)),
        ("ulimits", field(&s.ulimits)),
        ("logging", field(&s.logging)),
        ("stop_signal", field(&s.stop_signal)),
        ("stop_grace_period", field(&s.stop_grace_period)),
        ("init", field(&s.init)),
    ]);
    // Keys composectl learned after containers were labelled with the fields above: they
    // count only when set, so a container created before them keeps its hash (an upgrade
    // recreates nothing) and setting or unsetting one later is drift that names it.
    let added = [
        ("expose", set(&s.expose)),
        ("devices", set(&s.devices)),
        ("device_cgroup_rules", set(&s.device_cgroup_rules)),
        ("sysctls", set(&s.sysctls)),
        ("security_opt", set(&s.security_opt)),
        ("dns", set(&s.dns)),
        ("dns_search", set(&s.dns_search)),
        ("dns_opt", set(&s.dns_opt)),
        ("shm_size", set(&s.shm_size)),
        ("pid", set(&s.pid)),
        ("ipc", set(&s.ipc)),
        ("uts", set(&s.uts)),
        ("userns_mode", set(&s.userns_mode)),
        ("cgroup", set(&s.cgroup)),
        ("cgroup_parent", set(&s.cgroup_parent)),
        ("group_add", set(&s.group_add)),
        ("tty", set(&s.tty)),
        ("stdin_open", set(&s.stdin_open)),
        ("runtime", set(&s.runtime)),
        ("domainname", set(&s.domainname)),
        ("storage_opt", set(&s.storage_opt)),
        // (`pull_policy` and `platform` change how composectl pulls, not what a container
        // is: not here. A platform change that pulls another image is an image change.)
        ("cpu_shares", set(&s.resources.cpu_shares)),
        ("cpuset", set(&s.resources.cpuset)),
        ("cpu_quota", set(&s.resources.cpu_quota)),
        ("cpu_period", set(&s.resources.cpu_period)),
        ("cpu_rt_period", set(&s.resources.cpu_rt_period)),
        ("cpu_rt_runtime", set(&s.resources.cpu_rt_runtime)),
        ("mem_reservation", set(&s.resources.mem_reservation)),
        ("memswap_limit", set(&s.resources.memswap_limit)),
        ("mem_swappiness", set(&s.resources.mem_swappiness)),
        ("oom_kill_disable", set(&s.resources.oom_kill_disable)),
        ("oom_score_adj", set(&s.resources.oom_score_adj)),
        ("blkio_config", set(&s.resources.blkio)),
        ("gpus", set(&s.resources.device_requests)),
        ("network_mode", set(&s.network_mode)),
        ("volumes_from", set(&s.volumes_from)),
        ("links", set(&s.links)),
        ("external_links", set(&s.external_links)),
    ];
    let mut fields: BTreeMap<String, String> =
        fixed.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    fields.extend(
        added
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    fields.extend(file_fields(s));
    fields
}

/// One entry per secret and config the service uses, named `secret NAME` / `config NAME`
/// (all references to one source together), so `plan` names the file whose content,
/// target, owner or mode changed, and never its value.
fn file_fields(s: &ServiceSpec) -> BTreeMap<String, String> {
    let mut by_field: BTreeMap<String, Vec<&FileRef>> = BTreeMap::new();
    for r in s.secrets.iter().chain(&s.configs) {
        by_field.entry(r.field_name()).or_default().push(r);
    }
    by_field
        .into_iter()
        .map(|(name, refs)| (name, field(&refs)))
        .collect()
}

/// The config hash of `service`: one hash over all of its [`field_hashes`].
pub fn config_hash(project: &ProjectSpec, service: &ServiceSpec) -> String {
    digest(encode_fields(&field_hashes(project, service)).as_bytes())
}

/// Hex digits of a project revision.
const REVISION_LEN: usize = 12;

/// The revision of a whole project spec: the first 12 hex digits of a sha256 over its
/// JSON form. Logs and `/status` show it so an operator can tell which load of the desired
/// directory a reconcile worked from; it changes with any change to the spec (including
/// `replicas`), unlike [`config_hash`].
pub fn revision(project: &ProjectSpec) -> String {
    let json = serde_json::to_vec(project).expect("spec types serialize to JSON");
    digest(&json)[..REVISION_LEN].to_owned()
}

/// `name=hash,name=hash` in name order, the form of the [`super::labels::FIELDS`] label.
pub fn encode_fields(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses the [`super::labels::FIELDS`] label back; malformed pairs are skipped.
pub fn decode_fields(label: &str) -> BTreeMap<String, String> {
    label
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The names of the fields whose hashes differ between two field maps (a field present in
/// only one of them differs).
pub fn differing_fields(
    desired: &BTreeMap<String, String>,
    observed: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut names: Vec<String> = desired
        .iter()
        .filter(|(k, v)| observed.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    names.extend(
        observed
            .keys()
            .filter(|k| !desired.contains_key(k.as_str()))
            .cloned(),
    );
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_with(service: ServiceSpec) -> ProjectSpec {
        let mut project = ProjectSpec {
            name: "p".into(),
            ..ProjectSpec::default()
        };
        project.services.insert(service.name.clone(), service);
        project
    }

    #[test]
    fn hashes_are_sha256_in_lowercase_hex_as_the_labels_of_running_containers_carry() {
        // Containers already running carry these labels: the encoding must never change.
        assert_eq!(
            digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(field(&"web"), "bde14896");
    }

    #[test]
    fn replicas_and_update_config_do_not_change_the_hash() {
        let a = ServiceSpec::new("web", "nginx");
        let mut b = a.clone();
        b.replicas = 5;
        b.update_config = Some(Default::default());
        b.depends_on.insert("db".into(), Default::default());
        let p = project_with(a.clone());
        assert_eq!(config_hash(&p, &a), config_hash(&p, &b));
    }

    #[test]
    fn an_environment_change_is_named_as_the_differing_field() {
        let a = ServiceSpec::new("web", "nginx");
        let mut b = a.clone();
        b.environment.insert("MODE".into(), "fast".into());
        let p = project_with(a.clone());
        let observed = decode_fields(&encode_fields(&field_hashes(&p, &a)));
        assert_eq!(
            differing_fields(&field_hashes(&p, &b), &observed),
            vec!["environment"]
        );
        assert_ne!(config_hash(&p, &a), config_hash(&p, &b));
    }

    #[test]
    fn the_revision_is_twelve_hex_digits_and_follows_any_spec_change() {
        let a = project_with(ServiceSpec::new("web", "nginx"));
        let mut b = a.clone();
        b.services.get_mut("web").unwrap().replicas = 3;
        let rev = revision(&a);
        assert_eq!(rev.len(), 12);
        assert!(rev.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(rev, revision(&a.clone()));
        assert_ne!(rev, revision(&b));
    }

    #[test]
    fn a_changed_secret_is_named_and_its_value_is_not() {
        use crate::model::files::{FileDef, FileKind, FileRef};
        let reference = |content: &[u8]| FileRef {
            kind: FileKind::Secret,
            source: "db_password".into(),
            target: "/run/secrets/db_password".into(),
            mode: 0o444,
            digest: FileDef::new("db_password", content.to_vec()).digest,
            ..FileRef::default()
        };
        let mut a = ServiceSpec::new("web", "nginx");
        a.secrets.push(reference(b"old-password-1"));
        let mut b = a.clone();
        b.secrets[0] = reference(b"new-password-2");
        let p = project_with(a.clone());
        let label = encode_fields(&field_hashes(&p, &a));
        assert!(!label.contains("old-password-1"));
        let observed = decode_fields(&label);
        assert_eq!(
            differing_fields(&field_hashes(&p, &b), &observed),
            vec!["secret db_password"]
        );
        assert_ne!(config_hash(&p, &a), config_hash(&p, &b));
    }

    #[test]
    fn a_service_without_secrets_hashes_as_before_them() {
        let a = ServiceSpec::new("web", "nginx");
        let p = project_with(a.clone());
        assert!(
            field_hashes(&p, &a)
                .keys()
                .all(|k| !k.starts_with("secret ") && !k.starts_with("config "))
        );
    }

    #[test]
    fn resources_are_named_by_their_compose_key_and_pull_policy_and_platform_are_not_hashed() {
        let a = ServiceSpec::new("web", "nginx");
        let p = project_with(a.clone());
        let observed = decode_fields(&encode_fields(&field_hashes(&p, &a)));
        let mut b = a.clone();
        b.resources.cpu_shares = Some(512);
        b.resources.blkio.weight = Some(300);
        assert_eq!(
            differing_fields(&field_hashes(&p, &b), &observed),
            vec!["blkio_config", "cpu_shares"]
        );
        let mut c = a.clone();
        c.pull_policy = crate::model::resources::PullPolicy::Always;
        assert_eq!(config_hash(&p, &a), config_hash(&p, &c));
        let mut d = a.clone();
        d.platform = Some("linux/arm64".into());
        assert_eq!(config_hash(&p, &a), config_hash(&p, &d));
    }

    #[test]
    fn a_mount_without_options_hashes_as_before_options_existed() {
        use crate::model::spec::{MountKind, MountSpec};
        let plain = MountSpec::new(MountKind::Anonymous, "/data", false);
        let json = serde_json::to_string(&plain).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"Anonymous","target":"/data","read_only":false}"#
        );
        let mut nocopy = plain.clone();
        nocopy.options.nocopy = true;
        assert_ne!(field(&plain), field(&nocopy));
    }

    #[test]
    fn a_service_that_sets_none_of_the_later_keys_hashes_as_before_them() {
        let a = ServiceSpec::new("web", "nginx");
        let p = project_with(a.clone());
        let names: Vec<String> = field_hashes(&p, &a).into_keys().collect();
        assert_eq!(names.len(), 25, "{names:?}");
        let mut b = a.clone();
        b.shm_size = Some(64 << 20);
        b.tty = true;
        let observed = decode_fields(&encode_fields(&field_hashes(&p, &a)));
        assert_eq!(
            differing_fields(&field_hashes(&p, &b), &observed),
            vec!["shm_size", "tty"]
        );
        let back = decode_fields(&encode_fields(&field_hashes(&p, &b)));
        assert_eq!(
            differing_fields(&field_hashes(&p, &a), &back),
            vec!["shm_size", "tty"],
            "unsetting a key is drift that names it"
        );
    }

    #[test]
    fn field_labels_round_trip() {
        let a = ServiceSpec::new("web", "nginx");
        let p = project_with(a.clone());
        let fields = field_hashes(&p, &a);
        let back = decode_fields(&encode_fields(&fields));
        assert!(differing_fields(&fields, &back).is_empty());
    }
}
