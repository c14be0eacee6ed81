//! Errors and exit codes, docker's convention: one line, and 125, 126, 127 or the command's own.

use nix::errno::Errno;
use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use crate::*;

/// Exit code when the runtime itself failed, or was called wrongly.
pub const EXIT_RUNTIME: u8 = 125;
/// Exit code when the command exists but cannot be executed.
pub const EXIT_CANNOT_EXEC: u8 = 126;
/// Exit code when the command is not found.
pub const EXIT_NOT_FOUND: u8 = 127;

/// Why a stage stops early: a one-line message and the documented exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

/// What a step returns: its value, or why the stage stops.
pub type Result<T> = std::result::Result<T, Failure>;

/// A runtime failure in one line: the step, the kernel's error, and what to do.
pub fn failure(step: &str, err: Errno, hint: &str) -> Failure {
    Failure {
        code: EXIT_RUNTIME,
        message: format!("{step}: {err:?} ({}) — {hint}", err.desc().to_lowercase()),
    }
}

/// What to do when the kernel says EPERM: namespaces need root (CAP_SYS_ADMIN).
pub fn root_hint() -> String {
    format!(
        "run it as root, or through `cargo xtask run {}`, which uses sudo",
        name()
    )
}

/// The exit code of a command std's `Command` started, or the failure to start it.
pub fn exit_status(command: &OsString, status: io::Result<ExitStatus>) -> Result<u8> {
    match status {
        Ok(status) => Ok(match (status.code(), status.signal()) {
            (Some(code), _) => code as u8,
            (None, Some(signal)) => 128 + signal as u8,
            (None, None) => EXIT_RUNTIME,
        }),
        Err(err) => Err(cannot_run(command, err)),
    }
}

/// Why a command could not start: 127 when it is not found, 126 otherwise.
pub fn cannot_run(command: &OsString, err: io::Error) -> Failure {
    let name = command.to_string_lossy();
    match err.kind() {
        io::ErrorKind::NotFound => Failure {
            code: EXIT_NOT_FOUND,
            message: format!("{name}: command not found"),
        },
        io::ErrorKind::PermissionDenied => Failure {
            code: EXIT_CANNOT_EXEC,
            message: format!("{name}: permission denied — is it executable?"),
        },
        _ => Failure {
            code: EXIT_CANNOT_EXEC,
            message: format!("{name}: cannot execute: {err}"),
        },
    }
}
