//! What a service's containers mount: volumes, binds and tmpfs ([`MountSpec`], its kind
//! and options) and the host devices made available in them ([`DeviceMapping`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// What is mounted.
    pub kind: MountKind,
    /// Absolute path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Options of the long syntax (and of the short syntax's `z`, `Z`, `nocopy` and
    /// propagation modes); left out of the JSON form when unset, so older config hashes
    /// hold.
    #[serde(default, skip_serializing_if = "MountOptions::is_empty")]
    pub options: MountOptions,
}

impl MountSpec {
    /// A mount without options.
    pub fn new(kind: MountKind, target: impl Into<String>, read_only: bool) -> Self {
        Self {
            kind,
            target: target.into(),
            read_only,
            options: MountOptions::default(),
        }
    }
}

/// The options of a mount beyond its source, target and `read_only`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountOptions {
    /// `bind.propagation`: `rprivate`, `private`, `rshared`, `shared`, `rslave`, `slave`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    /// `bind.selinux`: `z` (shared label) or `Z` (private label).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
    /// `volume.nocopy`: do not copy the image's content into an empty volume.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nocopy: bool,
    /// `volume.labels`: labels of a volume this mount creates.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_labels: BTreeMap<String, String>,
    /// `tmpfs.mode`: the tmpfs root's permission bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_mode: Option<u32>,
    /// The options of a short `tmpfs:` entry as written (`rw,noexec,size=65536`) when they
    /// go beyond `size=` and `mode=`: the engine gets them as compose gives them, in
    /// `HostConfig.Tmpfs` (the Mounts API of Engine API 1.41 takes a size and a mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_flags: Option<String>,
}

impl MountOptions {
    /// True when no option is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The source of a mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountKind {
    /// A named volume. `name` is the Docker volume name (`<project>_<key>` unless the
    /// top-level volume sets `name:` or is external); `key` is the compose key.
    Volume {
        /// Docker volume name.
        name: String,
        /// Key under the top-level `volumes:`.
        key: String,
    },
    /// An anonymous volume (a `volumes:` entry with only a container path).
    Anonymous,
    /// A bind mount of an absolute host path.
    Bind {
        /// Absolute host path.
        source: PathBuf,
        /// `bind.create_host_path` (true for the short syntax, as compose does).
        create_host_path: bool,
    },
    /// A tmpfs mount.
    Tmpfs {
        /// `tmpfs.size` in bytes.
        size: Option<u64>,
    },
}

/// One `devices` entry: a host device made available in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMapping {
    /// The device on the host (absolute).
    pub source: PathBuf,
    /// Where it appears in the container.
    pub target: String,
    /// Cgroup permissions, a combination of `r`, `w` and `m` (`rwm` by default).
    pub permissions: String,
}
