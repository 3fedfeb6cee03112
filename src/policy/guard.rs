//! Applying the host policy to a load of the desired directory.
//!
//! [`Guard::apply`] goes through every project that loaded: it computes its privileges
//! ([`super::extract`]), reads what the host allows it (its record in the state directory,
//! the policy file) and [`super::judge`]s. A project asking for more is *held*: its load
//! becomes a failing one ([`crate::desired::Error::Invalid`], one located diagnostic per
//! place that asks for a new privilege, saying how to approve it), so the controller keeps
//! its last good spec and changes nothing of it, exactly as for a broken file. In pinned
//! mode a project without a record has its privileges recorded when it is trusted
//! ([`FirstSight`]: the first start with no record at all, or it already runs) or asks for
//! nothing beyond the policy file (when the guard pins: `run` and `apply`; `plan`,
//! `validate` and `policy show` only look); a new project asking for more is held.
//!
//! The records and the policy file are read again at every load, so `composectl policy
//! approve` and an edited policy file take effect at the next reload (`policy approve`
//! asks a running daemon for one at once). A policy file that turns unreadable keeps its
//! last good content, and the error is reported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;

use super::file::{self, PolicyFile};
use super::{FirstSight, Grant, Mode, Privilege, Record, RecordedBy, extract, judge};
use crate::desired::{self, Diagnostic, LoadReport, Loaded};
use crate::state::{self, StateDir};
use crate::sync;

/// How the host policy is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Pinned (default) or strict.
    pub mode: Mode,
    /// The policy file, if any.
    pub file: Option<PathBuf>,
    /// Record the privileges of projects seen for the first time (pinned mode): true for
    /// the commands that deploy (`run`, `apply`), false for those that only look.
    pub pin: bool,
    /// The command that approves a project's privileges, without the project
    /// (`composectl policy approve`, with `--instance` and `--state-dir` when they are not
    /// the defaults), for the messages of held projects.
    pub approve_command: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Pinned,
            file: None,
            pin: true,
            approve_command: "composectl policy approve".to_owned(),
        }
    }
}

/// What the host allows a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Approved {
    /// Pinned mode: the project's record (plus the policy file's allowances).
    Recorded {
        /// The record.
        record: Record,
        /// What the policy file adds.
        policy_file: Vec<Grant>,
    },
    /// Pinned mode, no record yet and none written by this command (it only looks, or the
    /// project is held as new).
    Unrecorded,
    /// Strict mode: the policy file's allowances.
    PolicyFile {
        /// What it allows the project.
        allowed: Vec<Grant>,
    },
    /// The record cannot be read or written: only the policy file's allowances count.
    Unreadable {
        /// Why.
        error: String,
    },
}

/// One project's privileges as the guard judged them at the latest load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// Everything the project's files ask for.
    pub privileges: Vec<Privilege>,
    /// What they ask for beyond what the host allows: the project is held while this is
    /// not empty.
    pub held: Vec<Privilege>,
    /// What the host allows it.
    pub approved: Approved,
}

impl Assessment {
    /// True when the project is held.
    pub fn is_held(&self) -> bool {
        !self.held.is_empty()
    }

    /// True when `grant` is among the held privileges.
    pub fn holds(&self, grant: &Grant) -> bool {
        self.held.iter().any(|p| &p.grant == grant)
    }
}

/// The policy file as last read.
#[derive(Debug, Default)]
struct FileState {
    /// The last content that could be read (kept when the file turns unreadable).
    good: PolicyFile,
    /// The error of the latest read, if it failed.
    error: Option<String>,
}

/// Applies the host policy to loads of one desired directory.
#[derive(Debug)]
pub struct Guard {
    settings: Settings,
    desired_dir: PathBuf,
    state: StateDir,
    file: Mutex<FileState>,
}

impl Guard {
    /// A guard for `desired_dir` keeping its records in `state`.
    pub fn new(settings: Settings, desired_dir: impl Into<PathBuf>, state: StateDir) -> Self {
        Self {
            settings,
            desired_dir: desired_dir.into(),
            state,
            file: Mutex::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The latest error reading the policy file, if it failed.
    pub fn file_error(&self) -> Option<String> {
        self.lock_file().error.clone()
    }

    /// Judges every project of `report` that loaded, holding those that ask for more than
    /// the host allows (their load becomes an error); `now_ms` stamps new records.
    /// Returns the assessment of every project judged.
    ///
    /// `running` are the projects with containers on the engine (empty when unknown): a
    /// project without a record that already runs, like every project at the first start
    /// with no record at all, is pinned as it is ([`FirstSight::Trusted`]).
    pub fn apply(
        &self,
        report: &mut LoadReport,
        now_ms: i64,
        running: &BTreeSet<String>,
    ) -> BTreeMap<String, Assessment> {
        let policy_file = self.read_file();
        let bootstrap = !self.state.has_privilege_records();
        let mut judged = BTreeMap::new();
        for (project, load) in &mut report.projects {
            let Ok(loaded) = load else { continue };
            let first = if bootstrap || running.contains(project) {
                FirstSight::Trusted
            } else {
                FirstSight::New
            };
            let (assessment, problems) = self.assess(project, loaded, &policy_file, now_ms, first);
            if !problems.is_empty() {
                *load = Err(desired::Error::Invalid(problems));
            }
            judged.insert(project.clone(), assessment);
        }
        judged
    }

    /// Judges one loaded project (`first` says whether to trust it when it has no
    /// record): its assessment, and the diagnostics that hold it (none when it may run).
    pub fn assess(
        &self,
        project: &str,
        loaded: &Loaded,
        policy_file: &PolicyFile,
        now_ms: i64,
        first: FirstSight,
    ) -> (Assessment, Vec<Diagnostic>) {
        let privileges = extract::privileges(&loaded.spec, &loaded.origins);
        let allowed = policy_file.allowed(project).to_vec();
        let mut first = first;
        let (approved, recorded, record_error) = match self.settings.mode {
            Mode::Strict => (
                Approved::PolicyFile {
                    allowed: allowed.clone(),
                },
                None,
                None,
            ),
            Mode::Pinned => match self.state.load_privileges(project) {
                Ok(Some(record)) => {
                    let grants = record.privileges.clone();
                    let approved = Approved::Recorded {
                        record,
                        policy_file: allowed.clone(),
                    };
                    (approved, Some(grants), None)
                }
                Ok(None) => (Approved::Unrecorded, None, None),
                // A command that only looks (`validate` as a user who cannot read the
                // state directory) cannot tell what is new; the daemon holds instead.
                Err(err @ state::Error::Io { .. }) if !self.settings.pin => {
                    first = FirstSight::Trusted;
                    let approved = Approved::Unreadable {
                        error: record_error_text(project, &err),
                    };
                    (approved, None, None)
                }
                Err(err) => {
                    let error = record_error_text(project, &err);
                    let approved = Approved::Unreadable {
                        error: error.clone(),
                    };
                    (approved, Some(Vec::new()), Some(error))
                }
            },
        };
        let verdict = judge(
            self.settings.mode,
            &privileges,
            recorded.as_deref(),
            &allowed,
            first,
        );
        let new_project = self.settings.mode == Mode::Pinned
            && recorded.is_none()
            && record_error.is_none()
            && !verdict.held.is_empty();
        let mut assessment = Assessment {
            held: verdict.held,
            privileges,
            approved,
        };
        if verdict.pin && self.settings.pin {
            let record = Record {
                recorded_by: RecordedBy::FirstDeploy,
                recorded_at: u64::try_from(now_ms / 1000).unwrap_or(0),
                privileges: assessment
                    .privileges
                    .iter()
                    .map(|p| p.grant.clone())
                    .collect(),
            };
            match self.state.save_privileges(project, &record) {
                Ok(()) => {
                    assessment.approved = Approved::Recorded {
                        record,
                        policy_file: allowed,
                    };
                }
                Err(err) => {
                    let error = record_error_text(project, &err);
                    let only_file = judge(
                        Mode::Strict,
                        &assessment.privileges,
                        None,
                        &allowed,
                        FirstSight::New,
                    );
                    assessment.held = only_file.held;
                    let problems = self.diagnostics(project, &assessment, Some(&error), false);
                    assessment.approved = Approved::Unreadable { error };
                    return (assessment, problems);
                }
            }
        }
        let problems = self.diagnostics(project, &assessment, record_error.as_deref(), new_project);
        (assessment, problems)
    }

    /// The policy file's current content (the last good one when it cannot be read now;
    /// empty when there is none).
    pub fn read_file(&self) -> PolicyFile {
        let Some(path) = &self.settings.file else {
            return PolicyFile::default();
        };
        let mut state = self.lock_file();
        match file::load(path, &self.desired_dir) {
            Ok(read) => {
                state.good = read;
                state.error = None;
            }
            Err(err) => state.error = Some(err.to_string()),
        }
        state.good.clone()
    }

    /// One diagnostic per place that asks for a held privilege (none when nothing is
    /// held); `record_error` explains why the record did not count.
    fn diagnostics(
        &self,
        project: &str,
        assessment: &Assessment,
        record_error: Option<&str>,
        new_project: bool,
    ) -> Vec<Diagnostic> {
        let remedy = self.remedy(project, record_error, new_project);
        let mut out = Vec::new();
        for privilege in &assessment.held {
            for origin in &privilege.origins {
                out.push(Diagnostic {
                    file: origin.file.clone(),
                    line: origin.line,
                    column: None,
                    key: origin.key.clone(),
                    message: format!(
                        "asks for `{}` ({}), {remedy}",
                        privilege.grant,
                        privilege.grant.describe()
                    ),
                });
            }
        }
        out
    }

    /// What a held project's messages say after the privilege.
    fn remedy(&self, project: &str, record_error: Option<&str>, new_project: bool) -> String {
        let held = "held: the project keeps running as it is";
        match (self.settings.mode, &self.settings.file, record_error) {
            (Mode::Pinned, _, Some(error)) => {
                format!("which cannot be checked against the project's record ({error}); {held}")
            }
            (Mode::Pinned, _, None) if new_project => format!(
                "and project {project} is new on this host (no record, no container): held, \
                 nothing of it is deployed; approve it with `{} {project}` (or remove the \
                 privilege)",
                self.settings.approve_command
            ),
            (Mode::Pinned, _, None) => format!(
                "which this host has not approved for project {project}; {held}; approve it \
                 with `{} {project}` (or revert the change)",
                self.settings.approve_command
            ),
            (Mode::Strict, Some(path), _) => format!(
                "which the policy file {} does not allow project {project}; {held}; allow it \
                 there under `{project}:` (or revert the change)",
                path.display()
            ),
            (Mode::Strict, None, _) => format!(
                "which the strict policy does not allow: there is no policy file \
                 (--policy-file); {held}"
            ),
        }
    }

    fn lock_file(&self) -> std::sync::MutexGuard<'_, FileState> {
        sync::lock(&self.file)
    }
}

/// A record error in words.
fn record_error_text(project: &str, err: &state::Error) -> String {
    match err {
        state::Error::Corrupt { path, source } => format!(
            "{} is not a valid privilege record ({source}); `composectl policy approve \
             {project}` writes it afresh",
            path.display()
        ),
        other => other.to_string(),
    }
}
