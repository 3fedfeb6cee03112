//! A project's top-level definitions of networks (with their IPAM) and named volumes, with
//! the Docker-level names they resolve to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A top-level network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// Docker network name (`<project>_<key>` unless `name:` is set or it is external).
    pub name: String,
    /// `external: true`: composectl neither creates nor removes it.
    pub external: bool,
    /// `driver`.
    pub driver: Option<String>,
    /// `driver_opts`.
    pub driver_opts: BTreeMap<String, String>,
    /// `internal`.
    pub internal: bool,
    /// `attachable`.
    pub attachable: bool,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `ipam`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    /// `enable_ipv6`; `None` leaves it to the engine's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
}

/// A network's `ipam:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipam {
    /// `driver` (the engine's `default` when absent).
    pub driver: Option<String>,
    /// `config`: the address pools.
    pub config: Vec<IpamPool>,
    /// `options` for the IPAM driver.
    pub options: BTreeMap<String, String>,
}

/// One entry of `ipam.config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamPool {
    /// `subnet` in CIDR form.
    pub subnet: Option<String>,
    /// `ip_range`: the part of the subnet containers are given addresses from.
    pub ip_range: Option<String>,
    /// `gateway`.
    pub gateway: Option<String>,
    /// `aux_addresses`: host names to addresses the driver must not hand out.
    pub aux_addresses: BTreeMap<String, String>,
}

/// A top-level named volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    /// Docker volume name (`<project>_<key>` unless `name:` is set or it is external).
    pub name: String,
    /// `external: true`: composectl never creates it (and never removes any volume).
    pub external: bool,
    /// `driver`.
    pub driver: Option<String>,
    /// `driver_opts`.
    pub driver_opts: BTreeMap<String, String>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
}
