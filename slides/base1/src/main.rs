//! # Stage 1 — base1: run a command
//!
//! The smallest "container": nothing is isolated yet. `run` starts the command
//! as a child process and exits with its status. Every later stage is this
//! program plus one step. The command line, errors and exit codes live in
//! crates/skeleton.
//!
//! Run it: `cargo xtask run base1 -- echo hola mundo`
//! Man pages: fork(2), execve(2), waitpid(2).

use std::ffi::OsString;
use std::process::{self, Command, ExitCode};

use skeleton::{say, Result};

fn main() -> ExitCode {
    skeleton::main(skeleton::stage!(), run, None)
}

/// The parent: starts the command and waits for it.
fn run(command: &[OsString]) -> Result<u8> {
    say!("parent: pid {}: {}", process::id(), skeleton::show(command));
    // std's Command makes a new process (fork(2), or posix_spawn(3) where it
    // can), which replaces itself with the command by execve(2); status() then
    // blocks in waitpid(2) until the command ends, and the kernel hands us its
    // exit status.
    let status = Command::new(&command[0]).args(&command[1..]).status();
    skeleton::exit_status(&command[0], status)
}
