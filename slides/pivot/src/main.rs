//! # Stage 11 — pivot: the root filesystem done right
//!
//! From here on the container runs as real root, no user namespace, as docker
//! run by root does; each stage now makes that root harmless. This one swaps
//! chroot for pivot_root (rootfs.rs): the host's `/` is unmounted, not merely
//! out of sight, so the double-chroot escape finds nothing; /dev holds six
//! devices, /proc's files that act on the whole machine are read-only or
//! hidden, /sys is read-only.
//!
//! Run it: `cargo xtask run pivot -- sh`, then `probe escape`
//! Man pages: pivot_root(2), umount2(2), mount(2), proc(5), sysfs(5).

use std::ffi::OsString;
use std::process::{self, ExitCode};

use nix::sched::CloneFlags;
use skeleton::{say, Result};

/// The container's hostname.
const HOSTNAME: &str = "container";

fn main() -> ExitCode {
    skeleton::main(env!("CARGO_PKG_NAME"), run, Some(child))
}

/// The parent: re-executes this program as the child, in new namespaces.
fn run(command: &[OsString]) -> Result<u8> {
    say!("parent: pid {}: {}", process::id(), skeleton::show(command));
    // The namespaces of the stages before: UTS, PID, mount, IPC and network.
    // No user namespace: root inside is host root, as with docker run by root
    // (the root filesystem's files, host root's, stay its to change).
    let flags = CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET;
    // The container's /30 first: one that clashes with the host's networks is
    // refused before anything is made.
    let subnet = addressing::free_subnet()?;
    // A group of its own, with its limits, before the child exists. Rust
    // drops it on every way out of `run`, errors included: that removes it.
    let cgroup = Cgroup::create(&Limits::DEFAULT)?;
    // base2's re-exec with these flags; the child waits on a pipe. It joins
    // the group as it is born (v2: clone3(2) into it; v1: its first step), so
    // all it starts is counted.
    let child = cgroup.join(skeleton::Spawn::new(flags, command)).start()?;
    // Still before it goes: a cable from the host into its network namespace,
    // which the kernel deletes with that namespace (veth.rs).
    let _veth = veth::connect(subnet, child.pid())?;
    // wait lets it go and passes signals on; an OOM kill is reported.
    let code = child.wait()?;
    Ok(cgroup.explain(code))
}

/// The child: sets the container up from inside, then runs the command as its
/// init.
fn child(command: &[OsString]) -> Result<u8> {
    say!("child: pid {}", process::id());
    hostname::set_hostname(HOSTNAME)?;
    lo::bring_up()?;
    mounts::make_mounts_private()?;
    // The root filesystem done right (rootfs.rs): every mount made under the
    // new root, then pivot_root into it.
    let root = rootfs::bind(&skeleton::rootfs()?)?;
    rootfs::mount_dev(&root)?;
    rootfs::mount_proc(&root)?;
    rootfs::mount_sys(&root)?;
    rootfs::mount_tmp(&root)?;
    rootfs::pivot_root(&root)?;
    // PID 1's duties: run the command as our child, pass signals on to it, reap
    // the orphans the kernel re-parents to us, and exit with the command's
    // status.
    init::init(command)
}

// The steps with files of their own: an earlier stage's are included
// from its folder (#[path]), not copied.
#[path = "../../cgroups/src/cgroups.rs"]
mod cgroups;
#[path = "../../uts/src/hostname.rs"]
mod hostname;
#[path = "../../pid/src/init.rs"]
mod init;
#[path = "../../procfs/src/mounts.rs"]
mod mounts;
use cgroups::{Cgroup, Limits};
#[path = "../../net/src/addressing.rs"]
mod addressing;
#[path = "../../net/src/lo.rs"]
mod lo;
mod rootfs;
#[path = "../../net/src/veth.rs"]
mod veth;
