//! # Stage 6 — procfs: a mount namespace and a /proc of its own
//!
//! `ps` reads `/proc`, and a procfs shows the PID namespace it was mounted for.
//! The parent adds `CLONE_NEWNS`, so the child gets its own copy of the mount
//! table; the child makes every mount in it private, changes root, and mounts a
//! fresh `/proc`: `ps` lists only the container's processes. The mounts vanish
//! with the namespace when the container ends: there is nothing to unmount.
//!
//! Run it: `cargo xtask run procfs -- ps`
//! Man pages: mount_namespaces(7), mount(2), proc(5), pid_namespaces(7).

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
    let mut flags = CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWPID;
    // CLONE_NEWNS gives the child its own copy of the mount table (the first
    // namespace Linux had, hence the vague name): what it mounts is its own.
    flags |= CloneFlags::CLONE_NEWNS;
    // base2's re-exec by clone(2) with these flags; wait passes signals on.
    clone::spawn(flags, command).start()?.wait()
}

/// The child: sets the container up from inside, then runs the command as its
/// init.
fn child(command: &[OsString]) -> Result<u8> {
    say!("child: pid {}", process::id());
    hostname::set_hostname(HOSTNAME)?;
    mounts::make_mounts_private()?;
    chroot::change_root()?;
    procfs::mount_proc()?;
    // PID 1's duties: run the command as our child, pass signals on to it, reap
    // the orphans the kernel re-parents to us, and exit with the command's
    // status.
    init::init(command)
}

// The steps with files of their own: an earlier stage's are included
// from its folder (#[path]), not copied.
#[path = "../../chroot/src/chroot.rs"]
mod chroot;
#[path = "../../uts/src/clone.rs"]
mod clone;
#[path = "../../uts/src/hostname.rs"]
mod hostname;
#[path = "../../pid/src/init.rs"]
mod init;
mod mounts;
mod procfs;
