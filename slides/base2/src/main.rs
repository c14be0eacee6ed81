//! # Stage 2 — base2: the parent re-executes itself as the child
//!
//! `run` no longer starts the command: it starts this very program again, as
//! `base2 child <cmd>`, and that child becomes the command. Why: the parent
//! will create the container from outside, the child will set it up from
//! inside, before the command starts. Nothing is isolated yet.
//!
//! Run it: `cargo xtask run base2 -- sh -c 'echo my pid is $$'`
//! Man pages: execve(2), proc(5) (/proc/self/exe).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::{self, Command, ExitCode};

use skeleton::{say, Result};

fn main() -> ExitCode {
    skeleton::main(skeleton::stage!(), run, Some(child))
}

/// The parent: runs this program again as `base2 child <cmd>` and waits for it.
fn run(command: &[OsString]) -> Result<u8> {
    say!("parent: pid {}: {}", process::id(), skeleton::show(command));
    // /proc/self/exe is the kernel's link to our own executable: running it
    // starts a fresh copy of this program, whose `main` sends it to `child`.
    let status = Command::new("/proc/self/exe")
        .arg0(skeleton::name())
        .arg("child")
        .args(command)
        .status();
    skeleton::exit_status(&command[0], status)
}

/// The child: this program again. Later stages set the container up here.
fn child(command: &[OsString]) -> Result<u8> {
    say!("child: pid {}", process::id());
    // exec: execve(2) replaces the child with the command, in the same process,
    // so the command's exit status is the child's. exec only returns on
    // failure.
    let err = Command::new(&command[0]).args(&command[1..]).exec();
    Err(skeleton::cannot_run(&command[0], err))
}
