//! # Stage 4 — pid: the container's init is PID 1
//!
//! The parent adds `CLONE_NEWPID`: the child is PID 1 of a new PID namespace,
//! where it sees only its own descendants. PID 1 is an init, with duties
//! (init.rs): it runs the command, rather than becoming it.
//!
//! Run it: `cargo xtask run pid -- sh -c 'echo my pid is $$'`
//! Man pages: pid_namespaces(7), clone(2), waitpid(2), sigwait(3).

use std::ffi::OsString;
use std::process::{self, ExitCode};

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
    // The namespace of the stage before: UTS.
    let mut flags = CloneFlags::CLONE_NEWUTS;
    // CLONE_NEWPID makes the child PID 1 of a new PID namespace: it sees only
    // its own descendants, and the kernel kills them all when it ends.
    flags |= CloneFlags::CLONE_NEWPID;
    // base2's re-exec by clone(2) with these flags; wait passes signals on.
    clone::spawn(flags, command).start()?.wait()
}

/// The child: sets the container up from inside, then runs the command as its
/// init.
fn child(command: &[OsString]) -> Result<u8> {
    say!("child: pid {}", process::id());
    hostname::set_hostname(HOSTNAME)?;
    // PID 1's duties: run the command as our child, pass signals on to it, reap
    // the orphans the kernel re-parents to us, and exit with the command's
    // status.
    init::init(command)
}

// The steps with files of their own: an earlier stage's are included
// from its folder (#[path]), not copied.
#[path = "../../uts/src/clone.rs"]
mod clone;
#[path = "../../uts/src/hostname.rs"]
mod hostname;
mod init;
