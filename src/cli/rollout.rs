//! The `rollout` subcommands and their settings; a TARGET parses into a [`Selector`].

use clap::{Args, Subcommand};

use crate::control::Selector;

/// `rollout` settings and subcommands.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RolloutCommand,
}

/// The `rollout` subcommands. TARGET is `project/service`, `project/` (every service of
/// the project) or `service` (when one project has it).
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Where the rollouts stand: phase, step, replicas updated, gates and their evidence.
    /// With --watch (at least 3 s, so a change just made to the desired files is seen),
    /// exits 1 if a watched rollout ends rolled back or aborted.
    Status(RolloutStatusArgs),
    /// Hold the rollouts where they are.
    Pause(TargetArgs),
    /// Continue paused rollouts.
    Resume(TargetArgs),
    /// Let the current step advance without waiting for its promotion.
    Promote(TargetArgs),
    /// Stop the rollouts and put every replica back on the previous revision.
    Abort(TargetArgs),
    /// Roll one service back to its previous revision (or to --to-revision).
    Undo(UndoArgs),
    /// The revision history of one service.
    History(HistoryArgs),
    /// Build the images of services with `build:` again after a failed build (the same
    /// inputs are otherwise not built again until they change); the new image then rolls
    /// out through the service's strategy.
    Rebuild(TargetArgs),
}

/// `rollout status` settings.
#[derive(Debug, Args)]
pub struct RolloutStatusArgs {
    /// Which services (default: every service with a rollout config).
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Option<Selector>,
    /// Redraw every second until every selected rollout is over.
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Print the controller's JSON answer.
    #[arg(long)]
    pub json: bool,
}

/// A rollout command's target.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Which services: `project/service`, `project/` or `service`.
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Selector,
}

/// `rollout undo` settings.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// Which service: `project/service` or `service`.
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Selector,
    /// The revision to go back to (see `rollout history`); default: the previous one.
    #[arg(long, value_name = "N")]
    pub to_revision: Option<u64>,
}

/// `rollout history` settings.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Which service: `project/service` or `service`.
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Selector,
    /// Print the controller's JSON answer.
    #[arg(long)]
    pub json: bool,
}

/// Parses a rollout TARGET; an empty one is refused (omit it on `status` instead).
pub fn parse_target(text: &str) -> Result<Selector, String> {
    let selector = Selector::parse(text);
    if selector == Selector::default() {
        Err("name a service: PROJECT/SERVICE, PROJECT/ or SERVICE".into())
    } else {
        Ok(selector)
    }
}
