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
    skeleton::main(env!("CARGO_PKG_NAME"), run, Some(child))
}

/// The parent: re-executes this program as the child, in new namespaces.
fn run(command: &[OsString]) -> Result<u8> {
    say!("parent: pid {}: {}", process::id(), skeleton::show(command));
    // The namespaces of the stages before: UTS and PID.
    let flags = CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWPID;
    // base2's re-exec by clone(2) with these flags; wait passes signals on.
    skeleton::spawn(flags, command)?.wait()
}

/// The child: sets the container up from inside, then runs the command as its
/// init.
fn child(command: &[OsString]) -> Result<u8> {
    say!("child: pid {}", process::id());
    set_hostname()?;
    change_root()?;
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
