//! The `policy` subcommands (`show`, `approve`) and their settings.

use clap::{Args, Subcommand};

use super::DesiredArgs;

/// `policy` subcommands.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Each project's privileges, where its files ask for them, what this host allows it,
    /// and which are held.
    Show(PolicyShowArgs),
    /// Approve the privileges PROJECT's files ask for now (pinned policy): they are
    /// recorded in `<state-dir>/<instance>/PROJECT/privileges.json`, and the running
    /// controller is asked to reload at once.
    Approve(PolicyApproveArgs),
}

/// `policy show` settings.
#[derive(Debug, Args)]
pub struct PolicyShowArgs {
    /// One project (default: all of them).
    #[arg(value_name = "PROJECT")]
    pub project: Option<String>,
    /// The desired directory and the policy.
    #[command(flatten)]
    pub desired: DesiredArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `policy approve` settings.
#[derive(Debug, Args)]
pub struct PolicyApproveArgs {
    /// The project whose privileges to approve.
    #[arg(value_name = "PROJECT")]
    pub project: String,
    /// The desired directory and the policy.
    #[command(flatten)]
    pub desired: DesiredArgs,
}
