//! # Stage 11 — full: every step together, hardened like a real runtime
//!
//! The previous stages isolate; this one also closes the holes a security engineer would poke
//! at. Each step below is marked `full:` where it is added:
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
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command, ExitCode};

use caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{clone, unshare, CloneFlags};
use nix::sys::prctl;
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{chdir, execv, pivot_root, sethostname, Pid};

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

/// The command's PATH: the usual folders, in the container's root filesystem.
const CONTAINER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the program stops early: a one-line message and the documented exit code.
struct Failure {
    code: u8,
    message: String,
}

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
        Some((verb, rest)) if verb == "child" && rest.len() > 1 => child(&rest[0], &rest[1..]),
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
    // full: `_scratch` removes the folder when `run` returns, whichever way it does: after the
    // child ended (even if it was killed), and on every error below.
    let _scratch = if options.overlay {
        Some(Scratch::create(PathBuf::from(&overlay_dir))?)
    } else {
        None
    };
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
    let mut stack = vec![0u8; STACK_SIZE];
    // clone(2) creates the child process. The callback runs in the child and replaces it with a
    // fresh copy of this program; SIGCHLD tells the parent when it ends, as fork(2) would.
    // SAFETY: this program has one thread, so the child (which gets its own copy of our memory,
    // as with fork) is a consistent copy of it; the callback only execs, or reports and returns.
    let child_pid = unsafe {
        clone(
            Box::new(|| match execv(c"/proc/self/exe", &argv) {
                Ok(never) => match never {},
                Err(err) => {
                    eprintln!(
                        "{NAME}: {}",
                        failure("execve", err, "see execve(2)").message
                    );
                    EXIT_RUNTIME as isize
                }
            }),
            &mut stack,
            flags,
            Some(Signal::SIGCHLD as i32),
        )
    }
    .map_err(|err| failure("clone", err, ROOT_HINT))?;
    supervise(child_pid, &signals)
}

/// The child: this program again, now the container's init. It builds the container's
/// filesystem, gives up the privileges it no longer needs, runs the command as its own child
/// and stays alive until the command ends.
fn child(overlay_dir: &OsString, args: &[OsString]) -> Result<u8, Failure> {
    // full: the same options the parent checked.
    let Some((options, command)) = parse(args)? else {
        return Err(usage_failure("child needs a command".to_string()));
    };
    eprintln!("child: pid {}, running {:?}", process::id(), command);
    // PR_SET_PDEATHSIG asks the kernel to send us SIGKILL if the parent dies, so a killed runtime
    // never leaves its container running on its own.
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(|err| failure("prctl", err, "see prctl(2)"))?;
    // full: unshare(2) with CLONE_NEWCGROUP puts us in a new cgroup namespace, rooted at the
    // cgroup we are in now (the container's, once joined): /proc/self/cgroup then reads `/`,
    // and the host's cgroup tree is out of sight. (A clone flag would root it at the parent's.)
    unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|err| failure("unshare", err, ROOT_HINT))?;
    // sethostname(2) changes the hostname of the UTS namespace we are in, which is ours alone
    // since the parent created us with CLONE_NEWUTS. The host's hostname stays as it was.
    sethostname(&options.hostname).map_err(|err| failure("sethostname", err, ROOT_HINT))?;
    eprintln!(
        "child: hostname set to {} in a new UTS namespace",
        options.hostname
    );
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
        let layers = format!(
            "lowerdir={},upperdir={},workdir={}",
            rootfs.display(),
            dir.join("upper").display(),
            dir.join("work").display()
        );
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
    fn create(dir: PathBuf) -> Result<Scratch, Failure> {
        // Mode 0700: no other user of the host may read or change the container's files.
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|err| io_failure("mkdir", &dir, err))?;
        let scratch = Scratch(dir);
        for name in ["upper", "work", "root"] {
            let sub = scratch.0.join(name);
            fs::create_dir(&sub).map_err(|err| io_failure("mkdir", &sub, err))?;
            // 0755, whatever the umask: the overlay's `/` takes its mode from `upper`, and every
            // user of the container must be able to enter it.
            fs::set_permissions(&sub, Permissions::from_mode(0o755))
                .map_err(|err| io_failure("chmod", &sub, err))?;
        }
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // The overlay was mounted in the child's mount namespace only, which ended with it.
        match fs::remove_dir_all(&self.0) {
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
            memory: 100 << 20,
            pids: Options::DEFAULT_PIDS,
            millicpus: 500,
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
  --rootless        root inside is an ordinary user outside (a user namespace)
                    default: off, root inside is root outside, with fewer capabilities
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
        _ => unreachable!("parse only passes the options it knows"),
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
