//! Human output of plans for `composectl plan`, in the manner of `nomad job plan`: one line
//! per action with a sign and its reason, the deferred replacements, then a summary.
//!
//! Signs: `+` create, `~` replace (or start again, or recreate a network), `-` remove, `>`
//! pull, build, tag or ensure, `…` wait, `!` deferred, held after a failure, or left as it is on
//! purpose (a note).
//! Only names, field names and image IDs are printed, never an environment value.

use std::fmt::{self, Write as _};
use std::iter::Sum;
use std::ops::AddAssign;
use std::time::Duration;

use crate::model::spec::DependsOn;

use super::{Action, Deferred, Held, Plan, TagPurpose};

/// Counts of what a plan (or several) changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Containers created.
    pub create: usize,
    /// Containers replaced.
    pub replace: usize,
    /// Containers removed.
    pub remove: usize,
    /// Containers the engine stopped, started again in place.
    pub start: usize,
    /// Replacements held back by crash backoff.
    pub deferred: usize,
    /// Containers the engine stopped, left to its restart policy for now.
    pub left_to_engine: usize,
    /// Networks recreated because their definition changed.
    pub networks: usize,
    /// Services whose changes are held after a failure (theirs or a dependency's).
    pub held: usize,
    /// Images built.
    pub build: usize,
}

impl Summary {
    /// The counts of one plan.
    pub fn of(plan: &Plan) -> Self {
        let count = |f: fn(&Action) -> bool| plan.actions.iter().filter(|a| f(a)).count();
        Self {
            create: count(|a| matches!(a, Action::Create { .. })),
            replace: count(|a| {
                matches!(a, Action::Replace { .. } | Action::ReplaceStartFirst { .. })
            }),
            remove: count(|a| matches!(a, Action::Remove { .. })),
            start: count(|a| matches!(a, Action::Start { .. })),
            networks: count(|a| matches!(a, Action::RecreateNetwork { .. })),
            deferred: plan
                .deferred
                .iter()
                .filter(|d| !d.is_left_to_engine())
                .count(),
            left_to_engine: plan
                .deferred
                .iter()
                .filter(|d| d.is_left_to_engine())
                .count(),
            held: plan.held.len(),
            build: count(|a| matches!(a, Action::Build { .. })),
        }
    }

    /// True when nothing is created, replaced, removed or started, no network is
    /// recreated and no image built.
    pub fn is_empty(&self) -> bool {
        self.create + self.replace + self.remove + self.start + self.networks + self.build == 0
    }
}

impl AddAssign for Summary {
    fn add_assign(&mut self, other: Self) {
        self.create += other.create;
        self.replace += other.replace;
        self.remove += other.remove;
        self.start += other.start;
        self.deferred += other.deferred;
        self.left_to_engine += other.left_to_engine;
        self.networks += other.networks;
        self.held += other.held;
        self.build += other.build;
    }
}

impl Sum for Summary {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |mut total, s| {
            total += s;
            total
        })
    }
}

impl<'a> Sum<&'a Plan> for Summary {
    fn sum<I: Iterator<Item = &'a Plan>>(iter: I) -> Self {
        iter.map(Summary::of).sum()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() && self.deferred + self.left_to_engine + self.held == 0 {
            return write!(f, "No changes. The host matches the desired state.");
        }
        if self.is_empty() {
            write!(f, "No changes now.")?;
        } else {
            write!(
                f,
                "Plan: {} to create, {} to replace, {} to remove",
                self.create, self.replace, self.remove
            )?;
            if self.start > 0 {
                write!(f, ", {} to start again", self.start)?;
            }
            match self.networks {
                0 => {}
                1 => write!(f, ", 1 network to recreate")?,
                n => write!(f, ", {n} networks to recreate")?,
            }
            match self.build {
                0 => {}
                1 => write!(f, ", 1 image to build")?,
                n => write!(f, ", {n} images to build")?,
            }
            write!(f, ".")?;
        }
        if self.deferred > 0 {
            write!(f, " {} deferred by crash backoff.", self.deferred)?;
        }
        if self.left_to_engine > 0 {
            write!(
                f,
                " {} left to the engine's restart policy for now.",
                self.left_to_engine
            )?;
        }
        match self.held {
            0 => {}
            1 => write!(f, " 1 service held after a failure.")?,
            n => write!(f, " {n} services held after a failure.")?,
        }
        Ok(())
    }
}

/// The output of `composectl plan` for one project: its lines, then the summary.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    write_lines(&mut out, plan, "");
    let _ = writeln!(out, "{}", Summary::of(plan));
    out
}

/// The output for several projects: each project's name and lines (or that it has no
/// changes), then one summary over all of them.
pub fn render_many(plans: &[Plan]) -> String {
    let mut out = String::new();
    for plan in plans {
        let _ = writeln!(out, "{}:", plan.project);
        let quiet = plan.deferred.is_empty() && plan.notes.is_empty() && plan.held.is_empty();
        if plan.actions.is_empty() && quiet {
            let _ = writeln!(out, "  no changes");
        }
        write_lines(&mut out, plan, "  ");
        out.push('\n');
    }
    let _ = writeln!(out, "{}", plans.iter().sum::<Summary>());
    out
}

impl fmt::Display for Plan {
    /// The same text as [`render`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self))
    }
}

/// One line per action then per deferred replacement, targets aligned.
fn write_lines(out: &mut String, plan: &Plan, indent: &str) {
    let lines: Vec<(&str, String, String)> = plan
        .actions
        .iter()
        .map(|a| action_line(&plan.project, a))
        .chain(
            plan.deferred
                .iter()
                .map(|d| deferred_line(&plan.project, d)),
        )
        .chain(plan.held.iter().map(held_line))
        .chain(
            plan.notes
                .iter()
                .map(|n| ("!", n.subject.clone(), n.text.clone())),
        )
        .collect();
    let width = lines.iter().map(|(_, t, _)| t.chars().count()).max();
    for (sign, target, what) in &lines {
        let width = width.unwrap_or(0);
        let _ = writeln!(out, "{indent}{sign} {target:<width$}  {what}");
    }
}

/// Sign, target and description of a service held after a failure.
fn held_line(held: &Held) -> (&'static str, String, String) {
    let changes = match held.actions {
        1 => "1 change".to_owned(),
        n => format!("{n} changes"),
    };
    let why = if held.service == held.waits_for {
        "its last change failed".to_owned()
    } else {
        format!("it waits for failed service {}", held.waits_for)
    };
    let retry = human_duration(held.retry_in);
    let what = format!("held: {why}; {changes} tried again in {retry}");
    ("!", format!("service {}", held.service), what)
}

/// Sign, target and description of one action.
fn action_line(project: &str, action: &Action) -> (&'static str, String, String) {
    match action {
        Action::Create {
            service,
            number,
            reason,
        } => (
            "+",
            default_name(project, service, *number),
            format!("create ({reason})"),
        ),
        Action::Replace {
            container, reason, ..
        } => ("~", container.name.clone(), format!("replace ({reason})")),
        Action::ReplaceStartFirst {
            container, reason, ..
        } => (
            "~",
            container.name.clone(),
            format!("replace start-first ({reason})"),
        ),
        Action::Start {
            container, reason, ..
        } => (
            "~",
            container.name.clone(),
            format!("start again ({reason})"),
        ),
        Action::Rename { container, name } => {
            ("~", container.name.clone(), format!("rename to {name}"))
        }
        Action::Remove { container, reason } => {
            ("-", container.name.clone(), format!("remove ({reason})"))
        }
        Action::PullImage { image } => (">", format!("image {image}"), "pull".to_owned()),
        Action::TagImage {
            reference,
            image_id,
            service,
            purpose,
        } => {
            let what = match purpose {
                TagPurpose::Rollback => format!("what {service}'s rollout rolls back to"),
                TagPurpose::Built => "built before from the current inputs; no build".to_owned(),
            };
            (
                ">",
                format!("image {reference}"),
                format!("tag {} ({what})", super::action::short_id(image_id)),
            )
        }
        Action::Build { image, reason, .. } => {
            (">", format!("image {image}"), format!("build ({reason})"))
        }
        Action::EnsureNetwork { key } => (">", format!("network {key}"), "create".to_owned()),
        Action::RecreateNetwork {
            key,
            fields,
            detach,
        } => {
            let detached = if detach.is_empty() {
                "nothing is attached".to_owned()
            } else {
                let names: Vec<&str> = detach.iter().map(|c| c.name.as_str()).collect();
                format!(
                    "detaches its containers (removes and recreates {})",
                    names.join(", ")
                )
            };
            (
                "~",
                format!("network {key}"),
                format!("recreate ({} changed): {detached}", fields.join(", ")),
            )
        }
        Action::EnsureVolume { key } => (">", format!("volume {key}"), "create".to_owned()),
        Action::WaitFor {
            service,
            dependency,
            condition,
        } => (
            "…",
            service.clone(),
            format!("wait for {dependency} {}", condition_words(*condition)),
        ),
        Action::PruneNetworks => (
            "-",
            "networks".to_owned(),
            "remove unused project networks".to_owned(),
        ),
    }
}

fn deferred_line(project: &str, d: &Deferred) -> (&'static str, String, String) {
    if d.is_left_to_engine() {
        return (
            "!",
            default_name(project, &d.service, d.number),
            format!(
                "left to the engine's restart policy, start in {} ({})",
                human_duration(d.retry_in),
                d.reason
            ),
        );
    }
    (
        "!",
        default_name(project, &d.service, d.number),
        format!(
            "replace deferred, retry in {} ({})",
            human_duration(d.retry_in),
            d.reason
        ),
    )
}

/// The generated container name (a service with `container_name` is shown under this
/// name too: a plan names services and replica numbers, not containers, for creates).
fn default_name(project: &str, service: &str, number: u32) -> String {
    format!("{project}-{service}-{number}")
}

fn condition_words(condition: DependsOn) -> &'static str {
    match condition {
        DependsOn::Started => "to start",
        DependsOn::Healthy => "to be healthy",
        DependsOn::CompletedSuccessfully => "to complete successfully",
    }
}

/// `1h2m`, `2m5s`, `25s`, `300ms`: at most two units, rounded down.
pub(super) fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m, s) {
        (0, 0, 0) => format!("{}ms", d.as_millis()),
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}
