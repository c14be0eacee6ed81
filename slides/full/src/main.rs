//! # Stage 15 — full: every step together, hardened like a real runtime
//!
//! The stages before, together (pivot's root filesystem, capabilities and
//! no_new_privs, seccomp's filter, console's terminal of its own), plus what
//! a real runtime adds: a copy-on-write overlay on a tmpfs of the container's
//! memory (overlay.rs), a cgroup namespace (cgroup_ns.rs), no descriptor or
//! environment variable of the host's, a session keyring of its own, and
//! checked options with their defaults (options.rs, `full run --help`).
//!
//! Run it: `cargo xtask run full -- sh`
//! Man pages: pivot_root(2), capabilities(7), cgroup_namespaces(7), prctl(2).

use std::env;
use std::ffi::OsString;
use std::process::{self, ExitCode};

use nix::sched::CloneFlags;
use skeleton::{say, Result};

fn main() -> ExitCode {
    let stage = skeleton::stage!();
    skeleton::main_with_options(stage, &options::help(), run, Some(child))
}

/// The parent: re-executes this program as the child, in new namespaces.
fn run(args: &[OsString]) -> Result<u8> {
    // The options, each checked before anything is made (options.rs); the
    // root filesystem against the host's mounts here only, and the child gets
    // it as resolved here: a symlink given may point elsewhere by then.
    let (options, command) = options::parse(args)?;
    options::check_rootfs(&options)?;
    let args = &options::for_child(args, command, &options.rootfs);
    say!("parent: pid {}: {}", process::id(), skeleton::show(command));
    // The namespaces of the stages before: UTS, PID, mount, IPC and network.
    let mut flags = CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET;
    // CLONE_NEWUSER only with --rootless, as with docker run by root: in a
    // user namespace, the root filesystem's files (host root's) could not be
    // changed, not even in the overlay.
    flags.set(CloneFlags::CLONE_NEWUSER, options.rootless);
    // Without root on the host, only --rootless, and no veth pair. Root drops
    // its supplementary groups: the host's groups mean nothing inside.
    let root = userns::host_root();
    check_privileges(&options, root)?;
    if root {
        userns::drop_groups()?;
    }
    // --net veth: the container's /30 first: one that clashes with the host's
    // networks is refused before anything is made.
    let subnet = options.veth.then(addressing::free_subnet).transpose()?;
    // A group of its own, with its limits, before the child exists; without
    // root, in the cgroup delegated to us, if any (userns.rs). Rust drops it
    // on every way out of `run`, errors included: that removes it.
    let cgroup = userns::cgroup(root, &options.limits, &options.asked)?;
    // When ours is a terminal, a console of its own (console.rs).
    let console = console::Console::open()?;
    // base2's re-exec, held on the pipe before it re-executes: once let go,
    // it becomes root of its namespace (without --rootless it is host root
    // already), then re-executes with a clean environment.
    let mut spawn = clone::spawn(flags, args).before_exec(become_root_clean);
    // It joins the group as it is born (v2: clone3(2) into it; v1: its first
    // step), so all it starts is counted.
    if let Some(cgroup) = &cgroup {
        spawn = cgroup.join(spawn);
    }
    // It takes the console as it is born: a session of its own.
    if let Some(console) = &console {
        spawn = spawn.at_birth(|| console.attach());
    }
    // --rootless: run by root, born of uid 700000000, not host root
    // (userns.rs).
    let child = userns::start(spawn, options.rootless, root)?;
    // --rootless: while it waits, the parent maps its ids (userns.rs).
    if options.rootless {
        userns::map_ids(child.pid(), root)?;
    }
    // Still before it goes: a cable from the host into its network namespace,
    // which the kernel deletes with that namespace (veth.rs).
    let _veth = subnet
        .map(|net| veth::connect(net, child.pid()))
        .transpose()?;
    // Bytes copied both ways while it runs; our terminal put back as it was
    // when `_relay` is dropped, on every way out of `run`.
    let _relay = console.map(console::Console::relay).transpose()?;
    // wait lets it go and passes signals on; an OOM kill is reported.
    let code = child.wait()?;
    Ok(cgroup.map_or(code, |cgroup| cgroup.explain(code)))
}

/// The child: builds the container from inside, gives up what it no longer
/// needs, then runs the command as its init.
fn child(args: &[OsString]) -> Result<u8> {
    close_inherited_descriptors()?;
    let (options, command) = options::parse(args)?;
    join_new_session_keyring()?;
    cgroup_ns::unshare_cgroup()?;
    hostname::set_hostname(&options.hostname)?;
    lo::bring_up()?;
    mounts::make_mounts_private()?;
    let root = match options.overlay {
        true => overlay::mount(&options)?,
        false => rootfs::bind(&options.rootfs)?,
    };
    rootfs::mount_dev(&root)?;
    mqueue::mount_mqueue(&root)?;
    rootfs::mount_proc(&root)?;
    rootfs::mount_sys(&root)?;
    cgroup_ns::mount_cgroup(&root)?;
    rootfs::mount_tmp(&root)?;
    rootfs::pivot_root(&root)?;
    capabilities::drop_capabilities()?;
    capabilities::set_no_new_privs()?;
    // Last, the syscall filter (seccomp.rs): inherited by all that follows.
    seccomp::install_filter()?;
    clean_environment(&options.hostname);
    // PID 1's duties: run the command, pass signals on, reap orphans.
    init::init(command)
}

// The steps with files of their own: an earlier stage's are included
// from its folder (#[path]), not copied.
#[path = "../../net/src/addressing.rs"]
mod addressing;
#[path = "../../cgroups/src/cgroups.rs"]
mod cgroups;
#[path = "../../uts/src/clone.rs"]
mod clone;
#[path = "../../uts/src/hostname.rs"]
mod hostname;
#[path = "../../pid/src/init.rs"]
mod init;
#[path = "../../net/src/lo.rs"]
mod lo;
#[path = "../../procfs/src/mounts.rs"]
mod mounts;
#[path = "../../ipc/src/mqueue.rs"]
mod mqueue;
#[path = "../../user/src/userns.rs"]
mod userns;
#[path = "../../net/src/veth.rs"]
mod veth;

#[path = "../../capabilities/src/capabilities.rs"]
mod capabilities;
mod cgroup_ns;
#[path = "../../console/src/console.rs"]
mod console;
mod options;
mod overlay;
#[path = "../../pivot/src/rootfs.rs"]
mod rootfs;
#[path = "../../seccomp/src/seccomp.rs"]
mod seccomp;
use options::Options;

/// Without root on the host, only a rootless container can be made, and
/// without a veth pair, whose host end is made on the host.
fn check_privileges(options: &Options, root: bool) -> Result<()> {
    match (root, options.rootless, options.veth) {
        (false, false, _) => Err(options::wrong(
            "run",
            "this needs root on the host; or add --rootless",
        )),
        (false, true, true) => Err(options::wrong(
            "--net veth",
            "needs root on the host, where the pair's host end is made",
        )),
        _ => Ok(()),
    }
}

/// In the held child, before it re-executes as the container's init: root
/// of its user namespace (userns.rs), and an environment of KEPT only.
/// execve(2) hands the environment on, and /proc/1/environ shows what it
/// got: the host's variables (sudo's SUDO_USER, an SSH agent's socket, a
/// token...) would be readable inside.
fn become_root_clean() -> Result<()> {
    userns::become_root()?;
    for (name, _) in env::vars_os() {
        if !KEPT.iter().any(|kept| name == *kept) {
            env::remove_var(name);
        }
    }
    Ok(())
}

/// What the re-executed child needs: the skeleton's mark that lets it in as
/// `child`, quiet mode, where the root filesystem is; and the terminal type.
const KEPT: [&str; 4] = [
    "DESDE_CERO_CHILD",
    skeleton::QUIET_ENV,
    skeleton::ROOTFS_ENV,
    "TERM",
];

/// Closes every descriptor but stdin, stdout and stderr. One the host left
/// open (`exec 7</tmp` in the shell that ran us) is a door to the host's
/// files: /proc/self/fd/7/.. walks past any pivot_root.
fn close_inherited_descriptors() -> Result<()> {
    use nix::errno::Errno;
    use nix::libc;
    // close_range(2) closes 3 and up in one call. (nix has no call for it:
    // raw libc. SAFETY: no descriptor of ours above 2 is in use: Rust's
    // std keeps none open, and the pipe to the parent is gone.)
    let closed =
        unsafe { libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0) };
    match closed {
        0 => Ok(()),
        _ => Err(skeleton::failure(
            "close_range",
            Errno::last(),
            "see close_range(2)",
        )),
    }
}

/// Keyrings belong to a user namespace (Linux 5.3); without --rootless we
/// share the host's, and uid 0's user keyring is host root's. A new session
/// keyring leaves the host's session keyring behind (runc joins one named
/// `_ses.<id>`, which `runc exec` joins too; ours has no name, none can join
/// it); uid 0's user keyring stays reachable by keyctl(2), which the seccomp
/// filter refuses (seccomp.rs).
fn join_new_session_keyring() -> Result<()> {
    use nix::errno::Errno;
    use nix::libc;
    // keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): a new session keyring with
    // no name, ours alone. (nix has no call for it: raw libc. SAFETY: a NULL
    // name is documented as asking for an anonymous keyring.)
    let null = std::ptr::null::<libc::c_char>();
    let join = libc::KEYCTL_JOIN_SESSION_KEYRING;
    if unsafe { libc::syscall(libc::SYS_keyctl, join, null) } < 0 {
        return Err(skeleton::failure(
            "keyctl",
            Errno::last(),
            "see keyctl(2)",
        ));
    }
    Ok(())
}

/// The command's environment, made from scratch: the host's variables (its
/// PATH, sudo's SUDO_USER, an SSH agent's socket...) mean nothing inside, and
/// some are secrets. The init passes what is left on to the command, and adds
/// PATH and PS1.
fn clean_environment(hostname: &str) {
    // The console relays to our terminal: its type is our terminal's.
    let term = env::var_os("TERM").unwrap_or("xterm".into());
    for (name, _) in env::vars_os() {
        env::remove_var(name);
    }
    env::set_var("HOME", "/root");
    env::set_var("TERM", term);
    env::set_var("HOSTNAME", hostname);
}
