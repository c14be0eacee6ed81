//! # Stage 1 — base1: run a command
//!
//! The smallest "container": nothing is isolated yet. The program runs `<cmd> [args...]` as a
//! child process with stdin, stdout and stderr wired through, and exits with the command's
//! status. Every later stage is this program plus one step.
//!
//! Run it:   `cargo xtask run base1 -- echo hola mundo`
//! Directly: `target/debug/base1 run echo hola mundo`
//!
//! Man pages: fork(2), execve(2), waitpid(2).
//!
//! Exit status: the command's own; 128+N when it died of signal N; 125 when this program failed
//! (or was called wrongly); 126 when the command cannot be executed; 127 when it is not found.

use std::env;
use std::ffi::OsString;
use std::io;
use std::process::{self, Command, ExitCode};

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

/// The name this program reports its errors under.
const NAME: &str = env!("CARGO_PKG_NAME");

/// How to call it.
const USAGE: &str = concat!("usage: ", env!("CARGO_PKG_NAME"), " run <cmd> [args...]");

/// Exit code when the runtime itself failed (the convention docker and podman use).
const EXIT_RUNTIME: u8 = 125;
/// Exit code when the command exists but cannot be executed.
const EXIT_CANNOT_EXEC: u8 = 126;
/// Exit code when the command is not found.
const EXIT_NOT_FOUND: u8 = 127;

/// Why the program stops early: a one-line message and the documented exit code.
struct Failure {
    code: u8,
    message: String,
}

fn main() -> ExitCode {
    // args_os, not args: an argument that is not UTF-8 is passed through, never a panic.
    let args: Vec<OsString> = env::args_os().skip(1).collect();
    let result = match args.split_first() {
        Some((verb, command)) if verb == "run" && !command.is_empty() => run(command),
        _ => Err(Failure {
            code: EXIT_RUNTIME,
            message: USAGE.to_string(),
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("{NAME}: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// The parent: starts the command and waits for it.
fn run(command: &[OsString]) -> Result<u8, Failure> {
    eprintln!("parent: pid {}, running {:?}", process::id(), command);
    let command_pid = spawn(command)?;
    // The parent blocks in waitpid(2) until the command ends; the kernel then hands it the
    // command's exit status and frees the process's last trace (its zombie).
    let status = waitpid(command_pid, None).map_err(|err| Failure {
        code: EXIT_RUNTIME,
        message: format!("waitpid: {err:?} ({})", err.desc()),
    })?;
    Ok(exit_code(status))
}

/// Starts the command with fork(2) and execve(2), sharing our stdin, stdout and stderr.
fn spawn(command: &[OsString]) -> Result<Pid, Failure> {
    let name = command[0].to_string_lossy();
    Command::new(&command[0])
        .args(&command[1..])
        .spawn()
        // Only the pid is kept: from here on the process is waited for with waitpid(2).
        .map(|child| Pid::from_raw(child.id() as i32))
        .map_err(|err| match err.kind() {
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
        })
}

/// The shell's convention: the exit code, or 128+N when the process died of signal N.
fn exit_code(status: WaitStatus) -> u8 {
    match status {
        WaitStatus::Exited(_, code) => code as u8,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as u8,
        _ => EXIT_RUNTIME,
    }
}
