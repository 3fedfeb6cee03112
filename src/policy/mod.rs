//! What a project may do to the host is decided on the host, never by a commit.
//!
//! Whoever can push to the desired repository decides what runs; this module keeps them
//! from deciding what it may do to the host: privileged mode, the host's namespaces,
//! capabilities beyond Docker's defaults, the Docker socket, `/`, and any host path outside
//! the desired directory. Start at [`guard::Guard`]:
//!
//! 1. [`extract::privileges`] computes, purely, what a loaded project asks for: a list of
//!    [`grant::Privilege`]s, each a [`grant::Grant`] (`privileged`, `cap:SYS_ADMIN`,
//!    `bind:/srv/media`, ...) with the file, line and key of every place that asks for it.
//!    The loader has already resolved every host path ([`crate::desired::hostpath`]): a
//!    symlink committed inside the desired directory counts where it leads.
//! 2. [`judge`] compares them, purely, with what the host allows the project: in
//!    [`Mode::Pinned`] (the default) the privileges recorded when the project was first
//!    deployed on this host (or last approved with `composectl policy approve PROJECT`),
//!    plus the policy file's; in [`Mode::Strict`] only the [`file::PolicyFile`]'s. A
//!    project without a record is pinned as it is only when it predates the records
//!    ([`FirstSight::Trusted`]: the first start of the instance, or it already runs) or
//!    asks for nothing; a project a commit adds later asking for privileges is held.
//! 3. [`guard::Guard`] applies the verdicts to a load of the desired directory: a project
//!    that asks for more than it is allowed is *held*, which is a failing load (its last
//!    good spec keeps running, nothing of it changes), with one located error per new
//!    privilege that says how to approve it. It records first deployments
//!    (`<state-dir>/<instance>/<project>/privileges.json`, written atomically, mode 0600).
//! 4. [`command`] runs `composectl policy show` and `composectl policy approve`.
//!
//! Existing stacks keep working on upgrade: at the first start with no record, every
//! project is pinned with what it has. Strict mode ignores the records altogether.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::desired;

pub mod command;
pub mod container;
pub mod extract;
pub mod file;
pub mod grant;
pub mod guard;
mod references;

#[cfg(test)]
mod tests;

pub use grant::{Grant, Privilege};
pub use guard::{Assessment, Guard, Settings};

/// Where a host's allowances come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A project keeps the privileges it had when this host first deployed it (and those
    /// approved since, and those the policy file allows); more is held until
    /// `composectl policy approve PROJECT`.
    #[default]
    Pinned,
    /// A project has only the privileges the policy file allows it; anything else is held.
    Strict,
}

impl Mode {
    /// `pinned` or `strict`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pinned => "pinned",
            Self::Strict => "strict",
        }
    }
}

/// How a record came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedBy {
    /// The project's first deployment on this host (or the first since the upgrade that
    /// introduced the records).
    FirstDeploy,
    /// `composectl policy approve`.
    Approval,
}

/// The privileges the host approved for one project (pinned mode), as kept in
/// `<state-dir>/<instance>/<project>/privileges.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// How they were approved.
    pub recorded_by: RecordedBy,
    /// When, in seconds since the epoch.
    pub recorded_at: u64,
    /// What the project may have.
    pub privileges: Vec<Grant>,
}

/// What judging a project's privileges decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The privileges not covered by what the host allows: the project is held when
    /// there is any.
    pub held: Vec<Privilege>,
    /// The project has no record yet (pinned mode) and is not held: record its privileges
    /// now.
    pub pin: bool,
}

/// Whether a project without a record (pinned mode) is trusted with what it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstSight {
    /// It deployed before this host kept records: the first start of this instance with
    /// no record at all (installing or upgrading composectl), or the project already has
    /// containers on the engine. Its privileges are pinned as they are.
    Trusted,
    /// It appears now, from a commit: it gets what the policy file allows, anything else
    /// is held until `composectl policy approve`. (A project asking for nothing is pinned
    /// to nothing.)
    New,
}

/// Judges `privileges` under `mode`: `recorded` is the project's record (pinned mode;
/// `None` when it has none, then `first` says whether to trust it), `allowed` what the
/// policy file allows it. Pure.
pub fn judge(
    mode: Mode,
    privileges: &[Privilege],
    recorded: Option<&[Grant]>,
    allowed: &[Grant],
    first: FirstSight,
) -> Verdict {
    let uncovered = |approved: &[&[Grant]]| -> Vec<Privilege> {
        privileges
            .iter()
            .filter(|p| {
                !approved
                    .iter()
                    .flat_map(|set| set.iter())
                    .any(|g| g.covers(&p.grant))
            })
            .cloned()
            .collect()
    };
    match (mode, recorded) {
        (Mode::Strict, _) => Verdict {
            held: uncovered(&[allowed]),
            pin: false,
        },
        (Mode::Pinned, None) => {
            let held = match first {
                FirstSight::Trusted => Vec::new(),
                FirstSight::New => uncovered(&[allowed]),
            };
            Verdict {
                pin: held.is_empty(),
                held,
            }
        }
        (Mode::Pinned, Some(recorded)) => Verdict {
            held: uncovered(&[recorded, allowed]),
            pin: false,
        },
    }
}

/// Errors of the host policy: its file, its records, and the `policy` commands.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy file lies inside the desired directory, where a commit could change it.
    #[error(
        "the policy file {} is inside the desired directory {}: a commit could change it; keep it on the host (for example /etc/composectl/policy.yaml)",
        path.display(), desired.display()
    )]
    InsideDesired {
        /// The policy file (as named).
        path: PathBuf,
        /// The desired directory.
        desired: PathBuf,
    },
    /// The policy file cannot be read: missing, not a regular file, too large, not UTF-8.
    #[error("policy file {0}")]
    Read(#[from] desired::read::Error),
    /// The policy file is not what [`mod@file`] describes; the message names the line.
    #[error("policy file {}:{line}: {message}", path.display())]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// A record of the state directory cannot be read or written.
    #[error(transparent)]
    Record(#[from] crate::state::Error),
    /// The desired directory cannot be read.
    #[error(transparent)]
    Load(#[from] desired::Error),
    /// The named project is not in the desired directory.
    #[error("no project `{project}` in {}; `composectl policy show` lists them", desired.display())]
    UnknownProject {
        /// The name asked for.
        project: String,
        /// The desired directory.
        desired: PathBuf,
    },
    /// The project fails to load for another reason than its privileges: there is
    /// nothing to approve until it loads.
    #[error(
        "project `{project}` does not load, so there is nothing to approve yet; fix it first:\n{reason}"
    )]
    NotLoaded {
        /// The project.
        project: String,
        /// Why it does not load.
        reason: String,
    },
    /// `policy approve` under the strict policy: only the policy file allows privileges.
    #[error("the policy is strict: approvals do not count; allow project `{project}` its privileges in the policy file{}:\n{lines}", file.as_ref().map(|f| format!(" {}", f.display())).unwrap_or_default())]
    Strict {
        /// The project.
        project: String,
        /// The policy file, if one is set.
        file: Option<PathBuf>,
        /// The lines to add.
        lines: String,
    },
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
