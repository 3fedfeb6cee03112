//! Tests of the create body's networking (no Docker): which network goes in the request
//! and which are connected after, endpoint settings, the host network, `network_mode` and
//! `links`.

use std::collections::BTreeMap;

use super::tests::{host, request};
use super::*;

#[test]
fn first_network_is_in_the_request_and_the_others_are_connected_after() {
    let mut req = request(ServiceSpec::new("web", "app"));
    req.networks = BTreeMap::from([
        (
            "shop_back".into(),
            ServiceNetwork {
                aliases: vec!["api".into()],
                ipv4_address: Some("172.30.0.10".into()),
                ..ServiceNetwork::default()
            },
        ),
        ("shop_front".into(), ServiceNetwork::default()),
    ]);
    let body = container_body(&req);
    assert_eq!(host(&body).network_mode.as_deref(), Some("shop_back"));
    let endpoints = body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .unwrap();
    assert_eq!(endpoints.len(), 1, "API 1.41 takes one network per create");
    let back = &endpoints["shop_back"];
    assert_eq!(back.aliases, Some(vec!["web".to_owned(), "api".to_owned()]));
    assert_eq!(
        back.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
        Some("172.30.0.10")
    );
    let extra = extra_networks(&req);
    assert_eq!(extra.len(), 1);
    assert_eq!(extra[0].0, "shop_front");
    assert_eq!(extra[0].1.aliases, Some(vec!["web".to_owned()]));
}

#[test]
fn the_highest_priority_network_is_created_with_and_ties_go_in_name_order() {
    let mut req = request(ServiceSpec::new("web", "app"));
    let prio = |priority| ServiceNetwork {
        priority,
        ..ServiceNetwork::default()
    };
    req.networks = BTreeMap::from([
        ("shop_a".into(), prio(0)),
        ("shop_b".into(), prio(10)),
        ("shop_c".into(), prio(0)),
        ("shop_d".into(), prio(-5)),
        ("shop_e".into(), prio(10)),
    ]);
    let body = container_body(&req);
    assert_eq!(host(&body).network_mode.as_deref(), Some("shop_b"));
    let endpoints = body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .unwrap();
    assert!(endpoints.contains_key("shop_b"));
    let connected: Vec<String> = extra_networks(&req).into_iter().map(|(n, _)| n).collect();
    assert_eq!(connected, ["shop_e", "shop_a", "shop_c", "shop_d"]);
}

#[test]
fn an_endpoint_carries_fixed_addresses_link_local_ips_and_driver_options() {
    let mut req = request(ServiceSpec::new("web", "app"));
    req.networks = BTreeMap::from([(
        "shop_back".into(),
        ServiceNetwork {
            ipv6_address: Some("fd00:1::10".into()),
            link_local_ips: vec!["169.254.8.8".into()],
            driver_opts: BTreeMap::from([("com.example.opt".into(), "1".into())]),
            ..ServiceNetwork::default()
        },
    )]);
    let body = container_body(&req);
    let endpoint = &body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .unwrap()["shop_back"];
    let ipam = endpoint.ipam_config.as_ref().unwrap();
    assert_eq!(ipam.ipv4_address, None);
    assert_eq!(ipam.ipv6_address.as_deref(), Some("fd00:1::10"));
    assert_eq!(ipam.link_local_ips, Some(vec!["169.254.8.8".to_owned()]));
    assert_eq!(
        endpoint.driver_opts.as_ref().unwrap()["com.example.opt"],
        "1"
    );
    assert_eq!(
        endpoint.mac_address, None,
        "API 1.44: refused by the loader"
    );
    assert_eq!(
        endpoint.gw_priority, None,
        "API 1.48: refused by the loader"
    );
}

#[test]
fn an_endpoint_without_fixed_addresses_has_no_ipam_config() {
    let mut req = request(ServiceSpec::new("web", "app"));
    req.networks = BTreeMap::from([("shop_back".into(), ServiceNetwork::default())]);
    let body = container_body(&req);
    let endpoint = &body.networking_config.unwrap().endpoints_config.unwrap()["shop_back"];
    assert_eq!(endpoint.ipam_config, None);
    assert_eq!(endpoint.driver_opts, None);
}

#[test]
fn the_host_network_is_a_network_mode_without_endpoint_settings() {
    for mode in ["host", "none"] {
        let mut req = request(ServiceSpec::new("web", "app"));
        req.networks = BTreeMap::from([(mode.to_owned(), ServiceNetwork::default())]);
        let body = container_body(&req);
        assert_eq!(host(&body).network_mode.as_deref(), Some(mode));
        assert_eq!(
            body.networking_config, None,
            "{mode}: the engine refuses aliases"
        );
    }
}

#[test]
fn a_service_without_networks_gets_the_engine_default() {
    let body = container_body(&request(ServiceSpec::new("web", "app")));
    assert_eq!(body.networking_config, None);
    assert_eq!(host(&body).network_mode, None);
}

#[test]
fn network_mode_is_the_network_mode_and_joins_no_network() {
    use crate::model::refs::NetworkMode;
    let cases = [
        (NetworkMode::Host, "host"),
        (NetworkMode::None, "none"),
        (NetworkMode::Bridge, "bridge"),
        (NetworkMode::Container("vpn".into()), "container:vpn"),
        // What the executor resolved `service:vpn` to.
        (
            NetworkMode::Container("0123abcd".into()),
            "container:0123abcd",
        ),
    ];
    for (mode, expected) in cases {
        let mut svc = ServiceSpec::new("web", "app");
        svc.network_mode = Some(mode);
        let req = request(svc);
        let body = container_body(&req);
        assert_eq!(host(&body).network_mode.as_deref(), Some(expected));
        assert_eq!(body.networking_config, None, "{expected}");
        assert!(extra_networks(&req).is_empty());
    }
}

#[test]
fn links_go_to_the_host_config_and_every_endpoint_as_compose_sets_them() {
    use crate::model::refs::Link;
    let mut svc = ServiceSpec::new("web", "app");
    svc.links = vec![Link {
        target: "shop-db-1".into(),
        alias: "database".into(),
    }];
    svc.external_links = vec![Link {
        target: "legacy".into(),
        alias: "old".into(),
    }];
    let mut req = request(svc);
    req.networks = BTreeMap::from([
        ("shop_back".to_owned(), ServiceNetwork::default()),
        ("shop_front".to_owned(), ServiceNetwork::default()),
    ]);
    let expected = vec!["shop-db-1:database".to_owned(), "legacy:old".to_owned()];
    let body = container_body(&req);
    assert_eq!(host(&body).links, Some(expected.clone()));
    let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
    assert_eq!(endpoints["shop_back"].links, Some(expected.clone()));
    assert_eq!(extra_networks(&req)[0].1.links, Some(expected));
}
