//! The pure mapping from a [`NetworkSpec`] to bollard's network create request, in the
//! shape Engine API 1.41 accepts: `ipam` and `enable_ipv6` included (`enable_ipv4` is
//! 1.47 and the loader refuses `false`, its only value that changes anything).

use std::collections::{BTreeMap, HashMap};

use bollard::models::{Ipam as EngineIpam, IpamConfig, NetworkCreateRequest};

use crate::model::spec::{Ipam, IpamPool, NetworkSpec};

/// The create request of `spec`, labelled with `labels` (the user's labels already merged
/// with composectl's).
pub(super) fn create_request(
    spec: &NetworkSpec,
    labels: HashMap<String, String>,
) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: spec.name.clone(),
        driver: spec.driver.clone(),
        internal: Some(spec.internal),
        attachable: Some(spec.attachable),
        options: non_empty(&spec.driver_opts),
        labels: Some(labels),
        ipam: spec.ipam.as_ref().map(ipam),
        enable_ipv6: spec.enable_ipv6,
        ..NetworkCreateRequest::default()
    }
}

fn ipam(ipam: &Ipam) -> EngineIpam {
    EngineIpam {
        driver: ipam.driver.clone(),
        config: Some(ipam.config.iter().map(pool).collect()),
        options: non_empty(&ipam.options),
    }
}

fn pool(pool: &IpamPool) -> IpamConfig {
    IpamConfig {
        subnet: pool.subnet.clone(),
        ip_range: pool.ip_range.clone(),
        gateway: pool.gateway.clone(),
        auxiliary_addresses: non_empty(&pool.aux_addresses),
    }
}

fn non_empty(map: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then(|| map.clone().into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipam_pools_and_ipv6_go_into_the_request() {
        let spec = NetworkSpec {
            name: "shop_back".into(),
            enable_ipv6: Some(true),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: vec![IpamPool {
                    subnet: Some("10.9.0.0/24".into()),
                    ip_range: Some("10.9.0.128/25".into()),
                    gateway: Some("10.9.0.1".into()),
                    aux_addresses: BTreeMap::from([("r".into(), "10.9.0.2".into())]),
                }],
                options: BTreeMap::from([("o".into(), "v".into())]),
            }),
            ..NetworkSpec::default()
        };
        let request = create_request(&spec, HashMap::new());
        assert_eq!(request.enable_ipv6, Some(true));
        assert_eq!(request.enable_ipv4, None, "Engine API 1.47");
        let ipam = request.ipam.unwrap();
        assert_eq!(ipam.driver.as_deref(), Some("default"));
        assert_eq!(ipam.options.unwrap()["o"], "v");
        let pool = &ipam.config.unwrap()[0];
        assert_eq!(pool.subnet.as_deref(), Some("10.9.0.0/24"));
        assert_eq!(pool.ip_range.as_deref(), Some("10.9.0.128/25"));
        assert_eq!(pool.gateway.as_deref(), Some("10.9.0.1"));
        assert_eq!(pool.auxiliary_addresses.as_ref().unwrap()["r"], "10.9.0.2");
    }

    #[test]
    fn a_network_without_ipam_leaves_addressing_to_the_engine() {
        let request = create_request(&NetworkSpec::default(), HashMap::new());
        assert_eq!(request.ipam, None);
        assert_eq!(request.enable_ipv6, None);
    }
}
