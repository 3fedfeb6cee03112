//! The container keys' part of the create body: devices, namespaces, security options,
//! DNS and the other kernel-level settings of a [`ServiceSpec`], in the shape Engine API
//! 1.41 takes them.

use std::collections::HashMap;

use bollard::models::{DeviceMapping, HostConfigCgroupnsModeEnum};

use crate::model::spec::ServiceSpec;

/// The security option compose turns into empty masked and read-only path lists: the
/// engine does not take it as a security option.
const SYSTEMPATHS_UNCONFINED: &str = "systempaths=unconfined";

/// `devices` as the engine's device mappings.
pub(super) fn devices(svc: &ServiceSpec) -> Option<Vec<DeviceMapping>> {
    let devices: Vec<DeviceMapping> = svc
        .devices
        .iter()
        .map(|d| DeviceMapping {
            path_on_host: Some(d.source.display().to_string()),
            path_in_container: Some(d.target.clone()),
            cgroup_permissions: Some(d.permissions.clone()),
        })
        .collect();
    (!devices.is_empty()).then_some(devices)
}

/// `security_opt` without `systempaths=unconfined`, which [`unmasked_paths`] applies.
pub(super) fn security_opt(svc: &ServiceSpec) -> Option<Vec<String>> {
    let opts: Vec<String> = svc
        .security_opt
        .iter()
        .filter(|o| o.as_str() != SYSTEMPATHS_UNCONFINED)
        .cloned()
        .collect();
    (!opts.is_empty()).then_some(opts)
}

/// Empty masked and read-only path lists when `security_opt` holds
/// `systempaths=unconfined` (as the docker CLI and compose send it), else the engine's
/// defaults (`None`).
pub(super) fn unmasked_paths(svc: &ServiceSpec) -> Option<Vec<String>> {
    svc.security_opt
        .iter()
        .any(|o| o == SYSTEMPATHS_UNCONFINED)
        .then(Vec::new)
}

/// `cgroup` as the engine's cgroup namespace mode.
pub(super) fn cgroupns_mode(svc: &ServiceSpec) -> Option<HostConfigCgroupnsModeEnum> {
    match svc.cgroup.as_deref()? {
        "host" => Some(HostConfigCgroupnsModeEnum::HOST),
        "private" => Some(HostConfigCgroupnsModeEnum::PRIVATE),
        _ => None,
    }
}

/// A list, `None` when empty (the engine's default).
pub(super) fn list(items: &[String]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| items.to_vec())
}

/// A map, `None` when empty (the engine's default).
pub(super) fn map(
    items: &std::collections::BTreeMap<String, String>,
) -> Option<HashMap<String, String>> {
    (!items.is_empty()).then(|| items.clone().into_iter().collect())
}

/// The shared-memory size in bytes.
pub(super) fn shm_size(svc: &ServiceSpec) -> Option<i64> {
    svc.shm_size.map(|s| i64::try_from(s).unwrap_or(i64::MAX))
}
