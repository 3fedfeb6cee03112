//! Parsing tests of the command line: rollout targets and flags, the file-size limits and
//! the policy flags reaching every command that loads, no environment value in `--help`.

use std::path::PathBuf;

use clap::Parser;

use super::*;
use crate::control::Selector;
use crate::desired::Limits;
use crate::policy::Mode;

fn rollout(args: &[&str]) -> RolloutArgs {
    let cli = Cli::try_parse_from(["composectl", "rollout"].iter().chain(args)).unwrap();
    match cli.command {
        Command::Rollout(args) => args,
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn rollout_commands_parse_their_targets_and_flags() {
    let cli =
        Cli::try_parse_from(["composectl", "rollout", "status", "--state-dir", "/tmp/s"]).unwrap();
    assert_eq!(cli.state_dir, PathBuf::from("/tmp/s"));
    let args = rollout(&["status", "shop/web", "--watch"]);
    let RolloutCommand::Status(status) = args.command else {
        panic!("{:?}", args.command);
    };
    assert_eq!(status.target, Some(Selector::parse("shop/web")));
    assert!(status.watch && !status.json);

    let args = rollout(&["undo", "web", "--to-revision", "3"]);
    let RolloutCommand::Undo(undo) = args.command else {
        panic!("{:?}", args.command);
    };
    assert_eq!(undo.target, Selector::parse("web"));
    assert_eq!(undo.to_revision, Some(3));

    let args = rollout(&["history", "shop/web", "--json"]);
    assert!(matches!(
        args.command,
        RolloutCommand::History(HistoryArgs { json: true, .. })
    ));
    let args = rollout(&["status"]);
    assert!(matches!(
        args.command,
        RolloutCommand::Status(RolloutStatusArgs { target: None, .. })
    ));
    let args = rollout(&["pause", "shop/"]);
    assert!(
        matches!(args.command, RolloutCommand::Pause(TargetArgs { target }) if target == Selector::parse("shop/"))
    );
}

fn desired_args(args: &[&str]) -> Result<DesiredArgs, clap::Error> {
    let cli = Cli::try_parse_from(["composectl", "validate"].iter().chain(args))?;
    match cli.command {
        Command::Validate(args) => Ok(args),
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn file_size_limits_default_to_one_mebibyte_and_take_units() {
    let limits = desired_args(&[]).unwrap().limits();
    assert_eq!(limits, Limits::default());
    let args = desired_args(&[
        "--max-compose-file-size",
        "4MiB",
        "--max-env-file-size",
        "512K",
    ])
    .unwrap();
    assert_eq!(args.limits().compose_file_bytes, 4 << 20);
    assert_eq!(args.limits().env_file_bytes, 512 << 10);
    for bad in ["0", "lots", "1.5M"] {
        assert!(
            desired_args(&["--max-compose-file-size", bad]).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn file_size_limits_reach_plan_apply_and_run() {
    for args in [
        &["plan", "--max-env-file-size", "2M"][..],
        &["apply", "--once", "--max-env-file-size", "2M"],
        &["run", "--max-env-file-size", "2M"],
    ] {
        let cli = Cli::try_parse_from(["composectl"].iter().chain(args)).unwrap();
        let desired = match &cli.command {
            Command::Plan(d) => d,
            Command::Apply(a) => &a.desired,
            Command::Run(r) => &r.desired,
            other => panic!("parsed as {other:?}"),
        };
        assert_eq!(desired.limits().env_file_bytes, 2 << 20, "{args:?}");
    }
}

#[test]
fn the_policy_flags_reach_every_command_that_loads_and_policy_subcommands_parse() {
    let desired = desired_args(&[]).unwrap();
    assert_eq!((desired.policy, desired.policy_file), (Mode::Pinned, None));
    let args = desired_args(&["--policy", "strict", "--policy-file", "/etc/p.yaml"]).unwrap();
    assert_eq!(args.policy, Mode::Strict);
    assert_eq!(args.policy_file, Some(PathBuf::from("/etc/p.yaml")));
    assert!(desired_args(&["--policy", "lax"]).is_err());
    let cli = Cli::try_parse_from(["composectl", "policy", "approve", "shop", "-d", "/d"]).unwrap();
    let Command::Policy(PolicyArgs {
        command: PolicyCommand::Approve(approve),
    }) = cli.command
    else {
        panic!("{:?}", cli.command);
    };
    assert_eq!(approve.project, "shop");
    assert_eq!(approve.desired.desired, PathBuf::from("/d"));
    let cli = Cli::try_parse_from(["composectl", "policy", "show", "--json"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Policy(PolicyArgs {
            command: PolicyCommand::Show(PolicyShowArgs {
                project: None,
                json: true,
                ..
            })
        })
    ));
    assert!(Cli::try_parse_from(["composectl", "policy", "approve"]).is_err());
}

#[test]
fn no_argument_of_any_subcommand_shows_its_environment_value_in_help() {
    fn check(command: &clap::Command, path: &str) -> usize {
        let mut with_env = 0;
        for arg in command.get_arguments() {
            if arg.get_env().is_some() {
                with_env += 1;
                assert!(arg.is_hide_env_values_set(), "{path} --{}", arg.get_id());
            }
        }
        for sub in command.get_subcommands() {
            with_env += check(sub, &format!("{path} {}", sub.get_name()));
        }
        with_env
    }
    let mut command = command();
    command.build();
    assert!(check(&command, "composectl") > 10);
}

#[test]
fn a_mutating_rollout_command_needs_a_target() {
    for args in [&["pause"][..], &["abort", ""], &["undo", " "], &["history"]] {
        let parsed = Cli::try_parse_from(["composectl", "rollout"].iter().chain(args));
        assert!(parsed.is_err(), "{args:?}");
    }
}
