//! `cargo xtask run <stage> [--release] [--] [cmd [args...]]`: build a stage as the invoking user,
//! make the root filesystem if the stage needs one and none exists, then replace this process with
//! the stage's binary (through `sudo` when the stage needs root and the user is not root).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

use anyhow::{Context, Result};

use crate::util;
use crate::{cli, rootfs};

pub const CLI: cli::Command = cli::Command {
    name: "run",
    about: "build a stage and run it",
    args: &[
        cli::required(
            "STAGE",
            "a stage's name, alias or number (`cargo xtask list`)",
        ),
        cli::flag("release", "build and run the optimised binary"),
    ],
    rest: Some(cli::Rest {
        name: "CMD [ARGS...]",
        help: "the command to run inside (default: sh); what follows it, or `--`, is passed \
               on as it is: `cargo xtask run full -- --help` shows the stage's own options",
        at_first_value: true,
    }),
    notes: "The stage is built as you; it runs through sudo when it needs root and you are not \
            root. Stages that run without root: base1, base2, user.",
};

/// What `run` was asked to do.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub stage: &'static catalog::Stage,
    pub release: bool,
    pub command: Vec<OsString>,
}

/// Parses `<stage> [--release] [--] [cmd [args...]]`; with no command, `sh`.
pub fn parse(args: Vec<OsString>) -> Result<Request> {
    let args = CLI
        .parse(args)
        .map_err(|err| match err.downcast::<util::Usage>() {
            // `run full --memory 50M sh`: the stage's options go after `--`.
            Ok(usage) if usage.msg.starts_with("unknown flag") => CLI.error(format!(
                "{}; a stage's own options go after `--`",
                usage.msg
            )),
            Ok(usage) => usage.into(),
            Err(err) => err,
        })?;
    let stage = args.stage(args.positional("STAGE").unwrap_or_default())?;
    let mut command = args.rest.clone();
    if command.is_empty() {
        command.push("sh".into());
    }
    Ok(Request {
        stage,
        release: args.flag("release"),
        command,
    })
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let req = parse(args)?;
    let sudo = match req.stage.needs_root && !util::is_root() {
        true => Some(util::which("sudo").ok_or_else(|| no_sudo(req.stage))?),
        false => None,
    };
    let binary = util::build_stage(req.stage, req.release)?;
    // The build above ran as the user, so target/ stays theirs; only the container runs as
    // root, with every variable of the project.
    let mut keep: Vec<String> = std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| key.starts_with("DESDE_CERO_"))
        .collect();
    keep.push(rootfs::ENV_VAR.to_string());
    keep.sort();
    keep.dedup();
    let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
    let dir = req.stage.needs_rootfs.then(rootfs::ensure).transpose()?;
    let mut cmd = util::as_root(
        req.stage.needs_root,
        &binary,
        sudo.as_slice(),
        &keep,
        dir.as_deref(),
    );
    cmd.arg("run").args(&req.command);
    // exec: the stage takes over this process, its terminal and its signals, and its exit status
    // is ours. exec only returns on failure.
    let err = cmd.exec();
    if let Some(sudo) = sudo {
        return Err(err).with_context(|| format!("cannot start {}", sudo.display()));
    }
    Err(err).with_context(|| format!("cannot start {}", binary.display()))
}

/// The error when a stage needs root, this user is not root, and there is no sudo to ask.
fn no_sudo(stage: &catalog::Stage) -> anyhow::Error {
    let rootless: Vec<&str> = catalog::STAGES
        .iter()
        .filter(|s| !s.needs_root)
        .map(|s| s.name)
        .collect();
    anyhow::anyhow!(
        "stage {} needs root, and sudo is not installed: run it as root, install sudo (and \
         allow yourself to use it), or pick a stage that runs without root: {}",
        stage.name,
        rootless.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn default_command_is_sh() {
        let req = parse(args(&["pidnamespace"])).unwrap();
        assert_eq!(req.stage.name, "pid");
        assert_eq!(req.command, args(&["sh"]));
    }

    #[test]
    fn flags_before_the_command_only() {
        let req = parse(args(&["4", "--release", "--", "ls", "--release"])).unwrap();
        assert!(req.release);
        assert_eq!(req.command, args(&["ls", "--release"]));
        let req = parse(args(&["uts", "echo", "-n", "hi"])).unwrap();
        assert_eq!(req.command, args(&["echo", "-n", "hi"]));
    }

    #[test]
    fn help_and_a_command_of_its_own_help() {
        let err = parse(args(&["pid", "--help"])).unwrap_err();
        assert!(err.downcast_ref::<cli::Help>().is_some(), "{err:#}");
        let req = parse(args(&["pid", "--", "--help"])).unwrap();
        assert_eq!(req.command, args(&["--help"]));
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for bad in [vec![], args(&["nope"]), args(&["pid", "--bogus"])] {
            let err = parse(bad).unwrap_err();
            assert!(err.downcast_ref::<util::Usage>().is_some(), "{err:#}");
        }
    }
}
