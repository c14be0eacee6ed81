//! # Stage 10 — user: root inside, an ordinary user outside
//!
//! The parent adds `CLONE_NEWUSER`: the kernel makes the user namespace first,
//! and it owns the others, so the child has every capability over them and
//! none over the host. While the child is held, the parent maps uid and gid 0
//! inside to one id outside (userns.rs): the user who ran it, or 700000000
//! when that is root. No root needed: without it, the cgroup and the veth pair
//! are skipped, each said aloud.
//!
//! Run it: `cargo xtask run user -- sh`, as yourself, then `id`
//! Man pages: user_namespaces(7), setgroups(2), capabilities(7).

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
    let mut flags = CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET;
    // CLONE_NEWUSER gives the child a new user namespace, made first, which
    // owns the others: the child has every capability over them, none on the
    // host. No root needed: an ordinary user may make one, and the others.
    flags |= CloneFlags::CLONE_NEWUSER;
    // Only root on the host may make the veth pair and the cgroup (else both
    // are skipped), and it drops its groups, which the child could not.
    let root = userns::host_root();
    if root {
        userns::drop_groups()?;
    }
    // The container's /30 first: one that clashes with the host's networks is
    // refused before anything is made.
    let subnet = as_root(root, "the veth pair", addressing::free_subnet)?;
    // A group of its own, with its limits, before the child exists. Rust
    // drops it on every way out of `run`, errors included: that removes it.
    let cgroup = as_root(root, "the cgroup limits", || {
        Cgroup::create(&Limits::DEFAULT)
    })?;
    // base2's re-exec, held on the pipe before it re-executes: once let go,
    // it becomes root of its namespace, then re-executes.
    let mut spawn =
        skeleton::Spawn::new(flags, command).before_exec(userns::become_root);
    // It joins the group as it is born (v2: clone3(2) into it; v1: its first
    // step), so all it starts is counted.
    if let Some(cgroup) = &cgroup {
        spawn = cgroup.join(spawn);
    }
    // Run by root, it is born of uid 700000000, not host root (userns.rs).
    let child =
        userns::start_as_mapped(spawn, root).map_err(userns::explain)?;
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
#[path = "../../net/src/addressing.rs"]
mod addressing;
#[path = "../../net/src/lo.rs"]
mod lo;
mod userns;
#[path = "../../net/src/veth.rs"]
mod veth;

/// A step that needs root on the host: taken, or without root, skipped.
fn as_root<T>(
    root: bool,
    what: &str,
    step: impl FnOnce() -> Result<T>,
) -> Result<Option<T>> {
    if !root {
        say!("parent: skipping {what}: it needs root on the host");
        return Ok(None);
    }
    step().map(Some)
}

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
