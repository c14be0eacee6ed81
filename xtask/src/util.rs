//! Small helpers every subcommand shares: where the project is, how to call cargo, how errors
//! become exit codes, and how a stage is found and built.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use catalog::Stage;

/// Exit code of a usage error (unknown command, stage or flag; missing argument).
pub const EXIT_USAGE: u8 = 2;

/// A usage error: printed as one line, exits 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

/// Turns a subcommand's result into the process's exit code, printing errors on one line.
pub fn finish(result: Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("xtask: {err:#}");
            if err.downcast_ref::<Usage>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The workspace's top folder.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one folder below the workspace root")
        .to_path_buf()
}

/// Cargo's target folder (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => project_root().join(dir),
        None => project_root().join("target"),
    }
}

/// A `cargo` command, the same cargo that runs this xtask.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Runs a command to completion; a non-zero exit is an error naming the command.
pub fn run_checked(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Converts one argument to UTF-8, or explains which one was not.
pub fn utf8(arg: &OsString) -> Result<&str> {
    arg.to_str()
        .ok_or_else(|| usage(format!("argument {arg:?} is not valid UTF-8")))
}

/// Finds a stage by name, alias or number, or gives the list and a did-you-mean.
pub fn stage(key: &str) -> Result<&'static Stage> {
    if let Some(stage) = catalog::find(key) {
        return Ok(stage);
    }
    let hint = match catalog::suggest(key) {
        Some(name) => format!(" (did you mean `{name}`?)"),
        None => String::new(),
    };
    Err(usage(format!(
        "unknown stage {key:?}{hint}; valid stages: {} (or 1-{})",
        catalog::names().join(", "),
        catalog::STAGES.len()
    )))
}

/// Builds one stage as the invoking user and returns its binary's path.
pub fn build_stage(stage: &Stage, release: bool) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args(["build", "--quiet", "--package", stage.name]);
    if release {
        cmd.arg("--release");
    }
    run_checked(&mut cmd).with_context(|| format!("cannot build stage {}", stage.name))?;
    Ok(stage_binary(stage, release))
}

/// Where cargo puts a stage's binary.
pub fn stage_binary(stage: &Stage, release: bool) -> PathBuf {
    target_dir()
        .join(if release { "release" } else { "debug" })
        .join(stage.name)
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
