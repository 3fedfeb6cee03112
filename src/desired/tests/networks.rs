//! Networks: `ipam`, `enable_ipv6`, `enable_ipv4`, external networks and volumes, and a
//! service's options on each network.

use super::*;
use crate::model::spec::{Ipam, IpamPool, ServiceNetwork};

fn project(services: &str, networks: &str) -> String {
    format!("services:\n  web:\n    image: app\n{services}networks:\n{networks}")
}

#[test]
fn ipam_and_enable_ipv6_are_read_into_the_network() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &project(
            "    networks: [back]\n",
            concat!(
                "  back:\n    enable_ipv6: true\n    enable_ipv4: true\n    ipam:\n      driver: default\n",
                "      options: {foo: bar}\n      config:\n",
                "        - subnet: 10.20.0.0/24\n          ip_range: 10.20.0.128/25\n",
                "          gateway: 10.20.0.1\n          aux_addresses: {router: 10.20.0.2}\n",
                "        - subnet: fd00:20::/64\n",
            ),
        ),
    );
    let report = d.load();
    let net = &ok(&report, "shop").spec.networks["back"];
    assert_eq!(net.enable_ipv6, Some(true));
    assert_eq!(
        net.ipam,
        Some(Ipam {
            driver: Some("default".into()),
            config: vec![
                IpamPool {
                    subnet: Some("10.20.0.0/24".into()),
                    ip_range: Some("10.20.0.128/25".into()),
                    gateway: Some("10.20.0.1".into()),
                    aux_addresses: BTreeMap::from([("router".into(), "10.20.0.2".into())]),
                },
                IpamPool {
                    subnet: Some("fd00:20::/64".into()),
                    ..IpamPool::default()
                },
            ],
            options: BTreeMap::from([("foo".into(), "bar".into())]),
        })
    );
    assert!(ok(&report, "shop").warnings.is_empty());
}

#[test]
fn a_service_reads_its_options_on_each_network() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &project(
            concat!(
                "    networks:\n      back:\n        aliases: [api]\n        ipv4_address: 10.20.0.5\n",
                "        ipv6_address: fd00:20::5\n        link_local_ips: [169.254.10.10]\n",
                "        priority: 100\n        driver_opts: {com.example.x: \"1\"}\n",
                "      front: {}\n",
            ),
            concat!(
                "  back:\n    enable_ipv6: true\n    ipam:\n      config:\n",
                "        - subnet: 10.20.0.0/24\n        - subnet: fd00:20::/64\n",
                "  front:\n",
            ),
        ),
    );
    let report = d.load();
    let web = &ok(&report, "shop").spec.services["web"];
    assert_eq!(
        web.networks["back"],
        ServiceNetwork {
            aliases: vec!["api".into()],
            ipv4_address: Some("10.20.0.5".into()),
            ipv6_address: Some("fd00:20::5".into()),
            link_local_ips: vec!["169.254.10.10".into()],
            priority: 100,
            driver_opts: BTreeMap::from([("com.example.x".into(), "1".into())]),
        }
    );
    assert_eq!(web.networks["front"], ServiceNetwork::default());
}

#[test]
fn options_newer_engines_need_are_refused_with_the_version() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &project(
            concat!(
                "    networks:\n      back:\n        mac_address: 02:42:ac:11:00:02\n",
                "        gw_priority: 1\n        interface_name: eth7\n",
            ),
            "  back:\n    enable_ipv4: false\n",
        ),
    );
    let text = err_text(&d.load(), "shop");
    for (key, needs) in [
        ("services.web.networks.back.mac_address", "Engine API 1.44"),
        ("services.web.networks.back.gw_priority", "Engine API 1.48"),
        (
            "services.web.networks.back.interface_name",
            "Engine API 1.49",
        ),
        ("networks.back.enable_ipv4", "Engine API 1.47"),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("{key}:")))
            .unwrap_or_else(|| panic!("no error for {key}:\n{text}"));
        assert!(line.contains(needs), "{line}");
        assert!(line.contains("compose.yaml:"), "names the file: {line}");
    }
}

#[test]
fn a_fixed_address_needs_a_subnet_of_its_family() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &project(
            concat!(
                "    networks:\n      back:\n        ipv4_address: 10.20.0.5\n",
                "        ipv6_address: fd00::5\n",
            ),
            "  back:\n    ipam:\n      config:\n        - subnet: 10.20.0.0/24\n",
        ),
    );
    let text = err_text(&d.load(), "shop");
    assert!(
        text.contains(
            "services.web.networks.back.ipv6_address: a fixed address needs an IPv6 subnet"
        ),
        "{text}"
    );
    assert!(!text.contains("ipv4_address"), "{text}");
}

#[test]
fn malformed_addresses_and_subnets_are_errors_naming_the_key() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &project(
            "    networks:\n      back:\n        ipv4_address: fd00::5\n",
            concat!(
                "  back:\n    ipam:\n      config:\n        - subnet: 10.20.0.0/40\n",
                "          gateway: nope\n          range: x\n",
            ),
        ),
    );
    let text = err_text(&d.load(), "shop");
    for needle in [
        "networks.back.ipam.config[0].subnet: \"10.20.0.0/40\" is not a subnet in CIDR form",
        "networks.back.ipam.config[0].gateway: \"nope\" is not an IP address",
        "networks.back.ipam.config[0].range: unknown key `range`",
        "services.web.networks.back.ipv4_address: \"fd00::5\" is not an IPv4 address",
    ] {
        assert!(text.contains(needle), "{needle}\n{text}");
    }
}

#[test]
fn an_interpolated_address_is_never_quoted_in_an_error() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &project(
            "    networks:\n      back:\n        ipv4_address: ${ADDR}\n",
            "  back:\n    ipam:\n      config:\n        - subnet: 10.20.0.0/24\n",
        ),
    );
    let text = err_text(&d.load_with(&[("ADDR", "s3cr3t-value")]), "shop");
    assert!(!text.contains("s3cr3t-value"), "{text}");
    assert!(text.contains("${ADDR}"), "{text}");
}

#[test]
fn creation_settings_on_an_external_network_or_volume_are_refused() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        concat!(
            "services:\n  web:\n    image: app\n    networks: [proxy]\n    volumes: ['certs:/c']\n",
            "networks:\n  proxy:\n    external: true\n    name: proxy\n    driver: bridge\n",
            "    ipam: {config: [{subnet: 10.1.0.0/24}]}\n",
            "volumes:\n  certs:\n    external: true\n    driver_opts: {type: none}\n",
        ),
    );
    let text = err_text(&d.load(), "shop");
    for key in [
        "networks.proxy.driver:",
        "networks.proxy.ipam:",
        "volumes.certs.driver_opts:",
    ] {
        let line = text.lines().find(|l| l.contains(key)).unwrap_or("");
        assert!(
            line.contains("has no effect on an external"),
            "{key}\n{text}"
        );
    }
    assert!(!text.contains("networks.proxy.name:"), "{text}");
}
