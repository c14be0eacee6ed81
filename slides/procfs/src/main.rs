//! # Stage 6 — procfs: a mount namespace and a /proc of its own
//!
//! `ps` reads `/proc`, and the `/proc` a process sees shows the PID namespace it was mounted
//! for. The parent adds `CLONE_NEWNS` so the child gets its own copy of the mount table; the
//! child makes every mount in it private (so nothing it mounts propagates back to the host,
//! whose `/` systemd mounts shared), changes root, and mounts a fresh `proc` at `/proc`: `ps`
//! now lists only the container's processes. The mounts vanish with the mount namespace when
//! the container ends, so there is nothing to unmount.
//!
//! Run it:   `cargo xtask run procfs -- ps`
//! Directly: `sudo DESDE_CERO_ROOTFS=$PWD/rootfs/build target/debug/procfs run ps`
//!
//! Man pages: mount_namespaces(7), mount(2), proc(5), pid_namespaces(7) ("/proc and PID
//! namespaces").
//!
//! Exit status: the command's own; 128+N when it died of signal N; 125 when this program failed
//! (or was called wrongly); 126 when the command cannot be executed; 127 when it is not found.
use std::env;
use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{self, Command, ExitCode};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{clone, CloneFlags};
use nix::sys::prctl;
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{chdir, chroot, execv, sethostname, Pid};

/// The name this program reports its errors under.
const NAME: &str = env!("CARGO_PKG_NAME");

/// How to call it.
const USAGE: &str = concat!("usage: ", env!("CARGO_PKG_NAME"), " run <cmd> [args...]");

/// What to do when the kernel says EPERM: namespaces need root (CAP_SYS_ADMIN).
const ROOT_HINT: &str = concat!(
    "run it as root, or through `cargo xtask run ",
    env!("CARGO_PKG_NAME"),
    "`, which uses sudo"
);

/// The container's hostname.
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

/// Why the program stops early: a one-line message and the documented exit code.
struct Failure {
    code: u8,
    message: String,
}

fn main() -> ExitCode {
    // args_os, not args: an argument that is not UTF-8 is passed through, never a panic.
    let args: Vec<OsString> = env::args_os().skip(1).collect();
    let result = match args.split_first() {
        Some((verb, command)) if verb == "run" && !command.is_empty() => run(command),
        Some((verb, command))
            if verb == "child" && !command.is_empty() && env::var_os(CHILD_ENV).is_some() =>
        {
            child(command)
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

/// The parent: starts a copy of this program as `child <cmd> [args...]` and waits for it.
fn run(command: &[OsString]) -> Result<u8, Failure> {
    eprintln!("parent: pid {}, running {:?}", process::id(), command);
    // The mark that tells the re-executed program it is our child: the environment survives
    // clone(2) and execve(2).
    env::set_var(CHILD_ENV, "1");
    let signals = catch_signals()?;
    // The arguments of the re-executed program, prepared before clone(2) so that a bad one is
    // reported by the parent, before any process is created.
    let mut argv = vec![CString::new(NAME).unwrap_or_default(), c"child".to_owned()];
    for arg in command {
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
    let mut stack = vec![0u8; STACK_SIZE];
    // clone(2) creates the child process. The callback runs in the child and replaces it with a
    // fresh copy of this program; SIGCHLD tells the parent when it ends, as fork(2) would.
    // SAFETY: this program has one thread, so the child (which gets its own copy of our memory,
    // as with fork) is a consistent copy of it; the callback only execs, or reports and returns.
    let child_pid = unsafe {
        clone(
            Box::new(|| {
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
    .map_err(|err| failure("clone", err, ROOT_HINT))?;
    supervise(child_pid, &signals)
}

/// The child: this program again, now the container's init. It runs the command as its own
/// child and stays alive until the command ends.
fn child(command: &[OsString]) -> Result<u8, Failure> {
    // The command must not inherit the mark.
    env::remove_var(CHILD_ENV);
    eprintln!("child: pid {}, running {:?}", process::id(), command);
    // sethostname(2) changes the hostname of the UTS namespace we are in, which is ours alone
    // since the parent created us with CLONE_NEWUTS. The host's hostname stays as it was.
    sethostname(HOSTNAME).map_err(|err| failure("sethostname", err, ROOT_HINT))?;
    eprintln!("child: hostname set to {HOSTNAME} in a new UTS namespace");
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
    let rootfs = PathBuf::from(env::var_os(ROOTFS_ENV).unwrap_or(DEFAULT_ROOTFS.into()));
    // canonicalize resolves `..` for the teaching line below, and fails if there is no folder.
    let rootfs = match rootfs.canonicalize() {
        Ok(dir) if dir.join("bin").is_dir() => dir,
        _ => {
            return Err(Failure {
                code: EXIT_RUNTIME,
                message: format!(
                    "no root filesystem at {} — make one with `cargo xtask rootfs`, or set {ROOTFS_ENV}",
                    rootfs.display()
                ),
            })
        }
    };
    // chroot(2) makes the root filesystem our `/`: from now on every absolute path, including
    // the command's and the programs it finds in PATH, resolves inside it.
    chroot(&rootfs).map_err(|err| failure("chroot", err, ROOT_HINT))?;
    // chroot does not move the current directory, which is still outside the new root: go to
    // the new `/` so no relative path can reach the host's files.
    chdir("/").map_err(|err| failure("chdir", err, "see chdir(2)"))?;
    eprintln!("child: root is now {}", rootfs.display());
    // A fresh procfs shows the processes of the PID namespace we are in: the container's alone.
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|err| {
        failure(
            "mount /proc",
            err,
            "does the root filesystem have a /proc folder?",
        )
    })?;
    eprintln!("child: mounted a fresh /proc in a new mount namespace");
    // In a new PID namespace the init must take the terminal for a group of its own.
    take_terminal();
    let signals = catch_signals()?;
    let command_pid = spawn(command)?;
    supervise(command_pid, &signals)
}

/// Starts the command with fork(2) and execve(2), sharing our stdin, stdout and stderr.
fn spawn(command: &[OsString]) -> Result<Pid, Failure> {
    let name = command[0].to_string_lossy();
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]);
    // The host's PATH names the host's folders (some of them closed to the container's users):
    // inside the root filesystem, use the usual ones.
    cmd.env("PATH", CONTAINER_PATH);
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
