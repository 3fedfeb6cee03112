//! Networks on the real engine: `ipam` (subnet, ip_range, gateway, aux_addresses),
//! `enable_ipv6`, a service's fixed IPv4 and IPv6 addresses, link-local IPs, aliases,
//! endpoint `driver_opts` and network `priority` take effect, as do a network's `driver`,
//! `driver_opts`, `internal`, `attachable` and `labels` and a volume's as `docker inspect` shows them; a changed subnet is
//! planned as a recreate of the network, which `apply --once` carries out with the
//! container back on it; a changed volume definition is kept, with its data, and the plan
//! says so. The docker CLI is the oracle throughout.

mod common;

use common::{TestProject, demo_image, docker};

/// A /24 of 10.213.0.0/16 and a /64 of fd00:213::/48 derived from the project's unique
/// name (two per project: `which` 0 or 1), so tests beside this one do not clash.
fn subnets(project: &TestProject, which: u8) -> (String, String) {
    let hash = project
        .name()
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let third = (hash % 128) * 2 + u32::from(which);
    (format!("10.213.{third}"), format!("fd00:213:{third:x}"))
}

/// `web` on `front` (priority 100) and `back` (priority 10, fixed addresses); `back` has
/// its own IPv4 and IPv6 subnets; `data` is a volume with `label`.
fn compose(project: &TestProject, which: u8, label: &str) -> String {
    let image = demo_image("v1");
    let (v4, v6) = subnets(project, which);
    format!(
        r#"services:
  web:
    image: {image}
    restart: "no"
    volumes:
      - data:/data
    networks:
      back:
        priority: 10
        aliases: [api]
        ipv4_address: {v4}.50
        ipv6_address: "{v6}::50"
        link_local_ips: [169.254.213.10]
        driver_opts:
          com.example.endpoint: "on"
      front:
        priority: 100
networks:
  front:
    internal: true
    attachable: true
    driver: bridge
    driver_opts:
      com.docker.network.bridge.enable_icc: "true"
    labels:
      tier: front
  back:
    enable_ipv6: true
    ipam:
      driver: default
      config:
        - subnet: {v4}.0/24
          ip_range: {v4}.0/25
          gateway: {v4}.1
          aux_addresses:
            reserved: {v4}.2
        - subnet: "{v6}::/64"
volumes:
  data:
    driver: local
    driver_opts:
      type: tmpfs
      device: tmpfs
    labels:
      kind: {label}
"#
    )
}

/// `composectl plan`'s output; it exits 0 without changes, 2 with some.
fn plan(project: &TestProject) -> String {
    let run = project.cli(&["plan"]);
    assert!(
        matches!(run.code, Some(0 | 2)),
        "plan failed:\n{}",
        run.all()
    );
    run.stdout
}

fn inspect(what: &[&str], format: &str) -> String {
    let mut args = vec![];
    args.extend_from_slice(what);
    args.extend(["--format", format]);
    docker(&args)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The network's IPAM and IPv6 flag as the engine has them.
fn assert_network(name: &str, v4: &str, v6: &str) {
    let net = json(&inspect(&["network", "inspect", name], "{{json .}}"));
    assert_eq!(net["EnableIPv6"], true, "{net}");
    assert_eq!(net["IPAM"]["Driver"], "default");
    let pools = net["IPAM"]["Config"].as_array().expect("pools");
    let pool4 = pools
        .iter()
        .find(|p| p["Subnet"] == format!("{v4}.0/24"))
        .unwrap_or_else(|| panic!("no IPv4 pool: {net}"));
    assert_eq!(pool4["IPRange"], format!("{v4}.0/25"));
    assert_eq!(pool4["Gateway"], format!("{v4}.1"));
    assert_eq!(pool4["AuxiliaryAddresses"]["reserved"], format!("{v4}.2"));
    assert!(
        pools.iter().any(|p| p["Subnet"] == format!("{v6}::/64")),
        "no IPv6 pool: {net}"
    );
    let labels = &net["Labels"];
    assert!(
        labels["com.docker.compose.config-hash"]
            .as_str()
            .is_some_and(|h| !h.is_empty()),
        "{net}"
    );
}

/// The container is on `back` with its fixed addresses and alias, and `front` (the higher
/// priority) is its network mode.
fn assert_container(project: &TestProject, v4: &str, v6: &str) {
    let p = project.name();
    let name = format!("{p}-web-1");
    let mode = inspect(&["inspect", &name], "{{.HostConfig.NetworkMode}}");
    assert_eq!(mode, format!("{p}_front"), "priority orders the networks");
    let nets = json(&inspect(
        &["inspect", &name],
        "{{json .NetworkSettings.Networks}}",
    ));
    let back = &nets[format!("{p}_back")];
    assert_eq!(back["IPAddress"], format!("{v4}.50"), "{nets}");
    assert_eq!(back["GlobalIPv6Address"], format!("{v6}::50"), "{nets}");
    assert_eq!(back["IPAMConfig"]["IPv4Address"], format!("{v4}.50"));
    assert_eq!(back["IPAMConfig"]["IPv6Address"], format!("{v6}::50"));
    assert_eq!(
        back["IPAMConfig"]["LinkLocalIPs"],
        serde_json::json!(["169.254.213.10"])
    );
    assert_eq!(back["DriverOpts"]["com.example.endpoint"], "on", "{nets}");
    let aliases = back["Aliases"].to_string();
    assert!(
        aliases.contains("\"api\"") && aliases.contains("\"web\""),
        "{aliases}"
    );
    assert!(nets.get(format!("{p}_front")).is_some(), "{nets}");
    assert_eq!(inspect(&["inspect", &name], "{{.State.Status}}"), "running");
}

/// The keys `front` and `data` share with every network and volume.
fn assert_front_and_volume(project: &TestProject) {
    let p = project.name();
    let front = json(&inspect(
        &["network", "inspect", &format!("{p}_front")],
        "{{json .}}",
    ));
    assert_eq!(front["Internal"], true, "{front}");
    assert_eq!(front["Attachable"], true, "{front}");
    assert_eq!(front["Driver"], "bridge");
    assert_eq!(
        front["Options"]["com.docker.network.bridge.enable_icc"],
        "true"
    );
    assert_eq!(front["Labels"]["tier"], "front");
    assert_eq!(front["Labels"]["com.docker.compose.network"], "front");
    let data = json(&inspect(
        &["volume", "inspect", &format!("{p}_data")],
        "{{json .}}",
    ));
    assert_eq!(data["Driver"], "local");
    assert_eq!(data["Options"]["type"], "tmpfs", "{data}");
    assert_eq!(data["Labels"]["kind"], "one");
}

#[test]
fn network_keys_take_effect_and_a_changed_subnet_recreates_the_network() {
    let project = TestProject::new("cn-ipam");
    let p = project.name().to_owned();
    let (v4, v6) = subnets(&project, 0);
    project.write_compose(&compose(&project, 0, "one"));
    project.apply_once();
    assert_network(&format!("{p}_back"), &v4, &v6);
    assert_container(&project, &v4, &v6);
    assert_front_and_volume(&project);
    let first = plan(&project);
    assert!(first.contains("No changes"), "{first}");

    let old_id = inspect(&["network", "inspect", &format!("{p}_back")], "{{.Id}}");
    let volume = format!("{p}_data");
    let (v4b, v6b) = subnets(&project, 1);
    project.write_compose(&compose(&project, 1, "two"));
    let planned = plan(&project);
    let line = planned
        .lines()
        .find(|l| l.trim_start().starts_with("~ network back "))
        .unwrap_or_else(|| panic!("no recreate line:\n{planned}"));
    assert!(
        line.ends_with(&format!(
            "recreate (ipam changed): detaches its containers (removes and recreates {p}-web-1)"
        )),
        "{planned}"
    );
    assert!(
        planned.contains("volume data")
            && planned.contains("keeps its old settings (labels changed)"),
        "{planned}"
    );
    assert!(
        planned.contains(&format!("docker volume rm {p}_data")),
        "{planned}"
    );

    project.apply_once();
    let new_id = inspect(&["network", "inspect", &format!("{p}_back")], "{{.Id}}");
    assert_ne!(old_id, new_id, "the network was recreated");
    assert_network(&format!("{p}_back"), &v4b, &v6b);
    assert_container(&project, &v4b, &v6b);
    let kind = inspect(
        &["volume", "inspect", &volume],
        "{{index .Labels \"kind\"}}",
    );
    assert_eq!(
        kind, "one",
        "the volume was neither removed nor recreated: it keeps its old settings"
    );
    let last = plan(&project);
    assert!(
        !last.contains("recreate") && last.contains("No changes"),
        "{last}"
    );
}
