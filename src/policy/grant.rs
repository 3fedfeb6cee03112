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
//! | `device:/PATH`                | a host device or file system mounted by a volume        |
//! | `network-driver:NAME`         | a network of a driver other than `bridge` (`macvlan` puts containers on the LAN) |
//! | `device-requests`             | host devices a driver hands out (`gpus`, reserved `devices`) |
//! | `oom-protection`              | shelter from the kernel's OOM killer (`oom_kill_disable`, a negative `oom_score_adj`) |
//!
//! A grant *covers* another that gives no more ([`Grant::covers`]): `privileged` covers
//! every `cap:`, `cap:ALL` every capability, `bind:/srv` covers `bind:/srv/media:ro` and
//! `env_file:/srv/app.env`, `env_file:/etc/app` covers the files under it.

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
    /// A host device or file system a local volume mounts (`driver_opts.device` without
    /// `o: bind`).
    Device(PathBuf),
    /// A network driver other than `bridge`.
    NetworkDriver(String),
    /// Device requests: `gpus` or `deploy.resources.reservations.devices`.
    DeviceRequests,
    /// `oom_kill_disable: true` or a negative `oom_score_adj`: under memory pressure the
    /// host's other processes are killed first.
    OomProtection,
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
            Self::Device(_) => "a host device or file system, mounted by a volume".into(),
            Self::NetworkDriver(driver) if driver == "macvlan" || driver == "ipvlan" => {
                format!("a {driver} network: containers directly on the host's network")
            }
            Self::NetworkDriver(driver) => format!("a network of the `{driver}` driver"),
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
            Self::Device(path) => write!(f, "device:{}", path.display()),
            Self::NetworkDriver(driver) => write!(f, "network-driver:{driver}"),
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
     network-driver:NAME, device-requests or oom-protection"
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
            "device" => Ok(Self::Device(absolute(rest)?)),
            "network-driver" => Ok(Self::NetworkDriver(name(rest)?)),
            _ => Err(bad()),
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
