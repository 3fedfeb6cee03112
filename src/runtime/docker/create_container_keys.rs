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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bollard::models::{DeviceMapping as EngineDevice, HostConfigCgroupnsModeEnum};

    use crate::model::spec::{DeviceMapping, PortSpec, ServiceSpec};
    use crate::runtime::ContainerCreate;
    use crate::runtime::docker::create::container_body;

    fn body(service: ServiceSpec) -> bollard::models::ContainerCreateBody {
        container_body(&ContainerCreate {
            name: "shop-web-1".into(),
            service,
            networks: BTreeMap::new(),
            labels: BTreeMap::new(),
        })
    }

    #[test]
    fn container_keys_land_in_the_config_and_host_config() {
        let mut svc = ServiceSpec::new("web", "app");
        svc.devices = vec![DeviceMapping {
            source: "/dev/zero".into(),
            target: "/dev/z".into(),
            permissions: "rw".into(),
        }];
        svc.device_cgroup_rules = vec!["c 1:3 mr".into()];
        svc.sysctls = BTreeMap::from([("net.core.somaxconn".into(), "1024".into())]);
        svc.security_opt = vec!["no-new-privileges:true".into()];
        svc.dns = vec!["9.9.9.9".into()];
        svc.dns_search = vec!["example".into()];
        svc.dns_opt = vec!["use-vc".into()];
        svc.shm_size = Some(64 << 20);
        svc.pid = Some("host".into());
        svc.ipc = Some("shareable".into());
        svc.uts = Some("host".into());
        svc.userns_mode = Some("host".into());
        svc.cgroup = Some("private".into());
        svc.cgroup_parent = Some("custom.slice".into());
        svc.group_add = vec!["4242".into()];
        svc.tty = true;
        svc.stdin_open = true;
        svc.runtime = Some("runc".into());
        svc.domainname = Some("example.internal".into());
        svc.storage_opt = BTreeMap::from([("size".into(), "20G".into())]);
        let body = body(svc);
        assert_eq!(body.tty, Some(true));
        assert_eq!(body.open_stdin, Some(true));
        assert_eq!(body.domainname.as_deref(), Some("example.internal"));
        let host = body.host_config.unwrap();
        assert_eq!(
            host.devices,
            Some(vec![EngineDevice {
                path_on_host: Some("/dev/zero".into()),
                path_in_container: Some("/dev/z".into()),
                cgroup_permissions: Some("rw".into()),
            }])
        );
        assert_eq!(host.device_cgroup_rules, Some(vec!["c 1:3 mr".into()]));
        assert_eq!(host.sysctls.unwrap()["net.core.somaxconn"], "1024");
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges:true".into()])
        );
        assert_eq!(host.masked_paths, None);
        assert_eq!(host.dns, Some(vec!["9.9.9.9".into()]));
        assert_eq!(host.dns_search, Some(vec!["example".into()]));
        assert_eq!(host.dns_options, Some(vec!["use-vc".into()]));
        assert_eq!(host.shm_size, Some(64 << 20));
        assert_eq!(host.pid_mode.as_deref(), Some("host"));
        assert_eq!(host.ipc_mode.as_deref(), Some("shareable"));
        assert_eq!(host.uts_mode.as_deref(), Some("host"));
        assert_eq!(host.userns_mode.as_deref(), Some("host"));
        assert_eq!(
            host.cgroupns_mode,
            Some(HostConfigCgroupnsModeEnum::PRIVATE)
        );
        assert_eq!(host.cgroup_parent.as_deref(), Some("custom.slice"));
        assert_eq!(host.group_add, Some(vec!["4242".into()]));
        assert_eq!(host.runtime.as_deref(), Some("runc"));
        assert_eq!(host.storage_opt.unwrap()["size"], "20G");
    }

    #[test]
    fn unset_container_keys_leave_the_engine_defaults() {
        let body = body(ServiceSpec::new("web", "app"));
        let host = body.host_config.unwrap();
        assert_eq!(body.tty, Some(false));
        assert_eq!(body.domainname, None);
        assert_eq!(host.devices, None);
        assert_eq!(host.sysctls, None);
        assert_eq!(host.security_opt, None);
        assert_eq!(host.dns, None);
        assert_eq!(host.shm_size, None);
        assert_eq!(host.pid_mode, None);
        assert_eq!(host.cgroupns_mode, None);
        assert_eq!(host.storage_opt, None);
    }

    #[test]
    fn systempaths_unconfined_empties_the_masked_and_read_only_paths() {
        let mut svc = ServiceSpec::new("web", "app");
        svc.security_opt = vec!["systempaths=unconfined".into(), "label:disable".into()];
        let host = body(svc).host_config.unwrap();
        assert_eq!(host.security_opt, Some(vec!["label:disable".into()]));
        assert_eq!(host.masked_paths, Some(vec![]));
        assert_eq!(host.readonly_paths, Some(vec![]));
    }

    #[test]
    fn exposed_ports_join_the_published_ones() {
        let mut svc = ServiceSpec::new("web", "app");
        svc.ports = vec![PortSpec {
            target: 80,
            published: Some(8080),
            host_ip: None,
            protocol: "tcp".into(),
        }];
        svc.expose = vec!["7000/tcp".into(), "80/tcp".into(), "53/udp".into()];
        assert_eq!(
            body(svc).exposed_ports,
            Some(vec!["53/udp".into(), "7000/tcp".into(), "80/tcp".into()])
        );
    }
}
