//! # Stage 10 — user: root inside, an ordinary user outside
//!
//! The parent adds `CLONE_NEWUSER`. The kernel makes the new user namespace first, and it owns
//! the namespaces made with it: inside, the child has every capability over them (it may set
//! their hostname, mount, change root, configure their network) and none over the host's. User
//! and group ids are translated at the border by two maps the parent writes while the child
//! waits on the pipe: `/proc/<pid>/uid_map` and `gid_map`, lines of `<first id inside> <first id
//! outside> <count>`. One id is mapped: uid and gid 0 inside are
//! - when an ordinary user runs it, that user. No root is needed at all: `id` says 0 inside, what
//!   the container creates belongs to the user outside, and since a user may map only their own
//!   ids they can do nothing on the host they could not do before;
//! - when root runs it, 700000000 (`HOST_ID_OF_ROOT`): container root is not host root.
//!
//! Any other id shows as 65534 (nobody) inside: a root filesystem owned by root can be read but
//! not changed (copy it to a folder of yours to write in it). Run without root, the steps that
//! need privileges on the host are skipped, each with a line saying so: the cgroup and the veth
//! pair. A host that forbids user namespaces to ordinary users is named in the error, with the
//! setting to change.
//!
//! Run it:   `cargo xtask run user -- sh`, as yourself, then `id` and `cat /proc/self/uid_map`
//! Directly: `DESDE_CERO_ROOTFS=$PWD/rootfs/build target/debug/user run id`
//!
//! Man pages: user_namespaces(7) ("User and group ID mappings", "Interaction of user namespaces
//! and other types of namespaces"), capabilities(7), setgroups(2).
//!
//! Exit status: the command's own; 128+N when it died of signal N; 125 when this program failed
//! (or was called wrongly); 126 when the command cannot be executed; 127 when it is not found.
use std::env;
use std::ffi::{CString, OsString};
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::ifaddrs::getifaddrs;
use nix::mount::{mount, MsFlags};
use nix::sched::{clone, CloneFlags};
use nix::sys::prctl;
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::socket::SockaddrStorage;
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{
    chdir, chroot, close, execv, geteuid, getgid, getuid, pipe2, read, setgroups, sethostname,
    setresgid, setresuid, write, Gid, Pid, Uid,
};

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
    // Without root, the steps that need privileges on the host are skipped, each said aloud.
    // Root on the host is uid 0 in the host's user namespace, whose uid_map maps every id to
    // itself; uid 0 of another one (a rootless container's) is not.
    let identity = ["0", "0", "4294967295"];
    let host_root = geteuid().is_root()
        && fs::read_to_string("/proc/self/uid_map")
            .is_ok_and(|map| map.split_whitespace().eq(identity));
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
    // CLONE_NEWIPC gives the child a new IPC namespace: its own, empty sets of System V shared
    // memory, semaphores and message queues, and of POSIX message queues.
    flags |= CloneFlags::CLONE_NEWIPC;
    // The addresses are chosen first, so that a clash with the host's networks is reported
    // before anything is created.
    let link = if host_root {
        Some(pick_link()?)
    } else {
        eprintln!("parent: skipping the veth pair: its host end needs root on the host");
        None
    };
    // CLONE_NEWNET gives the child a new network namespace: its own interfaces, addresses,
    // routes and ports. At first it holds a loopback interface, down, and nothing else.
    flags |= CloneFlags::CLONE_NEWNET;
    // A cgroup of its own, with the limits set, before the child exists. When `cgroup` goes out
    // of scope, on every return from here on, errors included, Rust drops it: that removes it.
    let cgroup = if host_root {
        Some(create_cgroup()?)
    } else {
        eprintln!("parent: skipping the cgroup limits: making a cgroup needs root on the host");
        None
    };
    // A pipe the child waits on until the parent has connected it (pipe(7)). O_CLOEXEC: neither
    // end outlives the execve(2) below, so the command never holds one.
    let ready = pipe2(OFlag::O_CLOEXEC).map_err(|err| failure("pipe", err, "see pipe(2)"))?;
    // CLONE_NEWUSER gives the child a new user namespace. The kernel creates it before the
    // others, so it owns them: the child gets every capability over them and none on the host.
    flags |= CloneFlags::CLONE_NEWUSER;
    if host_root {
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
    if let Err(failure) = map_ids(child_pid, host_root) {
        // The child is still waiting: end it, so that it never runs with its ids unmapped.
        let _ = kill(child_pid, Signal::SIGKILL);
        let _ = waitpid(child_pid, None);
        return Err(failure);
    }
    if let Some(link) = &link {
        connect(link, child_pid)?;
    }
    // One byte on the pipe lets the child go on.
    write(&ready.1, b"!").map_err(|err| failure("write to the pipe", err, "see pipe(7)"))?;
    let code = supervise(child_pid, &signals)?;
    if let Some(cgroup) = &cgroup {
        report_oom(cgroup, code);
    }
    // The kernel deletes the pair when the container's namespace ends, but in the background,
    // a moment later: deleting it now means the host is as it was when we exit.
    if let Some(link) = &link {
        disconnect(link);
    }
    Ok(code)
}

/// The child: this program again, now the container's init. It runs the command as its own
/// child and stays alive until the command ends.
fn child(command: &[OsString]) -> Result<u8, Failure> {
    // The command must not inherit the mark.
    env::remove_var(CHILD_ENV);
    eprintln!("child: pid {}, running {:?}", process::id(), command);
    let map = fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let map: Vec<&str> = map.split_whitespace().collect();
    eprintln!(
        "child: uid {} in a new user namespace (uid_map: {})",
        getuid(),
        map.join(" ")
    );
    // sethostname(2) changes the hostname of the UTS namespace we are in, which is ours alone
    // since the parent created us with CLONE_NEWUTS. The host's hostname stays as it was.
    sethostname(HOSTNAME).map_err(|err| failure("sethostname", err, ROOT_HINT))?;
    eprintln!("child: hostname set to {HOSTNAME} in a new UTS namespace");
    // Our network namespace starts with `lo` down, and even 127.0.0.1 is unreachable until it
    // is up. This `ip` is the host's (we have not changed root yet), acting in our namespace.
    loud("child", "ip link set lo up")?;
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
    eprintln!("child: in a new IPC namespace: no shared memory, semaphores or queues of the host");
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
