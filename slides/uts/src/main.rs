//! # Stage 3 — uts: a hostname of its own
//!
//! The parent asks clone(2) for a new UTS namespace (`CLONE_NEWUTS`); the child
//! sets the hostname in it, and the host's hostname does not change. From here
//! on the re-exec is base2's done with clone(2) (clone.rs), which takes the
//! namespace flags.
//!
//! Run it: `cargo xtask run uts -- hostname`
//! Man pages: uts_namespaces(7), clone(2), sethostname(2).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::{self, Command, ExitCode};

use nix::sched::CloneFlags;
use skeleton::{say, Result};

/// The container's hostname.
const HOSTNAME: &str = "container";

fn main() -> ExitCode {
    skeleton::main(skeleton::stage!(), run, Some(child))
}

/// The parent: re-executes this program as the child, in new namespaces.
fn run(command: &[OsString]) -> Result<u8> {
    say!("parent: pid {}: {}", process::id(), skeleton::show(command));
    // CLONE_NEWUTS gives the child a new UTS namespace: its own copy of the
    // hostname, which it can change without touching the host's.
    let flags = CloneFlags::CLONE_NEWUTS;
    // base2's re-exec by clone(2) with these flags (clone.rs); wait passes
    // signals on.
    clone::spawn(flags, command).start()?.wait()
}

/// The child: sets the container up from inside, then becomes the command.
fn child(command: &[OsString]) -> Result<u8> {
    say!("child: pid {}", process::id());
    hostname::set_hostname(HOSTNAME)?;
    let err = Command::new(&command[0]).args(&command[1..]).exec();
    Err(skeleton::cannot_run(&command[0], err))
}

// The steps with files of their own: an earlier stage's are included
// from its folder (#[path]), not copied.
mod clone;
mod hostname;
