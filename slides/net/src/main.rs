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
    skeleton::main(env!("CARGO_PKG_NAME"), run, Some(child))
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
    set_hostname()?;
    lo::bring_up()?;
    make_mounts_private()?;
    change_root()?;
    mount_proc()?;
    // PID 1's duties: run the command as our child, pass signals on to it, reap
    // the orphans the kernel re-parents to us, and exit with the command's
    // status.
    skeleton::init(command)
}

// The steps with files of their own: an earlier stage's are included
// from its folder (#[path]), not copied.
#[path = "../../cgroups/src/cgroups.rs"]
mod cgroups;
use cgroups::{Cgroup, Limits};
mod addressing;
mod lo;
mod veth;

/// Names the container.
fn set_hostname() -> Result<()> {
    use nix::unistd::sethostname;
    // sethostname(2) changes the hostname of the UTS namespace we are in: ours
    // alone, since the parent created us with CLONE_NEWUTS.
    sethostname(HOSTNAME).map_err(|err| {
        skeleton::failure("sethostname", err, &skeleton::root_hint())
    })?;
    say!("child: hostname set to {HOSTNAME} in a new UTS namespace");
    Ok(())
}

/// Makes the container's root filesystem our `/`.
fn change_root() -> Result<()> {
    use nix::unistd::{chdir, chroot};
    let rootfs = skeleton::rootfs()?;
    // chroot(2) changes our root directory: from now on every absolute path,
    // the command's and those in its PATH included, resolves inside the root
    // filesystem.
    chroot(&rootfs).map_err(|err| {
        skeleton::failure("chroot", err, &skeleton::root_hint())
    })?;
    // chroot does not move the current directory, still outside the new root:
    // go to the new `/`, or relative paths would still reach the host's files.
    chdir("/")
        .map_err(|err| skeleton::failure("chdir", err, "see chdir(2)"))?;
    say!("child: root is now {}", skeleton::short(&rootfs));
    Ok(())
}

/// Keeps our mounts to ourselves, before we mount anything.
fn make_mounts_private() -> Result<()> {
    use nix::mount::{mount, MsFlags};
    // Our mount table is a copy of the host's, and mounts shared there (systemd
    // mounts `/` shared) still propagate both ways. MS_PRIVATE with MS_REC cuts
    // every mount loose, so nothing we mount or unmount reaches the host.
    let flags = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).map_err(|err| {
        skeleton::failure(
            "mount --make-rprivate /",
            err,
            &skeleton::root_hint(),
        )
    })
}

/// Mounts a procfs of the container's own at `/proc`.
fn mount_proc() -> Result<()> {
    use nix::mount::{mount, MsFlags};
    // A new procfs shows the processes of the PID namespace of the process that
    // mounts it: ours, so only the container's.
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|err| {
        skeleton::failure("mount /proc", err, "is there a /proc folder?")
    })?;
    say!("child: mounted a fresh /proc in a new mount namespace");
    Ok(())
}
