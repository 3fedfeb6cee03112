//! What a project may do to the host, one [`Grant`] at a time, and where it asks for it
//! ([`Privilege`]).
//!
//! A grant is written as a short text, the same in messages, `/status`, the records of
//! the state directory and the policy file:
//!
//! | text                          | what it gives                                           |
//! |-------------------------------|---------------------------------------------------------|
//! | `privileged`                  | every device and capability of the host                 |
//! | `network:host`                | the host's network namespace                            |
//! | `network:container:NAME`      | another container's network namespace                   |
//! | `cap:NAME` / `cap:ALL`        | a capability beyond Docker's default set / all of them  |
//! | `bind:/PATH` / `bind:/PATH:ro`| a host path outside the desired directory (read-write / read-only), the Docker socket or `/` |
//! | `env_file:/PATH`              | a host file outside the desired directory read into the environment |
//! | `file:/PATH`                  | a host file outside the desired directory mounted as a secret or config |
//! | `device:/PATH`                | a host device or file system, mapped by `devices` or mounted by a volume |
//! | `network-driver:NAME`         | a network of a driver other than `bridge` (`macvlan` puts containers on the LAN) |
//! | `pid:host`, `ipc:host`, `uts:host`, `userns:host`, `cgroup:host` | one of the host's namespaces |
//! | `pid:container:NAME` / `ipc:container:NAME` | another container's namespace |
//! | `device-cgroup-rule:RULE`     | access to host devices by number (`c 189:* rwm`)        |
//! | `security-opt:NAME=VALUE`     | a confinement other than the engine's default (`seccomp=unconfined`, `apparmor=unconfined`, `label=disable`, `systempaths=unconfined`, `seccomp=sha256:DIGEST` for a profile of its own) |
//! | `runtime:NAME`                | an OCI runtime other than `runc`                        |
//! | `cgroup-parent:NAME`          | a cgroup of the host's choosing instead of Docker's     |
//! | `volumes-from:NAME`           | the volumes of a container outside the project (`volumes_from: [container:NAME]`) |
//! | `link:NAME`                   | a legacy link to a container outside the project on the default bridge, which copies its environment in |
//! | `device-requests`             | host devices a driver hands out (`gpus`, reserved `devices`) |
//! | `oom-protection`              | shelter from the kernel's OOM killer (`oom_kill_disable`, a negative `oom_score_adj`) |
//!
//! A grant *covers* another that gives no more ([`Grant::covers`]): `privileged` covers
//! every `cap:`, `cap:ALL` every capability, `bind:/srv` covers `bind:/srv/media:ro` and
//! `env_file:/srv/app.env` and `file:/srv/db.key`, `env_file:/etc/app` and `file:/etc/app`
//! cover the files under them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::desired::origins::Origin;

/// One thing a project may do to the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Grant {
    /// `privileged: true`.
    Privileged,
    /// A network namespace that is not the container's own: `host` or `container:NAME`.
    Network(String),
    /// A capability beyond Docker's default set (upper case, without `CAP_`), or `ALL`.
    Capability(String),
    /// A bind mount of a host path outside the desired directory (or of the Docker
    /// socket or `/`, wherever the desired directory is).
    Bind {
        /// The host path (absolute).
        path: PathBuf,
        /// Mounted read-only.
        read_only: bool,
    },
    /// An env file (or `.env`) outside the desired directory.
    EnvFile(PathBuf),
    /// The `file:` of a secret or config outside the desired directory (its content is
    /// mounted into the containers that use it).
    FileSource(PathBuf),
    /// A host device or file system a local volume mounts (`driver_opts.device` without
    /// `o: bind`).
    Device(PathBuf),
    /// A network driver other than `bridge`.
    NetworkDriver(String),
    /// A namespace that is not the container's own (`pid`, `ipc`, `uts`, `userns`,
    /// `cgroup`): `host`, or `container:NAME` for `pid` and `ipc`.
    Namespace {
        /// Which namespace.
        kind: NamespaceKind,
        /// `host` or `container:NAME`.
        mode: String,
    },
    /// A `device_cgroup_rules` rule, as written (`c 189:* rwm`).
    DeviceCgroupRule(String),
    /// A security option that loosens the engine's default confinement, `NAME=VALUE`
    /// (a seccomp profile of the project's own is `seccomp=sha256:DIGEST` of its content).
    SecurityOpt(String),
    /// An OCI runtime other than `runc`.
    Runtime(String),
    /// A parent cgroup other than Docker's.
    CgroupParent(String),
    /// The volumes of a container outside the project (`volumes_from: [container:NAME]`).
    VolumesFrom(String),
    /// A legacy link to a container outside the project (`external_links` with
    /// `network_mode: bridge`): the engine copies the linked container's environment
    /// variables into this one.
    Link(String),
    /// Device requests: `gpus` or `deploy.resources.reservations.devices`.
    DeviceRequests,
    /// `oom_kill_disable: true` or a negative `oom_score_adj`: under memory pressure the
    /// host's other processes are killed first.
    OomProtection,
}

/// The namespaces a container may share with the host (or another container).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NamespaceKind {
    /// `pid`: the processes it sees and signals.
    Pid,
    /// `ipc`: shared memory and semaphores.
    Ipc,
    /// `uts`: the host name.
    Uts,
    /// `userns_mode`: the user namespace (`host` turns off the daemon's user remapping).
    Userns,
    /// `cgroup`: the cgroup namespace.
    Cgroup,
}

impl NamespaceKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [Self::Pid, Self::Ipc, Self::Uts, Self::Userns, Self::Cgroup];

    /// The text form (`pid`, `ipc`, `uts`, `userns`, `cgroup`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pid => "pid",
            Self::Ipc => "ipc",
            Self::Uts => "uts",
            Self::Userns => "userns",
            Self::Cgroup => "cgroup",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Pid => "process",
            Self::Ipc => "IPC",
            Self::Uts => "host name (UTS)",
            Self::Userns => "user",
            Self::Cgroup => "cgroup",
        }
    }
}

/// Sockets that give control over the host's container engine, by file name.
const ENGINE_SOCKETS: [&str; 3] = ["docker.sock", "containerd.sock", "podman.sock"];

/// Host system paths: a bind of one of them (or of anything under it), or of a path with an
/// `@docker` component (Synology's Docker data root, `/volume1/@docker`), is described as
/// such. Every path outside the desired directory is a grant of its own anyway; the list
/// only says how bad it is.
pub const SYSTEM_PATHS: [&str; 19] = [
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/run",
    "/var/log",
    "/var/packages",
];

/// True when `path` is the Docker (containerd, podman) socket or `/`: a grant wherever the
/// desired directory is.
pub fn is_always_granted(path: &Path) -> bool {
    path == Path::new("/") || is_engine_socket(path)
}

fn is_engine_socket(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|name| ENGINE_SOCKETS.iter().any(|s| name.ends_with(s)))
}

fn is_system_path(path: &Path) -> bool {
    SYSTEM_PATHS.iter().any(|p| path.starts_with(p))
        || path
            .components()
            .any(|c| c.as_os_str().to_str() == Some("@docker"))
}

impl Grant {
    /// True when a project allowed `self` may also have `other` (it gives no more).
    pub fn covers(&self, other: &Grant) -> bool {
        use Grant::*;
        match (self, other) {
            (Privileged, Privileged | Capability(_)) => true,
            (Capability(all), Capability(_)) if all == "ALL" => true,
            (
                Bind { path, read_only },
                Bind {
                    path: inner,
                    read_only: inner_ro,
                },
            ) => inner.starts_with(path) && (!read_only || *inner_ro),
            (Bind { path, .. } | EnvFile(path), EnvFile(inner)) => inner.starts_with(path),
            (Bind { path, .. } | FileSource(path), FileSource(inner)) => inner.starts_with(path),
            (Device(path), Device(inner)) => inner.starts_with(path),
            (a, b) => a == b,
        }
    }

    /// What it gives, in words, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Privileged => "privileged mode: every device and capability of the host".into(),
            Self::Network(mode) if mode == "host" => "the host's network namespace".into(),
            Self::Network(_) => "another container's network namespace".into(),
            Self::Capability(cap) if cap == "ALL" => "every Linux capability".into(),
            Self::Capability(cap) => format!("the capability CAP_{cap}, beyond Docker's defaults"),
            Self::Bind { path, read_only } => {
                let what = if is_engine_socket(path) {
                    "the container engine's socket: root on the host"
                } else if path == Path::new("/") {
                    "the host's whole file system"
                } else if is_system_path(path) {
                    "a host system path"
                } else {
                    "a host path outside the desired directory"
                };
                let mode = if *read_only {
                    "read-only"
                } else {
                    "read-write"
                };
                format!("{what}, {mode}")
            }
            Self::EnvFile(_) => {
                "a host file outside the desired directory, read into the environment".into()
            }
            Self::FileSource(_) => {
                "a host file outside the desired directory, mounted as a secret or config".into()
            }
            Self::Device(_) => {
                "a host device or file system (mapped as a device, or mounted by a volume)".into()
            }
            Self::NetworkDriver(driver) if driver == "macvlan" || driver == "ipvlan" => {
                format!("a {driver} network: containers directly on the host's network")
            }
            Self::NetworkDriver(driver) => format!("a network of the `{driver}` driver"),
            Self::Namespace { kind, mode } if mode == "host" => {
                format!("the host's {} namespace", kind.what())
            }
            Self::Namespace { kind, .. } => {
                format!("another container's {} namespace", kind.what())
            }
            Self::DeviceCgroupRule(_) => "access to host devices by their numbers".into(),
            Self::SecurityOpt(opt) if opt.starts_with("seccomp=sha256:") => {
                "a seccomp profile of the project's own instead of Docker's default".into()
            }
            Self::SecurityOpt(_) => "a confinement looser than Docker's default".into(),
            Self::Runtime(_) => "an OCI runtime other than runc".into(),
            Self::CgroupParent(_) => "a cgroup of its choosing instead of Docker's".into(),
            Self::VolumesFrom(_) => "the volumes of a container outside the project".into(),
            Self::Link(_) => {
                "a legacy link to a container outside the project, whose environment it reads"
                    .into()
            }
            Self::DeviceRequests => "host devices a driver hands out, such as GPUs".into(),
            Self::OomProtection => {
                "shelter from the OOM killer: the host's other processes are killed first".into()
            }
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Privileged => write!(f, "privileged"),
            Self::Network(mode) => write!(f, "network:{mode}"),
            Self::Capability(cap) => write!(f, "cap:{cap}"),
            Self::Bind { path, read_only } => {
                write!(f, "bind:{}", path.display())?;
                if *read_only {
                    write!(f, ":ro")?;
                }
                Ok(())
            }
            Self::EnvFile(path) => write!(f, "env_file:{}", path.display()),
            Self::FileSource(path) => write!(f, "file:{}", path.display()),
            Self::Device(path) => write!(f, "device:{}", path.display()),
            Self::NetworkDriver(driver) => write!(f, "network-driver:{driver}"),
            Self::Namespace { kind, mode } => write!(f, "{}:{mode}", kind.as_str()),
            Self::DeviceCgroupRule(rule) => write!(f, "device-cgroup-rule:{rule}"),
            Self::SecurityOpt(opt) => write!(f, "security-opt:{opt}"),
            Self::Runtime(name) => write!(f, "runtime:{name}"),
            Self::CgroupParent(name) => write!(f, "cgroup-parent:{name}"),
            Self::VolumesFrom(name) => write!(f, "volumes-from:{name}"),
            Self::Link(name) => write!(f, "link:{name}"),
            Self::DeviceRequests => write!(f, "device-requests"),
            Self::OomProtection => write!(f, "oom-protection"),
        }
    }
}

/// Why a text is not a grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a privilege; write privileged, network:host, network:container:NAME, \
     cap:NAME, cap:ALL, bind:/PATH, bind:/PATH:ro, env_file:/PATH, device:/PATH, \
     network-driver:NAME, pid:host, ipc:host, uts:host, userns:host, cgroup:host, \
     pid:container:NAME, ipc:container:NAME, device-cgroup-rule:RULE, \
     security-opt:NAME=VALUE, runtime:NAME, cgroup-parent:NAME, volumes-from:NAME, link:NAME, file:/PATH, device-requests or oom-protection"
)]
pub struct ParseError {
    /// The text.
    pub text: String,
}

impl FromStr for Grant {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseError {
            text: text.to_owned(),
        };
        let absolute = |path: &str| {
            let path = PathBuf::from(path);
            path.is_absolute().then_some(path).ok_or_else(bad)
        };
        let name = |name: &str| {
            let ok = !name.is_empty() && !name.chars().any(char::is_whitespace);
            ok.then(|| name.to_owned()).ok_or_else(bad)
        };
        let text = text.trim();
        match text {
            "privileged" => return Ok(Self::Privileged),
            "device-requests" => return Ok(Self::DeviceRequests),
            "oom-protection" => return Ok(Self::OomProtection),
            _ => {}
        }
        let (kind, rest) = text.split_once(':').ok_or_else(bad)?;
        match kind {
            "network" if rest == "host" || rest.starts_with("container:") => {
                Ok(Self::Network(name(rest)?))
            }
            "cap" => Ok(Self::Capability(normalize_capability(&name(rest)?))),
            "bind" => {
                let (path, read_only) = match rest.strip_suffix(":ro") {
                    Some(path) => (path, true),
                    None => (rest, false),
                };
                Ok(Self::Bind {
                    path: absolute(path)?,
                    read_only,
                })
            }
            "env_file" => Ok(Self::EnvFile(absolute(rest)?)),
            "file" => Ok(Self::FileSource(absolute(rest)?)),
            "device" => Ok(Self::Device(absolute(rest)?)),
            "network-driver" => Ok(Self::NetworkDriver(name(rest)?)),
            "volumes-from" => Ok(Self::VolumesFrom(name(rest)?)),
            "link" => Ok(Self::Link(name(rest)?)),
            "device-cgroup-rule" if !rest.trim().is_empty() => {
                Ok(Self::DeviceCgroupRule(rest.trim().to_owned()))
            }
            "security-opt" if rest.contains('=') => Ok(Self::SecurityOpt(name(rest)?)),
            "runtime" => Ok(Self::Runtime(name(rest)?)),
            "cgroup-parent" => Ok(Self::CgroupParent(name(rest)?)),
            kind => {
                let kind = NamespaceKind::ALL
                    .into_iter()
                    .find(|k| k.as_str() == kind)
                    .ok_or_else(bad)?;
                let shared = matches!(kind, NamespaceKind::Pid | NamespaceKind::Ipc)
                    && rest.starts_with("container:");
                if rest != "host" && !shared {
                    return Err(bad());
                }
                Ok(Self::Namespace {
                    kind,
                    mode: name(rest)?,
                })
            }
        }
    }
}

impl TryFrom<String> for Grant {
    type Error = ParseError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Grant> for String {
    fn from(grant: Grant) -> Self {
        grant.to_string()
    }
}

/// A capability as Docker reads it: upper case, without the `CAP_` prefix.
pub fn normalize_capability(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map_or(upper.clone(), str::to_owned)
}

/// A grant a project asks for, with every place that asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Privilege {
    /// What it gives.
    pub grant: Grant,
    /// Where the project asks for it (file, line, key), in file order.
    pub origins: Vec<Origin>,
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.grant, self.grant.describe())
    }
}
