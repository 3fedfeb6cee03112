//! `composectl policy show [PROJECT]` and `composectl policy approve PROJECT`, and the
//! text both (and `validate`, `plan`) print about a project's privileges ([`render`]).
//!
//! Both load the desired directory as the controller does. `approve` records what the
//! project's files ask for now as approved (pinned policy), then asks a running
//! controller, over its control socket, to reload at once; without one the record is
//! read at the controller's next start.

use crate::{errln, out, outln};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use super::guard::{Approved, Assessment, Guard, Settings};
use super::{Error, FirstSight, Mode, Record, RecordedBy, Result, file};
use crate::cli::{DesiredArgs, PolicyArgs, PolicyCommand};
use crate::clock;
use crate::control::{self, Request, Response};
use crate::desired::{self, HostEnv, LoadReport};
use crate::model::labels::DEFAULT_INSTANCE;
use crate::state::StateDir;
use crate::timefmt;

/// Exit code: something failed.
const EXIT_ERROR: u8 = 1;

/// The guard settings of a command: the policy flags of `desired`, pinning first
/// deployments when `pin`.
pub fn settings(desired: &DesiredArgs, instance: &str, state_dir: &Path, pin: bool) -> Settings {
    let mut approve = String::from("composectl");
    if instance != DEFAULT_INSTANCE {
        let _ = write!(approve, " --instance {instance}");
    }
    if state_dir != Path::new(control::DEFAULT_STATE_DIR) {
        let _ = write!(approve, " --state-dir {}", state_dir.display());
    }
    approve.push_str(" policy approve");
    if desired.desired != Path::new("/srv/desired") {
        let dir = std::path::absolute(&desired.desired).unwrap_or_else(|_| desired.desired.clone());
        let _ = write!(approve, " --desired {}", dir.display());
    }
    Settings {
        mode: desired.policy,
        file: desired.policy_file.clone(),
        pin,
        approve_command: approve,
    }
}

/// Checks the policy file of `desired` (it exists, parses, lies outside the desired
/// directory), so a command fails at its start rather than holding every project.
pub fn check_file(desired: &DesiredArgs) -> Result<()> {
    match &desired.policy_file {
        Some(path) => file::load(path, &desired.desired).map(|_| ()),
        None => Ok(()),
    }
}

/// Runs `policy ...`.
pub async fn run(args: PolicyArgs, instance: &str, state_dir: &Path) -> ExitCode {
    let result = match args.command {
        PolicyCommand::Show(show) => {
            let settings = settings(&show.desired, instance, state_dir, false);
            let state = StateDir::new(state_dir, instance);
            self::show(
                &show.desired,
                settings,
                state,
                show.project.as_deref(),
                show.json,
            )
        }
        PolicyCommand::Approve(approve) => {
            let settings = settings(&approve.desired, instance, state_dir, false);
            let state = StateDir::new(state_dir, instance);
            match self::approve(&approve.desired, settings, &state, &approve.project) {
                Ok(text) => {
                    out!("{text}");
                    outln!("{}", reload(state_dir, instance).await);
                    Ok(true)
                }
                Err(err) => Err(err),
            }
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_ERROR),
        Err(err) => {
            errln!("error: {err}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Loads the desired directory of `desired`.
fn load(desired: &DesiredArgs) -> Result<LoadReport> {
    check_file(desired)?;
    Ok(desired::load_dir_with(
        &desired.desired,
        &HostEnv,
        &desired.limits(),
    )?)
}

/// `policy show`: prints every project's (or `only`'s) privileges; `Ok(false)` when one
/// is held.
fn show(
    desired: &DesiredArgs,
    settings: Settings,
    state: StateDir,
    only: Option<&str>,
    json: bool,
) -> Result<bool> {
    let mut report = load(desired)?;
    if let Some(project) = only.filter(|p| !report.projects.contains_key(*p)) {
        return Err(Error::UnknownProject {
            project: project.to_owned(),
            desired: desired.desired.clone(),
        });
    }
    report
        .projects
        .retain(|name, _| only.is_none_or(|p| p == name));
    let guard = Guard::new(settings, &desired.desired, state);
    let assessed = guard.apply(&mut report, now_ms(), &BTreeSet::new());
    if json {
        let text = serde_json::to_string_pretty(&assessed).expect("assessments serialize");
        outln!("{text}");
    } else {
        for (project, load) in &report.projects {
            match assessed.get(project) {
                Some(assessment) => {
                    out!("{}", render(project, assessment, guard.settings().mode))
                }
                None => {
                    let reason = load
                        .as_ref()
                        .err()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    outln!("{project}: does not load, so its privileges are unknown:\n{reason}");
                }
            }
        }
    }
    Ok(!assessed.values().any(Assessment::is_held))
}

/// `policy approve`: records what `project` asks for now; the text to print.
pub fn approve(
    desired: &DesiredArgs,
    settings: Settings,
    state: &StateDir,
    project: &str,
) -> Result<String> {
    let mut report = load(desired)?;
    let Some(load) = report.projects.remove(project) else {
        return Err(Error::UnknownProject {
            project: project.to_owned(),
            desired: desired.desired.clone(),
        });
    };
    let loaded = load.map_err(|err| Error::NotLoaded {
        project: project.to_owned(),
        reason: err.to_string(),
    })?;
    let mode = settings.mode;
    let guard = Guard::new(settings, &desired.desired, state.clone());
    let policy_file = guard.read_file();
    let first = FirstSight::Trusted;
    let (assessment, _) = guard.assess(project, &loaded, &policy_file, now_ms(), first);
    if mode == Mode::Strict {
        let mut lines = format!("{project}:\n");
        for privilege in &assessment.privileges {
            let _ = writeln!(lines, "  - {}", privilege.grant);
        }
        return Err(Error::Strict {
            project: project.to_owned(),
            file: guard.settings().file.clone(),
            lines,
        });
    }
    let before = match &assessment.approved {
        Approved::Recorded { record, .. } => record.privileges.clone(),
        _ => Vec::new(),
    };
    let record = Record {
        recorded_by: RecordedBy::Approval,
        recorded_at: clock::now_secs(),
        privileges: assessment
            .privileges
            .iter()
            .map(|p| p.grant.clone())
            .collect(),
    };
    state.save_privileges(project, &record)?;
    let mut text = format!(
        "approved for project {project} ({}):\n",
        state.privileges_path(project).display()
    );
    if assessment.privileges.is_empty() {
        text.push_str("  no privileges\n");
    }
    for privilege in &assessment.privileges {
        let new = if before.iter().any(|g| g.covers(&privilege.grant)) {
            ""
        } else {
            "  (new)"
        };
        let _ = writeln!(text, "  {privilege}{new}");
    }
    for gone in before.iter().filter(|g| !record.privileges.contains(g)) {
        let _ = writeln!(
            text,
            "  no longer approved: {gone} (the files do not ask for it)"
        );
    }
    Ok(text)
}

/// Asks the running controller to reload now; what happened, in words.
async fn reload(state_dir: &Path, instance: &str) -> String {
    let socket = control::socket_path(state_dir, instance);
    match control::client::request(&socket, &Request::Reload).await {
        Ok(Response::Done { .. }) => {
            "the running composectl reloads the desired directory now".to_owned()
        }
        Ok(Response::Error { message }) => format!(
            "the running composectl did not reload ({message}); it reads the approval at its next resync"
        ),
        Ok(_) => "the running composectl reads the approval at its next resync".to_owned(),
        Err(err) => {
            format!("no running composectl was told ({err}); it reads the approval when it reloads")
        }
    }
}

/// A project's privileges in words: each with what it gives, where the files ask for it,
/// and whether it is held; then what the host allows it.
pub fn render(project: &str, assessment: &Assessment, mode: Mode) -> String {
    let mut out = String::new();
    let state = if assessment.is_held() { "HELD" } else { "ok" };
    let _ = writeln!(
        out,
        "{project}: privileges {state} ({} policy; {})",
        mode.as_str(),
        approved_text(&assessment.approved)
    );
    if assessment.privileges.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for privilege in &assessment.privileges {
        let mark = if assessment.holds(&privilege.grant) {
            "held"
        } else {
            "ok  "
        };
        let _ = writeln!(out, "  {mark} {privilege}");
        for origin in &privilege.origins {
            let _ = writeln!(out, "         at {origin}");
        }
    }
    out
}

fn approved_text(approved: &Approved) -> String {
    let list = |grants: &[super::Grant]| -> String {
        if grants.is_empty() {
            "nothing".to_owned()
        } else {
            grants
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    match approved {
        Approved::Recorded {
            record,
            policy_file,
        } => {
            let how = match record.recorded_by {
                RecordedBy::FirstDeploy => "pinned at its first deployment",
                RecordedBy::Approval => "approved",
            };
            let mut text = format!(
                "{how} {}: {}",
                timefmt::rfc3339(record.recorded_at),
                list(&record.privileges)
            );
            if !policy_file.is_empty() {
                let _ = write!(text, "; the policy file adds {}", list(policy_file));
            }
            text
        }
        Approved::Unrecorded => "no record yet: pinned as it is at the first start of this \
                                 instance or when it already runs, otherwise it needs \
                                 `policy approve` for any privilege"
            .to_owned(),
        Approved::PolicyFile { allowed } => format!("the policy file allows {}", list(allowed)),
        Approved::Unreadable { error } => format!("record unusable: {error}"),
    }
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    i64::try_from(clock::now_secs())
        .unwrap_or(i64::MAX)
        .saturating_mul(1000)
}

/// The assessments of `report` without changing anything (for `validate`, which does not
/// know what runs):
/// held projects become failing loads in `report`.
pub fn assess_report(
    report: &mut LoadReport,
    desired: &DesiredArgs,
    instance: &str,
    state_dir: &Path,
) -> BTreeMap<String, Assessment> {
    let settings = settings(desired, instance, state_dir, false);
    let guard = Guard::new(
        settings,
        &desired.desired,
        StateDir::new(state_dir, instance),
    );
    guard.apply(report, now_ms(), &BTreeSet::new())
}
