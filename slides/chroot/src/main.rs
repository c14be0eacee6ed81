//! # Stage 5 — chroot: a root filesystem of its own
//!
//! The child changes its root directory to the container's root filesystem (a
//! busybox userland that `cargo xtask rootfs` makes): `/` and every absolute
//! path now resolve inside it, and the command is the container's `sh`, not the
//! host's. chroot is not a security boundary: root can escape it (`pivot` shows
//! how, and stops it).
//!
//! Run it: `cargo xtask run chroot -- ls /`
//! Man pages: chroot(2), chdir(2), path_resolution(7).

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
    // The namespaces of the stages before: UTS and PID.
    let flags = CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWPID;
    // base2's re-exec by clone(2) with these flags; wait passes signals on.
    clone::spawn(flags, command).start()?.wait()
}

/// The child: sets the container up from inside, then runs the command as its
/// init.
fn child(command: &[OsString]) -> Result<u8> {
    say!("child: pid {}", process::id());
    hostname::set_hostname(HOSTNAME)?;
    chroot::change_root()?;
    // PID 1's duties: run the command as our child, pass signals on to it, reap
    // the orphans the kernel re-parents to us, and exit with the command's
    // status.
    init::init(command)
}

// The steps with files of their own: an earlier stage's are included
// from its folder (#[path]), not copied.
mod chroot;
#[path = "../../uts/src/clone.rs"]
mod clone;
#[path = "../../uts/src/hostname.rs"]
mod hostname;
#[path = "../../pid/src/init.rs"]
mod init;
