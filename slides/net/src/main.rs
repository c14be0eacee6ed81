//! # Stage 9 — net: a network of its own, and a cable to the host
//!
//! The parent adds `CLONE_NEWNET`: the container gets its own network stack,
//! with only a loopback `lo`, down; the child brings it up. While the child is
//! held, the parent plugs in a veth pair, a virtual cable with one end on the
//! host and one in the container, each with an address of a free /30. One
//! route, the /30's, and no NAT: no route past the host. But the host's end
//! is the host: its services on every address (0.0.0.0, ::) answer there.
//!
//! Run it: `cargo xtask run net -- sh`, then `ip addr` and `ip route`
//! Man pages: network_namespaces(7), veth(4), ip-link(8), netdevice(7).

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
    // The namespaces of the stages before: UTS, PID, mount and IPC.
    let mut flags = CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWIPC;
    // CLONE_NEWNET gives the child a new network namespace: its own
    // interfaces, addresses, routes and ports; at first only `lo`, down.
    flags |= CloneFlags::CLONE_NEWNET;
    // The container's /30 first: one that clashes with the host's networks is
    // refused before anything is made.
    let subnet = addressing::free_subnet()?;
    // A group of its own, with its limits, before the child exists. Rust
    // drops it on every way out of `run`, errors included: that removes it.
    let cgroup = Cgroup::create(&Limits::DEFAULT)?;
    // base2's re-exec with these flags; the child waits on a pipe. It joins
    // the group as it is born (v2: clone3(2) into it; v1: its first step), so
    // all it starts is counted.
    let child = cgroup.join(clone::spawn(flags, command)).start()?;
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
mod addressing;
mod lo;
mod veth;
