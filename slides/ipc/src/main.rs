//! # Stage 8 — ipc: System V objects and POSIX message queues of its own
//!
//! Processes share memory segments, semaphores and message queues through
//! System V IPC and POSIX queues, and find them by a key or a name that is
//! global to an IPC namespace. The parent adds `CLONE_NEWIPC`: the container
//! starts with none, cannot reach the host's, and what it makes goes with it.
//!
//! Run it: `ipcmk -M 1024; cargo xtask run ipc -- cat /proc/sysvipc/shm`
//! Man pages: ipc_namespaces(7), sysvipc(7), mq_overview(7).

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
    let mut flags = CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS;
    // CLONE_NEWIPC gives the child a new IPC namespace: its own, empty sets of
    // System V shared memory, semaphores and message queues, and of POSIX
    // message queues.
    flags |= CloneFlags::CLONE_NEWIPC;
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
#[path = "../../cgroups/src/cgroups.rs"]
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
