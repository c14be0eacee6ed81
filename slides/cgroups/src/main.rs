//! # Stage 7 — cgroups: limits on what the container may use
//!
//! Namespaces limit what a process sees; control groups (cgroups) limit what it uses. The parent
//! makes a group for the container with three limits: 20 processes (a fork bomb's forks fail
//! with EAGAIN), 100 MiB of memory (past it the OOM killer kills: the stage says so, exit 137)
//! and half a CPU. The child joins the group before it runs anything; when the container has ended,
//! however it ended, the parent kills what is left in the group and removes it. cgroups are
//! files: each step is a `mkdir` or an `echo` under /sys/fs/cgroup, printed as such.
//!
//! cgroup v2 is one tree at /sys/fs/cgroup; v1 has a tree per controller in there; "hybrid"
//! hosts have both. statfs tells them apart. The group, `desde-cero-<parent's pid>`, goes below
//! the runtime's own group in each v1 tree; on v2 beside it, in its parent, because v2 enables
//! controllers only for the children of groups without processes, and ours has one: us.
//! A missing controller is an error naming the fix, unless `DESDE_CERO_PARTIAL_CGROUPS=1` allows
//! running without its limit.
//!
//! Run it:   `cargo xtask run cgroups -- sh -c 'f() { f | f; }; f'` (a fork bomb: it stops at 20)
//! Directly: `sudo DESDE_CERO_ROOTFS=$PWD/rootfs/build target/debug/cgroups run sh`
//!
//! Man pages: cgroups(7); the kernel's admin-guide/cgroup-v2.rst and cgroup-v1/*.rst.
//!
//! Exit status: the command's own; 128+N when it died of signal N; 125 when this program failed
//! (or was called wrongly); 126 when the command cannot be executed; 127 when it is not found.
use std::env;
use std::ffi::{CString, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{clone, CloneFlags};
use nix::sys::prctl;
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
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

/// Where the kernel's cgroup filesystems are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The controllers of the limits, by their v1 tree names (v2 uses the same names).
const CONTROLLERS: [&str; 3] = ["pids", "memory", "cpu"];
/// The limits: processes and threads; memory (swap included), in MiB; CPU time per period, in µs.
const PIDS_MAX: u32 = 20;
const MEMORY_MAX_MIB: u64 = 100;
const CPU_QUOTA_US: u32 = 50_000;
const CPU_PERIOD_US: u32 = 100_000;
/// Set to 1 to run without the limits of missing controllers (else they are an error).
const PARTIAL_ENV: &str = "DESDE_CERO_PARTIAL_CGROUPS";

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
    // A cgroup of its own, with the limits set, before the child exists. When `cgroup` goes out
    // of scope, on every return from here on, errors included, Rust drops it: that removes it.
    let cgroup = create_cgroup()?;
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
                if let Err(failure) = join_cgroup(&cgroup) {
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
    .map_err(|err| failure("clone", err, ROOT_HINT))?;
    let code = supervise(child_pid, &signals)?;
    report_oom(&cgroup, code);
    Ok(code)
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

/// Finds the cgroup layout, makes the container's group and writes its limits.
fn create_cgroup() -> Result<Cgroup, Failure> {
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
        set_limits(&dir, controller, v2)?;
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
fn set_limits(dir: &Path, controller: &str, v2: bool) -> Result<(), Failure> {
    let memory = (MEMORY_MAX_MIB << 20).to_string();
    let files = match (controller, v2) {
        // fork(2) and clone(2) fail with EAGAIN once the group has this many tasks.
        ("pids", _) => vec![("pids.max", PIDS_MAX.to_string())],
        // Past the limit the kernel reclaims, then its OOM killer kills a process of the group.
        // Swap is limited too (v1 limits memory and swap together), or it would be the way out.
        ("memory", true) => vec![("memory.max", memory), ("memory.swap.max", "0".into())],
        ("memory", _) => vec![
            ("memory.limit_in_bytes", memory.clone()),
            ("memory.memsw.limit_in_bytes", memory),
        ],
        // The scheduler runs the group for the quota in every period, then throttles it.
        ("cpu", true) => vec![("cpu.max", format!("{CPU_QUOTA_US} {CPU_PERIOD_US}"))],
        _ => vec![
            ("cpu.cfs_period_us", CPU_PERIOD_US.to_string()),
            ("cpu.cfs_quota_us", CPU_QUOTA_US.to_string()),
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
        let step = format!("echo 0 > {}", dir.join("cgroup.procs").display());
        fs::write(dir.join("cgroup.procs"), "0")
            .map_err(|err| failure(&step, errno(&err), "see cgroups(7)"))?;
    }
    eprintln!("child: joined the container's cgroup, before running anything");
    Ok(())
}

/// Says so when the memory limit's OOM killer ended the command (137 is 128 + SIGKILL). The
/// kernel counts its kills as `oom_kill N`, in memory.events (v2) or memory.oom_control (v1).
fn report_oom(cgroup: &Cgroup, code: u8) {
    let mut kills = 0;
    for dir in &cgroup.0 {
        for file in ["memory.events", "memory.oom_control"] {
            let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
            let count = text.lines().find_map(|line| line.strip_prefix("oom_kill "));
            kills += count.and_then(|n| n.trim().parse().ok()).unwrap_or(0);
        }
    }
    if kills > 0 && code == 128 + Signal::SIGKILL as u8 {
        eprintln!("{NAME}: killed by the OOM killer: memory limit {MEMORY_MAX_MIB} MiB");
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
