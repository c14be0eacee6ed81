//! # Stage 7 — cgroups: limits on what the container may use
//!
//! Namespaces limit what a process sees; control groups limit what it uses.
//! The parent makes a group for the container, a folder under /sys/fs/cgroup
//! with a file per limit (20 processes, 100 MiB, half a CPU), starts the child
//! in it (clone3(2) with CLONE_INTO_CGROUP), and removes it when it has ended.
//!
//! Run it: `cargo xtask run cgroups -- sh -c 'f() { f | f; }; f'` (a fork bomb)
//! Man pages: cgroups(7), clone(2), the kernel's admin-guide/cgroup-v2.rst.

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
    // The namespaces of the stages before: UTS, PID and mount.
    let flags = CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS;
    // A group of its own, with its limits, before the child exists. Rust
    // drops it on every way out of `run`, errors included: that removes it.
    let cgroup = Cgroup::create(&Limits::DEFAULT)?;
    // base2's re-exec with these flags; the child waits on a pipe. It joins
    // the group as it is born (v2: clone3(2) into it; v1: its first step), so
    // all it starts is counted.
    let child = cgroup.join(clone::spawn(flags, command)).start()?;
    // wait lets it go and passes signals on; an OOM kill is reported.
    let code = child.wait()?;
    Ok(cgroup.explain(code))
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
mod cgroups;
#[path = "../../chroot/src/chroot.rs"]
mod chroot;
#[path = "../../uts/src/clone.rs"]
mod clone;
#[path = "../../uts/src/hostname.rs"]
mod hostname;
#[path = "../../pid/src/init.rs"]
mod init;
#[path = "../../procfs/src/mounts.rs"]
mod mounts;
#[path = "../../procfs/src/procfs.rs"]
mod procfs;
use cgroups::{Cgroup, Limits};
