//! `cargo xtask run <stage> [--release] [--] [cmd [args...]]`: build a stage as the invoking user,
//! make the root filesystem if the stage needs one and none exists, then replace this process with
//! the stage's binary (through `sudo` when the stage needs root and the user is not root).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{Context, Result};

use crate::rootfs;
use crate::util::{self, usage};

const USAGE: &str = "usage: cargo xtask run <stage> [--release] [--] [cmd [args...]]";

/// What `run` was asked to do.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub stage: &'static catalog::Stage,
    pub release: bool,
    pub command: Vec<OsString>,
}

/// Parses `<stage> [--release] [--] [cmd [args...]]`; with no command, `sh`.
pub fn parse(args: Vec<OsString>) -> Result<Request> {
    let mut args = args.into_iter();
    let Some(name) = args.next() else {
        return Err(usage(format!("missing stage\n{USAGE}")));
    };
    let stage = util::stage(util::utf8(&name)?)?;
    let mut release = false;
    let mut command = Vec::new();
    for arg in args.by_ref() {
        match arg.to_str() {
            Some("--release") => release = true,
            Some("--") => break,
            Some(flag) if flag.starts_with('-') => {
                return Err(usage(format!("unknown flag {flag:?}\n{USAGE}")));
            }
            _ => {
                command.push(arg);
                break;
            }
        }
    }
    command.extend(args);
    if command.is_empty() {
        command.push("sh".into());
    }
    Ok(Request {
        stage,
        release,
        command,
    })
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let req = parse(args)?;
    let binary = util::build_stage(req.stage, req.release)?;
    let mut cmd = if req.stage.needs_root && !util::is_root() {
        // The build above ran as the user, so target/ stays theirs; only the container runs as
        // root. sudo drops the environment, so the project's own variables are passed on.
        let mut keep: Vec<String> = std::env::vars_os()
            .filter_map(|(key, _)| key.into_string().ok())
            .filter(|key| key.starts_with("DESDE_CERO_"))
            .collect();
        keep.push(rootfs::ENV_VAR.to_string());
        keep.sort();
        keep.dedup();
        let mut sudo = Command::new("sudo");
        sudo.arg(format!("--preserve-env={}", keep.join(",")))
            .arg("--")
            .arg(&binary);
        sudo
    } else {
        Command::new(&binary)
    };
    if req.stage.needs_rootfs {
        let dir = rootfs::ensure()?;
        cmd.env(rootfs::ENV_VAR, dir);
    }
    cmd.arg("run").args(&req.command);
    // exec: the stage takes over this process, its terminal and its signals, and its exit status
    // is ours. exec only returns on failure.
    let err = cmd.exec();
    Err(err).with_context(|| format!("cannot start {}", binary.display()))
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
    fn bad_input_is_a_usage_error() {
        for bad in [vec![], args(&["nope"]), args(&["pid", "--bogus"])] {
            let err = parse(bad).unwrap_err();
            assert!(err.downcast_ref::<util::Usage>().is_some(), "{err:#}");
        }
    }
}
