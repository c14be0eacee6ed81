//! # Stage 10 — user: root inside, an ordinary user outside
//!
//! The parent adds `CLONE_NEWUSER`: the kernel makes the user namespace first,
//! and it owns the others, so the child has every capability over them and
//! none over the host. While the child is held, the parent maps uid and gid 0
//! inside to one id outside (userns.rs): the user who ran it, or 700000000
//! when that is root. No root needed: without it, the veth pair is skipped,
//! and the cgroup made only where the host delegates one to the user, each
//! said aloud.
//!
//! Run it: `cargo xtask run user -- sh`, as yourself, then `id`
//! Man pages: user_namespaces(7), setgroups(2), capabilities(7).

use std::ffi::OsString;
use std::path::Path;
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
    // The namespaces of the stages before: UTS, PID, mount, IPC and network.
    let mut flags = CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET;
    // CLONE_NEWUSER gives the child a new user namespace, made first, which
    // owns the others: the child has every capability over them, none on the
    // host. No root needed: an ordinary user may make one, and the others.
    flags |= CloneFlags::CLONE_NEWUSER;
    // Only root on the host may make the veth pair (else it is skipped), and
    // it drops its groups, which the child could not.
    let root = userns::host_root();
    if root {
        userns::drop_groups()?;
    }
    // The container's /30 first: one that clashes with the host's networks is
    // refused before anything is made.
    let subnet =
        userns::as_root(root, "the veth pair", addressing::free_subnet)?;
    // A group of its own, with its limits, before the child exists; without
    // root, in the cgroup delegated to us, if any (userns.rs). Rust drops it
    // on every way out of `run`, errors included: that removes it.
    let cgroup = userns::cgroup(root, &Limits::DEFAULT, &[])?;
    // base2's re-exec, held on the pipe before it re-executes: once let go,
    // it becomes root of its namespace, then re-executes.
    let mut spawn =
        clone::spawn(flags, command).before_exec(userns::become_root);
    // It joins the group as it is born (v2: clone3(2) into it; v1: its first
    // step), so all it starts is counted.
    if let Some(cgroup) = &cgroup {
        spawn = cgroup.join(spawn);
    }
    // Run by root, it is born of uid 700000000, not host root (userns.rs).
    let child = userns::start(spawn, true, root)?;
    // While it waits, the parent maps its ids (userns.rs).
    userns::map_ids(child.pid(), root)?;
    // Still before it goes: a cable from the host into its network namespace,
    // which the kernel deletes with that namespace (veth.rs).
    let _veth = subnet
        .map(|net| veth::connect(net, child.pid()))
        .transpose()?;
    // wait lets it go and passes signals on; an OOM kill is reported.
    let code = child.wait()?;
    Ok(cgroup.map_or(code, |cgroup| cgroup.explain(code)))
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
    mqueue::mount_mqueue(Path::new("/"))?;
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
#[path = "../../ipc/src/mqueue.rs"]
mod mqueue;
#[path = "../../procfs/src/procfs.rs"]
mod procfs;
use cgroups::Limits;
#[path = "../../net/src/addressing.rs"]
mod addressing;
#[path = "../../net/src/lo.rs"]
mod lo;
mod userns;
#[path = "../../net/src/veth.rs"]
mod veth;
