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
    skeleton::main(env!("CARGO_PKG_NAME"), run, Some(child))
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
    skeleton::spawn(flags, command)?.wait()
}

/// The child: sets the container up from inside, then runs the command as its
/// init.
fn child(command: &[OsString]) -> Result<u8> {
    say!("child: pid {}", process::id());
    set_hostname()?;
    make_mounts_private()?;
    change_root()?;
    mount_proc()?;
    // PID 1's duties: run the command as our child, pass signals on to it, reap
    // the orphans the kernel re-parents to us, and exit with the command's
    // status.
    skeleton::init(command)
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
