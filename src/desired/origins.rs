//! Where the parts of a project that concern the host are written: the file, line and key
//! of `privileged`, each `cap_add` entry, each mount and network of a service, and every
//! host path the project reads (env files, `.env`, volume devices, secret and config files) as resolved by
//! [`super::hostpath`].
//!
//! The loader fills [`Origins`] while it converts a project ([`super::Loaded::origins`]);
//! [`crate::policy`] reads it to name where each privilege comes from. It lives beside the
//! spec, never in it: moving a line changes no spec, no config hash and no revision.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::hostpath::Root;
use super::yaml::Node;

/// A place in a compose (or env) file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Key path, for example `services.web.cap_add[0]`.
    pub key: String,
}

impl Origin {
    /// The place of `node`, reached by `key`.
    pub fn at(node: &Node, key: &str) -> Self {
        Self {
            file: node.file.to_path_buf(),
            line: Some(node.line),
            key: key.to_owned(),
        }
    }

    /// A whole file (`.env`), named by `key`.
    pub fn file(file: &Path, key: &str) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            key: key.to_owned(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.key)
    }
}

/// How a project uses a host path other than a service's bind mount (those are in the
/// spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPathUse {
    /// A service's `env_file` (its variables go into the containers).
    EnvFile,
    /// The project's `.env` (its variables are interpolated into the compose file).
    DotEnv,
    /// The `file:` of a top-level secret or config (its content is mounted into the
    /// containers that use it).
    FileSource,
    /// A top-level volume's `driver_opts.device` (local driver): with `o: bind` a bind
    /// mount, otherwise a device or file system mounted from the host.
    VolumeDevice {
        /// `o` holds `bind`.
        bind: bool,
        /// `o` holds `ro`.
        read_only: bool,
    },
}

/// One host path a project reads or mounts besides its bind mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPath {
    /// Absolute; resolved by [`Root::resolve`] (symlinks inside the desired directory
    /// followed).
    pub path: PathBuf,
    /// How it is used.
    pub usage: HostPathUse,
    /// Where it is named.
    pub origin: Origin,
}

/// Where the parts of one project that concern the host are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins {
    /// The desired directory the project was loaded from.
    pub root: Root,
    /// Key paths (`services.web.privileged`) to their places.
    keys: BTreeMap<String, Origin>,
    /// (service, mount target) to the place of the mount that won that target.
    mounts: BTreeMap<(String, String), Origin>,
    /// (service, network key) to the place that joins the service to it.
    networks: BTreeMap<(String, String), Origin>,
    /// Env files, `.env` and volume devices.
    pub host_paths: Vec<HostPath>,
}

impl Origins {
    /// Origins of a project under `root`, nothing marked yet.
    pub fn new(root: Root) -> Self {
        Self {
            root,
            ..Self::default()
        }
    }

    /// Records that `key` is written at `node`.
    pub fn mark(&mut self, node: &Node, key: &str) {
        self.keys.insert(key.to_owned(), Origin::at(node, key));
    }

    /// The place of `key`, if marked.
    pub fn key(&self, key: &str) -> Option<&Origin> {
        self.keys.get(key)
    }

    /// Records that the mount of `service` at `target` is written at `node` (`key`); a
    /// later mount of the same target replaces it, as in the spec.
    pub fn mark_mount(&mut self, service: &str, target: &str, node: &Node, key: &str) {
        let at = Origin::at(node, key);
        self.mounts
            .insert((service.to_owned(), target.to_owned()), at);
    }

    /// The place of the mount of `service` at `target`.
    pub fn mount(&self, service: &str, target: &str) -> Option<&Origin> {
        self.mounts.get(&(service.to_owned(), target.to_owned()))
    }

    /// Records that `service` joins network `network` at `node` (`key`).
    pub fn mark_network(&mut self, service: &str, network: &str, node: &Node, key: &str) {
        let at = Origin::at(node, key);
        self.networks
            .insert((service.to_owned(), network.to_owned()), at);
    }

    /// The place where `service` joins `network`.
    pub fn network(&self, service: &str, network: &str) -> Option<&Origin> {
        self.networks.get(&(service.to_owned(), network.to_owned()))
    }
}
