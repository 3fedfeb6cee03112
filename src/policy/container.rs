//! The privileges of a service's container keys: host devices (`devices`,
//! `device_cgroup_rules`), the host's or another container's namespaces (`pid`, `ipc`,
//! `uts`, `userns_mode`, `cgroup`), a confinement looser than the engine's default
//! (`security_opt`), another OCI runtime (`runtime`) and another parent cgroup
//! (`cgroup_parent`). Pure, like [`super::extract`], which calls it.
//!
//! What is none, and why:
//! - `no-new-privileges` only takes away; `seccomp=builtin` is the engine's default.
//! - `ipc: none|private|shareable` keep the container's own namespace; `cgroup: private` too.
//! - `pid` and `ipc: service:NAME` share the namespace of a container of the project's own
//!   (as `network_mode: service:NAME` does), which the project may do without asking;
//!   `container:NAME`, a container outside the project, is a grant.
//! - `runtime: runc` (or `io.containerd.runc.v2`) is the engine's default runtime. Any other
//!   is a grant: runtimes are installed by the host's administrator and some give more than
//!   the default (the NVIDIA runtime injects host devices and libraries, sysbox runs nested
//!   engines), so which one a project uses is the host's decision.
//! - `cgroup_parent` is a grant: it moves the container out of the cgroup the host gave
//!   Docker's containers, so the limits set there no longer apply (or into another
//!   service's cgroup, sharing its limits).

use sha2::{Digest, Sha256};

use super::grant::{Grant, NamespaceKind};
use crate::desired::convert::container::security_option;
use crate::desired::origins::{Origin, Origins};
use crate::model::spec::DeviceMapping;

/// The container keys of one service that may be privileges.
pub(super) struct ContainerKeys<'s> {
    /// `devices`.
    pub devices: &'s [DeviceMapping],
    /// `device_cgroup_rules`.
    pub device_cgroup_rules: &'s [String],
    /// `security_opt`, as the engine takes them.
    pub security_opt: &'s [String],
    /// Each namespace with its compose key and mode.
    pub namespaces: [(NamespaceKind, &'static str, &'s Option<String>); 5],
    /// `runtime`.
    pub runtime: &'s Option<String>,
    /// `cgroup_parent`.
    pub cgroup_parent: &'s Option<String>,
}

/// Runtimes that are the engine's default.
const DEFAULT_RUNTIMES: [&str; 2] = ["runc", "io.containerd.runc.v2"];

/// Adds the grants of `keys` to `found` (`key` makes a service key path of a field).
pub(super) fn container_privileges(
    keys: ContainerKeys<'_>,
    key: &dyn Fn(&str) -> String,
    origins: &Origins,
    found: &mut super::extract::Found,
    fallback: &dyn Fn(&str) -> Origin,
) {
    let mut add = |grant: Grant, at: String| {
        found.add(grant, origins.key(&at), || fallback(&at));
    };
    for (i, device) in keys.devices.iter().enumerate() {
        add(
            Grant::Device(device.source.clone()),
            format!("{}[{i}]", key("devices")),
        );
    }
    for (i, rule) in keys.device_cgroup_rules.iter().enumerate() {
        add(
            Grant::DeviceCgroupRule(rule.clone()),
            format!("{}[{i}]", key("device_cgroup_rules")),
        );
    }
    for (i, opt) in keys.security_opt.iter().enumerate() {
        if let Some(grant) = security_grant(opt) {
            add(grant, format!("{}[{i}]", key("security_opt")));
        }
    }
    for (kind, field, mode) in keys.namespaces {
        let Some(mode) = mode.as_deref() else {
            continue;
        };
        // `service:NAME` is a container of the project's own: no grant.
        if mode == "host" || mode.starts_with("container:") {
            let grant = Grant::Namespace {
                kind,
                mode: mode.to_owned(),
            };
            add(grant, key(field));
        }
    }
    if let Some(runtime) = keys.runtime.as_deref()
        && !DEFAULT_RUNTIMES.contains(&runtime)
    {
        add(Grant::Runtime(runtime.to_owned()), key("runtime"));
    }
    if let Some(parent) = keys.cgroup_parent.as_deref() {
        add(Grant::CgroupParent(parent.to_owned()), key("cgroup_parent"));
    }
}

/// The grant of one security option (as the engine takes it), if it loosens anything.
pub fn security_grant(opt: &str) -> Option<Grant> {
    let (name, value) = security_option(opt)?;
    match (name, value) {
        ("no-new-privileges", _) | ("seccomp", "builtin") => None,
        ("seccomp", profile) if profile.starts_with('{') => {
            let digest = crate::model::hash::hex(&Sha256::digest(profile.as_bytes())[..8]);
            Some(Grant::SecurityOpt(format!("seccomp=sha256:{digest}")))
        }
        (name, value) => Some(Grant::SecurityOpt(format!("{name}={value}"))),
    }
}
