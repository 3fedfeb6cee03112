//! What `composectl rollout status` and `rollout history` print: pure functions from the
//! control [`Response`](super::Response) data to text, so every layout is unit-tested.

use std::fmt::Write as _;

use super::protocol::{HistoryView, RevisionLine, ServiceStatus};
use crate::rollout::record::{GateReport, PhaseName};
use crate::timefmt;

/// Width of the progress bar, in cells.
const BAR_CELLS: u32 = 8;
/// Hex digits shown of image IDs and config hashes.
const SHORT_ID: usize = 12;

/// The status of `services`, one block per service (blank line between blocks). With
/// `bars`, each rollout gets a progress bar line (`[###-----] 1/3`), as `--watch` shows.
pub fn status(services: &[ServiceStatus], bars: bool) -> String {
    services
        .iter()
        .map(|s| service(s, bars))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One service's block.
pub fn service(status: &ServiceStatus, bar: bool) -> String {
    let name = format!("{}/{}", status.project, status.service);
    let Some(phase) = status.phase else {
        let mut out = format!("{name}  {}  no rollout yet\n", status.strategy);
        if let Some(watch) = &status.watch {
            watch_lines(&mut out, watch);
        }
        return out;
    };
    let mut header = vec![name, status.strategy.to_string(), phase.as_str().to_owned()];
    if status.steps > 0 {
        header.push(format!("step {}/{}", status.step, status.steps));
    }
    header.push(format!("updated {}/{}", status.updated, status.replicas));
    header.push(match status.revision {
        Some(number) => format!("revision {number} ({})", status.image),
        None => format!("image {}", status.image),
    });
    match (status.previous_revision, &status.previous_image) {
        (Some(number), Some(image)) => header.push(format!("previous {number} ({image})")),
        (Some(number), None) => header.push(format!("previous {number}")),
        (None, Some(image)) => header.push(format!("previous {image}")),
        (None, None) => {}
    }
    let mut out = header.join("  ");
    out.push('\n');
    if bar {
        let _ = writeln!(
            out,
            "  {} {}/{}",
            progress_bar(status.updated, status.replicas),
            status.updated,
            status.replicas
        );
    }
    if let Some(reason) = &status.reason {
        line(&mut out, "reason", reason);
    }
    if !phase.is_final() {
        if let Some(left) = status.window_left_ms {
            line(
                &mut out,
                "window",
                &format!("{} left", timefmt::duration(left)),
            );
        }
        if let Some(elapsed) = status.elapsed_ms {
            line(&mut out, "elapsed", &timefmt::duration(elapsed));
        }
    }
    if let Some(watch) = &status.watch {
        watch_lines(&mut out, watch);
    }
    let width = status
        .gates
        .iter()
        .map(|g| gate_name(g).len())
        .max()
        .unwrap_or(0);
    for gate in &status.gates {
        let text = format!(
            "{:<width$}  {:<7}  {}",
            gate_name(gate),
            gate.verdict,
            gate.evidence
        );
        line(&mut out, "gate", text.trim_end());
    }
    out
}

/// True when no selected rollout will move any more: each is over (complete, rolled
/// back, aborted) or never started. `status --watch` stops then.
pub fn all_settled(services: &[ServiceStatus]) -> bool {
    services
        .iter()
        .all(|s| s.phase.is_none_or(|phase| phase.is_final()))
}

/// One line per rollout that ended rolled back or aborted: `shop/web rolled back: why` (a
/// superseded rollout is no failure).
pub fn failures(services: &[ServiceStatus]) -> Vec<String> {
    services
        .iter()
        .filter_map(|s| {
            let phase = s
                .phase
                .filter(|p| matches!(p, PhaseName::RolledBack | PhaseName::Aborted))?;
            let reason = s.reason.as_deref().unwrap_or("no reason recorded");
            Some(format!(
                "{}/{} {}: {reason}",
                s.project,
                s.service,
                phase.as_str()
            ))
        })
        .collect()
}

/// True when `after` differs from `before` in more than the timers (window left, elapsed):
/// what `status --watch` reprints when its output is not a terminal.
pub fn changed(before: &[ServiceStatus], after: &[ServiceStatus]) -> bool {
    let untimed = |services: &[ServiceStatus]| -> Vec<ServiceStatus> {
        services
            .iter()
            .map(|s| ServiceStatus {
                window_left_ms: None,
                elapsed_ms: None,
                watch: None,
                ..s.clone()
            })
            .collect()
    };
    untimed(before) != untimed(after)
}

/// `[###-----]`: the share of `updated` in `replicas`, rounded down (full only when all
/// are updated).
pub fn progress_bar(updated: u32, replicas: u32) -> String {
    let filled = if replicas == 0 {
        BAR_CELLS
    } else {
        (u64::from(updated.min(replicas)) * u64::from(BAR_CELLS) / u64::from(replicas)) as u32
    };
    format!(
        "[{}{}]",
        "#".repeat(filled as usize),
        "-".repeat((BAR_CELLS - filled) as usize)
    )
}

/// The revision history as a table, oldest first.
pub fn history(view: &HistoryView) -> String {
    if view.revisions.is_empty() {
        return format!(
            "{}/{} has no recorded revision yet\n",
            view.project, view.service
        );
    }
    let header = [
        "REVISION", "IMAGE", "IMAGE ID", "CONFIG", "RECORDED", "NOTE",
    ]
    .map(String::from);
    let rows: Vec<[String; 6]> = std::iter::once(header)
        .chain(view.revisions.iter().map(history_row))
        .collect();
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The registry watching lines of a status: the digest the host has, the last check and
/// what it found (or its error), an update found, a held digest or tag.
fn watch_lines(out: &mut String, watch: &crate::watch::ServiceWatch) {
    let mut head = format!("{} {}", watch.mode, watch.image);
    if let Some(digest) = &watch.local_digest {
        head.push_str(&format!(" (host has {digest})"));
    }
    line(out, "watch", &head);
    let when = watch.last_check_ms.map_or_else(
        || "not yet".to_owned(),
        |ms| timefmt::rfc3339(u64::try_from(ms / 1000).unwrap_or(0)),
    );
    match (&watch.error, &watch.result) {
        (Some(error), _) => line(out, "checked", &format!("{when}: failed: {error}")),
        (None, Some(result)) => line(out, "checked", &format!("{when}: {result}")),
        (None, None) => line(out, "checked", &when),
    }
    if let Some(update) = &watch.update_available {
        line(out, "update", update);
    }
    if let Some(held) = &watch.held {
        line(out, "held", held);
    }
}

fn history_row(revision: &RevisionLine) -> [String; 6] {
    let mut notes = Vec::new();
    if revision.current {
        notes.push("current".to_owned());
    }
    if let Some(failed) = revision.failed_at {
        notes.push(format!("failed {}", timefmt::rfc3339(failed)));
    }
    if let Some(digest) = &revision.digest {
        notes.push(format!("digest {digest}"));
    }
    [
        revision.number.to_string(),
        revision.image.clone(),
        short_id(&revision.image_id),
        short_id(&revision.config_hash),
        timefmt::rfc3339(revision.recorded_at),
        notes.join(", "),
    ]
}

/// The first 12 hex digits of an ID, without its `sha256:` prefix.
fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(SHORT_ID).collect()
}

fn gate_name(gate: &GateReport) -> String {
    if gate.name == gate.kind || gate.kind.is_empty() {
        gate.name.clone()
    } else {
        format!("{} ({})", gate.name, gate.kind)
    }
}

/// Appends `  LABEL   text` with labels aligned.
fn line(out: &mut String, label: &str, text: &str) {
    let _ = writeln!(out, "  {label:<7} {text}");
}

#[cfg(test)]
mod tests;
