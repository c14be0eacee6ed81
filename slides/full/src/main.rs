//! # Stage 11 — full: every step together, hardened like a real runtime
//!
//! The previous stages isolate; this one also closes the holes a security engineer would poke
//! at. It keeps their steps, three of them now behind options: the cgroup limits (`--memory`,
//! `--pids`, `--cpus`), the veth link (`--net veth`; by default the container has only its
//! loopback) and the user namespace (`--rootless`; by default, as with docker, container root
//! is host root with fewer capabilities, since a root filesystem owned by host root cannot be
//! changed by a container root that is not). Each new step is marked `full:` where it is added:
//!
//! - `pivot_root` instead of `chroot`: the root filesystem becomes a mount point, the host's root
//!   is pivoted away and lazily unmounted, so not even the classic chroot escape reaches it.
//! - A copy-on-write overlay: the container writes into a temporary folder
//!   (`/tmp/desde-cero-overlay-<pid>`, removed on exit), so `rm -rf /bin` inside leaves the shared
//!   root filesystem intact. `--no-overlay` writes straight into it.
//! - A minimal `/dev` (a tmpfs with six devices borrowed from the host and a private `devpts`),
//!   `/sys` read-only, a fresh `/proc` with its dangerous files read-only or hidden, a tmpfs `/tmp`.
//! - A new cgroup namespace: the container sees its own group as `/`, and it alone (read-only)
//!   at `/sys/fs/cgroup`.
//! - Capabilities cut to the set docker and podman grant, also in the bounding set, and
//!   `no_new_privs`: no setuid binary or file capability can win them back.
//! - A clean environment (PATH, HOME, TERM, HOSTNAME) instead of the host's.
//! - Options, each with a default (`full --help`); invalid values are rejected before anything
//!   is created.
//!
//! Still missing for a production runtime: a seccomp filter and an LSM profile (AppArmor or
//! SELinux), which docker adds on top of all this.
//!
//! Run it:   `cargo xtask run full -- sh`
//! Directly: `sudo DESDE_CERO_ROOTFS=$PWD/rootfs/build target/debug/full run sh`
//!
//! Man pages: pivot_root(2), umount2(2), overlayfs (kernel docs: filesystems/overlayfs),
//! capabilities(7), prctl(2) (PR_SET_NO_NEW_PRIVS), cgroup_namespaces(7), devpts (kernel docs:
//! filesystems/devpts).
//!
//! Exit status: the command's own; 128+N when it died of signal N; 125 when this program failed
//! (or was called wrongly); 126 when the command cannot be executed; 127 when it is not found.
use std::env;
use std::ffi::{CString, OsString};
use std::fs::{self, DirBuilder, File, Permissions};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::ifaddrs::getifaddrs;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{clone, unshare, CloneFlags};
use nix::sys::prctl;
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::socket::SockaddrStorage;
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{
    chdir, chown, close, execv, geteuid, getgid, getuid, pipe2, pivot_root, read, setgroups,
    sethostname, setresgid, setresuid, write, Gid, Pid, Uid,
};

/// The name this program reports its errors under.
const NAME: &str = env!("CARGO_PKG_NAME");

/// How to call it.
const USAGE: &str = concat!(
    "usage: ",
    env!("CARGO_PKG_NAME"),
    " run [options] <cmd> [args...]  (see `",
    env!("CARGO_PKG_NAME"),
    " --help`)"
);

/// What to do when the kernel says EPERM: namespaces need root (CAP_SYS_ADMIN).
const ROOT_HINT: &str = concat!(
    "run it as root, or through `cargo xtask run ",
    env!("CARGO_PKG_NAME"),
    "`, which uses sudo"
);

/// The container's hostname, unless `--hostname` says otherwise.
const HOSTNAME: &str = "container";

/// Where the root filesystem's path is read from.
const ROOTFS_ENV: &str = "DESDE_CERO_ROOTFS";
/// The root filesystem `cargo xtask rootfs` makes, when the variable is not set.
const DEFAULT_ROOTFS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rootfs/build");

/// The command's PATH: the usual folders, in the container's root filesystem.
const CONTAINER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Set by the parent in the environment of the child it re-executes: `child` typed by hand is
/// refused, because as root the child's steps would change the host itself.
const CHILD_ENV: &str = "DESDE_CERO_CHILD";

/// Exit code when the runtime itself failed (the convention docker and podman use).
const EXIT_RUNTIME: u8 = 125;
/// Exit code when the command exists but cannot be executed.
const EXIT_CANNOT_EXEC: u8 = 126;
/// Exit code when the command is not found.
const EXIT_NOT_FOUND: u8 = 127;

/// Stack for the cloned child until it calls execve(2), which replaces it: 1 MiB is plenty.
const STACK_SIZE: usize = 1024 * 1024;

/// The signals the parent and the init pass on to their child, so `kill` and Ctrl-C reach the
/// command instead of killing the container around it.
const FORWARDED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Where the kernel's cgroup filesystems are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The controllers of the limits, by their v1 tree names (v2 uses the same names).
const CONTROLLERS: [&str; 3] = ["pids", "memory", "cpu"];
// full: the limits are options now (`--pids`, `--memory`, `--cpus`).
/// The CPU limit is CPU time per period of this length, in µs.
const CPU_PERIOD_US: u32 = 100_000;
/// Set to 1 to run without the limits of missing controllers (else they are an error).
const PARTIAL_ENV: &str = "DESDE_CERO_PARTIAL_CGROUPS";

/// The pool of the containers' point-to-point /30s: the host's end gets `.1`, the container's `.2`.
const SUBNET_POOL: &str = "10.200.0.0/24";
/// The variable that names another pool (or a single /30), e.g. `DESDE_CERO_SUBNET=10.9.9.0/30`.
const SUBNET_ENV: &str = "DESDE_CERO_SUBNET";

/// The host id that container root maps to when root runs this stage: no account has it, and
/// it is past the ranges useradd gives out in /etc/subuid (SUB_UID_MAX in login.defs).
const HOST_ID_OF_ROOT: u32 = 700_000_000;

/// The container's link to the host: the veth pair's ends, `dc<our pid>h` on the host and
/// `dc<our pid>c` inside (names have at most 15 characters), and the /30 of their addresses.
struct Link {
    host: String,
    container: String,
    net: Ipv4Addr,
}

// ---- full: the constants of the hardening steps ----

/// The longest hostname the kernel accepts (HOST_NAME_MAX).
const HOSTNAME_MAX: usize = 64;

/// The overlay's writable layer lives in `<prefix><parent's pid>`; `cargo xtask clean` finds
/// leftovers (from a runtime killed with SIGKILL) by this prefix.
const OVERLAY_PREFIX: &str = "/tmp/desde-cero-overlay-";

/// The device nodes programs expect in `/dev`, borrowed from the host with bind mounts.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Files of `/proc` that change the whole machine, made read-only (docker's list).
const PROC_READ_ONLY: [&str; 5] = ["bus", "fs", "irq", "sys", "sysrq-trigger"];
/// Files of `/proc` that show the host's kernel memory, keys and timers, hidden under /dev/null.
const PROC_HIDDEN: [&str; 3] = ["kcore", "keys", "timer_list"];

/// The capabilities docker and podman leave to a container's root; every other one (above all
/// CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE, CAP_NET_ADMIN) is dropped for good.
const KEPT_CAPS: [Capability; 14] = [
    Capability::CAP_CHOWN,            // chown any file
    Capability::CAP_DAC_OVERRIDE,     // ignore file permissions
    Capability::CAP_FSETID,           // keep setuid bits when changing a file
    Capability::CAP_FOWNER,           // act as owner of any file (chmod, utime)
    Capability::CAP_MKNOD,            // create device nodes (usable only where allowed)
    Capability::CAP_NET_RAW,          // raw sockets, for ping
    Capability::CAP_SETGID,           // change group ids
    Capability::CAP_SETUID,           // change user ids, e.g. to drop root
    Capability::CAP_SETFCAP,          // set file capabilities
    Capability::CAP_SETPCAP,          // move capabilities it already has
    Capability::CAP_NET_BIND_SERVICE, // listen on ports below 1024
    Capability::CAP_SYS_CHROOT,       // call chroot(2)
    Capability::CAP_KILL,             // signal any process (of its own PID namespace)
    Capability::CAP_AUDIT_WRITE,      // write to the audit log (login programs do)
];

/// Why the program stops early: a one-line message and the documented exit code.
struct Failure {
    code: u8,
    message: String,
}

/// The container's cgroup folders: one on v2, one per controller on v1. Dropping it removes them.
struct Cgroup(Vec<PathBuf>);

fn main() -> ExitCode {
    // args_os, not args: an argument that is not UTF-8 is passed through, never a panic.
    let args: Vec<OsString> = env::args_os().skip(1).collect();
    let result = match args.split_first() {
        Some((verb, _)) if verb == "--help" || verb == "-h" || verb == "help" => Ok(print_help()),
        // full: the options are checked here, before anything is created.
        Some((verb, rest)) if verb == "run" => match parse(rest) {
            Ok(Some((options, command))) => run(&options, command, rest),
            Ok(None) => Ok(print_help()),
            Err(failure) => Err(failure),
        },
        // The child's first argument is the overlay folder the parent made ("" for none), then
        // the options and the command as `run` got them.
        Some((verb, rest))
            if verb == "child" && rest.len() > 1 && env::var_os(CHILD_ENV).is_some() =>
        {
            child(&rest[0], &rest[1..])
        }
        _ => Err(Failure {
            code: EXIT_RUNTIME,
            message: USAGE.to_string(),
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("{NAME}: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Prints `full --help` to stdout; asking for help is a success.
fn print_help() -> u8 {
    println!("{}", help());
    0
}

/// The parent: makes the overlay's folder, starts a copy of this program as
/// `child <overlay folder> [options] <cmd> [args...]`, waits for it, and removes the folder.
fn run(options: &Options, command: &[OsString], args: &[OsString]) -> Result<u8, Failure> {
    eprintln!("parent: pid {}, running {:?}", process::id(), command);
    // The mark that tells the re-executed program it is our child: the environment survives
    // clone(2) and execve(2).
    env::set_var(CHILD_ENV, "1");
    // Without root, the steps that need privileges on the host are skipped, each said aloud.
    // Root on the host is uid 0 in the host's user namespace, whose uid_map maps every id to
    // itself; uid 0 of another one (a rootless container's) is not.
    let identity = ["0", "0", "4294967295"];
    let host_root = geteuid().is_root()
        && fs::read_to_string("/proc/self/uid_map")
            .is_ok_and(|map| map.split_whitespace().eq(identity));
    // full: without root on the host, only a rootless container can be made; and its veth
    // would need root on the host. Both are said before anything is created.
    if !host_root && !options.rootless {
        return Err(Failure {
            code: EXIT_RUNTIME,
            message: format!("this needs root on the host — {ROOT_HINT}; or add --rootless"),
        });
    }
    if !host_root && options.veth {
        return Err(usage_failure(
            "--net veth needs root on the host: the host's end of the pair is made there"
                .to_string(),
        ));
    }
    let signals = catch_signals()?;
    // full: the overlay's writable layer goes in a folder named after our pid.
    let overlay_dir = if options.overlay {
        format!("{OVERLAY_PREFIX}{}", process::id())
    } else {
        String::new()
    };
    // The arguments of the re-executed program, prepared before clone(2) so that a bad one is
    // reported by the parent, before any process is created.
    let mut argv = vec![CString::new(NAME).unwrap_or_default(), c"child".to_owned()];
    for arg in [OsString::from(&overlay_dir)].iter().chain(args) {
        argv.push(CString::new(arg.as_bytes()).map_err(|_| Failure {
            code: EXIT_RUNTIME,
            message: "an argument contains a NUL byte".to_string(),
        })?);
    }
    // No namespaces yet: the next stages add their flags here, one per isolation step.
    let mut flags = CloneFlags::empty();
    // CLONE_NEWUTS gives the child a new UTS namespace: its own copy of the hostname, which it
    // can change without touching the host's.
    flags |= CloneFlags::CLONE_NEWUTS;
    // CLONE_NEWPID makes the child PID 1 of a new PID namespace: it sees only its own
    // descendants, and the kernel kills them all when it ends.
    flags |= CloneFlags::CLONE_NEWPID;
    // CLONE_NEWNS gives the child its own copy of the mount table (the first namespace ever
    // added to Linux, hence the unspecific name): mounts it makes are its own.
    flags |= CloneFlags::CLONE_NEWNS;
    // CLONE_NEWIPC gives the child a new IPC namespace: its own, empty sets of System V shared
    // memory, semaphores and message queues, and of POSIX message queues.
    flags |= CloneFlags::CLONE_NEWIPC;
    // The addresses are chosen first, so that a clash with the host's networks is reported
    // before anything is created.
    // full: only with --net veth; with --net none the container has its loopback alone.
    let link = if options.veth {
        Some(pick_link()?)
    } else {
        eprintln!("parent: no veth pair (--net none): the container has only its loopback");
        None
    };
    // CLONE_NEWNET gives the child a new network namespace: its own interfaces, addresses,
    // routes and ports. At first it holds a loopback interface, down, and nothing else.
    flags |= CloneFlags::CLONE_NEWNET;
    // full: the overlay's folder is made once the options and the network are checked.
    // `_scratch` removes it when `run` returns, whichever way it does: after the child ended
    // (even if it was killed), and on every error below.
    let _scratch = if options.overlay {
        let owner = (options.rootless && host_root).then_some(HOST_ID_OF_ROOT);
        Some(Scratch::create(PathBuf::from(&overlay_dir), owner)?)
    } else {
        None
    };
    // A cgroup of its own, with the limits set, before the child exists. When `cgroup` goes out
    // of scope, on every return from here on, errors included, Rust drops it: that removes it.
    let cgroup = if host_root {
        Some(create_cgroup(options)?)
    } else {
        eprintln!("parent: skipping the cgroup limits: making a cgroup needs root on the host");
        None
    };
    // A pipe the child waits on until the parent has connected it (pipe(7)). O_CLOEXEC: neither
    // end outlives the execve(2) below, so the command never holds one.
    let ready = pipe2(OFlag::O_CLOEXEC).map_err(|err| failure("pipe", err, "see pipe(2)"))?;
    // CLONE_NEWUSER gives the child a new user namespace. The kernel creates it before the
    // others, so it owns them: the child gets every capability over them and none on the host.
    // full: only with --rootless.
    flags.set(CloneFlags::CLONE_NEWUSER, options.rootless);
    if host_root && options.rootless {
        // Supplementary groups cannot be mapped or dropped inside (setgroups is denied there):
        // as root, drop ours (group 0 among them) so that the child does not take them along.
        setgroups(&[]).map_err(|err| failure("setgroups", err, "see setgroups(2)"))?;
    }
    let mut stack = vec![0u8; STACK_SIZE];
    // clone(2) creates the child process. The callback runs in the child and replaces it with a
    // fresh copy of this program; SIGCHLD tells the parent when it ends, as fork(2) would.
    // SAFETY: this program has one thread, so the child (which gets its own copy of our memory,
    // as with fork) is a consistent copy of it; the callback only execs, or reports and returns.
    let child_pid = unsafe {
        clone(
            Box::new(|| {
                // The child joins first: what a process forks stays in the group it was forked
                // in, so a command started before the move would escape the limits.
                // Then it waits until the parent has mapped its ids and connected it, and
                // becomes root in its user namespace.
                let ready_to_go = cgroup
                    .as_ref()
                    .map_or(Ok(()), join_cgroup)
                    .and_then(|()| wait_for_parent(&ready))
                    .and_then(|()| become_root());
                if let Err(failure) = ready_to_go {
                    eprintln!("{NAME}: {}", failure.message);
                    return EXIT_RUNTIME as isize;
                }
                // PR_SET_PDEATHSIG asks the kernel to send us SIGKILL if the parent dies, so a
                // killed runtime never leaves its container running on its own. It is set here,
                // just before execve(2) (which keeps it), so the child is covered from its start.
                if let Err(err) = prctl::set_pdeathsig(Signal::SIGKILL) {
                    eprintln!("{NAME}: {}", failure("prctl", err, "see prctl(2)").message);
                    return EXIT_RUNTIME as isize;
                }
                match execv(c"/proc/self/exe", &argv) {
                    Ok(never) => match never {},
                    Err(err) => {
                        eprintln!(
                            "{NAME}: {}",
                            failure("execve", err, "see execve(2)").message
                        );
                        EXIT_RUNTIME as isize
                    }
                }
            }),
            &mut stack,
            flags,
            Some(Signal::SIGCHLD as i32),
        )
    }
    .map_err(|err| failure("clone", err, &userns_hint()))?;
    if options.rootless {
        if let Err(failure) = map_ids(child_pid, host_root) {
            // The child is still waiting: end it, so that it never runs with its ids unmapped.
            let _ = kill(child_pid, Signal::SIGKILL);
            let _ = waitpid(child_pid, None);
            return Err(failure);
        }
    }
    if let Some(link) = &link {
        connect(link, child_pid)?;
    }
    // One byte on the pipe lets the child go on.
    write(&ready.1, b"!").map_err(|err| failure("write to the pipe", err, "see pipe(7)"))?;
    let code = supervise(child_pid, &signals)?;
    if let Some(cgroup) = &cgroup {
        report_oom(cgroup, code, options);
    }
    // The kernel deletes the pair when the container's namespace ends, but in the background,
    // a moment later: deleting it now means the host is as it was when we exit.
    if let Some(link) = &link {
        disconnect(link);
    }
    Ok(code)
}

/// The child: this program again, now the container's init. It builds the container's
/// filesystem, gives up the privileges it no longer needs, runs the command as its own child
/// and stays alive until the command ends.
fn child(overlay_dir: &OsString, args: &[OsString]) -> Result<u8, Failure> {
    // The command must not inherit the mark.
    env::remove_var(CHILD_ENV);
    // full: the same options the parent checked.
    let Some((options, command)) = parse(args)? else {
        return Err(usage_failure("child needs a command".to_string()));
    };
    eprintln!("child: pid {}, running {:?}", process::id(), command);
    let map = fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let map: Vec<&str> = map.split_whitespace().collect();
    eprintln!(
        "child: uid {} (uid_map: {}; a new user namespace only with --rootless)",
        getuid(),
        map.join(" ")
    );
    // full: unshare(2) with CLONE_NEWCGROUP puts us in a new cgroup namespace, rooted at the
    // cgroup we are in: the container's, joined before the execve. /proc/self/cgroup then reads
    // `/`, and the host's cgroup tree is out of sight. (CLONE_NEWCGROUP given to clone(2) would
    // root it at the parent's group, where the child still was.)
    unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|err| failure("unshare", err, ROOT_HINT))?;
    // sethostname(2) changes the hostname of the UTS namespace we are in, which is ours alone
    // since the parent created us with CLONE_NEWUTS. The host's hostname stays as it was.
    sethostname(&options.hostname).map_err(|err| failure("sethostname", err, ROOT_HINT))?;
    eprintln!(
        "child: hostname set to {} in a new UTS namespace",
        options.hostname
    );
    // Our network namespace starts with `lo` down, and even 127.0.0.1 is unreachable until it
    // is up. full: what `ip link set lo up` does, done here: no `ip` process to start.
    loopback_up()?;
    // Our mount table is a copy of the host's, and mounts that were shared there (systemd
    // mounts `/` shared) would still propagate both ways. MS_PRIVATE with MS_REC cuts every
    // mount loose before we mount anything, so nothing reaches the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|err| failure("mount --make-rprivate /", err, ROOT_HINT))?;
    let rootfs = &options.rootfs;
    // full: the new root must be a mount point of its own for pivot_root(2). It is mounted
    // MS_NODEV: device nodes on it cannot be opened. The container keeps CAP_MKNOD (docker does),
    // so it could make a node for the host's disk; docker stops that with the devices cgroup,
    // this slide with nodev everywhere but the few devices it binds into /dev.
    let new_root = if overlay_dir.is_empty() {
        // --no-overlay: a bind mount of the root filesystem onto itself makes it a mount point;
        // remounting the bind is how it gets flags of its own.
        mount_fs(
            rootfs,
            rootfs,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        mount_fs(
            rootfs,
            rootfs,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV,
            None,
        )?;
        eprintln!(
            "child: root filesystem {} bind-mounted onto itself, writable",
            rootfs.display()
        );
        rootfs.clone()
    } else {
        // overlayfs shows the root filesystem (the lower layer, never written) merged with an
        // empty upper folder, where every change goes: a changed file is copied up first, a
        // deleted one is hidden by a marker. `work` is overlayfs's own scratch space.
        let dir = PathBuf::from(overlay_dir);
        let mut layers = format!(
            "lowerdir={},upperdir={},workdir={}",
            rootfs.display(),
            dir.join("upper").display(),
            dir.join("work").display()
        );
        // In a user namespace overlayfs may not write its bookkeeping into `trusted.*` extended
        // attributes, which only host root may: `userxattr` has it use `user.*` ones.
        if options.rootless {
            layers.push_str(",userxattr");
        }
        mount_fs(
            "overlay",
            &dir.join("root"),
            Some("overlay"),
            MsFlags::MS_NODEV,
            Some(&layers),
        )?;
        eprintln!(
            "child: root is an overlay of {}; changes go to {}",
            rootfs.display(),
            dir.join("upper").display()
        );
        dir.join("root")
    };
    // full: everything is mounted under the new root before the pivot, while the host's /dev
    // can still be borrowed from.
    mount_dev(&new_root)?;
    // A fresh procfs shows the processes of the PID namespace we are in: the container's alone.
    // full: nosuid, nodev, noexec, as for every filesystem that holds no programs.
    mount_fs(
        "proc",
        &new_root.join("proc"),
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )?;
    eprintln!("child: mounted a fresh /proc in a new mount namespace");
    eprintln!("child: in a new IPC namespace: no shared memory, semaphores or queues of the host");
    protect_proc(&new_root)?;
    // full: sysfs shows the machine's devices and kernel settings; read-only, the container can
    // look but change nothing.
    mount_fs(
        "sysfs",
        &new_root.join("sys"),
        Some("sysfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )?;
    mount_cgroup(&new_root)?;
    // full: a tmpfs (a filesystem in memory) for /tmp, writable by everyone, as usual.
    mount_fs(
        "tmpfs",
        &new_root.join("tmp"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    eprintln!("child: mounted a minimal /dev, /proc with its dangerous files read-only, /sys read-only and /tmp");
    // full: pivot_root(2) changes the root mount of our whole mount namespace, where chroot only
    // changed one process's idea of `/`. With "." for both arguments (the trick its man page
    // describes), the new root becomes `/` and the old root is stacked on top of it.
    chdir(&new_root).map_err(|err| failure("chdir", err, "see chdir(2)"))?;
    pivot_root(".", ".").map_err(|err| failure("pivot_root", err, "see pivot_root(2)"))?;
    // umount2(2) with MNT_DETACH takes the old root, the host's, off the top at once and frees
    // it when no one uses it any more: from now on no path, however many `..` it has, reaches
    // the host's files.
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(|err| failure("umount2 old root", err, "see umount2(2)"))?;
    chdir("/").map_err(|err| failure("chdir", err, "see chdir(2)"))?;
    eprintln!("child: pivot_root done, the host's root is detached");
    // full: the init needs no privilege from here on. It gives it up before starting the
    // command, which inherits what is left.
    drop_capabilities()?;
    // PR_SET_NO_NEW_PRIVS tells the kernel that no execve(2) from here on may grant privileges:
    // setuid bits and file capabilities are ignored. It is inherited, and cannot be unset.
    prctl::set_no_new_privs().map_err(|err| failure("prctl", err, "see prctl(2)"))?;
    eprintln!(
        "child: capabilities cut to docker's {}, no_new_privs set",
        KEPT_CAPS.len()
    );
    // In a new PID namespace the init must take the terminal for a group of its own.
    take_terminal();
    let signals = catch_signals()?;
    let command_pid = spawn(command, &clean_env(&options.hostname))?;
    supervise(command_pid, &signals)
}

/// Starts the command with fork(2) and execve(2), sharing our stdin, stdout and stderr.
/// full: with the environment `env` instead of ours.
fn spawn(command: &[OsString], env: &[(&str, String)]) -> Result<Pid, Failure> {
    let name = command[0].to_string_lossy();
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]);
    cmd.env_clear()
        .envs(env.iter().map(|(key, value)| (key, value)));
    // SAFETY: `unblock_signals` runs in the new process between fork and exec, and only calls
    // sigprocmask(2), which is async-signal-safe and does not allocate.
    unsafe { cmd.pre_exec(unblock_signals) };
    cmd.spawn()
        // Only the pid is kept: from here on the process is waited for with waitpid(2).
        .map(|child| Pid::from_raw(child.id() as i32))
        .map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => Failure {
                code: EXIT_NOT_FOUND,
                message: format!("{name}: command not found in the container's root filesystem"),
            },
            io::ErrorKind::PermissionDenied => Failure {
                code: EXIT_CANNOT_EXEC,
                message: format!("{name}: permission denied — is it executable?"),
            },
            _ => Failure {
                code: EXIT_CANNOT_EXEC,
                message: format!("{name}: cannot execute: {err}"),
            },
        })
}

/// Installs a do-nothing handler for the forwarded signals and SIGCHLD, then blocks them, so
/// they wait in a queue until `supervise` takes them with sigwait(3). A handler (not just a
/// block) matters from the `pid` stage on: the kernel drops signals a PID 1 has no handler for.
fn catch_signals() -> Result<SigSet, Failure> {
    extern "C" fn ignore(_: i32) {}
    let mut set = SigSet::empty();
    let action = SigAction::new(
        SigHandler::Handler(ignore),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in FORWARDED.into_iter().chain([Signal::SIGCHLD]) {
        set.add(signal);
        // SAFETY: the handler does nothing, so it is async-signal-safe.
        unsafe { sigaction(signal, &action) }
            .map_err(|err| failure("sigaction", err, "see sigaction(2)"))?;
    }
    set.thread_block()
        .map_err(|err| failure("sigprocmask", err, "see sigprocmask(2)"))?;
    Ok(set)
}

/// Runs in the command's process just before execve(2). The signal mask survives exec, so
/// without this the command would inherit the signals we blocked and never see Ctrl-C or kill.
fn unblock_signals() -> io::Result<()> {
    SigSet::all().thread_unblock().map_err(io::Error::from)
}

/// Waits for `pid` to end, forwarding signals to it and reaping every other child that ends
/// meanwhile (orphans are re-parented to the init, which must wait for them or they stay
/// zombies). Returns the exit code to report for `pid`.
fn supervise(pid: Pid, signals: &SigSet) -> Result<u8, Failure> {
    loop {
        let signal = signals
            .wait()
            .map_err(|err| failure("sigwait", err, "see sigwait(3)"))?;
        if signal != Signal::SIGCHLD {
            // Pass Ctrl-C, kill and hang-up on; the child decides what they mean.
            let _ = kill(pid, signal);
            continue;
        }
        // One SIGCHLD may stand for many ended children: reap until none is left.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(status) if status.pid() == Some(pid) => return Ok(exit_code(status)),
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(err) => return Err(failure("waitpid", err, "see waitpid(2)")),
            }
        }
    }
}

/// The shell's convention: the exit code, or 128+N when the process died of signal N.
fn exit_code(status: WaitStatus) -> u8 {
    match status {
        WaitStatus::Exited(_, code) => code as u8,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as u8,
        _ => EXIT_RUNTIME,
    }
}

/// A runtime failure in one line: the step, the kernel's error, and what to do.
fn failure(step: &str, err: Errno, hint: &str) -> Failure {
    Failure {
        code: EXIT_RUNTIME,
        message: format!("{step}: {err:?} ({}) — {hint}", err.desc().to_lowercase()),
    }
}

/// Gives the terminal, if there is one, to a new process group led by the init. The group that
/// had it is numbered in the host's PID namespace, which a shell inside cannot name: it could not
/// hand the terminal back when it exits ("Cannot set tty process group").
fn take_terminal() {
    use nix::sys::signal::signal;
    use nix::unistd::{getpgrp, isatty, setpgid, tcsetpgrp};
    let tty = io::stdin();
    if !isatty(&tty).unwrap_or(false) {
        return;
    }
    // setpgid(2) with 0, 0: a new process group whose id is our pid, 1.
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    // tcsetpgrp(3) from a background group raises SIGTTOU, which would stop us: ignore it
    // meanwhile. SAFETY: SIG_IGN and SIG_DFL run none of our code in a signal handler.
    let _ = unsafe { signal(Signal::SIGTTOU, SigHandler::SigIgn) };
    let _ = tcsetpgrp(&tty, getpgrp());
    let _ = unsafe { signal(Signal::SIGTTOU, SigHandler::SigDfl) };
}

/// Finds the cgroup layout, makes the container's group and writes its limits.
fn create_cgroup(options: &Options) -> Result<Cgroup, Failure> {
    // statfs(2) says which filesystem is mounted at a path: v2 mounts its one tree at
    // /sys/fs/cgroup; v1 mounts a tmpfs there, with a cgroup filesystem per controller in it.
    let is = |path: &str, magic| statfs(path).is_ok_and(|found| found.filesystem_type() == magic);
    let v2 = is(CGROUP_ROOT, CGROUP2_SUPER_MAGIC);
    let layout = match (v2, is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC)) {
        (true, _) => "v2: one tree for every controller",
        (false, true) => {
            "v1, hybrid: a tree per controller, and a cgroup2 one at unified/ unused here"
        }
        (false, false) => "v1: a tree per controller",
    };
    eprintln!("parent: cgroup {layout}, under {CGROUP_ROOT}");
    let mut cgroup = Cgroup(Vec::new());
    for controller in CONTROLLERS {
        let Some(parent) = parent_group(controller, v2)? else {
            missing(controller, v2)?;
            continue;
        };
        let dir = parent.join(format!("desde-cero-{}", process::id()));
        if !cgroup.0.contains(&dir) {
            // mkdir(2) in a cgroup filesystem makes a group: the kernel fills in its files.
            let step = format!("mkdir {}", dir.display());
            eprintln!("parent: {step}");
            fs::create_dir(&dir).map_err(|err| failure(&step, errno(&err), ROOT_HINT))?;
            cgroup.0.push(dir.clone());
        }
        set_limits(&dir, controller, v2, options)?;
    }
    Ok(cgroup)
}

/// The group the container's group goes in, for one controller; None when it is not available.
fn parent_group(controller: &str, v2: bool) -> Result<Option<PathBuf>, Failure> {
    // Our own group in the controller's tree (v2's line has no controllers), from the lines
    // `id:controllers:path` of /proc/self/cgroup.
    let wanted = if v2 { "" } else { controller };
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own = text
        .lines()
        .filter_map(|line| line.split_once(':')?.1.split_once(':'))
        .find(|(controllers, _)| controllers.split(',').any(|c| c == wanted))
        .map_or("", |(_, path)| path.trim_start_matches('/'));
    if !v2 {
        // v1 allows processes in any group: the container's goes below ours.
        let tree = Path::new(CGROUP_ROOT).join(controller);
        let mounted = statfs(&tree).is_ok_and(|on| on.filesystem_type() == CGROUP_SUPER_MAGIC);
        return Ok(mounted.then(|| tree.join(own)));
    }
    // On v2 ours has a process (us), so it cannot enable controllers for children: the
    // container's group goes beside it, in its parent (the root group is exempt from the rule).
    let base = Path::new(CGROUP_ROOT).join(Path::new(own).parent().unwrap_or(Path::new("")));
    let listed = |file: &str| {
        let text = fs::read_to_string(base.join(file)).unwrap_or_default();
        text.split_whitespace().any(|c| c == controller)
    };
    if !listed("cgroup.controllers") {
        return Ok(None);
    }
    // A group has a controller's files only when its parent enables it in subtree_control.
    if !listed("cgroup.subtree_control") {
        cgroup_write(
            &base.join("cgroup.subtree_control"),
            &format!("+{controller}"),
        )?;
    }
    Ok(Some(base))
}

/// A controller that is not available: an error with the fix, unless the user allowed it.
fn missing(controller: &str, v2: bool) -> Result<(), Failure> {
    if env::var_os(PARTIAL_ENV).is_some_and(|value| value == "1") {
        eprintln!("parent: no {controller} controller: running WITHOUT a {controller} limit ({PARTIAL_ENV}=1)");
        return Ok(());
    }
    let fix = match v2 {
        true => "enable it in the cgroup.subtree_control of the groups above ours".to_string(),
        false => {
            format!("mount it: `mount -t cgroup -o {controller} cgroup {CGROUP_ROOT}/{controller}`")
        }
    };
    Err(Failure {
        code: EXIT_RUNTIME,
        message: format!("cgroup: no {controller} controller — {fix}, or set {PARTIAL_ENV}=1 to run without a {controller} limit"),
    })
}

/// Writes one controller's limits into the group's files.
/// full: the limits are the options'; --cpus is in thousandths of a CPU.
fn set_limits(dir: &Path, controller: &str, v2: bool, options: &Options) -> Result<(), Failure> {
    let memory = options.memory.to_string();
    let quota_us = options.millicpus * u64::from(CPU_PERIOD_US) / 1000;
    let files = match (controller, v2) {
        // fork(2) and clone(2) fail with EAGAIN once the group has this many tasks.
        ("pids", _) => vec![("pids.max", options.pids.to_string())],
        // Past the limit the kernel reclaims, then its OOM killer kills a process of the group.
        // Swap is limited too (v1 limits memory and swap together), or it would be the way out.
        ("memory", true) => vec![("memory.max", memory), ("memory.swap.max", "0".into())],
        ("memory", _) => vec![
            ("memory.limit_in_bytes", memory.clone()),
            ("memory.memsw.limit_in_bytes", memory),
        ],
        // The scheduler runs the group for the quota in every period, then throttles it.
        ("cpu", true) => vec![("cpu.max", format!("{quota_us} {CPU_PERIOD_US}"))],
        _ => vec![
            ("cpu.cfs_period_us", CPU_PERIOD_US.to_string()),
            ("cpu.cfs_quota_us", quota_us.to_string()),
        ],
    };
    for (file, value) in files {
        // The swap files exist only where the kernel counts swap.
        let swap = file.contains("swap") || file.contains("memsw");
        if !swap || dir.join(file).exists() {
            cgroup_write(&dir.join(file), &value)?;
        }
    }
    Ok(())
}

/// Writes a value into a cgroup file, shown as the shell command that does the same.
fn cgroup_write(path: &Path, value: &str) -> Result<(), Failure> {
    let step = format!("echo {value} > {}", path.display());
    eprintln!("parent: {step}");
    fs::write(path, value).map_err(|err| match errno(&err) {
        // v2's "no internal processes" rule: a group with processes cannot pass controllers on.
        Errno::EBUSY => failure(
            &step,
            Errno::EBUSY,
            "that group has processes: start this from a group whose parent has none",
        ),
        other => failure(&step, other, ROOT_HINT),
    })
}

/// Moves the calling process into the container's group (into each tree's, on v1): writing a pid
/// to cgroup.procs moves that process, and 0 means the writer.
fn join_cgroup(cgroup: &Cgroup) -> Result<(), Failure> {
    for dir in &cgroup.0 {
        // full: on v1, `tasks` rather than cgroup.procs: it moves only this thread, all there
        // is right after clone(2), so the kernel skips the lock a whole-process move takes,
        // whose writer waits for an RCU grace period (milliseconds). v2 has no `tasks`.
        let tasks = dir.join("tasks");
        let file = if tasks.exists() {
            tasks
        } else {
            dir.join("cgroup.procs")
        };
        let step = format!("echo 0 > {}", file.display());
        fs::write(&file, "0").map_err(|err| failure(&step, errno(&err), "see cgroups(7)"))?;
    }
    eprintln!("child: joined the container's cgroup, before running anything");
    Ok(())
}

/// Says so when the memory limit's OOM killer ended the command (137 is 128 + SIGKILL). The
/// kernel counts its kills as `oom_kill N`, in memory.events (v2) or memory.oom_control (v1).
fn report_oom(cgroup: &Cgroup, code: u8, options: &Options) {
    let mut kills = 0;
    for dir in &cgroup.0 {
        for file in ["memory.events", "memory.oom_control"] {
            let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
            let count = text.lines().find_map(|line| line.strip_prefix("oom_kill "));
            kills += count.and_then(|n| n.trim().parse().ok()).unwrap_or(0);
        }
    }
    if kills > 0 && code == 128 + Signal::SIGKILL as u8 {
        let mib = options.memory >> 20;
        eprintln!("{NAME}: killed by the OOM killer: memory limit {mib} MiB");
    }
}

impl Drop for Cgroup {
    /// Removes the groups once the container has ended. rmdir(2) removes a group without
    /// processes; while one is left, or still exiting, it fails with EBUSY: kill them (v2: one
    /// write to cgroup.kill; v1: kill(2) each one) and try again, for 10 s at most.
    fn drop(&mut self) {
        for dir in &self.0 {
            let step = format!("rmdir {}", dir.display());
            eprintln!("parent: {step}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while let Err(err) = fs::remove_dir(dir) {
                if errno(&err) != Errno::EBUSY || Instant::now() > deadline {
                    let hint = "remove it by hand once its processes have ended";
                    eprintln!("{NAME}: {}", failure(&step, errno(&err), hint).message);
                    break;
                }
                if fs::write(dir.join("cgroup.kill"), "1").is_err() {
                    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                    for pid in procs.lines().filter_map(|pid| pid.parse().ok()) {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The kernel's error number in an io::Error (what std's file functions return).
fn errno(err: &io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(0))
}

/// Chooses the container's link: the first /30 of the pool that nothing on the host overlaps,
/// starting at a place that depends on our pid, so that two containers starting together are
/// unlikely to race for the same one.
fn pick_link() -> Result<Link, Failure> {
    let pool = env::var(SUBNET_ENV).unwrap_or(SUBNET_POOL.to_string());
    // `<first address>/<length>`: at most a /30, and the address is the subnet's first.
    let parsed = pool.split_once('/').and_then(|(first, len)| {
        let first = u32::from(first.parse::<Ipv4Addr>().ok()?);
        let len = len.parse::<u32>().ok().filter(|len| *len <= 30)?;
        (u64::from(first) % (1 << (32 - len)) == 0).then_some((first, len))
    });
    let Some((first, len)) = parsed else {
        return Err(Failure {
            code: EXIT_RUNTIME,
            message: format!("{SUBNET_ENV}={pool}: not a subnet like {SUBNET_POOL} or 10.9.9.0/30"),
        });
    };
    let taken = host_networks();
    let count = 1 << (30 - len);
    let mut clash = String::new();
    for i in 0..count {
        let net = first + (process::id().wrapping_add(i) % count) * 4;
        // Two networks overlap when they agree on the bits that both masks cover (a /30's: !3).
        match taken
            .iter()
            .find(|(addr, mask, _)| (addr ^ net) & mask & !3 == 0)
        {
            Some((_, _, what)) => clash = format!("{}/30 overlaps {what}", Ipv4Addr::from(net)),
            None => {
                return Ok(Link {
                    host: format!("dc{}h", process::id()),
                    container: format!("dc{}c", process::id()),
                    net: Ipv4Addr::from(net),
                })
            }
        }
    }
    Err(Failure {
        code: EXIT_RUNTIME,
        message: format!("no free /30 in {pool}: {clash} — choose another with {SUBNET_ENV}"),
    })
}

/// The networks in use on the host, as (address, mask, what): the address of each interface,
/// with the network it belongs to, and each route of the main routing table but the default one
/// (whose mask, 0, would overlap everything).
fn host_networks() -> Vec<(u32, u32, String)> {
    let mut taken = Vec::new();
    for ifa in getifaddrs().into_iter().flatten() {
        let ip = |a: Option<SockaddrStorage>| Some(u32::from(a?.as_sockaddr_in()?.ip()));
        if let (Some(addr), Some(mask)) = (ip(ifa.address), ip(ifa.netmask)) {
            taken.push((addr, mask, format!("an address of {}", ifa.interface_name)));
        }
    }
    // /proc/net/route shows addresses in hex, in the byte order of the kernel's memory.
    let hex = |s: &str| u32::from_str_radix(s, 16).map(|n| u32::from_be_bytes(n.to_ne_bytes()));
    let routes = fs::read_to_string("/proc/net/route").unwrap_or_default();
    for line in routes.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [dev, dest, _, _, _, _, _, mask, ..] = fields[..] {
            if let (Ok(dest), Ok(mask)) = (hex(dest), hex(mask)) {
                taken.push((dest, mask, format!("a route on {dev}")));
            }
        }
    }
    taken.retain(|(_, mask, _)| *mask != 0);
    taken
}

/// In the child, before it runs anything: waits until the parent writes its byte. End of file
/// instead means the parent ended first; the container must not run half made.
fn wait_for_parent(ready: &(OwnedFd, OwnedFd)) -> Result<(), Failure> {
    // Our copy of the writing end goes first: while any is open, the pipe never reports the
    // end of file that tells us the parent died.
    let _ = close(ready.1.as_raw_fd());
    match read(&ready.0, &mut [0u8]) {
        Ok(1) => Ok(()),
        Ok(_) => Err(Failure {
            code: EXIT_RUNTIME,
            message: "the parent ended before the container was ready".to_string(),
        }),
        Err(err) => Err(failure("read from the pipe", err, "see pipe(7)")),
    }
}

/// Connects the container to the host with a veth pair. If a step fails, the pair is deleted
/// and the child, still waiting, is ended: no command runs without its network.
fn connect(link: &Link, child: Pid) -> Result<(), Failure> {
    let (host, container, net) = (&link.host, &link.container, u32::from(link.net));
    let (host_addr, container_addr) = (Ipv4Addr::from(net + 1), Ipv4Addr::from(net + 2));
    let inside = format!("nsenter --target {child} --net");
    let steps = [
        // The container's end is made right in the child's namespace (`netns <pid>`), so that
        // a pair is never left on the host with both ends.
        format!("ip link add {host} type veth peer name {container} netns {child}"),
        format!("ip address add {host_addr}/30 dev {host}"),
        format!("ip link set {host} up"),
        // nsenter(1) runs `ip` in the child's network namespace, where the other end now is.
        format!("{inside} ip address add {container_addr}/30 dev {container}"),
        format!("{inside} ip link set {container} up"),
    ];
    for step in steps {
        if let Err(failure) = loud("parent", &step) {
            let _ = kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
            disconnect(link);
            return Err(failure);
        }
    }
    Ok(())
}

/// Deletes the veth pair, if it is still there: deleting either end deletes both, with their
/// addresses and the route.
fn disconnect(link: &Link) {
    eprintln!("parent: ip link delete {}", link.host);
    let _ = Command::new("ip")
        .args(["link", "delete", &link.host])
        .stderr(process::Stdio::null())
        .status();
}

/// full: `ip link set lo up` without starting an `ip` process (milliseconds): the same request,
/// SIOCSIFFLAGS with IFF_UP, made with ioctl(2) on a socket of our network namespace
/// (netdevice(7)).
fn loopback_up() -> Result<(), Failure> {
    use nix::libc;
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    eprintln!("child: ip link set lo up (as ioctl SIOCSIFFLAGS)");
    let step = "ioctl SIOCSIFFLAGS lo";
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|err| failure("socket", err, "see socket(2)"))?;
    // SAFETY: ifreq is plain data, and all zeroes is a valid one.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (to, from) in req.ifr_name.iter_mut().zip(b"lo") {
        *to = *from as libc::c_char;
    }
    // SAFETY: a valid socket and a valid ifreq, which the kernel reads and then writes. (`as _`:
    // the request number is a c_ulong for glibc, a c_int for musl.)
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) } < 0 {
        return Err(failure(step, Errno::last(), "see netdevice(7)"));
    }
    // SAFETY: SIOCGIFFLAGS filled in the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) } < 0 {
        return Err(failure(step, Errno::last(), "see netdevice(7)"));
    }
    Ok(())
}

/// Prints a command for the audience, as `<who>: <command>`, then runs it.
fn loud(who: &str, command: &str) -> Result<(), Failure> {
    eprintln!("{who}: {command}");
    let argv: Vec<&str> = command.split_whitespace().collect();
    match Command::new(argv[0]).args(&argv[1..]).status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(Failure {
            code: EXIT_RUNTIME,
            message: format!("{command}: {status} — see its message above"),
        }),
        Err(err) => Err(Failure {
            code: EXIT_RUNTIME,
            message: format!("{}: {err} — is it installed?", argv[0]),
        }),
    }
}

/// Writes the child's maps: uid and gid 0 inside are the user who ran us, or when that is root,
/// HOST_ID_OF_ROOT. Each map is written once, by a process outside the namespace.
fn map_ids(child: Pid, host_root: bool) -> Result<(), Failure> {
    let (uid, gid) = match host_root {
        true => (HOST_ID_OF_ROOT, HOST_ID_OF_ROOT),
        false => (getuid().as_raw(), getgid().as_raw()),
    };
    write_proc(child, "uid_map", &format!("0 {uid} 1"))?;
    // The order of the next two is the kernel's rule: without root, gid_map may be written only
    // once setgroups(2) is denied in the namespace. Else container root could drop one of the
    // user's groups, and with it a restriction: a file with mode 0705 is closed to that group.
    write_proc(child, "setgroups", "deny")?;
    write_proc(child, "gid_map", &format!("0 {gid} 1"))
}

/// Writes `text` to `/proc/<child>/<file>`, saying it as the shell command that would.
fn write_proc(child: Pid, file: &str, text: &str) -> Result<(), Failure> {
    let path = format!("/proc/{child}/{file}");
    eprintln!("parent: echo '{text}' > {path}");
    fs::write(&path, text)
        .map_err(|err| failure(&format!("write {path}"), errno(&err), &userns_hint()))
}

/// In the child, once the maps are written: become uid and gid 0 of the namespace. execve(2)
/// keeps the capabilities the kernel gave us in it only for uid 0, and root on the host is not
/// uid 0 in here: host root is not mapped.
fn become_root() -> Result<(), Failure> {
    let (uid, gid) = (Uid::from_raw(0), Gid::from_raw(0));
    setresgid(gid, gid, gid).map_err(|err| failure("setresgid", err, "see user_namespaces(7)"))?;
    setresuid(uid, uid, uid).map_err(|err| failure("setresuid", err, "see user_namespaces(7)"))
}

/// What to say when the kernel refuses a user namespace: the setting that forbids it, if any.
fn userns_hint() -> String {
    for (setting, off, on) in [
        ("kernel.unprivileged_userns_clone", "0", "1"),
        ("user.max_user_namespaces", "0", "15000"),
        ("kernel.apparmor_restrict_unprivileged_userns", "1", "0"),
    ] {
        let path = format!("/proc/sys/{}", setting.replace('.', "/"));
        if fs::read_to_string(path).is_ok_and(|value| value.trim() == off) {
            return format!("{setting} is {off}, which forbids user namespaces here: `sudo sysctl -w {setting}={on}` allows them");
        }
    }
    "see user_namespaces(7)".to_string()
}

// ---- full: the hardening steps' helpers ----

/// mount(2), with the step named in the error: mount `source` (a device, a folder to bind, or
/// just a label for filesystems without one) of type `fstype` on `target`.
fn mount_fs(
    source: impl AsRef<Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), Failure> {
    mount(Some(source.as_ref()), target, fstype, flags, data).map_err(|err| {
        failure(
            &format!("mount {}", target.display()),
            err,
            "does the root filesystem have that folder? see mount(2)",
        )
    })
}

/// full: a minimal /dev: a tmpfs with only the devices in DEVICES, and a private devpts for
/// terminals. The host's /dev, with its disks and hardware, is not there.
fn mount_dev(root: &Path) -> Result<(), Failure> {
    let dev = root.join("dev");
    // A tmpfs is a filesystem in memory: this /dev is the container's own and goes with it.
    // Nodev too: the bind mounts below are mounts of their own, and keep working.
    mount_fs(
        "tmpfs",
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755,size=64k"),
    )?;
    for name in DEVICES {
        let node = dev.join(name);
        // A bind mount needs something to mount on: an empty file.
        File::create(&node).map_err(|err| io_failure("create", &node, err))?;
        // A bind mount shows the host's device node at this path too (the node itself, not a
        // copy). No mknod(2) is needed, which a user namespace would not be allowed.
        mount_fs(
            Path::new("/dev").join(name),
            &node,
            None,
            MsFlags::MS_BIND,
            None,
        )?;
    }
    // devpts with `newinstance` is a new set of pseudo-terminals, numbered from 0, showing none
    // of the host's; /dev/ptmx, where programs ask for a new one, points into it.
    let pts = dev.join("pts");
    fs::create_dir(&pts).map_err(|err| io_failure("mkdir", &pts, err))?;
    mount_fs(
        "devpts",
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    // The links programs expect: ptmx, and the process's own open files.
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let link = dev.join(link);
        symlink(target, &link).map_err(|err| io_failure("symlink", &link, err))?;
    }
    Ok(())
}

/// full: /proc is the container's own, but some of its files act on the whole machine: writing
/// /proc/sysrq-trigger can reboot the host, /proc/sys sets kernel parameters. Those become
/// read-only; those that show the host's kernel memory, keys and timers are hidden.
fn protect_proc(root: &Path) -> Result<(), Failure> {
    let proc = root.join("proc");
    for name in PROC_READ_ONLY {
        let path = proc.join(name);
        // Not every kernel has every file (sysrq-trigger needs CONFIG_MAGIC_SYSRQ).
        if !path.exists() {
            continue;
        }
        // A bind mount of a path onto itself makes it a mount point, with flags of its own; the
        // remount makes it read-only (nosuid, nodev and noexec are kept from /proc).
        mount_fs(&path, &path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
        mount_fs(
            &path,
            &path,
            None,
            MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            None,
        )?;
    }
    for name in PROC_HIDDEN {
        let path = proc.join(name);
        if !path.exists() {
            continue;
        }
        // /dev/null mounted over a file hides it: it reads as empty.
        mount_fs(root.join("dev/null"), &path, None, MsFlags::MS_BIND, None)?;
    }
    Ok(())
}

/// full: the container's cgroup at /sys/fs/cgroup, read-only. In the new cgroup namespace, a
/// cgroup filesystem mounted from inside has the container's group as its root: its limits can
/// be read there (and not changed), and no other group is visible.
fn mount_cgroup(root: &Path) -> Result<(), Failure> {
    let dir = root.join("sys/fs/cgroup");
    let read_only =
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // /proc/self/cgroup has a line `id:controllers:path` per hierarchy; v2's is `0::path`.
    let lines = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if lines.lines().all(|line| line.starts_with("0::")) {
        // cgroup v2: one tree for every controller.
        return mount_fs("cgroup2", &dir, Some("cgroup2"), read_only, None);
    }
    // cgroup v1 (or hybrid): a tmpfs with a folder per tree, each mounted with the controllers
    // it has on the host (e.g. `cpu,cpuacct`), or the kernel would refuse.
    mount_fs(
        "tmpfs",
        &dir,
        Some("tmpfs"),
        read_only ^ MsFlags::MS_RDONLY,
        Some("mode=755"),
    )?;
    for controllers in lines.lines().filter_map(|line| line.split(':').nth(1)) {
        if controllers.is_empty() || controllers.starts_with("name=") {
            continue; // the hybrid's v2 tree, and systemd's tree without controllers
        }
        let tree = dir.join(controllers);
        fs::create_dir(&tree).map_err(|err| io_failure("mkdir", &tree, err))?;
        mount_fs(
            "cgroup",
            &tree,
            Some("cgroup"),
            read_only,
            Some(controllers),
        )?;
    }
    mount_fs(
        &dir,
        &dir,
        None,
        MsFlags::MS_REMOUNT | read_only,
        Some("mode=755"),
    )
}

/// full: keeps only KEPT_CAPS, in every capability set of this process (capabilities(7)):
/// - bounding: the most any later execve(2) can grant. Dropping from it makes the cut
///   permanent: not even a setuid-root program gets a capability back.
/// - effective and permitted: what this process can use now, and could turn on again.
/// - inheritable and ambient: what passes through execve(2) to non-root programs: none.
fn drop_capabilities() -> Result<(), Failure> {
    let fail = |err: caps::errors::CapsError| Failure {
        code: EXIT_RUNTIME,
        message: format!("drop capabilities: {err} — see capabilities(7)"),
    };
    let keep: CapsHashSet = KEPT_CAPS.into_iter().collect();
    // prctl(PR_CAPBSET_DROP), once per capability; it needs CAP_SETPCAP, which we keep.
    for cap in caps::read(None, CapSet::Bounding).map_err(fail)? {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(fail)?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(fail)?;
    caps::clear(None, CapSet::Inheritable).map_err(fail)?;
    // capset(2): the effective set first, as it must stay within the permitted set.
    let held = caps::read(None, CapSet::Permitted).map_err(fail)?;
    let kept: CapsHashSet = held.intersection(&keep).copied().collect();
    caps::set(None, CapSet::Effective, &kept).map_err(fail)?;
    caps::set(None, CapSet::Permitted, &kept).map_err(fail)?;
    Ok(())
}

/// full: the command's environment, made from scratch. The host's variables (its PATH, sudo's
/// SUDO_USER, an SSH agent's socket...) mean nothing inside, and some are secrets.
fn clean_env(hostname: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PATH", CONTAINER_PATH.to_string()),
        ("HOME", "/root".to_string()),
        // The terminal is still the host's, and so is its type.
        (
            "TERM",
            env::var("TERM").unwrap_or_else(|_| "xterm".to_string()),
        ),
        ("HOSTNAME", hostname.to_string()),
    ]
}

/// full: the overlay's folder on the host: `upper` (the container's changes), `work`
/// (overlayfs's scratch space) and `root` (where the merged view is mounted). Dropping it
/// removes the folder.
struct Scratch(PathBuf);

impl Scratch {
    /// Makes the folder; `owner` is the host uid of container root when it is not root itself
    /// (--rootless run by root): the overlay is mounted by container root, and needs its folders.
    fn create(dir: PathBuf, owner: Option<u32>) -> Result<Scratch, Failure> {
        // Mode 0700: no other user of the host may read or change the container's files.
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|err| io_failure("mkdir", &dir, err))?;
        let scratch = Scratch(dir);
        let subs = ["upper", "work", "root"].map(|name| scratch.0.join(name));
        for sub in &subs {
            fs::create_dir(sub).map_err(|err| io_failure("mkdir", sub, err))?;
            // 0755, whatever the umask: the overlay's `/` takes its mode from `upper`, and every
            // user of the container must be able to enter it.
            fs::set_permissions(sub, Permissions::from_mode(0o755))
                .map_err(|err| io_failure("chmod", sub, err))?;
        }
        if let Some(uid) = owner {
            let id = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(uid)));
            for path in subs.iter().chain([&scratch.0]) {
                chown(path, id.0, id.1)
                    .map_err(|err| failure(&format!("chown {}", path.display()), err, ROOT_HINT))?;
            }
        }
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // The overlay was mounted in the child's mount namespace only, which ended with it.
        // overlayfs leaves `work/work` with mode 000 (and the container may have made folders
        // like it): without root, their owner must open them before removing what is inside.
        let removed = fs::remove_dir_all(&self.0).or_else(|_| {
            open_up(&self.0);
            fs::remove_dir_all(&self.0)
        });
        match removed {
            Ok(()) => eprintln!(
                "parent: removed the container's changes in {}",
                self.0.display()
            ),
            Err(err) => eprintln!(
                "{NAME}: remove {}: {err} — `cargo xtask clean` removes it",
                self.0.display()
            ),
        }
    }
}

/// Gives the owner of every folder under `dir` (`dir` included) full access to it, 0700.
fn open_up(dir: &Path) {
    let _ = fs::set_permissions(dir, Permissions::from_mode(0o700));
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        // file_type does not follow symbolic links: only real folders are opened.
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            open_up(&entry.path());
        }
    }
}

/// A failed file operation as a one-line runtime failure.
fn io_failure(step: &str, path: &Path, err: io::Error) -> Failure {
    let errno = Errno::from_raw(err.raw_os_error().unwrap_or(0));
    failure(
        &format!("{step} {}", path.display()),
        errno,
        "see the folder's permissions",
    )
}

/// The root filesystem at `path`, as an absolute path; a clear line if there is none.
fn find_rootfs(path: &Path) -> Result<PathBuf, Failure> {
    // canonicalize resolves `..` for the teaching lines, and fails if there is no folder.
    match path.canonicalize() {
        Ok(dir) if dir.join("bin").is_dir() => Ok(dir),
        _ => Err(Failure {
            code: EXIT_RUNTIME,
            message: format!(
                "no root filesystem at {} — make one with `cargo xtask rootfs`, or set {ROOTFS_ENV} or --rootfs",
                path.display()
            ),
        }),
    }
}

// ---- full: options ----

/// What `full run` can be told. Each field has a default, shown by `full --help`.
struct Options {
    /// `--hostname NAME`: the container's hostname.
    hostname: String,
    /// `--rootfs DIR`: the root filesystem (lower layer of the overlay).
    rootfs: PathBuf,
    /// `--memory SIZE`: memory limit in bytes.
    memory: u64,
    /// `--pids N`: the most processes the container may have at once.
    pids: u64,
    /// `--cpus N`: CPU time, in thousandths of a CPU (1500 = one and a half CPUs).
    millicpus: u64,
    /// `--net none|veth`: only loopback, or also a veth link to the host.
    veth: bool,
    /// `--rootless`: a user namespace, where root inside is an ordinary user outside.
    rootless: bool,
    /// `--no-overlay` turns it off: writes then go straight into the root filesystem.
    overlay: bool,
}

impl Options {
    const DEFAULT_MEMORY: &'static str = "100M";
    const DEFAULT_PIDS: u64 = 20;
    const DEFAULT_CPUS: &'static str = "0.5";

    fn defaults() -> Options {
        Options {
            hostname: HOSTNAME.to_string(),
            rootfs: PathBuf::from(env::var_os(ROOTFS_ENV).unwrap_or(DEFAULT_ROOTFS.into())),
            memory: 100 << 20, // DEFAULT_MEMORY
            pids: Options::DEFAULT_PIDS,
            millicpus: 500, // DEFAULT_CPUS
            veth: false,
            rootless: false,
            overlay: true,
        }
    }
}

/// `full --help`: every option with its default.
fn help() -> String {
    let memory = Options::DEFAULT_MEMORY;
    let pids = Options::DEFAULT_PIDS;
    let cpus = Options::DEFAULT_CPUS;
    format!(
        "{NAME}: run a command in a container: every namespace, cgroup limits, pivot_root, a
copy-on-write overlay, a minimal /dev, reduced capabilities and no_new_privs.

usage: {NAME} run [options] <cmd> [args...]
       (options come before the command; `--` ends them)

options (each with its default):
  --hostname NAME   the container's hostname, 1 to {HOSTNAME_MAX} bytes
                    default: {HOSTNAME}
  --rootfs DIR      the root filesystem, the overlay's lower layer
                    default: ${ROOTFS_ENV}, else rootfs/build in this repository
  --memory SIZE     memory limit: bytes, or with K, M or G (powers of 1024)
                    default: {memory}
  --pids N          at most N processes at once
                    default: {pids}
  --cpus N          CPU time, in CPUs (0.5: half of one)
                    default: {cpus}
  --net none|veth   loopback only, or also a veth link to the host
                    default: none
  --rootless        root inside is an ordinary user outside (a user namespace); needs
                    no root on the host, but files of host root can then only be read
                    default: off: root inside is root outside, with fewer capabilities
  --no-overlay      write into the root filesystem itself
                    default: an overlay; changes go to {OVERLAY_PREFIX}<pid>,
                    removed on exit

exit status: the command's own; 128+N when it died of signal N; 125 when {NAME} failed or
was called wrongly; 126 when the command cannot be executed; 127 when it is not found."
    )
}

/// Reads `[options] <cmd> [args...]`, checking every value now, before anything is created.
/// Returns `None` when `--help` was asked for.
fn parse(args: &[OsString]) -> Result<Option<(Options, &[OsString])>, Failure> {
    let mut options = Options::defaults();
    let mut rest = args;
    // An option starts with `--`; the first argument that does not is the command.
    while let Some(arg) = rest.first().and_then(|a| a.to_str()) {
        if !arg.starts_with("--") {
            break;
        }
        rest = &rest[1..];
        if arg == "--" {
            break;
        }
        // `--memory 256M` and `--memory=256M` both work.
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (arg, None),
        };
        match name {
            "--help" => return Ok(None),
            "--rootless" => options.rootless = true,
            "--no-overlay" => options.overlay = false,
            "--hostname" | "--rootfs" | "--memory" | "--pids" | "--cpus" | "--net" => {
                let value = match inline {
                    Some(value) => value,
                    None => {
                        let value = rest
                            .first()
                            .and_then(|v| v.to_str())
                            .ok_or_else(|| usage_failure(format!("{name} needs a value")))?;
                        rest = &rest[1..];
                        value.to_string()
                    }
                };
                set_option(&mut options, name, &value)?;
            }
            _ => return Err(usage_failure(format!("unknown option {arg}"))),
        }
    }
    if rest.is_empty() {
        return Err(Failure {
            code: EXIT_RUNTIME,
            message: USAGE.to_string(),
        });
    }
    options.rootfs = find_rootfs(&options.rootfs)?;
    Ok(Some((options, rest)))
}

/// Checks one option's value and stores it.
fn set_option(options: &mut Options, name: &str, value: &str) -> Result<(), Failure> {
    let invalid = |what: &str| usage_failure(format!("{name} {value:?}: {what}"));
    match name {
        "--hostname" if value.is_empty() || value.len() > HOSTNAME_MAX => {
            return Err(invalid("a hostname has 1 to 64 bytes"))
        }
        "--hostname" => options.hostname = value.to_string(),
        "--rootfs" => options.rootfs = PathBuf::from(value),
        "--memory" => {
            options.memory = parse_size(value)
                .filter(|&bytes| bytes >= 1 << 20)
                .ok_or_else(|| invalid("expected a size of at least 1M, like 512M or 2G"))?
        }
        "--pids" => {
            options.pids = value
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| invalid("expected a whole number above 0"))?
        }
        "--cpus" => {
            options.millicpus = value
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.01 && *n <= 1024.0)
                .map(|n| (n * 1000.0).round() as u64)
                .ok_or_else(|| invalid("expected a number of CPUs from 0.01 to 1024, like 0.5"))?
        }
        "--net" if value == "none" => options.veth = false,
        "--net" if value == "veth" => options.veth = true,
        "--net" => return Err(invalid("expected none or veth")),
        _ => return Err(usage_failure(format!("unknown option {name}"))),
    }
    Ok(())
}

/// `512`, `64K`, `256M`, `2G` (powers of 1024, either case) in bytes; `None` if it is not one.
fn parse_size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 10),
        (i, 'm' | 'M') => (&text[..i], 20),
        (i, 'g' | 'G') => (&text[..i], 30),
        _ => (text, 0),
    };
    let number: u64 = digits.parse().ok()?;
    number.checked_mul(1 << shift)
}

/// A wrong call: the message and where to read how it is called.
fn usage_failure(message: String) -> Failure {
    Failure {
        code: EXIT_RUNTIME,
        message: format!("{message} — see `{NAME} --help`"),
    }
}
