//! What a service's containers may use of the host beyond `limits` (CPU shares and sets,
//! realtime CPU time, memory reservation and swap, OOM settings, block IO weights and
//! throttles, device requests such as GPUs), and when composectl pulls a service's image
//! ([`PullPolicy`]).
//!
//! Everything is normalized as the engine's `HostConfig` wants it: sizes in bytes, rates in
//! bytes or operations per second, CPU times in microseconds.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `cpu_shares`, `cpuset`, `cpu_quota`, ... `blkio_config`, `gpus` and the device and
/// memory reservations of `deploy.resources.reservations`. Every field is optional: unset
/// leaves the engine's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// `cpu_shares` (relative weight).
    pub cpu_shares: Option<i64>,
    /// `cpuset` (`0-3`, `0,1`).
    pub cpuset: Option<String>,
    /// `cpu_quota` in microseconds per period.
    pub cpu_quota: Option<i64>,
    /// `cpu_period` in microseconds.
    pub cpu_period: Option<i64>,
    /// `cpu_rt_period` in microseconds.
    pub cpu_rt_period: Option<i64>,
    /// `cpu_rt_runtime` in microseconds.
    pub cpu_rt_runtime: Option<i64>,
    /// `mem_reservation` (or `deploy.resources.reservations.memory`) in bytes.
    pub mem_reservation: Option<u64>,
    /// `memswap_limit` in bytes; `-1` is unlimited swap.
    pub memswap_limit: Option<i64>,
    /// `mem_swappiness` (0 to 100).
    pub mem_swappiness: Option<i64>,
    /// `oom_kill_disable`.
    pub oom_kill_disable: Option<bool>,
    /// `oom_score_adj` (-1000 to 1000).
    pub oom_score_adj: Option<i64>,
    /// `blkio_config`.
    pub blkio: Blkio,
    /// `gpus` and `deploy.resources.reservations.devices`, in that order.
    pub device_requests: Vec<DeviceRequest>,
}

/// `blkio_config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Blkio {
    /// `weight` (10 to 1000).
    pub weight: Option<u16>,
    /// `weight_device`: (device path, weight).
    pub weight_device: Vec<(String, u16)>,
    /// `device_read_bps`: (device path, bytes per second).
    pub device_read_bps: Vec<(String, u64)>,
    /// `device_write_bps`: (device path, bytes per second).
    pub device_write_bps: Vec<(String, u64)>,
    /// `device_read_iops`: (device path, operations per second).
    pub device_read_iops: Vec<(String, u64)>,
    /// `device_write_iops`: (device path, operations per second).
    pub device_write_iops: Vec<(String, u64)>,
}

impl Blkio {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// One device request (`gpus:` entry or `deploy.resources.reservations.devices` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceRequest {
    /// `driver` (`nvidia`).
    pub driver: Option<String>,
    /// `count`; `-1` is all devices.
    pub count: Option<i64>,
    /// `device_ids`.
    pub device_ids: Vec<String>,
    /// `capabilities` (one set; the engine ORs sets, compose writes one).
    pub capabilities: Vec<String>,
    /// `options` given to the driver.
    pub options: BTreeMap<String, String>,
}

/// `pull_policy` (with `pull_refresh_after` for `refresh`): when composectl pulls a
/// service's image. It changes how composectl acts, not what a container is, so it is no
/// part of the config hash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullPolicy {
    /// `missing` (compose's default) and `if_not_present`: pull when the host lacks the
    /// image.
    #[default]
    Missing,
    /// `always`: pull before every create or replace of the service's containers.
    Always,
    /// `never`: never pull; a missing image fails the service.
    Never,
    /// `build`: the image comes from `build:`; never pulled.
    Build,
    /// `daily`, `weekly`, `every_<duration>`, or `refresh` with `pull_refresh_after`: pull
    /// again when the last pull of the reference is older than this.
    Refresh(Duration),
}

impl PullPolicy {
    /// Whether composectl may pull the image at all.
    pub fn pulls(self) -> bool {
        !matches!(self, Self::Never | Self::Build)
    }
}
