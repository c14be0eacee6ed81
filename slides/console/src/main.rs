//! # Stage 14 — console: a terminal of its own
//!
//! Until now the container got our own terminal, and it is a way out: a
//! process inside types into it (TIOCSTI, ioctl_tty(2)), and the shell that
//! reads the terminal once the container ends runs those lines on the host.
//! This stage gives the container a pseudo-terminal of its own, as `docker
//! run -t` does (console.rs): we copy bytes between the two while it runs,
//! and put our terminal back as it was when it ends. Without a terminal,
//! pipes stay pipes.
//!
//! Run it: `cargo xtask run console -- sh`, then `tty; stty -echo; exit`
//! Man pages: pty(7), ioctl_tty(2), setsid(2), termios(3).

use std::ffi::OsString;
use std::process::{self, ExitCode};

use nix::sched::CloneFlags;
use skeleton::{say, Result};

/// The container's hostname.
const HOSTNAME: &str = "container";

fn main() -> ExitCode {
    let (stage, options) = (skeleton::stage!(), skeleton::ROOTLESS_HELP);
    skeleton::main_with_options(stage, options, run, Some(child))
}

/// The parent: re-executes this program as the child, in new namespaces.
fn run(command: &[OsString]) -> Result<u8> {
    // From here on the user namespace is opt-in, as with docker run by root:
    // root inside is host root (the root filesystem's files, host root's, stay
    // its to change), unless --rootless asks for user's namespace.
    let (rootless, command) = skeleton::rootless(command);
    say!("parent: pid {}: {}", process::id(), skeleton::show(command));
    // The namespaces of the stages before: UTS, PID, mount, IPC and network;
    // the user namespace with --rootless.
    let mut flags = CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET;
    flags.set(CloneFlags::CLONE_NEWUSER, rootless);
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
    // New: when ours is a terminal, a console of its own (console.rs).
    let console = console::Console::open()?;
    // base2's re-exec, held on the pipe before it re-executes: once let go,
    // it becomes root of its namespace (host root already without
    // --rootless), then re-executes.
    let mut spawn =
        clone::spawn(flags, command).before_exec(userns::become_root);
    // It joins the group as it is born (v2: clone3(2) into it; v1: its first
    // step), so all it starts is counted; and it takes the console as it is
    // born.
    if let Some(cgroup) = &cgroup {
        spawn = cgroup.join(spawn);
    }
    if let Some(console) = &console {
        spawn = spawn.at_birth(|| console.attach());
    }
    // --rootless: run by root, born of uid 700000000, not host root; while it
    // waits, the parent maps its ids (userns.rs).
    let child = userns::start(spawn, rootless, root)?;
    if rootless {
        userns::map_ids(child.pid(), root)?;
    }
    // Still before it goes: a cable from the host into its network namespace,
    // which the kernel deletes with that namespace (veth.rs).
    let _veth = subnet
        .map(|net| veth::connect(net, child.pid()))
        .transpose()?;
    // Bytes copied both ways while it runs; our terminal is put back as it
    // was when `_relay` is dropped, on every way out of `run`.
    let _relay = console.map(console::Console::relay).transpose()?;
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
    // The root filesystem done right (rootfs.rs): every mount made under the
    // new root, then pivot_root into it.
    let root = rootfs::bind(&skeleton::rootfs()?)?;
    rootfs::mount_dev(&root)?;
    mqueue::mount_mqueue(&root)?;
    rootfs::mount_proc(&root)?;
    rootfs::mount_sys(&root)?;
    rootfs::mount_tmp(&root)?;
    rootfs::pivot_root(&root)?;
    // Root gives up what it no longer needs, for good (capabilities.rs).
    capabilities::drop_capabilities()?;
    capabilities::set_no_new_privs()?;
    // Last, the syscall filter (seccomp.rs): it needs no_new_privs (or
    // CAP_SYS_ADMIN, gone now), and earlier it would refuse our own mounts.
    // fork(2) and clone(2) children inherit it and execve(2) keeps it: the
    // init, the command and all they start run under it.
    seccomp::install_filter()?;
    // PID 1's duties: run the command as our child, pass signals on to it, reap
    // the orphans the kernel re-parents to us, and exit with the command's
    // status.
    init::init(command)
}

// The steps with files of their own: an earlier stage's are included
// from its folder (#[path]), not copied.
#[path = "../../cgroups/src/cgroups.rs"]
mod cgroups;
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
use cgroups::Limits;
#[path = "../../net/src/addressing.rs"]
mod addressing;
#[path = "../../capabilities/src/capabilities.rs"]
mod capabilities;
mod console;
#[path = "../../net/src/lo.rs"]
mod lo;
#[path = "../../pivot/src/rootfs.rs"]
mod rootfs;
#[path = "../../seccomp/src/seccomp.rs"]
mod seccomp;
#[path = "../../user/src/userns.rs"]
mod userns;
#[path = "../../net/src/veth.rs"]
mod veth;
