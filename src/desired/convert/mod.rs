//! Turning an interpolated compose document into a [`ProjectSpec`].
//!
//! [`Ctx`] collects every error and warning with its location; the readers in [`fields`]
//! never stop at the first problem. The top level (networks, volumes, extensions, profiles)
//! lives here; [`service`] converts one service with the help of [`ports`], [`mounts`],
//! [`environment`] and [`deploy`]; [`files`] reads secrets and configs; [`units`] parses
//! durations and sizes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::keys;
use super::limits::MAX_SERVICES;
use super::origins::{HostPath, HostPathUse, Origin, Origins};
use super::yaml::Node;
use super::{Diagnostic, Limits};
use crate::model::spec::{NetworkSpec, ProjectSpec, VolumeSpec};

pub mod build;
pub mod container;
pub mod deploy;
pub mod environment;
pub mod fields;
pub mod files;
pub mod healthcheck;
pub mod late;
pub mod mount_long;
pub mod mounts;
mod networks;
pub mod ports;
pub mod rawenv;
pub mod refs;
pub mod resources;
pub mod service;
pub mod units;

use fields::child;

/// Conversion state of one project: where it lives, what it declares, what went wrong.
pub struct Ctx<'a> {
    /// The normalized project name.
    pub project: String,
    /// The absolute project directory (relative paths are resolved against it).
    pub dir: PathBuf,
    /// The user's home directory, for `~/` paths.
    pub home: Option<PathBuf>,
    /// Variables (the environment over `.env`), for bare `environment` keys and env files.
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// File-size limits, for `env_file`s.
    pub limits: Limits,
    /// Every `env_file` read so far, by absolute path and `format: raw`: each is read once
    /// per load.
    pub env_files: BTreeMap<(PathBuf, bool), environment::EnvFile>,
    /// Bytes of environment given to the services so far (see
    /// [`super::limits::MAX_PROJECT_ENV_BYTES`]).
    pub env_bytes: u64,
    /// Top-level volumes, by key.
    pub volumes: BTreeMap<String, VolumeSpec>,
    /// Top-level networks, by key.
    pub networks: BTreeMap<String, NetworkSpec>,
    /// Top-level secrets and configs, and the contents read of them.
    pub files: files::Files,
    /// Services skipped because none of their profiles is active.
    pub inactive: BTreeSet<String>,
    /// Where the parts that concern the host are written, and the desired directory
    /// host paths are resolved against.
    pub origins: Origins,
    /// Problems that make the project fail.
    pub errors: Vec<Diagnostic>,
    /// Findings that do not.
    pub warnings: Vec<Diagnostic>,
}

impl Ctx<'_> {
    /// Records an error at `node`.
    pub fn error(&mut self, node: &Node, key: &str, message: impl Into<String>) {
        self.errors.push(Diagnostic::at(node, key, message));
    }

    /// Records a warning at `node`.
    pub fn warn(&mut self, node: &Node, key: &str, message: impl Into<String>) {
        self.warnings.push(Diagnostic::at(node, key, message));
    }
}

/// Converts the document `doc`; `profiles` are the active profiles.
pub fn project(cx: &mut Ctx, doc: &Node, profiles: &[String]) -> ProjectSpec {
    let mut spec = ProjectSpec {
        name: cx.project.clone(),
        working_dir: cx.dir.clone(),
        ..ProjectSpec::default()
    };
    fields::judge_keys(cx, doc, "", keys::TOP_LEVEL);
    spec.extensions = extensions(doc);
    if let Some(node) = doc.get("volumes") {
        cx.volumes = volumes(cx, node);
    }
    if let Some(node) = doc.get("networks") {
        cx.networks = networks::networks(cx, node);
    }
    files::definitions(cx, doc);
    let Some(services) = doc.get("services").filter(|s| !s.is_null()) else {
        cx.error(
            doc,
            "services",
            "the file defines no services; add a `services:` section",
        );
        return spec;
    };
    let entries = fields::map(cx, services, "services");
    if entries.len() > MAX_SERVICES {
        let message = format!(
            "{} services, more than the {MAX_SERVICES} a project may have; split the project",
            entries.len()
        );
        cx.error(services, "services", message);
        return spec;
    }
    for (key, node) in entries {
        let path = child("services", &key.name);
        if !service::is_active(cx, node, &path, profiles) {
            cx.inactive.insert(key.name.clone());
            continue;
        }
        if let Some(svc) = service::service(cx, &key.name, node, &path) {
            spec.services.insert(key.name.clone(), svc);
        }
    }
    spec.volumes = cx.volumes.clone();
    spec.networks = cx.networks.clone();
    spec.secrets = cx.files.used(crate::model::files::FileKind::Secret);
    spec.configs = cx.files.used(crate::model::files::FileKind::Config);
    let uses_default = spec
        .services
        .values()
        .any(|s| s.networks.contains_key("default"));
    if uses_default && !spec.networks.contains_key("default") {
        let name = format!("{}_default", cx.project);
        spec.networks.insert(
            "default".into(),
            NetworkSpec {
                name,
                ..NetworkSpec::default()
            },
        );
    }
    spec
}

/// The `x-*` entries of a mapping, as JSON.
pub fn extensions(node: &Node) -> BTreeMap<String, serde_json::Value> {
    node.as_map()
        .unwrap_or_default()
        .iter()
        .filter(|(k, _)| k.name.starts_with("x-"))
        .map(|(k, v)| (k.name.clone(), to_json(v)))
        .collect()
}

/// A node as JSON (numbers stay numbers, the rest as written).
pub fn to_json(node: &Node) -> serde_json::Value {
    use crate::desired::yaml::Value;
    use serde_json::Value as J;
    match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f, text) => {
            serde_json::Number::from_f64(*f).map_or_else(|| J::String(text.clone()), J::Number)
        }
        Value::Str(s) => J::String(s.clone()),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

/// Shared by networks and volumes: `(external, name)` with the Docker name resolved.
fn resource_name(cx: &mut Ctx, node: &Node, key: &str, compose_key: &str) -> (bool, String) {
    let mut external = false;
    let mut legacy_name = None;
    if let Some(ext) = node.get("external") {
        if ext.as_map().is_some() {
            external = true;
            legacy_name = ext
                .get("name")
                .and_then(|n| fields::text(cx, n, &child(key, "external.name")));
            cx.warn(
                ext,
                &child(key, "external"),
                "`external: {name: ...}` is obsolete; write `external: true` and `name: ...`",
            );
        } else {
            external = fields::boolean(cx, ext, &child(key, "external")).unwrap_or(false);
        }
    }
    let explicit = node
        .get("name")
        .and_then(|n| fields::text(cx, n, &child(key, "name")));
    let name = match (explicit.or(legacy_name), external) {
        (Some(name), _) => name,
        (None, true) => compose_key.to_string(),
        (None, false) => format!("{}_{compose_key}", cx.project),
    };
    (external, name)
}

fn string_values(cx: &mut Ctx, node: Option<&Node>, key: &str) -> BTreeMap<String, String> {
    node.map(|n| fields::labels(cx, n, key)).unwrap_or_default()
}

/// What top-level networks and volumes share: one entry's Docker name, `external`,
/// `driver`, `driver_opts` and `labels`.
struct Resource<'n> {
    /// The compose key.
    key: String,
    /// The key path for diagnostics (`networks.backend`).
    path: String,
    /// The entry (a mapping, or null for `name:` with nothing).
    node: &'n Node,
    name: String,
    external: bool,
    driver: Option<String>,
    driver_opts: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
}

/// Reads every entry of the top-level `section` (`networks` or `volumes`), checking its keys
/// against `known`; an entry that is neither a mapping nor empty is an error and skipped.
fn resources<'n>(
    cx: &mut Ctx,
    node: &'n Node,
    section: &str,
    table: &[keys::Key],
) -> Vec<Resource<'n>> {
    let mut out = Vec::new();
    for (key, value) in fields::map(cx, node, section) {
        let path = child(section, &key.name);
        if !value.is_null() && value.as_map().is_none() {
            cx.error(
                value,
                &path,
                format!("expected a mapping or nothing, found {}", value.kind()),
            );
            continue;
        }
        fields::judge_keys(cx, value, &path, table);
        let (external, name) = resource_name(cx, value, &path, &key.name);
        let driver = value
            .get("driver")
            .and_then(|n| fields::text(cx, n, &child(&path, "driver")));
        let driver_opts = string_values(cx, value.get("driver_opts"), &child(&path, "driver_opts"));
        let labels = string_values(cx, value.get("labels"), &child(&path, "labels"));
        out.push(Resource {
            key: key.name.clone(),
            path,
            node: value,
            name,
            external,
            driver,
            driver_opts,
            labels,
        });
    }
    out
}

fn volumes(cx: &mut Ctx, node: &Node) -> BTreeMap<String, VolumeSpec> {
    resources(cx, node, "volumes", keys::VOLUME)
        .into_iter()
        .map(|r| {
            networks::refuse_settings_of_external(cx, &r, "volume");
            volume_device(cx, &r);
            let spec = VolumeSpec {
                name: r.name,
                external: r.external,
                driver: r.driver,
                driver_opts: r.driver_opts,
                labels: r.labels,
            };
            (r.key, spec)
        })
        .collect()
}

/// Records the host path a local volume mounts (`driver_opts.device`, absolute), if any.
fn volume_device(cx: &mut Ctx, r: &Resource) {
    let local = r.driver.as_deref().is_none_or(|d| d == "local");
    let Some(device) = r.driver_opts.get("device").filter(|d| d.starts_with('/')) else {
        return;
    };
    if r.external || !local {
        return;
    }
    let key = child(&r.path, "driver_opts.device");
    let at = r
        .node
        .get("driver_opts")
        .and_then(|o| o.get("device"))
        .unwrap_or(r.node);
    let Some(path) = mounts::host_path(cx, at, &key, device) else {
        return;
    };
    let options: Vec<&str> = r
        .driver_opts
        .get("o")
        .map(|o| o.split(',').map(str::trim).collect())
        .unwrap_or_default();
    cx.origins.host_paths.push(HostPath {
        path,
        usage: HostPathUse::VolumeDevice {
            bind: options.contains(&"bind") || options.contains(&"rbind"),
            read_only: options.contains(&"ro"),
        },
        origin: Origin::at(at, &key),
    });
}
